"""Kill points: `jfwriter` killed with SIGKILL at seeded moments of a run.

What must hold after each kill: every final-named file opens, holds exactly the pixels sent
(bytes lost 0) and, for a master, passes `jfcheck`; partial work stays as ``*.tmp``; the
restarted writer takes the next run normally.  The point of each kill (messages sent, delay)
comes from one seeded generator, so a failing point can be replayed.

Each point is a case of the session, bounded by its messages (the normal run's and those sent
before the kill) and the kill delay.  Its writer is a supervised child like any other until the
kill, which is announced to the run group first, so the death it causes is the point, not a
failure; a writer that dies or stalls before that ends the point with the report as its problem,
and the campaign goes on with the next point.  `jfcheck` runs as a supervised child too.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from jfjoch_hil.harness._supervise import Bounds
from jfjoch_hil.harness.errors import SupervisionError
from jfjoch_hil.harness.writer_faults._files import master_of
from jfjoch_hil.harness.writer_faults._messages import SmallRun, small_run
from jfjoch_hil.harness.writer_faults._runner import FaultRow
from jfjoch_hil.harness.writer_faults._session import SEND_SLICE_MS, FaultSession, given_or_own
from jfjoch_hil.harness.writer_faults._writer import WriterProcess
from jfjoch_hil.stream import FileFormat, Pusher

__all__ = [
    "KillPoint",
    "check_with_jfcheck",
    "kill_point_campaign",
    "kill_points_row",
    "verify_run_files",
]

LAYOUTS = tuple(f.value for f in FileFormat if f.has_master)
IMAGES_PER_RUN = 6
IMAGES_PER_FILE = 2
#: Messages of the normal run each (re)started writer takes first: start, 3 images, end.
NORMAL_RUN_MESSAGES = 5

#: ``check(masters) -> {master: None or problem}``: the conformance verdict on final masters.
MasterCheck = Callable[[Sequence[Path]], dict[Path, str | None]]


@dataclass(frozen=True)
class KillPoint:
    """One kill and its verdict: ``problems`` empty means it was survived."""

    index: int
    layout: str
    messages_sent: int
    delay_ms: int
    final_files: tuple[str, ...]
    tmp_files: tuple[str, ...]
    images_checked: int
    bytes_checked: int
    bytes_lost: int
    problems: tuple[str, ...]

    @property
    def survived(self) -> bool:
        """No corrupt final file, no lost byte, restart fine."""
        return not self.problems


def check_with_jfcheck(
    masters: Sequence[Path], timeout_s: float | None = None, session: FaultSession | None = None
) -> dict[Path, str | None]:
    """`jfcheck --json` on ``masters`` as a separate process (conformance is not imported here),
    a supervised child of ``session`` (or of a session of its own), given ``timeout_s``
    (default: the margin plus the per-image allowance for each master)."""
    if not masters:
        return {}
    command = [sys.executable, "-m", "jfjoch_hil.conformance.cli", *map(str, masters), "--json"]
    with given_or_own(session) as own:
        if timeout_s is None:
            timeout_s = own.bounds.margin_s + len(masters) * own.bounds.per_image_s
        code, out, error = own.run("jfcheck", command, timeout_s)
    try:
        reports = json.loads(out)
    except ValueError:
        return {m: f"jfcheck exit {code}: {error.strip()[-300:]}" for m in masters}
    reports = reports if isinstance(reports, list) else [reports]
    if len(reports) != len(masters):
        return {m: f"jfcheck gave {len(reports)} reports for {len(masters)} files" for m in masters}
    verdicts: dict[Path, str | None] = {}
    for master, report in zip(masters, reports, strict=True):
        errors = [v for v in report.get("violations", []) if v.get("severity") == "error"]
        verdicts[master] = (
            None
            if report.get("ok")
            else (
                f"jfcheck: {[(v['rule'], v['path'], v['message']) for v in errors][:3]}"
                + (" unreadable" if report.get("unreadable") else "")
            )
        )
    return verdicts


def _image_rows(path: Path, layout: str, prefix_name: str) -> tuple[int, str] | None:
    """(first image index, dataset path) of a final file, or None for a master of a linked layout."""
    name = path.name
    if name.startswith(f"{prefix_name}_data_"):
        number = int(name[len(prefix_name) + 6 : len(prefix_name) + 12])
        return (number - 1) * IMAGES_PER_FILE, "/entry/data/data"
    if name == f"{prefix_name}_master.h5" and layout == FileFormat.INTEGRATED:
        return 0, "/entry/data/data"  # the images are in the master itself
    return None  # a master linking data files: checked through the data files and jfcheck


def verify_run_files(
    out_dir: Path, run: SmallRun, layout: str, sent_images: set[int], check: MasterCheck
) -> tuple[list[str], list[str], int, int, int, list[str]]:
    """Final files, tmp files, images and bytes checked, bytes lost, problems of one run's files."""
    prefix = run.start.file_prefix
    folder = (Path(out_dir) / prefix).parent
    name = Path(prefix).name
    final = sorted(p for p in folder.glob(f"{name}_*.h5"))
    tmp = sorted(p.name for p in folder.glob(f"{name}_*.tmp"))
    problems: list[str] = []
    images = checked = lost = 0
    for path in final:
        rows = _image_rows(path, layout, name)
        try:
            with h5py.File(path, "r") as f:
                if rows is None or not rows[1]:
                    continue
                first, dataset_path = rows
                dataset = f[dataset_path]
                for row in range(dataset.shape[0]):
                    image_id = first + row
                    if image_id not in sent_images:
                        continue  # never sent: reads as the fill value
                    expected = run.pixels[image_id]
                    images += 1
                    checked += expected.nbytes
                    if not np.array_equal(dataset[row], expected):
                        lost += expected.nbytes
                        problems.append(f"{path.name}: image {image_id} differs from what was sent")
                if "_data_" in path.name and not all(
                    first + r in sent_images for r in range(dataset.shape[0])
                ):
                    problems.append(
                        f"{path.name}: final-named although some of its images were never sent"
                    )
        except (OSError, KeyError) as error:
            problems.append(f"{path.name}: does not open or read: {error}")
    masters = [p for p in final if p.name == f"{name}_master.h5"]
    for master, verdict in check(masters).items():
        if verdict is not None:
            problems.append(f"{master.name}: {verdict}")
    return [p.name for p in final], tmp, images, checked, lost, problems


