"""Scenario keys of the detector's wire format: EIGER link, JUNGFRAU chip version (detectors.md
§2.5, §2.7, §3.3), and what the experiment built from them sends."""

from __future__ import annotations

import pytest
from jfjoch_hil.harness.chain import build_experiment
from jfjoch_hil.harness.errors import ScenarioError
from jfjoch_hil.harness.scenario import load_scenario
from jfjoch_hil.simulator.detector import det_info_get

SMALL = ["run.images=2", "run.transport='direct'"]


@pytest.mark.parametrize(
    ("link", "datagram", "per_port"),
    [("10gbe", 4144, 64), ("1gbe", 1072, 256)],  # 16-bit: 4*dr / 16*dr packets per port (3.3)
)
def test_eiger_link_selects_the_packet_layout(link, datagram, per_port):
    scenario = load_scenario(None, [*SMALL, "detector.type='eiger'", f"detector.link='{link}'"])
    experiment = build_experiment(scenario)
    model = experiment.detector.model
    assert (model.packet_bytes, model.packets_per_port, model.ports_per_module) == (
        datagram,
        per_port,
        4,
    )
    batch = experiment.packetiser.packetise(experiment.headers)
    assert batch.data.shape == (2 * 4 * per_port, datagram)
    # EIGER header content (3.4): detSpec3 = e14a, expLength = 0 (16-bit: no sub-frames)
    assert bytes(batch.data[0, 40:44]) == bytes.fromhex("4ae10000")
    assert bytes(batch.data[0, 8:12]) == bytes(4)


def test_jungfrau_refuses_a_1gbe_link():
    with pytest.raises(ScenarioError, match="detector.link: 1gbe is not allowed for jungfrau"):
        load_scenario(None, ["detector.link='1gbe'"])


def test_chip_version_follows_storage_cells():
    single = build_experiment(load_scenario(None, SMALL))
    word = single.headers.det_spec3[0]
    assert (int(det_info_get(word, "chip_version")), int(det_info_get(word, "storage_cell"))) == (
        1,
        3,
    )  # v1.1, its default start cell 3 (2.7)
    burst = build_experiment(load_scenario(None, [*SMALL, "detector.storage_cells=2"]))
    word = burst.headers.det_spec3[0]
    assert (int(det_info_get(word, "chip_version")), int(det_info_get(word, "storage_cell"))) == (
        0,
        15,
    )  # v1.0, start cell 15
    forced = build_experiment(load_scenario(None, [*SMALL, "detector.chip_version='1.0'"]))
    assert int(det_info_get(forced.headers.det_spec3[0], "storage_cell")) == 15


def test_chip_v11_refuses_storage_cells():
    with pytest.raises(ScenarioError, match="detector.chip_version: 1.1 has no additional"):
        load_scenario(None, ["detector.chip_version='1.1'", "detector.storage_cells=4"])
