"""Read a run back by image: images and every per-image result, any layout.

``RunReader(master)`` opens a ``_master.h5`` (legacy, VDS, integrated), a ``_process.h5``, or a
single data file (NXmxOnlyData).  Images and results are addressed by the stream's 0-based
``image_id``; legacy results come from the data files (hdf5-format.md 4: they are not linked into a
legacy master), VDS and integrated ones from the master.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # noqa: F401 - registers the bitshuffle filter for reading
import numpy as np
from jfjoch_hil.writer.errors import ReaderError
from jfjoch_hil.writer.layout import (
    IMAGE_FIELDS,
    ROI_FIELDS,
    SPOT_FIELDS,
    VirtualSource,
    per_image_path,
    reflection_path,
)

__all__ = ["RunReader", "image_sources"]

_SPEC = "/entry/instrument/detector/detectorSpecific"


class _Part:
    """One file holding rows ``first .. first + rows - 1`` of the run."""

    def __init__(self, h5: h5py.File, data_path: str, low: int, rows: int) -> None:
        self.h5, self.data_path, self.low, self.rows = h5, data_path, low, rows
        self.first = 0


class RunReader:
    """A run opened for reading (hdf5-format.md 2-4); use as a context manager.

    ``layout`` is ``legacy``, ``vds``, ``integrated`` (also for a ``_process.h5``) or
    ``onlydata``; ``n_images`` the extent of the image stack; ``image_number_start`` the number
    of image 0 in ``image_nr_low``.
    """

    def __init__(self, path) -> None:
        self.path = Path(path)
        self._files: list[h5py.File] = []
        try:
            self.h5 = self._open(self.path)
        except OSError as error:
            raise ReaderError(f"{self.path}: cannot open: {error}") from error
        data = self.h5.get("/entry/data")
        if data is None:
            raise ReaderError(f"{self.path}: /entry/data missing; not a run file")
        links = sorted(name for name in data if name.startswith("data_"))
        self._parts: list[_Part] = []
        if links:
            self.layout = "legacy"
            for name in links:
                link = data.get(name, getlink=True)
                if not isinstance(link, h5py.ExternalLink):
                    raise ReaderError(f"{self.path}: /entry/data/{name} is not an external link")
                part_file = self._open(self.path.parent / link.filename)
                self._parts.append(self._part(part_file, link.path))
        elif "data" in data:
            dataset = data["data"]
            self.layout = (
                "vds" if dataset.is_virtual and "/entry/instrument" in self.h5 else "integrated"
            )
            if "/entry/instrument" not in self.h5:
                self.layout = "onlydata"
            if self.layout == "vds" and self.path.name.endswith("_process.h5"):
                self.layout = "integrated"
            self._parts.append(self._part(self.h5, "/entry/data/data"))
        else:
            self.layout = "integrated"
            self._parts.append(_Part(self.h5, "", 1, 0))
        self.image_number_start = min(p.low for p in self._parts)
        for part in self._parts:
            part.first = part.low - self.image_number_start
        self.n_images = max((p.first + p.rows for p in self._parts), default=0)
        self.results_layout = "integrated" if self.layout == "integrated" else "vds"

    def _open(self, path: Path) -> h5py.File:
        h5 = h5py.File(path, "r")
        self._files.append(h5)
        return h5

    def _part(self, h5: h5py.File, data_path: str) -> _Part:
        dataset = h5[data_path]
        return _Part(
            h5, data_path, int(dataset.attrs.get("image_nr_low", 1)), int(dataset.shape[0])
        )

    def close(self) -> None:
        """Close every file opened."""
        for h5 in self._files:
            h5.close()
        self._files.clear()

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- images -------------------------------------------------------------------------------
    def _locate(self, image_id: int) -> tuple[_Part, int]:
        for part in self._parts:
            if part.first <= image_id < part.first + part.rows:
                return part, image_id - part.first
        raise ReaderError(f"{self.path}: image_id {image_id} not in 0..{self.n_images - 1}")

    def image(self, image_id: int) -> np.ndarray:
        """Pixels of image ``image_id`` (0-based), decompressed by the HDF5 filter."""
        part, row = self._locate(image_id)
        return part.h5[part.data_path][row]

    def images(self) -> np.ndarray:
        """Every image as one ``[n, y, x]`` array (small runs only)."""
        return np.concatenate([p.h5[p.data_path][()] for p in self._parts if p.rows])

    # --- per-image results ----------------------------------------------------------------------
    def _results_file(self, image_id: int) -> tuple[h5py.File, int, str]:
        if self.layout == "legacy":
            part, row = self._locate(image_id)
            return part.h5, row, "legacy"
        if self.layout == "onlydata":
            return self.h5, image_id - self._parts[0].first, "onlydata"
        return self.h5, image_id, self.results_layout

    def roi_names(self) -> list[str]:
        """Names of the ROIs with per-image results."""
        h5, _, _ = self._results_file(self._parts[0].first if self._parts else 0)
        group = h5.get("/entry/roi")
        return sorted(group) if group is not None else []

    def results(self, image_id: int) -> dict[str, object]:
        """Every per-image value of ``image_id``, keyed ``<group>/<name>`` as in hdf5-format.md 4
        (``MX/nPeaks``, ``roi/<name>/sum``, ``detector/number`` ...); absent datasets are left out.
        Spot arrays are cut to ``nPeaks``."""
        h5, row, layout = self._results_file(image_id)
        out: dict[str, Any] = {}
        fields = list(SPOT_FIELDS) + list(IMAGE_FIELDS)
        for field in fields:
            dataset = h5.get(per_image_path(field, layout))
            if dataset is None or row >= dataset.shape[0]:
                continue
            out[field.path] = dataset[row]
        count = int(out.get("MX/nPeaks", 0))
        for field in SPOT_FIELDS:
            if field.path in out:
                out[field.path] = out[field.path][:count]
        roi = h5.get("/entry/roi")
        for name in sorted(roi) if roi is not None else ():
            for member, _, _ in ROI_FIELDS:
                dataset = roi[name].get(member)
                if dataset is not None and row < dataset.shape[0]:
                    out[f"roi/{name}/{member}"] = dataset[row]
        return out

    def reflections(self, image_id: int) -> dict[str, np.ndarray] | None:
        """The NXreflections columns of ``image_id`` (hdf5-format.md 4.2), or ``None``."""
        h5, _, _ = self._results_file(image_id)
        group = h5.get(reflection_path(self.image_number_start + image_id))
        if group is None:
            return None
        return {name: group[name][()] for name in group}

    def array(self, path: str) -> np.ndarray | None:
        """A per-image dataset over the whole run (``MX/nPeaks``, ``roi/a/sum`` ...), legacy data
        files concatenated; ``None`` when no file holds it."""
        field = next((f for f in (*SPOT_FIELDS, *IMAGE_FIELDS) if f.path == path), None)
        if self.layout == "legacy":
            pieces = []
            for part in self._parts:
                full = per_image_path(field, "legacy") if field else f"/entry/{path}"
                dataset = part.h5.get(full)
                if dataset is None:
                    return None
                pieces.append(dataset[()])
            return np.concatenate(pieces) if pieces else None
        full = per_image_path(field, self.results_layout) if field else f"/entry/{path}"
        dataset = self.h5.get(full)
        return None if dataset is None else dataset[()]


def image_sources(master) -> tuple[Any, tuple[int, ...], list[VirtualSource]]:
    """(dtype, image shape, sources) of a run's images, with absolute file names: what a
    ``_process.h5`` companion's virtual ``/entry/data/data`` points at (hdf5-format.md 2)."""
    with RunReader(master) as run:
        sources: list[VirtualSource] = []
        dtype = shape = None
        for part in run._parts:
            dataset = part.h5[part.data_path]
            dtype, shape = dataset.dtype.str, tuple(dataset.shape[1:])
            if dataset.is_virtual:
                for vs in dataset.virtual_sources():
                    file = Path(vs.file_name)
                    if not file.is_absolute():
                        file = Path(part.h5.filename).resolve().parent / file
                    start = vs.vspace.get_select_bounds()[0][0]
                    stop = vs.vspace.get_select_bounds()[1][0] + 1
                    sources.append(
                        VirtualSource(str(file), vs.dset_name, stop - start, part.first + start)
                    )
            else:
                sources.append(
                    VirtualSource(
                        str(Path(part.h5.filename).resolve()), part.data_path, part.rows, part.first
                    )
                )
        if dtype is None or shape is None:
            raise ReaderError(f"{master}: no images to point at")
        return dtype, shape, sources
