"""NXmx files written by nexgen (Diamond's NXmx writer, PyPI ``nexgen``): another writer's valid
files for ``--profile nxmx``. Images are small blank stacks written with nexgen's own
``generate_image_files``; EIGER runs get a DECTRIS-style ``_meta.h5`` that nexgen links to.

Scenarios: Eiger rotation with external links, Eiger rotation with a VDS, a grid scan, stills, a
JUNGFRAU 1M of two module files joined by a VDS, a small (one module) JUNGFRAU.
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

__all__ = ["SCENARIOS", "build"]

SCENARIOS = ("eiger-links", "eiger-vds", "grid-scan", "stills", "jungfrau-1m-vds", "jungfrau-small")
N_IMAGES = 4
START = "2026-01-01T10:00:00Z"
END = "2026-01-01T10:00:02Z"


def _quiet() -> None:
    for name in ("nexgen", "nexgen.NXmxFileWriter", "nexgen.NXclass_writers", "nexgen.DataWriter"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _eiger_meta(path: Path, shape: tuple[int, int]) -> None:
    """The DECTRIS meta file an EIGER run carries (nexgen links detector fields into it)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("mask", data=np.zeros(shape, dtype=np.uint32))
        f.create_dataset("flatfield", data=np.ones(shape, dtype=np.float32))
        d = f.create_group("_dectris")
        d.create_dataset("flatfield_correction_applied", data=np.int32(1))
        d.create_dataset("pixel_mask_applied", data=np.int32(1))
        d.create_dataset("bit_depth_image", data=np.int32(16))
        for name, value, units in (
            ("detector_readout_time", 1e-7, "s"),
            ("threshold_energy", 6000.0, "eV"),
            ("photon_energy", 12400.0, "eV"),
        ):
            d.create_dataset(name, data=value).attrs["units"] = np.bytes_(units)
        d.create_dataset("software_version", data=b"1.8.0")
        d.create_dataset("ntrigger", data=np.int64(1))


def _module_file(path: Path, n: int, shape: tuple[int, int]) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "data",
            data=np.zeros((n, *shape), dtype=np.uint16),
            chunks=(1, *shape),
            **hdf5plugin.Bitshuffle(),
        )


def build(folder: Path, scenario: str) -> Path:
    """Write ``scenario`` into ``folder`` with nexgen; returns the NeXus master file."""
    from nexgen.nxs_utils import (
        Attenuator,
        Axis,
        Beam,
        Detector,
        EigerDetector,
        Goniometer,
        JungfrauDetector,
        Sample,
        Source,
        TransformationType,
    )
    from nexgen.nxs_write.nxmx_writer import NXmxFileWriter
    from nexgen.tools.data_writer import generate_image_files

    _quiet()
    folder.mkdir(parents=True, exist_ok=True)
    rot, tr = TransformationType.ROTATION, TransformationType.TRANSLATION
    stem = scenario.replace("-", "_")
    master = folder / f"{stem}.nxs"
    n = N_IMAGES
    omega_increment = 0.0 if scenario == "stills" else 0.1
    gonio_axes = [
        Axis("omega", ".", rot, (-1, 0, 0), start_pos=0.0, increment=omega_increment, num_steps=n),
        Axis("sam_z", "omega", tr, (0, 0, 1)),
        Axis("sam_y", "sam_z", tr, (0, 1, 0)),
        Axis("sam_x", "sam_y", tr, (1, 0, 0)),
    ]
    if scenario == "grid-scan":
        xs, ys = np.meshgrid(np.arange(2) * 0.01, np.arange(2) * 0.01)
        scan = {"sam_x": xs.ravel(), "sam_y": ys.ravel()}
    else:
        scan = {"omega": np.arange(n) * omega_increment}
    gonio = Goniometer(gonio_axes, scan)
    det_axes = [
        Axis("two_theta", ".", rot, (1, 0, 0)),
        Axis("det_z", "two_theta", tr, (0, 0, 1), start_pos=150.0),
    ]
    if scenario.startswith("jungfrau"):
        shape = (1066, 1030) if scenario == "jungfrau-1m-vds" else (514, 1030)
        params = JungfrauDetector("Jungfrau 1M" if shape[0] > 514 else "Jungfrau 0.5M", shape)
    else:
        shape = (1065, 1030)
        params = EigerDetector("Eiger 1M", shape, "Si", 50649, -1)
    detector = Detector(params, det_axes, [515.0, 530.0], 0.01, [(-1, 0, 0), (0, -1, 0)])
    writer = NXmxFileWriter(
        master,
        gonio,
        detector,
        Source("I24"),
        Beam(0.976),
        Attenuator(0.5),
        n,
        Sample(name="thaumatin"),
    )
    if scenario == "jungfrau-1m-vds":
        files = [folder / f"{stem}_{i:06d}.h5" for i in (1, 2)]
        for p in files:
            _module_file(p, n, (514, 1030))
        writer.write(image_datafiles=files, start_time=START, est_end_time=END)
        writer.write_vds(vds_dtype=np.uint16)
    elif scenario == "jungfrau-small":
        files = [folder / f"{stem}_000001.h5"]
        _module_file(files[0], n, shape)
        writer.write(image_datafiles=files, start_time=START, est_end_time=END)
    else:
        files = [folder / f"{stem}_000001.h5"]
        generate_image_files(files, shape, "Eiger 1M", n)
        _eiger_meta(folder / f"{stem}_meta.h5", shape)
        writer.write(image_datafiles=files, start_time=START, est_end_time=END)
        if scenario != "eiger-links":
            writer.write_vds(vds_shape=(n, *shape), vds_dtype=np.uint16)
    writer.update_timestamps(END, "end_time")
    return master
