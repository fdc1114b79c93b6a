"""`jfcheck`: the NXmx / stream conformance checker.

    jfcheck FILE... [--profile jungfraujoch|nxmx] [--layout auto|legacy|vds|integrated|process]
                    [--deep] [--json] [--junit PATH] [--allow-outside]
    jfcheck FILE --stream DIR | --connect ENDPOINT [--trace-only] [--json]   (stream-to-file trace)
    jfcheck manifest FILE [-o OUT]
    jfcheck diff OLD NEW [--json]
    jfcheck stream DIR [--deep] [--profile jungfraujoch|dectris] [--json]
    jfcheck stream --connect ENDPOINT --timeout S [--deep] [--profile ...] [--json]

Exit codes: 0 conformant (warnings allowed), 1 violations (or breaking changes for diff),
2 unreadable input or usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jfjoch_hil.conformance.rules import LAYOUTS, PROFILES

__all__ = ["main", "build_parser"]

_SUBCOMMANDS = ("manifest", "diff", "stream", "rules", "selftest")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jfcheck FILE...`` (sub-commands have their own, see :func:`main`)."""
    p = argparse.ArgumentParser(
        prog="jfcheck",
        description="Check NXmx / Jungfraujoch HDF5 files (sub-commands: manifest, diff, stream).",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--profile", choices=PROFILES, default="jungfraujoch")
    p.add_argument("--layout", choices=LAYOUTS, default="auto")
    p.add_argument("--deep", action="store_true", help="read every image and per-image row")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p.add_argument("--junit", metavar="PATH", help="write a JUnit XML report")
    p.add_argument(
        "--allow-outside",
        action="store_true",
        help="follow external links / VDS sources outside the file's folder",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="give up on a file after S seconds (reported unreadable)",
    )
    p.add_argument(
        "--stream",
        metavar="DIR",
        help="also trace a recorded stream (jfsim record / jfsim run --record) into FILE",
    )
    p.add_argument(
        "--connect",
        metavar="ENDPOINT",
        help="also trace the stream PULLed live from ENDPOINT into FILE (after its end message)",
    )
    p.add_argument(
        "--trace-only", action="store_true", help="with --stream/--connect: skip the file rules"
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="do not isolate the check in a child process (a library crash then ends jfcheck)",
    )
    return p


def _check(argv: list[str]) -> int:
    from jfjoch_hil.conformance._api import check_file
    from jfjoch_hil.conformance._isolate import check_file_isolated

    args = build_parser().parse_args(argv)
    if args.stream or args.connect:
        from jfjoch_hil.conformance._trace_cli import check_with_trace

        return check_with_trace(args)
    if args.in_process:
        reports = [
            check_file(
                f,
                profile=args.profile,
                layout=args.layout,
                deep=args.deep,
                allow_outside=args.allow_outside,
            )
            for f in args.files
        ]
    else:
        reports = [
            check_file_isolated(
                f,
                profile=args.profile,
                layout=args.layout,
                deep=args.deep,
                allow_outside=args.allow_outside,
                timeout_s=args.timeout,
            )
            for f in args.files
        ]
    if args.json:
        doc = reports[0].to_json() if len(reports) == 1 else [r.to_json() for r in reports]
        print(json.dumps(doc, indent=1))
    else:
        print("\n\n".join(r.to_text() for r in reports))
    if args.junit:
        Path(args.junit).write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<testsuites>'
            + "".join(r.to_junit() for r in reports)
            + "</testsuites>\n",
            encoding="utf-8",
        )
    return max(r.exit_code for r in reports)


def _manifest(argv: list[str]) -> int:
    from jfjoch_hil.conformance._isolate import call_isolated
    from jfjoch_hil.conformance._manifest import make_manifest

    p = argparse.ArgumentParser(
        prog="jfcheck manifest", description="Write a layout snapshot of a file."
    )
    p.add_argument("file")
    p.add_argument("-o", "--output", help="write here instead of stdout")
    args = p.parse_args(argv)
    doc = call_isolated(
        make_manifest, args.file, what=args.file
    )  # a library crash: exit 2, not a dead jfcheck
    text = json.dumps(doc, indent=1, sort_keys=True)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


def _diff(argv: list[str]) -> int:
    from jfjoch_hil.conformance._isolate import call_isolated
    from jfjoch_hil.conformance._manifest import diff_manifests, load_manifest

    p = argparse.ArgumentParser(prog="jfcheck diff", description="Compare two files or manifests.")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    old, new = (call_isolated(load_manifest, p, what=p) for p in (args.old, args.new))
    changes = diff_manifests(old, new)
    if args.json:
        print(json.dumps([c.as_dict() for c in changes], indent=1))
    else:
        for c in changes:
            print(f"{'BREAKING' if c.breaking else 'ok      '} {c.kind:8s} {c.path}: {c.detail}")
        print(
            f"{sum(c.breaking for c in changes)} breaking, {sum(not c.breaking for c in changes)} non-breaking"
        )
    return 1 if any(c.breaking for c in changes) else 0


