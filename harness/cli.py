"""`jfsim`: the detector simulator, receiver and scenario runner.

``jfsim run [SCENARIO]`` runs the whole chain (:mod:`jfjoch_hil.harness.run`); ``jfsim roundtrip`` only the
stream round trip of :mod:`simulator.roundtrip`; ``jfsim record`` / ``jfsim replay`` capture and
play back streams.
"""

from __future__ import annotations

import argparse
import json
import sys

from jfjoch_hil.stream import LAYOUT_NAMES


def build_parser() -> argparse.ArgumentParser:
    """The ``jfsim`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="jfsim",
        description="jfjoch-hil: simulated JUNGFRAU/EIGER detectors, receiver and runs.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run a scenario end to end: detector -> receiver -> writer -> check"
    )
    run.add_argument(
        "scenario", nargs="?", default=None, help="shipped name or .toml path (default quickstart)"
    )
    run.add_argument("--out", default="jfsim-out", help="output folder (default ./jfsim-out)")
    run.add_argument("--format", choices=LAYOUT_NAMES, help="writer layout")
    run.add_argument(
        "--stream-profile",
        choices=("jungfraujoch", "dectris"),
        help="what the stream carries (scenario [stream] profile; docs/stream.md)",
    )
    run.add_argument("--images", type=int, help="images in the run")
    run.add_argument("--seed", type=int, help="random seed")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key (dotted TOML path, TOML value), repeatable",
    )
    run.add_argument(
        "--record", metavar="DIR", help="also dump every stream message as numbered .cbor files"
    )
    run.add_argument("--json", action="store_true", help="print the whole report as JSON")
    run.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    _add_bounds(run)

    roundtrip = commands.add_parser(
        "roundtrip", help="stream round trip only: start/images/end over ZeroMQ"
    )
    roundtrip.add_argument("--images", type=int, default=20, help="images to send (default 20)")
    roundtrip.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    roundtrip.add_argument("--compression", choices=("bslz4", "bszstd"), default="bslz4")
    roundtrip.add_argument("--json", action="store_true", help="print the report as one JSON line")

    detector = commands.add_parser(
        "detector", help="send a scenario's UDP packets to a receiver (ours or real)"
    )
    detector.add_argument(
        "scenario", nargs="?", default=None, help="shipped name or .toml path (default quickstart)"
    )
    detector.add_argument(
        "--to",
        required=True,
        metavar="HOST:PORT,...",
        help="one destination per detector port, in port order",
    )
    detector.add_argument(
        "--allow-remote", action="store_true", help="allow destinations off this machine"
    )
    detector.add_argument(
        "--first-frame-number",
        type=int,
        default=1,
        metavar="N",
        help="frame number of the first frame (default 1; a detector not reset continues)",
    )
    detector.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    detector.add_argument(
        "--max-rate",
        action="store_true",
        help="send at the detector's highest continuous frame rate (JUNGFRAU 2 kHz with two "
        "interfaces, EIGER by bit depth)",
    )
    detector.add_argument(
        "--pool-mb",
        type=float,
        default=64.0,
        metavar="MB",
        help="memory for the pool of rendered frames a fault-free run cycles (default 64)",
    )
    detector.add_argument(
        "--gso",
        choices=("auto", "on", "off"),
        default="auto",
        help="UDP generic segmentation offload for a fault-free run (Linux 4.18+): several "
        "datagrams per send, split by the kernel; auto (default) uses it where the kernel takes "
        "it, on fails where it does not",
    )
    detector.add_argument(
        "--margin",
        type=float,
        default=None,
        metavar="S",
        help="the run may take images x frame period + S seconds from its start (default 60: "
        "rendering the frames, a common start, lateness); past that it stops sending, reports "
        "stopped_by: deadline and exits 3",
    )
    detector.add_argument(
        "--mpi",
        action="store_true",
        help="one rank per module group under mpirun: each rank renders and sends only its "
        "modules; rank 0 broadcasts the destinations and a common start time, the per-rank "
        "statistics are gathered into one report",
    )
    detector.add_argument(
        "--mpi-wait",
        type=float,
        default=None,
        metavar="S",
        help="with --mpi: how long past the run's bound (images x frame period + margin) a rank "
        "waits for the others at a collective step before it aborts the job with exit 3 "
        "(default 30)",
    )

    receiver = commands.add_parser(
        "receiver", help="receive UDP, convert, analyse, publish to a writer (ours or real)"
    )
    receiver.add_argument(
        "scenario", nargs="?", default=None, help="shipped name or .toml path (default quickstart)"
    )
    receiver.add_argument(
        "--push", required=True, metavar="ENDPOINT", help="ZeroMQ endpoint of the writer"
    )
    receiver.add_argument(
        "--bind", action="store_true", help="bind the PUSH socket (default: connect)"
    )
    receiver.add_argument(
        "--udp",
        metavar="PORT,...",
        help="UDP ports to listen on, one per detector port (default: free ports)",
    )
    receiver.add_argument(
        "--no-analysis", action="store_true", help="publish images without the per-image analysis"
    )
    receiver.add_argument("--idle-timeout", type=float, default=5.0, metavar="S")
    receiver.add_argument(
        "--first-packet-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="give up when no packet came within S seconds (default 60)",
    )
    receiver.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="overall limit (default: the run's bound, see the bounds options)",
    )
    receiver.add_argument(
        "--first-frame-number",
        default="first-seen",
        metavar="N|first-seen",
        help="frame number of image 0 (default: the first one seen; detectors keep counting)",
    )
    receiver.add_argument(
        "--readers",
        type=int,
        default=0,
        metavar="N",
        help="read the sockets in N processes, one per module group, feeding one frame builder "
        "(default 0: in this process); they are supervised children, see --pid-file",
    )
    receiver.add_argument(
        "--pid-file",
        metavar="PATH",
        help="keep a JSON record of the reader processes (pids, status, progress) at PATH",
    )
    _add_bounds(receiver)
    receiver.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    stress = commands.add_parser(
        "stress", help="repeat a scenario at rising frame rates; find what holds"
    )
    stress.add_argument("scenario", help="shipped name or .toml path")
    stress.add_argument(
        "--out", default="jfsim-stress", help="output folder (default ./jfsim-stress)"
    )
    rates = stress.add_mutually_exclusive_group(required=True)
    rates.add_argument("--rates", help="comma-separated frame rates in Hz, e.g. 500,1000,2000")
    rates.add_argument(
        "--ramp", action="store_true", help="double the rate from 50 Hz until it fails twice"
    )
    stress.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    stress.add_argument(
        "--max-lag", type=float, default=2.0, metavar="S", help="writer lag allowed (default 2 s)"
    )
    stress.add_argument(
        "--min-rate",
        type=float,
        default=0.95,
        metavar="F",
        help="a rate holds only if the detector achieved at least this fraction of it (default 0.95)",
    )
    _add_bounds(stress)

    reprocess = commands.add_parser(
        "reprocess", help="rerun the analysis on a dataset; write <prefix>_process.h5"
    )
    reprocess.add_argument("master", help="an existing <prefix>_master.h5 (any layout)")
    _add_bounds(reprocess)

    scenarios = commands.add_parser("scenarios", help="list the shipped scenarios")
    scenarios.add_argument("--show", metavar="NAME", help="print one scenario as loaded")

    record = commands.add_parser("record", help="capture a live stream to numbered .cbor files")
    record.add_argument("endpoint", help="where the stream comes from, e.g. tcp://127.0.0.1:5500")
    record.add_argument("folder", help="folder for 000000.cbor, 000001.cbor, ... (created)")
    record.add_argument("--bind", action="store_true", help="bind instead of connecting")
    record.add_argument(
        "--subscribe", action="store_true", help="the source is a PUB socket (preview)"
    )
    record.add_argument("--max-messages", type=int, default=1_000_000)
    record.add_argument(
        "--idle-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="stop after S seconds without a message (default 10)",
    )
    record.add_argument("--until-end", action="store_true", help="stop after the first end message")

    replay = commands.add_parser("replay", help="play numbered .cbor files onto a socket")
    replay.add_argument("folder", help="a dump folder (jfsim record, or a detector recording)")
    replay.add_argument(
        "endpoint", help="PUSH endpoint to bind (a writer connects), e.g. tcp://127.0.0.1:5500"
    )
    replay.add_argument(
        "--connect", action="store_true", help="connect instead of binding (the writer binds)"
    )
    replay.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="HZ",
        help="messages per second (default: as fast as taken)",
    )
    replay.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="S",
        help="how long a send may wait for a consumer (default 30)",
    )

    faults = commands.add_parser(
        "faults", help="run the fault table against a writer (docs/reliability.md)"
    )
    faults.add_argument(
        "--target-writer",
        required=True,
        metavar="ENDPOINT",
        help="PUSH endpoint to bind (the writer connects); tcp://127.0.0.1:0 picks a port",
    )
    faults.add_argument(
        "--connect", action="store_true", help="connect instead of binding (the writer binds)"
    )
    faults.add_argument(
        "--dir", metavar="DIR", help="the writer's output folder (files are judged there)"
    )
    faults.add_argument(
        "--spawn-writer",
        action="store_true",
        help="start our jfwriter on --dir and judge its logs too",
    )
    faults.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    faults.add_argument(
        "--kill-points",
        type=int,
        default=0,
        metavar="N",
        help="with --spawn-writer: also SIGKILL the writer at N seeded points of a run",
    )
    faults.add_argument(
        "--pid-file",
        metavar="PATH",
        help="JSON list of the suite's child processes while they live "
        "(default DIR/faults_pids.json)",
    )
    faults.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    _add_bounds(faults, faults=True)
    return parser


def _add_bounds(parser: argparse.ArgumentParser, *, faults: bool = False) -> None:
    """The supervision bounds of a command that starts processes (docs/reliability.md); with
    ``faults`` those of ``jfsim faults``, whose cases are bounded by the messages they send."""
    from jfjoch_hil.harness._supervise import FAULT_BOUNDS, Bounds

    default = FAULT_BOUNDS if faults else Bounds()
    group = parser.add_argument_group(
        "bounds",
        "a fault case may take MARGIN + messages x PER_IMAGE seconds, counting its fault "
        "messages and the probe run after them (docs/reliability.md)"
        if faults
        else "a run may take MARGIN + images x (frame period + PER_IMAGE) seconds, plus the "
        "writer's wait for a missing end (docs/reliability.md)",
    )
    group.add_argument(
        "--margin",
        type=float,
        default=default.margin_s,
        metavar="S",
        help=f"start-up and tail allowance in seconds (default {default.margin_s:g})",
    )
    group.add_argument(
        "--per-image",
        type=float,
        default=default.per_image_s,
        metavar="S",
        help=(
            f"allowance per message of a case in seconds (default {default.per_image_s:g})"
            if faults
            else f"processing allowance per image in seconds (default {default.per_image_s:g})"
        ),
    )
    group.add_argument(
        "--stall",
        type=float,
        default=default.stall_s,
        metavar="S",
        help=f"a child without progress for this long ends the {'case' if faults else 'run'} "
        f"(default {default.stall_s:g})",
    )


def _bounds(args):
    from jfjoch_hil.harness._supervise import Bounds

    return Bounds(margin_s=args.margin, per_image_s=args.per_image, stall_s=args.stall)


def _supervised(command: str, body) -> int:
    """Run ``body()``; SIGTERM / SIGINT and a failed child end it with its children reaped and a
    message naming what failed (exit 3 for a supervision failure, 128 + signal number else)."""
    from jfjoch_hil.harness._supervise import Terminated, signals_raise
    from jfjoch_hil.harness.errors import SupervisionError

    try:
        with signals_raise():
            return body()
    except SupervisionError as error:
        print(f"jfsim {command}: {error}", file=sys.stderr)
        return 3
    except Terminated as error:
        print(f"jfsim {command}: {error}; children ended", file=sys.stderr)
        return 128 + error.signum
    except KeyboardInterrupt:
        print(f"jfsim {command}: interrupted; children ended", file=sys.stderr)
        return 130


def _run(args) -> int:
    from jfjoch_hil.harness.errors import ScenarioError
    from jfjoch_hil.harness.scenario import load_scenario

    overrides = list(args.set)
    if args.format:
        overrides.append(f"writer.format={args.format}")
    if args.stream_profile:
        overrides.append(f"stream.profile={args.stream_profile}")
    if args.images is not None:
        overrides.append(f"run.images={args.images}")
    if args.seed is not None:
        overrides.append(f"run.seed={args.seed}")
    try:
        scenario = load_scenario(args.scenario, overrides)
    except ScenarioError as error:
        print(f"jfsim run: {error}", file=sys.stderr)
        return 2
    from jfjoch_hil.harness.run import run_scenario

    try:
        bounds = _bounds(args)
    except ValueError as error:
        print(f"jfsim run: {error}", file=sys.stderr)
        return 2

    def body() -> int:
        report = run_scenario(
            scenario,
            args.out,
            record_dir=args.record,
            progress=not args.no_progress and sys.stderr.isatty(),
            bounds=bounds,
        )
        return _print_report(args, report)

    return _supervised("run", body)


def _print_report(args, report: dict) -> int:
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(_summary(report))
    return 0 if report["ok"] else 1


def _summary(report: dict) -> str:
    verdict = "OK" if report["ok"] else "FAILED"
    lost = report["packets_injected_lost"]
    lines = [
        f"jfsim run {report['scenario']} (seed {report['seed']}): {verdict}",
        f"  images      sent {report['images_sent']}, written {report['images_written']}",
        f"  packets     expected {report['packets_expected']}, sent {report['packets_sent']}, "
        f"injected lost {lost}, received {report['packets_received']}, "
        f"kernel drops {report.get('packets_kernel_drops', 0)}, "
        f"late (receiver behind) {report.get('packets_late_behind', 0)}, "
        f"unexplained loss {report['packets_unexplained_loss']}",
        f"  frame rate  asked {report['frame_rate_requested_hz']:.1f} Hz, achieved "
        f"{(report['frame_rate_achieved_hz'] or 0):.1f} Hz; writer lag {report['writer_lag_s']:.2f} s",
        f"  conformance {'ok' if report['conformance_ok'] else 'FAILED'}; stream traced "
        f"{ {True: 'ok', False: 'FAILED', None: 'skipped'}[report.get('stream_traced_ok')] }; truth "
        f"{'ok' if report['truth_ok'] else 'FAILED'} against the packets accepted, "
        f"{'ok' if report.get('truth_sent_ok') else 'differs'} against the packets sent "
        f"({report['truth'].get('images_compared', 0)} images compared)",
        f"  report      {report['report_path']}",
    ]
    return "\n".join(lines)


def _detector(args) -> int:
    from jfjoch_hil.harness.errors import ScenarioError
    from jfjoch_hil.harness.scenario import load_scenario
    from jfjoch_hil.harness.senders import DETECTOR_MARGIN_S, detector_bound_s
    from jfjoch_hil.harness.standalone import max_frame_rate_hz, run_detector

    try:
        scenario = load_scenario(args.scenario, args.set)
        margin_s = DETECTOR_MARGIN_S if args.margin is None else args.margin
        detector_bound_s(scenario, margin_s)  # a bad --margin is refused before anything starts
        if args.max_rate:
            rate = max_frame_rate_hz(scenario)
            scenario = load_scenario(args.scenario, [*args.set, f"run.frame_rate_hz={rate}"])
        destinations = [
            (host, int(port))
            for host, _, port in (item.rpartition(":") for item in args.to.split(","))
        ]
        pool_bytes = int(args.pool_mb * (1 << 20))
        if args.mpi:
            from jfjoch_hil.harness.senders import MPI_COLLECTIVE_WAIT_S, run_detector_mpi

            try:
                from mpi4py import MPI  # noqa: F401 - initialises MPI, as the ranks need
            except ImportError as error:
                print(f"jfsim detector --mpi: needs mpi4py ({error})", file=sys.stderr)
                return 2

            def send():
                return run_detector_mpi(
                    scenario,
                    destinations,
                    allow_remote=args.allow_remote,
                    pool_bytes=pool_bytes,
                    first_frame_number=args.first_frame_number,
                    margin_s=margin_s,
                    collective_wait_s=(
                        MPI_COLLECTIVE_WAIT_S if args.mpi_wait is None else args.mpi_wait
                    ),
                    gso=args.gso,
                )
        else:

            def send():
                return run_detector(
                    scenario,
                    destinations,
                    allow_remote=args.allow_remote,
                    first_frame_number=args.first_frame_number,
                    pool_bytes=pool_bytes,
                    margin_s=margin_s,
                    gso=args.gso,
                )

        stats = _supervised("detector", send)
        if isinstance(stats, int):  # ended by a signal
            return stats
        if stats is None:  # an MPI rank other than 0
            return 0
    except (ScenarioError, ValueError, OSError) as error:
        print(f"jfsim detector: {error}", file=sys.stderr)
        return 2
    print(json.dumps(stats))
    if stats.get("stopped_by") == "deadline":
        print(
            f"jfsim detector: stopped at its deadline of {stats['bound_s']:.3g} s "
            f"({scenario.run.images} frames x {1 / scenario.run.frame_rate_hz:g} s + margin "
            f"{margin_s:g} s); {stats.get('packets_sent', 0)} packets sent",
            file=sys.stderr,
        )
        return 3
    return 0


def _receiver(args) -> int:
    from jfjoch_hil.harness.errors import ScenarioError
    from jfjoch_hil.harness.scenario import load_scenario
    from jfjoch_hil.harness.standalone import run_receiver

    try:
        scenario = load_scenario(args.scenario, args.set)
        ports = [int(p) for p in args.udp.split(",")] if args.udp else None
        first = None
        if args.first_frame_number != "first-seen":
            if not args.first_frame_number.isdigit() or int(args.first_frame_number) < 1:
                raise ValueError(
                    f"--first-frame-number: {args.first_frame_number!r}; "
                    "allowed an integer >= 1 or first-seen"
                )
            first = int(args.first_frame_number)
        for name in ("timeout", "idle_timeout", "first_packet_timeout"):
            if getattr(args, name) is not None and not getattr(args, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')}: allowed > 0 seconds")
        if args.readers < 0:
            raise ValueError(f"--readers: {args.readers}; allowed >= 0 (0: read in this process)")
    except (ScenarioError, ValueError) as error:
        print(f"jfsim receiver: {error}", file=sys.stderr)
        return 2

    def ready(addresses) -> None:
        print(json.dumps({"event": "ready", "udp": [f"{h}:{p}" for h, p in addresses]}), flush=True)

    from jfjoch_hil.stream import TransportError

    def body() -> int:
        try:
            stats = run_receiver(
                scenario,
                args.push,
                bind=args.bind,
                udp_ports=ports,
                analysis=not args.no_analysis,
                on_ready=ready,
                idle_timeout_s=args.idle_timeout,
                first_packet_timeout_s=args.first_packet_timeout,
                timeout_s=args.timeout,
                first_frame_number=first,
                bounds=_bounds(args),
                readers=args.readers,
                pid_file=args.pid_file,
            )
        except TransportError as error:
            print(f"jfsim receiver: {error}", file=sys.stderr)
            return 3
        print(json.dumps({"event": "done", **stats}, default=str), flush=True)
        return 0

    return _supervised("receiver", body)


def _stress(args) -> int:
    from jfjoch_hil.harness.errors import ScenarioError
    from jfjoch_hil.harness.scenario import load_scenario
    from jfjoch_hil.harness.stress import ramp_rates, stress

    try:
        scenario = load_scenario(args.scenario, args.set)
        rates = (
            ramp_rates(count=8)
            if args.ramp
            else [float(r) for r in args.rates.split(",") if r.strip()]
        )
    except (ScenarioError, ValueError) as error:
        print(f"jfsim stress: {error}", file=sys.stderr)
        return 2
    from jfjoch_hil.harness.stress import format_table

    bounds = _bounds(args)

    def body() -> int:
        table = stress(
            scenario,
            rates,
            args.out,
            max_lag_s=args.max_lag,
            min_rate_fraction=args.min_rate,
            stop_after_failures=2 if args.ramp else len(rates),
            bounds=bounds,
        )
        print(format_table(table))
        return 0 if table["highest_rate_without_loss_hz"] is not None else 1

    return _supervised("stress", body)


def _scenarios(args) -> int:
    from jfjoch_hil.harness.errors import ScenarioError
    from jfjoch_hil.harness.scenario import list_scenarios, load_scenario, scenario_to_dict

    if args.show:
        try:
            print(json.dumps(scenario_to_dict(load_scenario(args.show)), indent=2))
        except ScenarioError as error:
            print(f"jfsim scenarios: {error}", file=sys.stderr)
            return 2
        return 0
    for name in list_scenarios():
        print(f"{name:28s} {load_scenario(name).description}")
    return 0


def _record(args) -> int:
    from jfjoch_hil.stream import Puller, Subscriber, record

    socket_class = Subscriber if args.subscribe else Puller
    with socket_class(args.endpoint, bind=args.bind) as source:
        writer = record(
            source.receive_bytes,
            args.folder,
            max_messages=args.max_messages,
            idle_timeout_s=args.idle_timeout,
            stop_after_end=args.until_end,
        )
    print(
        json.dumps(
            {
                "folder": str(args.folder),
                "messages": writer.messages_written,
                "bytes": writer.bytes_written,
                "endpoint": source.endpoint,
            }
        )
    )
    return 0


def _replay(args) -> int:
    from jfjoch_hil.stream import Pusher, StreamError, replay

    try:
        with Pusher(
            args.endpoint, bind=not args.connect, send_timeout_ms=int(args.wait * 1000)
        ) as sink:
            stats = replay(args.folder, sink.send, rate_hz=args.rate)
    except StreamError as error:
        print(f"jfsim replay: {error}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "folder": str(args.folder),
                "messages": stats.messages_sent,
                "bytes": stats.bytes_sent,
                "seconds": round(stats.seconds, 3),
                "rate_hz": round(stats.rate_hz, 1),
            }
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jfsim`` console script; returns the process exit code."""
    try:
        return _main(argv)
    finally:
        if (
            "jfjoch_hil.stream" in sys.modules
        ):  # flush and release zero-copy sends before the interpreter ends
            sys.modules["jfjoch_hil.stream"].shutdown()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "run":
        return _run(args)
    if args.command == "scenarios":
        return _scenarios(args)
    if args.command == "stress":
        return _stress(args)
    if args.command == "detector":
        return _detector(args)
    if args.command == "reprocess":
        from jfjoch_hil.harness.reprocess import main_reprocess

        try:
            bounds = _bounds(args)
        except ValueError as error:
            print(f"jfsim reprocess: {error}", file=sys.stderr)
            return 2
        return _supervised("reprocess", lambda: main_reprocess(args.master, bounds))
    if args.command == "receiver":
        return _receiver(args)
    if args.command == "roundtrip":
        if args.images < 1:
            parser.error("--images must be at least 1")
        from jfjoch_hil.harness.roundtrip import run_round_trip

        report = run_round_trip(images=args.images, seed=args.seed, compression=args.compression)
        if args.json:
            print(json.dumps(report.as_dict()))
        else:
            verdict = "OK" if report.ok else "FAILED"
            print(
                f"jfsim run: stream round trip {verdict}: {report.images_received}/{report.images_sent} "
                f"images received, {report.images_exact} pixel-exact, {report.decode_errors} decode errors, "
                f"{report.bytes_sent / 1e6:.1f} MB in {report.seconds:.2f} s over {report.endpoint}"
            )
        return 0 if report.ok else 1
    if args.command == "record":
        return _record(args)
    if args.command == "replay":
        return _replay(args)
    if args.command == "faults":
        return _faults(args)
    return 2


