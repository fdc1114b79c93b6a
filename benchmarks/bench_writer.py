"""Writer speed and memory against a bare h5py ``write_direct_chunk`` loop.

Prints images/s of, in the same run and on the same JUNGFRAU-module-sized bslz4 chunks:

1. bare loop: ``dataset.id.write_direct_chunk`` into one chunked dataset (the reference);
2. writer core: :class:`writer.RunWriter` fed already-decoded image messages carrying every kind
   of per-image result (spots, lattices, azint, ROI, image statistics, profiling, XFEL, receiver
   diagnostics; reflections on every ``--reflections-every``-th image), all HDF5 work in this
   process (``LocalStore``), and again with the HDF5 work in a store process (``ProcessStore``,
   made before the rounds, as ``jfwriter`` makes it at start);
3. whole service: ``jfwriter`` in a child process (ZeroMQ PULL + decode + write) fed by a PUSH
   sender of pre-encoded messages;

with the ratios core/bare and service/bare, and resident memory (peak RSS growth of the core,
peak RSS of the service process).  Files go to a temporary folder (page cache).

    .venv/bin/python benchmarks/bench_writer.py [--images 2000] [--reflections-every 10] [--decoded]
"""

from __future__ import annotations

import os

# One thread per library: the images below are compressed with bitshuffle (OpenMP), and idle
# OpenMP / OpenBLAS threads spin for a while after work, taking a core from the writer's store
# process on a 2-core machine (measured: ~5 500 -> ~8 800 images/s).  Set before numpy loads.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse
import json
import resource
import selectors
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
from jfjoch_hil.stream import (
    PROFILING_KEYS,
    REFLECTION_COLUMNS,
    EndMessage,
    ImageMessage,
    Pusher,
    StartMessage,
    TypedArray,
    decode,
    encode,
)
from jfjoch_hil.writer import RunWriter
from jfjoch_hil.writer._store import ProcessStore

NY, NX = 512, 1024
DISTINCT = 8
SPOTS = 40
PHI, Q = 1, 100  # Jungfraujoch's default azimuthal integration: one phi sector


