"""Per-module sender groups."""

from __future__ import annotations

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
