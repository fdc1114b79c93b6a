"""``jfsim stress``: the same scenario at rising frame rates, to find what a pipeline sustains.
A rate holds when the detector sent at it (achieved at least ``min_rate_fraction`` of the asked
rate), nothing was lost that the fault plan did not drop (no kernel drop, no packet late because
the receiver fell behind, no unexplained loss), every image was written and the writer finished
within ``max_lag_s`` of the last image.  Writes a table (JSON and CSV) and PNG plots next to the
reports.

Loss is kept apart by cause (docs/reliability.md "Accounting"): ``packets_kernel_drops`` are
datagrams the kernel dropped, ``packets_late_behind`` datagrams read after their frame was closed,
``packets_unexplained_loss`` what none of these explains; they never overlap, so the table shows
each in its own column.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from jfjoch_hil.harness._supervise import Bounds
from jfjoch_hil.harness.run import run_scenario
from jfjoch_hil.harness.scenario import Scenario

__all__ = ["StressRow", "format_table", "ramp_rates", "stress"]


@dataclasses.dataclass(frozen=True)
class StressRow:
    """One rate of a stress run."""

    rate_requested_hz: float
    rate_achieved_hz: float
    images_sent: int
    images_written: int
    packets_unexplained_loss: int
    packets_kernel_drops: int
    packets_late_behind: int
    loss_per_module: tuple[int, ...]
    writer_lag_s: float
    held: bool


def ramp_rates(start_hz: float = 50.0, factor: float = 2.0, count: int = 6) -> list[float]:
    """Geometric ramp of frame rates: ``start, start*factor, ...`` (``count`` rates)."""
    return [start_hz * factor**k for k in range(count)]


def _loss_per_module(report: dict, ports_per_module: int) -> tuple[int, ...]:
    drops = (report.get("receiver", {}).get("receiver") or {}).get("kernel_drops_per_port") or ()
    return tuple(
        sum(drops[i : i + ports_per_module]) for i in range(0, len(drops), ports_per_module)
    )


def stress(
    scenario: Scenario,
    rates_hz: Sequence[float],
    out_dir: str | Path,
    *,
    max_lag_s: float = 2.0,
    min_rate_fraction: float = 0.95,
    stop_after_failures: int = 2,
    runner: Callable[..., dict] = run_scenario,
    bounds: Bounds | None = None,
) -> dict:
    """Run ``scenario`` at each rate (ascending); return the table and the highest rate that held."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[StressRow] = []
    failures = 0
    ports_per_module = (
        2
        if scenario.detector.type == "jungfrau" and scenario.detector.interfaces == 2
        else (1 if scenario.detector.type == "jungfrau" else 4)
    )
    for rate in sorted(rates_hz):
        at_rate = dataclasses.replace(
            scenario,
            run=dataclasses.replace(
                scenario.run, frame_rate_hz=float(rate), prefix=f"{scenario.prefix}_{int(rate)}hz"
            ),
        )
        report = runner(at_rate, out_dir / f"{int(rate)}hz", bounds=bounds or Bounds())
        achieved = float(report["frame_rate_achieved_hz"] or 0.0)
        held = (
            achieved >= min_rate_fraction * float(rate)
            and report["packets_unexplained_loss"] == 0
            and not report.get("packets_kernel_drops")
            and not report.get("packets_late_behind")
            and report["images_written"] == report["images_sent"]
            and report["writer_lag_s"] <= max_lag_s
            and report["truth_ok"]
        )
        rows.append(
            StressRow(
                float(rate),
                float(report["frame_rate_achieved_hz"] or 0.0),
                report["images_sent"],
                report["images_written"],
                report["packets_unexplained_loss"],
                int(report.get("packets_kernel_drops") or 0),
                int(report.get("packets_late_behind") or 0),
                _loss_per_module(report, ports_per_module),
                float(report["writer_lag_s"]),
                held,
            )
        )
        failures = 0 if held else failures + 1
        if failures >= stop_after_failures:
            break
    best = max((row.rate_requested_hz for row in rows if row.held), default=None)
    table = {
        "scenario": scenario.name,
        "highest_rate_without_loss_hz": best,
        "rows": [dataclasses.asdict(row) for row in rows],
    }
    (out_dir / f"{scenario.prefix}_stress.json").write_text(
        json.dumps(table, indent=2) + "\n", encoding="utf-8"
    )
    with open(
        out_dir / f"{scenario.prefix}_stress.csv", "w", newline="", encoding="utf-8"
    ) as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in dataclasses.fields(StressRow)])
        for row in rows:
            writer.writerow(dataclasses.astuple(row))
    table["plots"] = _plots(rows, out_dir, scenario.prefix)
    return table


def format_table(table: dict) -> str:
    """The stress table as text: one line per rate, kernel drops and unexplained loss apart."""
    lines = [
        f"{'asked Hz':>10} {'achieved':>10} {'sent':>6} {'written':>8} {'drops':>6} "
        f"{'late':>6} {'unexpl':>6} {'lag s':>7}  held"
    ]
    for row in table["rows"]:
        lines.append(
            f"{row['rate_requested_hz']:10.1f} {row['rate_achieved_hz']:10.1f} "
            f"{row['images_sent']:6d} {row['images_written']:8d} "
            f"{row['packets_kernel_drops']:6d} {row.get('packets_late_behind', 0):6d} "
            f"{row['packets_unexplained_loss']:6d} "
            f"{row['writer_lag_s']:7.2f}  {'yes' if row['held'] else 'NO'}"
        )
    plots = ", ".join(table.get("plots") or ()) or "none (install matplotlib)"
    lines.append(
        f"highest rate without loss: {table['highest_rate_without_loss_hz']} Hz; plots: {plots}"
    )
    return "\n".join(lines)


def _plots(rows: list[StressRow], out_dir: Path, prefix: str) -> list[str]:
    """PNG plots when matplotlib is installed (optional dependency ``plots``); else none."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    asked = [r.rate_requested_hz for r in rows]
    paths = []
    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].plot(asked, [r.rate_achieved_hz for r in rows], "o-", label="achieved")
    axes[0].plot(asked, asked, "k--", label="asked")
    axes[0].set(xlabel="asked frame rate (Hz)", ylabel="achieved (Hz)", title="frame rate")
    axes[0].legend()
    n_modules = max((len(r.loss_per_module) for r in rows), default=0)
    for module in range(n_modules):
        axes[1].plot(
            asked,
            [r.loss_per_module[module] if module < len(r.loss_per_module) else 0 for r in rows],
            "o-",
            label=f"module {module}",
        )
    axes[1].set(xlabel="asked frame rate (Hz)", ylabel="datagrams dropped", title="loss per module")
    if n_modules:
        axes[1].legend()
    axes[2].plot(asked, [r.writer_lag_s for r in rows], "o-")
    axes[2].set(
        xlabel="asked frame rate (Hz)",
        ylabel="writer lag (s)",
        title="writer lag after the last image",
    )
    for axis, row_held in ((axes[0], [r.held for r in rows]),):
        for x, ok in zip(asked, row_held, strict=True):
            axis.axvline(x, color="green" if ok else "red", alpha=0.15)
    figure.tight_layout()
    path = out_dir / f"{prefix}_stress.png"
    figure.savefig(path, dpi=80)
    plt.close(figure)
    paths.append(str(path))
    return paths