def module_images() -> list[TypedArray]:
    """JUNGFRAU-module-sized uint16 images (photon-counted background + spots), bslz4."""
    rng = np.random.default_rng(42)
    images = []
    for k in range(DISTINCT):
        pixels = rng.poisson(0.3, size=(NY, NX)).astype(np.uint16)
        pixels[rng.integers(0, NY, 400), rng.integers(0, NX, 400)] += rng.integers(
            10, 5000, 400
        ).astype(np.uint16)
        pixels[:, ::64] = rng.integers(0, 200, (NY, NX // 64)).astype(np.uint16) + k
        images.append(TypedArray.from_numpy(pixels, compression="bslz4"))
    return images


def start_message(n: int, file_format: str) -> StartMessage:
    return StartMessage(
        series_id=1,
        series_unique_id="BENCH",
        arm_date=datetime.now(UTC),
        image_size_x=NX,
        image_size_y=NY,
        number_of_images=n,
        images_per_file=1000,
        file_prefix="bench/run",
        file_format=file_format,
        beam_center_x=512.0,
        beam_center_y=256.0,
        detector_distance=0.1,
        pixel_size_x=75e-6,
        pixel_size_y=75e-6,
        incident_wavelength=1.0,
        sensor_material="Si",
        sensor_thickness=320e-6,
        max_spot_count=SPOTS,
        az_int_phi_bins=PHI,
        az_int_q_bins=Q,
        goniometer={"omega": {"start": 0.0, "increment": 0.1, "vector": [-1.0, 0.0, 0.0]}},
        roi_definitions=[
            {"name": "a", "type": "box", "bit_index": 0},
            {"name": "b", "type": "box", "bit_index": 1},
        ],
        pulsed_source=True,
    )


def image_message(
    index: int, data: TypedArray, reflections_every: int, spots_per_image: int = SPOTS
) -> ImageMessage:
    rng = np.random.default_rng(index)
    xy = rng.uniform(0, 500, size=(spots_per_image, 3))
    spots = [
        {
            "x": float(x),
            "y": float(y),
            "I": float(i),
            "indexed": True,
            "h": 1,
            "k": 2,
            "l": 3,
            "dist_ewald": 0.001,
            "lattice": 0,
            "ice_ring": False,
        }
        for x, y, i in xy
    ]
    reflections = None
    if reflections_every and index % reflections_every == 0:
        reflections = {
            c: TypedArray.from_numpy(np.arange(50, dtype=np.float32), multidim=False)
            for c in REFLECTION_COLUMNS
        }
    profile = [float(v) for v in rng.uniform(0, 10, PHI * Q)]
    return ImageMessage(
        series_id=1,
        series_unique_id="BENCH",
        image_id=index,
        data={"default": data},
        spots=spots,
        strong_pixel_count=500,
        spot_count_unfiltered=60,
        spot_count_low_res=3,
        spot_count_ice_ring=1,
        spot_count_indexed=30,
        indexing_result=True,
        indexing_lattice=[float(v) for v in range(9)],
        indexing_lattice_extra=[[1.0] * 9],
        indexing_lattice_count=1,
        niggli_class=5,
        bravais_lattice="mC",
        profile_radius=0.001,
        mosaicity=0.1,
        b_factor=10.0,
        resolution_estimate=2.0,
        integrated_reflection_count=50,
        bkg_estimate=1.0,
        beam_corr_x=0.1,
        beam_corr_y=0.1,
        image_scale_factor=1.0,
        image_scale_cc=0.9,
        image_scale_mosaicity=0.1,
        image_scale_b_factor=1.0,
        reflections=reflections,
        az_int_profile=profile,
        az_int_profile_std=profile,
        az_int_profile_count=profile,
        roi_integrals={
            "a": {"sum": 1, "sum_sq": 1, "npixel": 10, "max": 5, "x": 1.0, "y": 2.0},
            "b": {"sum": 2, "sum_sq": 4, "npixel": 10, "max": 5, "x": 1.0, "y": 2.0},
        },
        image_max_value=5000,
        image_min_value=0,
        error_pixel_count=0,
        saturated_pixel_count=0,
        pixel_sum=123456,
        profiling={k: 0.001 for k in PROFILING_KEYS},
        xfel_pulse_id=index,
        xfel_event_code=1,
        storage_cell=0,
        packets_expected=128,
        packets_received=128,
        data_collection_efficiency=1.0,
        receiver_delay=5,
        receiver_free_send_buffers=100,
        det_info=0,
        timestamp=index,
        exposure_time=0.001,
    )


def bare_loop(folder: Path, images: list[TypedArray], n: int) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "bare.h5", "w", libver=("v110", "v110")) as f:
        ds = f.create_dataset(
            "data",
            shape=(n, NY, NX),
            chunks=(1, NY, NX),
            dtype="u2",
            compression=32008,
            compression_opts=(0, 2),
        )
        dsid = ds.id
        t0 = time.perf_counter()
        for i in range(n):
            dsid.write_direct_chunk((i, 0, 0), images[i % DISTINCT].payload)
        f.flush()
        seconds = time.perf_counter() - t0
    return n / seconds


def writer_core(
    folder: Path, messages: list[ImageMessage], file_format: str, store=None
) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    writer = RunWriter(start_message(len(messages), file_format), folder, store=store)
    for message in messages:
        writer.put_image(message)
    result = writer.finish(EndMessage(series_id=1, series_unique_id="BENCH"))
    seconds = time.perf_counter() - t0
    assert result.error is None and result.images_written == len(messages), result
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    return len(messages) / seconds, grown_kb


def whole_service(
    folder: Path, encoded: list[bytes], start: bytes, end: bytes, store: str
) -> tuple[float, dict]:
    command = [
        sys.executable,
        "-m",
        "jfjoch_hil.writer.cli",
        "--listen",
        "tcp://127.0.0.1:0",
        "--bind",
        "--dir",
        str(folder),
        "--max-runs",
        "1",
        "--receive-hwm",
        "100",
        "--store",
        store,
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)

    def line(timeout_s=120.0) -> dict:
        if not selector.select(timeout_s):
            raise RuntimeError("jfwriter did not answer")
        return json.loads(child.stdout.readline())

    try:
        ready = line()
        with Pusher(
            ready["endpoint"], bind=False, send_hwm=2000, linger_ms=10000, send_timeout_ms=60000
        ) as pusher:
            pusher.send(start)
            t0 = time.perf_counter()
            for data in encoded:
                pusher.send(data)
            pusher.send(end)
            record = line()
        seconds = time.perf_counter() - t0
        hwm = 0
        try:
            for text in Path(f"/proc/{child.pid}/status").read_text().splitlines():
                if text.startswith("VmHWM:"):
                    hwm = int(text.split()[1])
        except OSError:
            pass
        peak = line()
        child.wait(60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return len(encoded) / seconds, {"run": record, "exit": peak, "vm_hwm_kb": hwm}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--reflections-every", type=int, default=10)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; best of each is compared"
    )
    parser.add_argument("--format", default="NXmxVDS")
    parser.add_argument("--spots", type=int, default=SPOTS, help=f"spots per image (max {SPOTS})")
    parser.add_argument("--images-only", action="store_true", help="image messages without results")
    parser.add_argument(
        "--decoded",
        action="store_true",
        help="feed the writer core messages that went through stream.encode/decode (spots are "
        "cbor2.frozendict, as in the service) instead of constructed ones (~200 kB each held)",
    )
    args = parser.parse_args()
    store = ProcessStore()  # forked before this process opens any HDF5 file
    images = module_images()
    n = args.images
    print(
        f"chunk bytes: mean {np.mean([len(i.payload) for i in images]) / 1e3:.0f} kB, images {n}, "
        f"{args.rounds} interleaved rounds (the machine is shared: best of each is compared)"
    )
    spots = min(args.spots, SPOTS)
    messages = [
        image_message(i, images[i % DISTINCT], args.reflections_every, spots) for i in range(n)
    ]
    if args.images_only:
        messages = [
            ImageMessage(series_id=1, series_unique_id="BENCH", image_id=m.image_id, data=m.data)
            for m in messages
        ]
    root = Path("/dev/shm") if Path("/dev/shm").is_dir() else None  # page cache without writeback
    bare, core, core_process, grown = [], [], [], []
    service: dict[str, list[float]] = {"local": [], "process": []}
    records = {}
    encoded = [encode(m) for m in messages]
    if args.decoded:
        messages = [decode(data) for data in encoded]
    start = encode(start_message(n, args.format))
    end = encode(EndMessage(series_id=1, series_unique_id="BENCH"))
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            bare.append(bare_loop(Path(tmp), images, n))
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            rate, grown_kb = writer_core(Path(tmp), messages, args.format)
            core.append(rate)
            grown.append(grown_kb)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            core_process.append(writer_core(Path(tmp), messages, args.format, store)[0])
        for kind, rates in service.items():
            with tempfile.TemporaryDirectory(dir=root) as tmp:
                rate, records = whole_service(Path(tmp), encoded, start, end, kind)
                rates.append(rate)
    reference = max(bare)
    print(
        f"bare write_direct_chunk loop: {', '.join(f'{r:.0f}' for r in bare)} images/s (best {reference:.0f})"
    )
    content = (
        "images only"
        if args.images_only
        else (
            f"every result kind, {spots} spots/image, {PHI}x{Q} azint bins, reflections every {args.reflections_every}"
        )
    )
    if args.decoded:
        content += ", decoded messages"
    print(
        f"writer core ({args.format}, {content}): "
        f"{', '.join(f'{r:.0f}' for r in core)} images/s, best/best ratio {max(core) / reference:.2f}"
    )
    print(
        f"writer core, HDF5 work in a store process: {', '.join(f'{r:.0f}' for r in core_process)} images/s, "
        f"best/best ratio {max(core_process) / reference:.2f}"
    )
    for kind, rates in service.items():
        print(
            f"whole service (PULL + decode + write, jfwriter --store {kind}): "
            f"{', '.join(f'{r:.0f}' for r in rates)} images/s, best/best ratio {max(rates) / reference:.2f}"
        )
    print(
        f"per-round ratios core/bare: {', '.join(f'{c / b:.2f}' for c, b in zip(core, bare, strict=True))}; "
        f"core with store process/bare: {', '.join(f'{c / b:.2f}' for c, b in zip(core_process, bare, strict=True))}; "
        + "; ".join(
            f"service --store {kind}/bare: {', '.join(f'{s / b:.2f}' for s, b in zip(rates, bare, strict=True))}"
            for kind, rates in service.items()
        )
    )
    peak = records["exit"]["statistics"] if records else {}
    print(
        f"writer core peak RSS growth: {max(grown) / 1024:.0f} MiB for {n} images "
        f"(raw images alone would be {n * NY * NX * 2 / 2**20:.0f} MiB); service peak RSS {records.get('vm_hwm_kb', 0) / 1024:.0f} MiB"
    )
    print(
        f"service images written: {peak.get('images_written')}, rejected: {peak.get('images_rejected')}"
    )
    store.close()


if __name__ == "__main__":
    main()
