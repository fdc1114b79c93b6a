"""Per-module sender groups."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.harness.senders import module_groups


@given(st.integers(1, 64), st.integers(1, 16))
def test_groups_cover_every_module_once_in_order(n_modules, processes):
    groups = module_groups(n_modules, processes)
    assert [m for group in groups for m in group] == list(range(n_modules))
    assert len(groups) == min(n_modules, processes)
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1


def test_emitter_pool_is_the_first_frames_of_the_whole_run():
    # The pool is built from the scenario cut to the pool's length; its frames must be the
    # whole run's first frames, packet for packet, and the run length must stay the scenario's.
    import numpy as np
    from jfjoch_hil.harness.chain import build_experiment
    from jfjoch_hil.harness.scenario import load_scenario
    from jfjoch_hil.harness.standalone import pool_experiment

    scenario = load_scenario("quickstart", ["run.images=6", "faults.loss_rate=0"])
    frame_bytes = 128 * 8240
    pooled = pool_experiment(scenario, pool_bytes=4 * frame_bytes)
    whole = build_experiment(scenario)
    assert pooled.n_images == 6 and pooled.packetiser.n_rendered == 4
    assert pooled.headers is None and pooled.schedule is None
    np.testing.assert_array_equal(pooled.raw, whole.raw[:4])
    block = pooled.header_block(2, 3)
    for name in ("frame_number", "det_spec1", "timestamp", "det_spec3", "exp_length"):
        np.testing.assert_array_equal(getattr(block, name), getattr(whole.headers, name)[2:5])


def _header_fields(headers, lo: int, hi: int) -> dict:
    names = ("frame_number", "exp_length", "det_spec1", "timestamp", "det_spec3")
    return {name: getattr(headers, name)[lo:hi] for name in names}


@pytest.mark.parametrize(
    "scenario, overrides",
    [
        # JUNGFRAU with storage cells, pulse ids with gaps and event codes (detectors.md §2.5-§2.8)
        ("jf-xfel-storage-cells", ["detector.modules=1", "run.images=40"]),
        # EIGER as its firmware fills the header (§3.4): sub-frame count in 32-bit mode
        ("eiger-serial-grid", ["detector.modules=1", "run.images=6"]),
        ("eiger-serial-grid", ["detector.modules=1", "run.images=6", "detector.bit_depth=12"]),
        ("eiger-serial-grid", ["detector.modules=1", "run.images=6", "detector.link='1gbe'"]),
    ],
)
@pytest.mark.parametrize("first_frame_number", [1, 1001])
def test_emitter_header_blocks_are_slices_of_the_whole_runs_headers(
    scenario, overrides, first_frame_number
):
    # The emitter makes headers block by block; each block must equal that slice of the headers
    # the per-packet path sends (build_experiment, frame numbers shifted by the first one).
    from jfjoch_hil.harness.chain import build_experiment
    from jfjoch_hil.harness.scenario import load_scenario
    from jfjoch_hil.harness.senders import first_frame_numbered

    loaded = load_scenario(scenario, [*overrides, "run.pedestal_frames=0"])
    whole = first_frame_numbered(build_experiment(loaded), first_frame_number)
    n = loaded.run.images
    for first, count in ((0, 1), (0, n), (3, min(5, n - 3)), (n - 2, 2)):
        block = whole.header_block(first, count, first_frame_number=first_frame_number)
        for name, expected in _header_fields(whole.headers, first, first + count).items():
            np.testing.assert_array_equal(getattr(block, name), expected, err_msg=name)


def test_emitter_pool_shorter_than_the_run_holds_whole_storage_cell_cycles():
    # Run frame i is pool frame i mod R: R must be a multiple of the storage-cell count, or a
    # cycled frame would carry another cell's data (detectors.md §2.7).
    from jfjoch_hil.harness.scenario import load_scenario
    from jfjoch_hil.harness.senders import pool_experiment

    scenario = load_scenario(
        "quickstart", ["run.images=7", "faults.loss_rate=0", "detector.storage_cells=3"]
    )
    pooled = pool_experiment(scenario, pool_bytes=4 * 128 * 8240)  # room for 4 frames
    assert pooled.packetiser.n_rendered == 3 and pooled.n_images == 7


@pytest.mark.parametrize(
    "overrides, rate_hz",
    [
        (["detector.type='jungfrau'", "detector.interfaces=2"], 2000.0),
        (["detector.type='jungfrau'", "detector.interfaces=1"], 1000.0),
        (["detector.type='eiger'", "detector.bit_depth=4"], 7813.0),
        (["detector.type='eiger'", "detector.bit_depth=12"], 2000.0),
        (["detector.type='eiger'", "detector.bit_depth=32"], 1023.0),
        (["detector.type='eiger'", "detector.bit_depth=16", "detector.link='1gbe'"], 256.0),
        (["detector.type='eiger'", "detector.bit_depth=32", "detector.link='1gbe'"], 128.0),
        (["detector.type='eiger'", "detector.bit_depth=12", "detector.link='1gbe'"], 341.0),
    ],
)
def test_max_frame_rate_by_detector_bit_depth_and_link(overrides, rate_hz):
    from jfjoch_hil.harness.scenario import load_scenario
    from jfjoch_hil.harness.senders import max_frame_rate_hz

    assert max_frame_rate_hz(load_scenario("quickstart", overrides)) == rate_hz
