"""The receiver publishes start / calibration / image / end with exact packet counters
(detectors.md §4.2, §4.4, §5)."""

from __future__ import annotations

import threading

import jfjoch_hil.stream as stream
import numpy as np
from jfjoch_hil.simulator.detector import (
    Detector,
    Packetiser,
    StorageCells,
    UdpSender,
    XfelTiming,
    assemble_image,
    jungfrau_module,
    natural_order,
    run_headers,
)
from jfjoch_hil.simulator.detector._calibration import Calibration, RawGenerator
from jfjoch_hil.simulator.detector.packet_faults import FaultPlan, LossRange
from jfjoch_hil.simulator.receiver import Assembler, DirectTransport
from jfjoch_hil.simulator.receiver._publish import (
    FrameProcessor,
    ReceiverSettings,
    RunPublisher,
    receive_udp,
)
from jfjoch_hil.simulator.receiver.conversion import Converter


def _setup(n_modules=2, n_cells=2, seed=0):
    rng = np.random.default_rng(seed)
    detector = Detector("JF1M-test", jungfrau_module(2), n_modules)
    calibration = Calibration.synthetic(n_modules, n_cells, rng)
    generator = RawGenerator(calibration, 12.4, rng)
    photons = rng.poisson(0.4, size=(n_cells, n_modules, 512, 1024)).astype(np.float32)
    raw = np.stack([generator.raw(photons[c], storage_cell=c) for c in range(n_cells)])
    packetiser = Packetiser(
        detector, detector.model.encode(raw).reshape(n_cells, detector.n_ports, -1)
    )
    return detector, calibration, raw, packetiser


def test_hw_publish_direct_with_faults_exact_counters_and_pixels():
    n_frames, n_cells = 6, 2
    detector, calibration, raw, packetiser = _setup(n_cells=n_cells)
    cells = StorageCells(n_cells=n_cells, start_cell=15)
    headers = run_headers(
        n_frames, 1e-3, 0.98e-3, cells, XfelTiming(first_pulse_id=77, event_codes=(9,))
    )
    plan = FaultPlan(
        seed=5, loss_rate=0.03, loss_ranges=(LossRange(module=1, first_frame=2, last_frame=2),)
    )
    schedule = plan.schedule(n_frames, detector.n_ports, 64, 2)
    settings = ReceiverSettings(n_frames=n_frames, storage_cells=cells, compression="bslz4")
    processor = FrameProcessor(detector, settings, calibration)
    sent: list = []
    publisher = RunPublisher(processor, lambda m: sent.append(stream.decode(stream.encode(m))))
    publisher.start()
    assembler = Assembler(detector, window_frames=2)
    transport = DirectTransport(packetiser, assembler, chunk_packets=200)
    publisher.handle(
        transport.deliver(schedule.frame, schedule.port, schedule.packet, headers), assembler
    )
    assembler.flush(n_frames)
    publisher.handle(assembler.pop_frames(), assembler)
    summary = publisher.end(assembler.statistics().frames_lost)

    kinds = [type(m).__name__ for m in sent]
    assert kinds[0] == "StartMessage" and kinds[-1] == "EndMessage"
    # one pedestal image per (gain, cell), both modules' rows stacked in module order
    calibrations = [m for m in sent if type(m).__name__ == "CalibrationMessage"]
    assert len(calibrations) == n_cells * 3
    assert len({m.name for m in calibrations}) == len(calibrations)
    for m in calibrations:
        expected_pedestal = np.concatenate(
            [calibration.pedestal_adu[m.storage_cell, module, m.gain] for module in range(2)]
        )
        np.testing.assert_array_equal(m.data.to_numpy(), expected_pedestal)
    images = [m for m in sent if type(m).__name__ == "ImageMessage"]
    assert [m.image_id for m in images] == list(range(n_frames))
    expected = schedule.truth.expected_received(2)
    converter = Converter(calibration, 12.4)
    for message in images:
        index = message.image_id
        mask = expected[index]
        assert message.packets_received == int(mask.sum())
        assert message.packets_expected == 256
        assert message.data_collection_efficiency == mask.sum() / 256
        assert message.storage_cell == 15 - index % n_cells
        assert message.xfel_pulse_id == 77 + index and message.xfel_event_code == 9
        image = message.data["default"].to_numpy().reshape(1064, 1030)
        # Ground truth image: the true raw frame with the dropped packets' rows set to 0xFFFF.
        truth_raw = raw[index % n_cells].copy()
        for port, packet in zip(*np.nonzero(~mask), strict=True):
            module, half = divmod(int(port), 2)
            row = 256 * half + 4 * int(packet)
            truth_raw[module, row : row + 4] = 0xFFFF
        truth = assemble_image(converter.convert(truth_raw, index % n_cells), 1)
        np.testing.assert_array_equal(image, truth)
        missing_rows = (~mask).sum() * 4
        assert (truth == -32768).sum() >= missing_rows * 1024
    end = sent[-1]
    assert summary.packets_received == int(expected.sum())
    assert end.data_collection_efficiency == expected.sum() / (n_frames * 256)


