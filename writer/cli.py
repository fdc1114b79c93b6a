"""`jfwriter`: the stream-to-NXmx writer service (stub until its issue lands)."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    """The `jfwriter` argument parser."""
    return argparse.ArgumentParser(prog="jfwriter", description="jfjoch-hil: the stream-to-NXmx writer service.")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jfwriter` console script; returns the process exit code."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