def _normal_run(
    writer: WriterProcess,
    send: Callable[[object], None],
    out_dir: Path,
    prefix: str,
    seed: int,
    layout: str,
    check: MasterCheck,
    session: FaultSession,
) -> list[str]:
    """A full run on a (re)started writer: written, pixel-exact, conformant; else the problems."""
    cursor = writer.cursor()[1]
    run = small_run(prefix, 3, seed=seed, file_format=layout, images_per_file=IMAGES_PER_FILE)
    for message in run.messages():
        send(message)
    record = writer.wait_run(prefix, session.left(), since=cursor)
    if record is None or record.images_written != 3 or record.error:
        return [f"{prefix}: restarted writer did not write the run: {record}"]
    _, _, images, _, lost, problems = verify_run_files(out_dir, run, layout, {0, 1, 2}, check)
    if images != 3 or lost:
        problems.append(f"{prefix}: {images} of 3 images read back, {lost} bytes lost")
    if not master_of(out_dir, prefix).exists():
        problems.append(f"{prefix}: no master")
    return problems


def _connected(writer: WriterProcess, session: FaultSession) -> tuple[Pusher, Callable]:
    pusher = Pusher(writer.endpoint, bind=False, linger_ms=0, send_timeout_ms=SEND_SLICE_MS)
    return pusher, session.sender(pusher, writer.name)


def kill_point_campaign(
    out_dir,
    n_points: int,
    *,
    seed: int = 0,
    check: MasterCheck | None = None,
    session: FaultSession | None = None,
    bounds: Bounds | None = None,
) -> list[KillPoint]:
    """``n_points`` seeded SIGKILLs, each followed by a restart that must take a normal run.

    ``check`` judges final masters (default: `jfcheck` as a child of the session); ``session``
    supervises (default: one of its own within ``bounds``).
    """
    out_dir = Path(out_dir)
    with given_or_own(session, bounds) as session:
        if check is None:

            def check(masters: Sequence[Path]) -> dict[Path, str | None]:
                return check_with_jfcheck(masters, session=session)

        return _campaign(out_dir, n_points, seed, check, session)


