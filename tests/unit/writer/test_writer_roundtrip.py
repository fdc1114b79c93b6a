"""Round trip through the writer core in every layout (hdf5-format.md 2-4).

Files are read back independently with h5py and compared with the messages that were sent; one
contract class states what every layout must hold, each layout subclasses it (STYLE.md).
"""

from __future__ import annotations

import math

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pytest
from jfjoch_hil.stream import PROFILING_KEYS, REFLECTION_COLUMNS, decode, encode
from jfjoch_hil.writer import RunReader, RunWriter

from tests.unit.writer.writer_messages import MAX_SPOTS, NX, NY, PHI, Q, make_run

N_IMAGES = 24
INDEXING_ONLY = {"h", "k", "l", "dist_ewald", "indexed", "lattice"}
SPOT_MEMBERS = {
    "peakXPosRaw": "x",
    "peakYPosRaw": "y",
    "peakTotalIntensity": "I",
    "peakIceRingRes": "ice_ring",
    "peakH": "h",
    "peakK": "k",
    "peakL": "l",
    "peakDistEwaldSphere": "dist_ewald",
    "peakIndexed": "indexed",
    "peakLattice": "lattice",
}
SCALARS = {
    "MX/strongPixels": "strong_pixel_count",
    "MX/peakCountUnfiltered": "spot_count_unfiltered",
    "MX/peakCountIndexed": "spot_count_indexed",
    "MX/imageIndexed": "indexing_result",
    "MX/indexingLatticeCount": "indexing_lattice_count",
    "MX/niggliClass": "niggli_class",
    "MX/profileRadius": "profile_radius",
    "MX/resolutionEstimate": "resolution_estimate",
    "MX/integratedReflections": "integrated_reflection_count",
    "MX/imageScaleBFactor": "image_scale_b_factor",
    "image/max_value": "image_max_value",
    "image/min_value": "image_min_value",
    "image/pixel_sum": "pixel_sum",
    "image/error_pixels": "error_pixel_count",
    "xfel/pulseID": "xfel_pulse_id",
    "xfel/eventCode": "xfel_event_code",
    "detector/timestamp": "timestamp",
    "detector/packets_received": "packets_received",
    "detector/storage_cell_image": "storage_cell",
    "detector/rcv_delay": "receiver_delay",
}


def wire(message):
    """The message as a writer receives it: encoded to CBOR and decoded again (stream.md 3)."""
    return decode(encode(message))


def write_run(tmp_path, file_format, **kwargs):
    run = make_run(N_IMAGES, file_format=file_format, **kwargs)
    writer = RunWriter(wire(run.start), tmp_path)
    for message in run.calibration:
        writer.put_calibration(wire(message))
    for message in run.images:
        assert writer.put_image(wire(message)) is None
    result = writer.finish(wire(run.end))
    assert result.error is None, result.error
    return run, result


def same(a, b) -> bool:
    return bool(
        np.allclose(
            np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-6, equal_nan=True
        )
    )


