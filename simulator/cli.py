"""`jfsim`: the detector simulator, receiver and scenario runner.

Until the scenario runner lands, ``jfsim run`` performs the stream round trip of
:mod:`simulator.roundtrip` (start -> images -> end over ZeroMQ on 127.0.0.1, every pixel checked).
"""

from __future__ import annotations

import argparse
import json
import sys


def build_parser() -> argparse.ArgumentParser:
    """The ``jfsim`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="jfsim", description="jfjoch-hil: simulated JUNGFRAU/EIGER detectors, receiver and runs."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run the default job (currently: the stream round trip)")
    run.add_argument("--images", type=int, default=20, help="images to send (default 20)")
    run.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    run.add_argument("--compression", choices=("bslz4", "bszstd"), default="bslz4")
    run.add_argument("--json", action="store_true", help="print the report as one JSON line")

    record = commands.add_parser("record", help="capture a live stream to numbered .cbor files")
    record.add_argument("endpoint", help="where the stream comes from, e.g. tcp://127.0.0.1:5500")
    record.add_argument("folder", help="folder for 000000.cbor, 000001.cbor, ... (created)")
    record.add_argument("--bind", action="store_true", help="bind instead of connecting")
    record.add_argument("--subscribe", action="store_true", help="the source is a PUB socket (preview)")
    record.add_argument("--max-messages", type=int, default=1_000_000)
    record.add_argument("--idle-timeout", type=float, default=10.0, metavar="S",
                        help="stop after S seconds without a message (default 10)")
    record.add_argument("--until-end", action="store_true", help="stop after the first end message")

    replay = commands.add_parser("replay", help="play numbered .cbor files onto a socket")
    replay.add_argument("folder", help="a dump folder (jfsim record, or a detector recording)")
    replay.add_argument("endpoint", help="PUSH endpoint to bind (a writer connects), e.g. tcp://127.0.0.1:5500")
    replay.add_argument("--connect", action="store_true", help="connect instead of binding (the writer binds)")
    replay.add_argument("--rate", type=float, default=None, metavar="HZ", help="messages per second (default: as fast as taken)")
    replay.add_argument("--wait", type=float, default=30.0, metavar="S",
                        help="how long a send may wait for a consumer (default 30)")
    return parser


def _record(args) -> int:
    from stream import Puller, Subscriber, record

    socket_class = Subscriber if args.subscribe else Puller
    with socket_class(args.endpoint, bind=args.bind) as source:
        writer = record(source.receive_bytes, args.folder, max_messages=args.max_messages,
                        idle_timeout_s=args.idle_timeout, stop_after_end=args.until_end)
    print(json.dumps({"folder": str(args.folder), "messages": writer.messages_written,
                      "bytes": writer.bytes_written, "endpoint": source.endpoint}))
    return 0


def _replay(args) -> int:
    from stream import Pusher, StreamError, replay

    try:
        with Pusher(args.endpoint, bind=not args.connect, send_timeout_ms=int(args.wait * 1000)) as sink:
            stats = replay(args.folder, sink.send, rate_hz=args.rate)
    except StreamError as error:
        print(f"jfsim replay: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"folder": str(args.folder), "messages": stats.messages_sent, "bytes": stats.bytes_sent,
                      "seconds": round(stats.seconds, 3), "rate_hz": round(stats.rate_hz, 1)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jfsim`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "run":
        if args.images < 1:
            parser.error("--images must be at least 1")
        from .roundtrip import run_round_trip

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
    return 2


if __name__ == "__main__":
    sys.exit(main())