def _campaign(
    out_dir: Path, n_points: int, seed: int, check: MasterCheck, session: FaultSession
) -> list[KillPoint]:
    rng = np.random.default_rng(seed)
    points: list[KillPoint] = []
    for index in range(n_points):
        layout = str(rng.choice(LAYOUTS))
        run = small_run(
            f"kill/k{index:03d}",
            IMAGES_PER_RUN,
            seed=seed * 1000 + index,
            file_format=layout,
            images_per_file=IMAGES_PER_FILE,
        )
        messages = run.messages()
        n_sent = int(rng.integers(1, len(messages) + 1))
        delay_ms = int(rng.integers(0, 40))
        session.begin(f"kill point {index}", NORMAL_RUN_MESSAGES + n_sent, delay_ms / 1000)
        try:
            problems = _kill_point(
                out_dir, index, seed, layout, messages[:n_sent], delay_ms, check, session
            )
        except SupervisionError as error:
            points.append(
                KillPoint(index, layout, n_sent, delay_ms, (), (), 0, 0, 0, (str(error),))
            )
            continue
        sent = {
            m.image_id for m in messages[:n_sent] if hasattr(m, "image_id") and m.TYPE == "image"
        }
        final, tmp, images, checked, lost, found = verify_run_files(
            out_dir, run, layout, sent, check
        )
        points.append(
            KillPoint(
                index,
                layout,
                n_sent,
                delay_ms,
                tuple(final),
                tuple(tmp),
                images,
                checked,
                lost,
                tuple(problems + found),
            )
        )
    # the last restart: a writer after the last kill takes a run normally
    session.begin("kill points: last restart", NORMAL_RUN_MESSAGES)
    try:
        with WriterProcess(
            out_dir, bind=True, session=session, name="jfwriter-kill-after_last"
        ) as writer:
            pusher, send = _connected(writer, session)
            try:
                problems = _normal_run(
                    writer,
                    send,
                    out_dir,
                    "kill/after_last",
                    seed,
                    FileFormat.VDS.value,
                    check,
                    session,
                )
            finally:
                pusher.close()
    except SupervisionError as error:
        problems = [f"kill/after_last: {error}"]
    if problems and points:
        last = points[-1]
        points[-1] = KillPoint(**{**last.__dict__, "problems": last.problems + tuple(problems)})
    return points


def _kill_point(
    out_dir: Path,
    index: int,
    seed: int,
    layout: str,
    messages: list,
    delay_ms: int,
    check: MasterCheck,
    session: FaultSession,
) -> list[str]:
    """A fresh writer takes a normal run, then ``messages`` of the next, then SIGKILL after
    ``delay_ms``; the normal run's problems."""
    with WriterProcess(
        out_dir, bind=True, session=session, name=f"jfwriter-kill-{index:03d}"
    ) as writer:
        pusher, send = _connected(writer, session)
        try:
            problems = _normal_run(
                writer,
                send,
                out_dir,
                f"kill/n{index:03d}",
                seed * 1000 + index,
                layout,
                check,
                session,
            )
            for message in messages:
                send(message)
            time.sleep(delay_ms / 1000)
            if writer.kill() is None:
                problems.append(f"{writer.name} not reaped within {session.bounds.margin_s:g} s")
        finally:
            pusher.close()
    return problems


def kill_points_row(
    out_dir,
    n_points: int,
    *,
    seed: int = 0,
    session: FaultSession | None = None,
    bounds: Bounds | None = None,
) -> FaultRow:
    """The kill-point campaign as one row of the fault table (``jfsim faults --kill-points N``)."""
    points = kill_point_campaign(out_dir, n_points, seed=seed, session=session, bounds=bounds)
    failed = [p for p in points if not p.survived]
    lost = sum(p.bytes_lost for p in points)
    observed = (
        f"{len(points) - len(failed)}/{len(points)} survived; {sum(p.images_checked for p in points)} images "
        f"in final files checked, bytes lost {lost}; {sum(bool(p.tmp_files) for p in points)} left *.tmp"
    )
    if failed:
        observed += f"; first failure: point {failed[0].index} {failed[0].problems[:2]}"
    return FaultRow(
        "kill_points",
        f"{n_points} seeded SIGKILLs: final files valid, partial *.tmp, restart works",
        observed,
        not failed and lost == 0,
    )
