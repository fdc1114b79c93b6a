"""Benchmark of the conformance suite: time to check a large master without / with --deep, and the
share of mutants caught by the right rule (mutation self-test).

    .venv/bin/python benchmarks/bench_conformance.py [--images 10000] [--per-file 1000] [--mutations]
        [--selftest RUN_DIR...] [--no-large]

Prints figures and ratios; asserts nothing (speed belongs here, not in tests).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jfjoch_hil.conformance import check_file  # noqa: E402

from tests.unit.conformance._files import RunSpec, build_run  # noqa: E402


def _time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_large(images: int, per_file: int, ny: int, nx: int, max_spots: int) -> None:
    spec = RunSpec(
        n_images=images, images_per_file=per_file, ny=ny, nx=nx, max_spots=max_spots, seed=11
    )
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("legacy", "vds", "integrated"):
            t0 = time.perf_counter()
            master = build_run(Path(tmp) / layout, layout, spec)
            built = time.perf_counter() - t0
            report = check_file(master)
            fast = _time(lambda m=master: check_file(m))
            deep = _time(lambda m=master: check_file(m, deep=True), repeat=1)
            cli = _time(
                lambda m=master: subprocess.run(
                    [sys.executable, "-m", "jfjoch_hil.conformance.cli", str(m)],
                    capture_output=True,
                    check=False,
                ),
                repeat=1,
            )
            print(
                f"{layout:10s} jfcheck CLI (process start, imports, isolated check): {cli:6.3f} s"
            )
            print(
                f"{layout:10s} {images} images {ny}x{nx}, max_spots {max_spots}: build {built:6.2f} s | "
                f"check {fast:6.3f} s (errors {len(report.errors)}) | --deep {deep:6.3f} s | "
                f"deep/fast {deep / fast:5.1f}x | budget 5 s -> {'OK' if fast < 5 else 'OVER'}"
            )


def bench_mutations() -> None:
    from tests.unit.conformance._files import build_dectris
    from tests.unit.conformance._mutants import MUTANTS

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pristine = {
            layout: build_run(root / "p" / layout, layout)
            for layout in ("legacy", "vds", "integrated", "process")
        }
        pristine["dectris"] = build_dectris(root / "p" / "dectris")
        caught, total, missed = 0, 0, []
        rules = set()
        for i, mutant in enumerate(MUTANTS):
            for layout in mutant.layouts:
                folder = root / f"m{i}_{layout}"
                shutil.copytree(pristine[layout].parent, folder)
                master = folder / pristine[layout].name
                mutant.apply(folder, master)
                ok = mutant.rule in check_file(master, profile=mutant.profile).rule_ids()
                caught += ok
                total += 1
                rules.add(mutant.rule)
                if not ok:
                    missed.append(f"{layout}: {mutant.name}")
                shutil.rmtree(folder)
        print(
            f"mutants: {len(MUTANTS)} kinds x layouts = {total} mutants over {len(rules)} rule ids; "
            f"caught by the right rule {caught}/{total} = {caught / total:.1%}"
        )
        for m in missed:
            print(f"  missed: {m}")


def bench_selftest(folders: list[str]) -> None:
    """Catch rate per spec section of the mutants made from the coverage table."""
    from jfjoch_hil.conformance._selftest import run_selftest

    t0 = time.perf_counter()
    result = run_selftest([Path(f) for f in folders])
    print(result.to_text(survivors=True))
    print(f"self-test wall time {time.perf_counter() - t0:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--per-file", type=int, default=1000)
    p.add_argument("--ny", type=int, default=128)
    p.add_argument("--nx", type=int, default=128)
    p.add_argument("--max-spots", type=int, default=100)
    p.add_argument("--mutations", action="store_true", help="also run the full mutation matrix")
    p.add_argument(
        "--selftest",
        nargs="+",
        metavar="RUN_DIR",
        help="run the spec-made self-test on these writer run folders (jfsim run output)",
    )
    p.add_argument("--no-large", action="store_true", help="skip the large-master timing")
    args = p.parse_args()
    if not args.no_large:
        bench_large(args.images, args.per_file, args.ny, args.nx, args.max_spots)
    if args.mutations:
        bench_mutations()
    if args.selftest:
        bench_selftest(args.selftest)


if __name__ == "__main__":
    main()
