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
    return parser


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
    return 2


if __name__ == "__main__":
    sys.exit(main())
