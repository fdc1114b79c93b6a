"""Independent decompression for tests: store a payload as an HDF5 chunk and read it back
through the real filter (hdf5plugin), the path stream.md 4.3 says a payload must survive."""

from __future__ import annotations

import h5py
import hdf5plugin
import numpy as np

_FILTERS = {
    "bslz4": lambda: hdf5plugin.Bitshuffle(cname="lz4"),
    "bszstd": lambda: hdf5plugin.Bitshuffle(cname="zstd"),
    "lz4": lambda: hdf5plugin.LZ4(),
}


def read_through_hdf5(
    payload: bytes, algorithm: str, dtype: np.dtype, shape: tuple[int, ...]
) -> np.ndarray:
    """The array HDF5 + hdf5plugin decode from ``payload`` written with ``write_direct_chunk``."""
    with h5py.File("in-memory.h5", "w", driver="core", backing_store=False) as handle:
        dataset = handle.create_dataset(
            "data", shape=shape, chunks=shape, dtype=dtype, **_FILTERS[algorithm]()
        )
        dataset.id.write_direct_chunk((0,) * len(shape), payload)
        return dataset[...]
