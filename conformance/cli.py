"""`jfcheck`: the NXmx / stream conformance checker (stub until its issue lands)."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    """The `jfcheck` argument parser."""
    return argparse.ArgumentParser(prog="jfcheck", description="jfjoch-hil: the NXmx / stream conformance checker.")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jfcheck` console script; returns the process exit code."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