class LayoutContract:
    """What a master of any layout exposes (hdf5-format.md 2-4)."""

    FILE_FORMAT = ""

    @pytest.fixture(scope="class")
    @classmethod
    def written(cls, tmp_path_factory):
        out = tmp_path_factory.mktemp(cls.FILE_FORMAT)
        run, result = write_run(out, cls.FILE_FORMAT)
        return out, run, result

    def per_image_file(self, out, index):
        """(h5py file, row) holding the per-image arrays of ``index`` for this layout."""
        master = h5py.File(out / "run1" / "sample_master.h5", "r")
        return master, index

    def test_files_renamed_no_tmp_left(self, written):
        out, _, result = written
        assert not list(out.rglob("*.tmp"))
        for name in result.files:
            assert (out / name).is_file()
        assert result.images_written == N_IMAGES

    def test_images_pixel_exact(self, written):
        out, run, _ = written
        with RunReader(out / "run1" / "sample_master.h5") as reader:
            assert reader.n_images == N_IMAGES
            for index, pixels in run.pixels.items():
                assert np.array_equal(reader.image(index), pixels), index

    def test_nxmx_metadata(self, written):
        out, run, _ = written
        with h5py.File(out / "run1" / "sample_master.h5", "r") as f:
            assert f["/entry/definition"][()] == b"NXmx"
            assert f["/entry"].attrs["NX_class"] == b"NXentry"
            det = f["/entry/instrument/detector"]
            assert det["beam_center_x"][()] == run.start.beam_center_x
            assert det["distance"][()] == run.start.detector_distance
            assert det["distance"].attrs["units"] == b"m"
            assert det["x_pixel_size"][()] == run.start.pixel_size_x
            assert det["sensor_material"][()] == b"Si"
            assert det["depends_on"][()] == b"/entry/instrument/detector/transformations/rot3"
            assert np.array_equal(det["pixel_mask"][()], run.start.pixel_mask["default"].to_numpy())
            assert det["detectorSpecific/pixel_mask"].chunks is None  # contiguous for Neggia
            assert det["detectorSpecific/nimages"][()] == N_IMAGES
            assert det["detectorSpecific/nimages_written"][()] == N_IMAGES
            assert det["detectorSpecific/nimages_collected"][()] == N_IMAGES
            omega = f["/entry/sample/transformations/omega"]
            assert same(omega[()], 10.0 + 0.1 * np.arange(N_IMAGES))
            assert omega.attrs["units"] == b"deg"
            assert f["/entry/sample/depends_on"][()] == b"/entry/sample/transformations/omega"
            assert f["/entry/start_time"][()] == b"2026-01-02T03:04:05.000000Z"
            assert f["/entry/end_time"][()] == b"2026-01-02T03:05:00.000000Z"
            assert f["/entry/user/beamline"][()] == b"X06SA"
            assert f["/entry/user/foils"][()] == 2
            assert sorted(f["/entry/user"]) == ["beamline", "foils"]  # "../evil", nested skipped
            assert f["/entry/roi_defs/beamstop/max_x_pxl"][()] == 8
            assert np.array_equal(f["/entry/roi_defs/roi_map"][()], run.start.roi_map.to_numpy())
            assert same(f["/entry/azint/bin_to_q"][()].ravel(), run.start.az_int_bin_to_q)
            assert f["/entry/azint/bin_to_q"].shape == (PHI, Q)
            assert same(f["/entry/MX/rotationLatticeIndexed"][()], run.end.rotation_lattice)
            assert f["/entry/MX/indexing_algorithm"][()] == b"FFBIDX"
            assert same(det["calibration/pedestal_g0_sc0"][()], run.calibration[0].data.to_numpy())
            assert same(f["/entry/instrument/fluorescence/energy"][()], [1000.0, 2000.0])
            # strings: fixed-length, NUL-terminated ASCII with room for the terminator (readers note 2.9)
            tid = f["/entry/instrument/detector"].attrs.get_id("NX_class").get_type()
            assert (
                tid.get_strpad() == h5py.h5t.STR_NULLTERM
                and tid.get_size() == len("NXdetector") + 1
            )
            assert not tid.is_variable_str()

    def test_per_image_results(self, written):
        out, run, _ = written
        for message in run.images:
            f, row = self.per_image_file(out, message.image_id)
            with f:
                spec = "detector"
                if "/entry/detector" not in f:
                    spec = "instrument/detector/detectorSpecific"
                spots = message.spots
                assert f["/entry/MX/nPeaks"][row] == len(spots)
                assert f["/entry/MX/peakXPosRaw"].shape[1] == MAX_SPOTS
                for name, member in SPOT_MEMBERS.items():
                    stored = f[f"/entry/MX/{name}"][row]
                    expected = [s[member] for s in spots]
                    if member in INDEXING_ONLY and not message.indexing_result:
                        expected = [f[f"/entry/MX/{name}"].fillvalue] * len(
                            spots
                        )  # 4.1: indexing only
                    assert same(stored[: len(spots)], expected), name
                for path, key in SCALARS.items():
                    path = path.replace("detector/", f"{spec}/")
                    assert same(f[f"/entry/{path}"][row], getattr(message, key)), path
                assert f["/entry/MX/bravaisLattice"][row] == message.bravais_lattice.encode()
                lattice = f["/entry/MX/latticeIndexed"][row]
                extra = f["/entry/MX/latticeIndexedExtra"][row]
                if message.indexing_result:
                    assert same(lattice, message.indexing_lattice)
                    if message.indexing_lattice_extra:
                        assert same(extra[0], message.indexing_lattice_extra[0])
                else:
                    assert np.isnan(lattice).all() and np.isnan(extra).all()
                assert np.isnan(extra[-1]).all()
                assert same(f["/entry/azint/image"][row].ravel(), message.az_int_profile)
                assert same(
                    f["/entry/azint/image_count"][row].ravel(), message.az_int_profile_count
                )
                for name, result in message.roi_integrals.items():
                    for member, value in result.items():
                        assert same(f[f"/entry/roi/{name}/{member}"][row], value), (name, member)
                for key in PROFILING_KEYS:
                    assert same(f[f"/entry/profiling/{key}"][row], message.profiling[key]), key
                assert f["/entry/profiling/indexingTime"].attrs["units"] == b"s"
                assert f[f"/entry/{spec}/number"][row] == message.image_id + 1
                group = f.get(f"/entry/reflections/image_{message.image_id + 1:06d}")
                if message.reflections is None:
                    assert group is None
                else:
                    assert group.attrs["NX_class"] == b"NXreflections"
                    for column in REFLECTION_COLUMNS:
                        assert same(group[column][()], message.reflections[column].to_numpy()), (
                            column
                        )

    def test_reader_results_match_sent(self, written):
        out, run, _ = written
        with RunReader(out / "run1" / "sample_master.h5") as reader:
            for message in run.images[::5]:
                results = reader.results(message.image_id)
                assert results["MX/nPeaks"] == len(message.spots)
                assert same(results["MX/peakTotalIntensity"], [s["I"] for s in message.spots])
                assert same(results["roi/ring/sum"], message.roi_integrals["ring"]["sum"])
                assert same(results["xfel/pulseID"], message.xfel_pulse_id)
                refl = reader.reflections(message.image_id)
                assert (refl is None) == (message.reflections is None)
                if refl is not None:
                    assert same(refl["int_sum"], message.reflections["int_sum"].to_numpy())
            pulse = reader.array("xfel/pulseID")
            assert same(pulse, [m.xfel_pulse_id for m in run.images])


