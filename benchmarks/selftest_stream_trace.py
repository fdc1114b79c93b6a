"""Self-test of the stream-to-file trace: catch rate of mutants made from the stream map.

    .venv/bin/python benchmarks/selftest_stream_trace.py [--layouts legacy vds integrated]
        [--images 4] [--scenario quickstart] [--json OUT] [--mutations drop move alter ...]

For each layout: one small ``jfsim run`` (direct transport, its stream recorded beside the files),
then every traced destination of conformance/rules/stream_map.py is broken in a copy of the run
(drop, move one group up, alter a value / flip a pixel, shift the per-image rows by one, relabel
the units, narrow floats to float16) and traced again. Prints the catch rate per message kind and
spec section and per mutation, the equivalent mutants with their reasons, and every survivor.
Asserts nothing; the figures go into docs/conformance.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from jfjoch_hil.conformance._trace_selftest import MUTATIONS, run_selftest


def _run(out: Path, scenario: str, layout: str, images: int) -> Path:
    args = [sys.executable, "-m", "jfjoch_hil.harness.cli", "run", scenario, "--out", str(out)]
    for setting in (
        f"run.images={images}",
        "run.transport=direct",
        f"writer.format={layout}",
        f"writer.images_per_file={max(1, images - 1)}",
    ):
        args += ["--set", setting]
    done = subprocess.run(
        [*args, "--json", "--no-progress"], capture_output=True, text=True, timeout=900
    )
    report = json.loads(done.stdout)
    if not report.get("stream_traced_ok"):
        raise SystemExit(f"{layout}: the clean run does not trace: {report.get('stream_trace')}")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layouts", nargs="+", default=["legacy", "vds", "integrated"])
    p.add_argument("--scenario", default="quickstart")
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--mutations", nargs="+", default=list(MUTATIONS), choices=MUTATIONS)
    p.add_argument("--json", metavar="OUT", help="write every outcome as JSON")
    args = p.parse_args()
    totals: Counter = Counter()
    everything = []
    with tempfile.TemporaryDirectory(prefix="trace-selftest-runs-") as tmp:
        for layout in args.layouts:
            out = _run(Path(tmp) / layout, args.scenario, layout, args.images)
            prefix = args.scenario
            began = time.perf_counter()
            result = run_selftest(
                out / f"{prefix}_master.h5", out / f"{prefix}_stream", mutations=args.mutations
            )
            seconds = time.perf_counter() - began
            equivalent = Counter(o.equivalent for o in result.outcomes if o.equivalent)
            errors = [o for o in result.outcomes if o.error]
            print(
                f"\n== {layout}: {len(result.outcomes)} mutants in {seconds:.0f} s "
                f"({sum(equivalent.values())} equivalent, {len(errors)} not applicable)"
            )
            for group, (caught, total) in result.rates("group").items():
                print(f"  {caught:4d}/{total:<4d} {100 * caught / total:5.1f} %  {group}")
                totals[group, "caught"] += caught
                totals[group, "total"] += total
            print(
                "  by mutation: "
                + ", ".join(f"{m} {c}/{t}" for m, (c, t) in result.rates("mutation").items())
            )
            for reason, count in equivalent.most_common():
                print(f"  equivalent: {count} x {reason}")
            for reason, count in Counter(o.error for o in errors).most_common():
                print(f"  not applicable: {count} x {reason}")
            for o in result.survivors:
                print(f"  SURVIVOR {o.mutant.describe()}")
            everything += [
                {
                    "layout": layout,
                    "mutation": o.mutant.mutation,
                    "kind": o.mutant.point.kind,
                    "key": o.mutant.point.key,
                    "section": o.mutant.point.section,
                    "file": Path(o.mutant.point.file).name,
                    "path": o.mutant.point.path,
                    "caught": o.caught,
                    "equivalent": o.equivalent,
                    "rules": list(o.rules),
                    "error": o.error,
                }
                for o in result.outcomes
            ]
    caught = sum(v for (g, k), v in totals.items() if k == "caught")
    total = sum(v for (g, k), v in totals.items() if k == "total")
    print(
        f"\nall layouts: {caught}/{total} non-equivalent mutants caught "
        f"({100 * caught / max(total, 1):.1f} %)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
