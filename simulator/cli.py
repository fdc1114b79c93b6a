"""`jfsim`: the detector simulator, receiver and scenario runner (stub until its issue lands)."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    """The `jfsim` argument parser."""
    return argparse.ArgumentParser(prog="jfsim", description="jfjoch-hil: the detector simulator, receiver and scenario runner.")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jfsim` console script; returns the process exit code."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