class TestIntegrated(LayoutContract):
    FILE_FORMAT = "NXmxIntegrated"

    def test_single_file(self, written):
        out, _, result = written
        assert result.files == ("run1/sample_master.h5",)
        with h5py.File(out / "run1" / "sample_master.h5", "r") as f:
            data = f["/entry/data/data"]
            assert not data.is_virtual
            assert data.chunks == (1, NY, NX)
            assert data.compression_opts is None or True
            plist = data.id.get_create_plist()
            assert plist.get_filter(0)[0] == 32008 and plist.get_filter(0)[2] == (0, 4, 2, 0, 2)
            assert data.fillvalue == 0xFFFF
            assert (data.attrs["image_nr_low"], data.attrs["image_nr_high"]) == (1, N_IMAGES)
            assert "/entry/detector" not in f
            assert "timestamp" in f["/entry/instrument/detector/detectorSpecific"]


class TestVDS(LayoutContract):
    FILE_FORMAT = "NXmxVDS"

    def test_virtual_everything(self, written):
        out, _, result = written
        assert len([n for n in result.files if "_data_" in n]) == 3
        with h5py.File(out / "run1" / "sample_master.h5", "r") as f:
            assert f["/entry/data/data"].is_virtual
            assert f["/entry/data"].attrs["signal"] == b"data"
            for path in (
                "MX/nPeaks",
                "MX/peakXPosRaw",
                "roi/ring/sum",
                "azint/image",
                "detector/number",
            ):
                assert f[f"/entry/{path}"].is_virtual, path
                assert f[f"/entry/{path}"].shape[0] == N_IMAGES
            link = f["/entry/reflections"].get("image_000001", getlink=True)
            assert isinstance(link, h5py.ExternalLink) and link.filename == "sample_data_000001.h5"


class TestLegacy(LayoutContract):
    FILE_FORMAT = "NXmxLegacy"

    def per_image_file(self, out, index):
        number = index // 10 + 1
        return h5py.File(out / "run1" / f"sample_data_{number:06d}.h5", "r"), index % 10

    def test_external_links(self, written):
        out, run, _ = written
        with h5py.File(out / "run1" / "sample_master.h5", "r") as f:
            data = f["/entry/data"]
            assert sorted(data) == ["data_000001", "data_000002", "data_000003"]
            assert "signal" not in data.attrs
            lows, highs = [], []
            for name in sorted(data):
                link = data.get(name, getlink=True)
                assert isinstance(link, h5py.ExternalLink)
                assert link.path == "/entry/data/data"
                lows.append(int(data[name].attrs["image_nr_low"]))
                highs.append(int(data[name].attrs["image_nr_high"]))
            assert (lows, highs) == ([1, 11, 21], [10, 20, 24])
            assert "nPeaks" not in f["/entry/MX"]  # per-image arrays stay in the data files (4.4)
            assert np.array_equal(data["data_000002"][3], run.pixels[13])
            # DIALS' extra NXdata (docs/writer.md): virtual stack of all images, sorted before "data"
            stack = f["/entry/all_images"]
            assert stack.attrs["NX_class"] == b"NXdata" and stack.attrs["signal"] == b"data"
            assert stack["data"].is_virtual and stack["data"].shape[0] == N_IMAGES
            assert np.array_equal(stack["data"][23], run.pixels[23])