def test_hw_receive_udp_publishes_over_zeromq():
    n_frames = 4
    detector, calibration, raw, packetiser = _setup(n_modules=1, n_cells=1, seed=2)
    settings = ReceiverSettings(n_frames=n_frames, storage_cells=StorageCells(1, 0))
    headers = run_headers(n_frames, 10e-3, 9.98e-3, StorageCells(1, 0))
    order = natural_order(n_frames, 2, 64)
    with stream.Puller("tcp://127.0.0.1:0", bind=True) as puller:
        pusher = stream.Pusher(puller.endpoint, bind=False)
        senders = []

        def start_detector(addresses):
            sender = UdpSender(packetiser, addresses, frame_time_s=10e-3)
            senders.append(sender)
            thread = threading.Thread(target=sender.send, args=(*order, headers))
            senders.append(thread)
            thread.start()

        try:
            summary = receive_udp(
                detector,
                settings,
                pusher.send,
                calibration,
                timeout_s=20.0,
                idle_timeout_s=3.0,
                on_ready=start_detector,
                rcvbuf_request_bytes=64 << 20,
                rcvbuf_force=True,
            )
        finally:
            senders[1].join(timeout=20.0)
            senders[0].close()
            pusher.close()
        kinds = []
        for _ in range(1 + 3 + n_frames + 1):
            received = puller.receive(timeout_ms=5000)
            assert received is not None
            kinds.append(type(received.message).__name__)
    assert kinds == ["StartMessage"] + ["CalibrationMessage"] * 3 + ["ImageMessage"] * n_frames + [
        "EndMessage"
    ]
    assert summary.data_collection_efficiency == 1.0 and summary.images_sent == n_frames


def test_hw_eiger_counts_published_as_received():
    from jfjoch_hil.simulator.detector import CATALOGUE

    detector = CATALOGUE["EIGER500k"]
    counts = np.random.default_rng(6).integers(0, 4000, size=(1, 1, 512, 1024), dtype=np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(counts).reshape(1, 4, -1))
    schedule = FaultPlan(
        seed=2, loss_ranges=(LossRange(module=0, first_frame=0, last_frame=0, port_in_module=3),)
    ).schedule(1, 4, 64, 4)
    settings = ReceiverSettings(n_frames=1, compression=None)
    processor = FrameProcessor(detector, settings)
    sent: list = []
    publisher = RunPublisher(processor, sent.append)
    publisher.start()
    assembler = Assembler(detector)
    headers = run_headers(1, 1e-3, 0.99e-3)
    frames = DirectTransport(packetiser, assembler).deliver(
        schedule.frame, schedule.port, schedule.packet, headers
    )
    assembler.flush(1)
    (result,) = publisher.handle(frames + assembler.pop_frames(), assembler)
    assert result.packets_received == 192 and result.packets_expected == 256
    assert result.image.dtype == np.uint16 and result.image.shape == (514, 1030)
    truth = counts[0].copy()
    truth[:, 256:, 512:] = 0xFFFF  # port 3 = top half-module, right block (module rows 256-511)
    np.testing.assert_array_equal(result.image, assemble_image(truth, 1, divide=False))
    assert sent[0].image_dtype == "uint16" and sent[0].detector_type == "EIGER"


def test_hw_run_direct_reports_lost_frames():
    from jfjoch_hil.simulator.receiver._publish import run_direct

    n_frames = 5
    detector, calibration, _raw, packetiser = _setup(n_modules=1, n_cells=1, seed=3)
    # Frame index 2 loses every packet of its only module: reported lost, never published.
    plan = FaultPlan(seed=1, loss_ranges=(LossRange(module=0, first_frame=2, last_frame=2),))
    schedule = plan.schedule(n_frames, 2, 64, 2)
    sent: list = []
    summary = run_direct(
        packetiser,
        run_headers(n_frames, 1e-3, 0.98e-3, StorageCells(1, 0)),
        schedule.frame,
        schedule.port,
        schedule.packet,
        ReceiverSettings(n_frames=n_frames, storage_cells=StorageCells(1, 0)),
        sent.append,
        calibration,
    )
    ids = [m.image_id for m in sent if type(m).__name__ == "ImageMessage"]
    assert ids == [0, 1, 3, 4]
    assert summary.frames_lost == 1 and summary.images_sent == 4
    assert summary.data_collection_efficiency == 4 / 5
    assert sent[-1].data_collection_efficiency == 4 / 5