def _stream(argv: list[str]) -> int:
    from jfjoch_hil.conformance._stream import check_stream_connect, check_stream_dir
    from jfjoch_hil.conformance.rules import STREAM_PROFILES

    p = argparse.ArgumentParser(
        prog="jfcheck stream", description="Check CBOR stream messages (stream.md)."
    )
    p.add_argument("dir", nargs="?", help="folder of dumped .cbor messages (one message per file)")
    p.add_argument("--connect", metavar="ENDPOINT", help="ZeroMQ endpoint to PULL from")
    p.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="stop after S seconds (--connect)"
    )
    p.add_argument("--max-messages", type=int, default=100_000)
    p.add_argument("--deep", action="store_true", help="decompress every compressed array")
    p.add_argument(
        "--profile",
        choices=STREAM_PROFILES,
        default="jungfraujoch",
        help="consumer to check for: dectris reports what a DECTRIS Stream V2 client would reject "
        "or misread; jungfraujoch (default) reports missing confirmed Jungfraujoch fields",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if (args.dir is None) == (args.connect is None):
        p.error("give exactly one of DIR or --connect ENDPOINT")
    if args.dir is not None:
        report = check_stream_dir(args.dir, deep=args.deep, profile=args.profile)
    else:
        report = check_stream_connect(
            args.connect,
            timeout_s=args.timeout,
            max_messages=args.max_messages,
            deep=args.deep,
            profile=args.profile,
        )
    print(report.to_json_text() if args.json else report.to_text())
    return report.exit_code


def coverage_text() -> str:
    """Every spec row of the coverage table with its rules, then the totals."""
    from jfjoch_hil.conformance.rules._coverage import COVERAGE, row_rules

    lines, covered, reasoned = [], 0, 0
    for row in COVERAGE:
        rules = row_rules(row)
        covered += bool(rules)
        reasoned += bool(row.reason) and not rules
        what = f"[{row.presence}] " if not row.is_sentence else "[sentence] "
        lines.append(
            f"{row.section:40s} {what}{row.path or '(entry)'}\n"
            f"{'':40s}   rules: {', '.join(rules) or '-'}"
            + (f"\n{'':40s}   reason: {row.reason}" if row.reason else "")
        )
    lines.append(
        f"totals: {len(COVERAGE)} rows, {covered} covered by rules, {reasoned} reasoned, "
        f"{len(COVERAGE) - covered - reasoned} with neither"
    )
    return "\n".join(lines)


def _rules(argv: list[str]) -> int:
    from jfjoch_hil.conformance.rules import FILE_RULES, STREAM_RULES

    p = argparse.ArgumentParser(prog="jfcheck rules", description="List the rules.")
    p.add_argument(
        "--coverage", action="store_true", help="print every hdf5-format.md row with its rules"
    )
    args = p.parse_args(argv)
    if args.coverage:
        print(coverage_text())
        return 0
    for r in (*FILE_RULES.values(), *STREAM_RULES.values()):
        print(
            f"{r.id:18s} {r.severity:7s} {'/'.join(sorted(r.profiles)):20s} {r.section}: {r.title}"
        )
    return 0


def _selftest(argv: list[str]) -> int:
    from jfjoch_hil.conformance._selftest import run_selftest

    p = argparse.ArgumentParser(
        prog="jfcheck selftest",
        description="Mutate writer files row by row from the spec coverage table and report "
        "the catch rate per spec section.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="folders each holding one writer run")
    p.add_argument("--json", action="store_true")
    p.add_argument("--work", metavar="DIR", help="scratch folder (default: a temporary one)")
    p.add_argument("--survivors", action="store_true", help="list every surviving mutant")
    p.add_argument("--progress", action="store_true", help="one line per mutant on stderr")
    p.add_argument(
        "--section",
        action="append",
        default=[],
        metavar="PREFIX",
        help="only mutants of spec sections starting with PREFIX (repeatable), e.g. '§4.1'",
    )
    args = p.parse_args(argv)
    progress = None
    if args.progress:

        def progress(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

    result = run_selftest(
        [Path(d) for d in args.dirs],
        work=args.work,
        sections=tuple(args.section),
        progress=progress,
    )
    if args.json:
        print(json.dumps(result.as_dict(), indent=1))
    else:
        print(result.to_text(survivors=args.survivors))
    return 0 if result.all_caught else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jfcheck` console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in _SUBCOMMANDS:
            return {
                "manifest": _manifest,
                "diff": _diff,
                "stream": _stream,
                "rules": _rules,
                "selftest": _selftest,
            }[argv[0]](argv[1:])
        return _check(argv)
    except SystemExit as exc:  # argparse usage errors: exit 2; --help: exit 0
        return exc.code if isinstance(exc.code, int) else 2
    except (ValueError, OSError) as exc:
        print(f"jfcheck: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