def test_only_data_layout_has_no_master(tmp_path):
    run, result = write_run(tmp_path, "NXmxOnlyData")
    assert not (tmp_path / "run1" / "sample_master.h5").exists()
    assert len(result.files) == 3
    with h5py.File(tmp_path / "run1" / "sample_data_000003.h5", "r") as f:
        assert np.array_equal(f["/entry/data/data"][2], run.pixels[22])
        assert f["/entry/MX/nPeaks"][2] == len(run.images[22].spots)


def test_same_stream_same_arrays_in_every_layout(tmp_path):
    arrays = {}
    paths = (
        "MX/nPeaks",
        "MX/peakXPosRaw",
        "MX/latticeIndexedExtra",
        "azint/image",
        "roi/beamstop/max",
        "profiling/azIntTime",
        "xfel/eventCode",
        "image/pixel_sum",
        "MX/bravaisLattice",
    )
    for file_format in ("NXmxLegacy", "NXmxVDS", "NXmxIntegrated"):
        out = tmp_path / file_format
        write_run(out, file_format)
        with RunReader(out / "run1" / "sample_master.h5") as reader:
            arrays[file_format] = {p: reader.array(p) for p in paths}
            arrays[file_format]["images"] = reader.images()
    first = arrays["NXmxLegacy"]
    for file_format, found in arrays.items():
        for key, value in found.items():
            assert value is not None, (file_format, key)
            assert value.shape == first[key].shape, (file_format, key)
            if value.dtype.kind == "S":
                assert np.array_equal(value, first[key]), (file_format, key)
            else:
                assert np.array_equal(value, first[key], equal_nan=value.dtype.kind == "f"), (
                    file_format,
                    key,
                )


def test_zstd_and_signed_pixels(tmp_path):
    run = make_run(6, file_format="NXmxIntegrated", dtype="int32")
    from tests.unit.writer.writer_messages import make_image

    writer = RunWriter(run.start, tmp_path)
    for index in range(6):
        message, pixels = make_image(run.start, index, compression="bszstd", dtype="int32")
        assert writer.put_image(message) is None
        run.pixels[index] = pixels
    writer.finish(run.end)
    with h5py.File(tmp_path / "run1" / "sample_master.h5", "r") as f:
        data = f["/entry/data/data"]
        assert data.fillvalue == np.iinfo(np.int32).min
        assert data.id.get_create_plist().get_filter(0)[2][:5] == (0, 4, 4, 0, 3)
        for index in range(6):
            assert np.array_equal(data[index], run.pixels[index])
    assert math.isfinite(0.0)


def test_grid_scan_and_stills_sample_axes(tmp_path):
    grid = {
        "fast_axis_images": 3,
        "slow_axis_images": 2,
        "step_x_m": 1e-5,
        "step_y_m": 2e-5,
        "snake": True,
    }
    run = make_run(6, file_format="NXmxIntegrated", goniometer=None, grid_scan=grid, prefix="grid")
    writer = RunWriter(run.start, tmp_path)
    for message in run.images:
        writer.put_image(message)
    writer.finish(run.end)
    still = make_run(2, file_format="NXmxIntegrated", goniometer=None, prefix="still")
    writer = RunWriter(still.start, tmp_path)
    writer.finish(None)
    with h5py.File(tmp_path / "grid_master.h5", "r") as f:
        t = f["/entry/sample/transformations"]
        assert same(t["grid_x"][()], [0, 1e-5, 2e-5, 2e-5, 1e-5, 0])  # snake: second row reversed
        assert same(t["grid_y"][()], [0, 0, 0, 2e-5, 2e-5, 2e-5])
        assert f["/entry/sample/depends_on"][()] == b"/entry/sample/transformations/grid_y"
        assert t["grid_y"].attrs["depends_on"] == b"/entry/sample/transformations/grid_x"
        # under the translations a fixed rotation axis, not scanned (dxtbx needs one, interop.md)
        assert t["grid_x"].attrs["depends_on"] == b"/entry/sample/transformations/omega"
        assert t["omega"].attrs["transformation_type"] == b"rotation"
        assert t["omega"].attrs["depends_on"] == b"."
        assert same(t["omega"][()], [0.0] * 6) and same(t["omega_end"][()], [0.0] * 6)
        assert t["omega_range_total"][()] == 0.0
    with h5py.File(tmp_path / "still_master.h5", "r") as f:
        assert f["/entry/sample/depends_on"][()] == b"."
        assert "end_time" not in f["/entry"]
        assert f["/entry/instrument/detector/detectorSpecific/nimages_written"][()] == 0