def _faults(args) -> int:
    """``jfsim faults``: the fault table; exit 1 when a row fails, 2 when it cannot run, 3 when a
    child failed outside any case (the writer did not start), 130 / 128 + N on a signal."""
    if args.dir is None:
        print(
            "jfsim faults: --dir is required (the writer's output folder, where outcomes are observed)",
            file=sys.stderr,
        )
        return 2
    try:
        bounds = _bounds(args)
    except ValueError as error:
        print(f"jfsim faults: {error}", file=sys.stderr)
        return 2
    from pathlib import Path

    from jfjoch_hil.harness.errors import SupervisionError
    from jfjoch_hil.harness.writer_faults import format_table
    from jfjoch_hil.harness.writer_faults._suite import PID_FILE, run_suite

    pid_file = args.pid_file if args.pid_file is not None else Path(args.dir) / PID_FILE

    def body() -> int:
        try:
            rows = run_suite(
                args.target_writer,
                args.dir,
                connect=args.connect,
                spawn=args.spawn_writer,
                seed=args.seed,
                bounds=bounds,
                kill_points=args.kill_points,
                pid_file=pid_file,
            )
        except SupervisionError:
            raise
        except Exception as error:  # noqa: BLE001 - a bad endpoint or folder: a message
            print(
                f"jfsim faults: cannot run against {args.target_writer}: {error}", file=sys.stderr
            )
            return 2
        if args.json:
            for row in rows:
                print(
                    json.dumps(
                        {
                            "fault": row.fault,
                            "expected": row.expected,
                            "observed": row.observed,
                            "passed": row.passed,
                        }
                    )
                )
        else:
            print(format_table(rows))
        return 0 if all(row.passed for row in rows) else 1

    return _supervised("faults", body)


if __name__ == "__main__":
    sys.exit(main())
