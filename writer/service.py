"""The writer service: ZeroMQ PULL -> decode -> :class:`RunWriter`, one run per start..end.

bad input never stops the service and is never silently lost.  Malformed
messages, images without a run, duplicates, images outside the run and messages of another series
are counted in :meth:`WriterService.statistics` and logged with the image number; a run that
receives no end message (the stream stops for longer than the run's waiting limit, a new start
arrives, or the service is stopped) is finalised with what it has and ``/entry/end_time`` omitted.

The waiting limit follows what the start message declared (stream.md 4: ``number_of_images``,
``frame_time``): before its first image a run waits ``start_timeout_s``; once images flow it waits
``idle_timeout_s`` plus, for each declared image still missing, the declared frame time and
``per_image_wait_s`` (an allowance for a sender that processes each image on a slow machine;
docs/reliability.md "Writer waiting limits").  A slow first image never finalises a run empty.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from jfjoch_hil.stream import (
    CalibrationMessage,
    DecodeError,
    EndMessage,
    ImageMessage,
    Puller,
    RejectReason,
    StartMessage,
    WriterStatistics,
    decode,
)
from jfjoch_hil.writer._run import RunResult, RunWriter
from jfjoch_hil.writer._store import LocalStore, ProcessStore
from jfjoch_hil.writer.layout import check_prefix
from jfjoch_hil.writer.reader import image_sources

__all__ = ["MAX_DECLARED_IMAGES", "PROCESS_SOURCE_KEY", "ServiceStatistics", "WriterService"]

#: Log lines per (run, reason) before further ones are only counted.
LOG_LIMIT = 20
#: Start-message field asking for a ``_process.h5`` companion: the master of the run to
#: reprocess, relative to the output folder (docs/writer.md; declared in the start table).
PROCESS_SOURCE_KEY = "process_source_master"
#: Largest ``number_of_images`` a start message may declare (no work from a declared size
#: without a bound).  Files are planned at the declared size and trimmed at the end, which costs
#: time in proportion to it (about 6 s at 1e8 images, hours at 2**40: the service would hang).
MAX_DECLARED_IMAGES = 100_000_000


#: Counters of a :class:`WriterService` (STYLE.md: nothing logged and dropped); the record is
#: declared in :mod:`stream.writer_events` because it crosses the process boundary.
ServiceStatistics = WriterStatistics


class WriterService:
    """Pulls the image stream from ``endpoint`` and writes runs under ``out_dir``.

    ``bind`` makes the PULL socket bind instead of connect; ``layout`` / ``images_per_file``
    override the start message; ``default_prefix`` names the files of a run whose start has no
    ``file_prefix`` (a DECTRIS stream); ``overwrite`` allows replacing final files; ``on_result`` is
    called with each finished :class:`RunResult`; ``log`` with every error/warning line;
    ``store`` is ``"process"`` (HDF5 work in a second process, made before the socket: the
    default where ``fork`` exists) or ``"local"`` (everything in this process).
    """

    def __init__(
        self,
        endpoint: str,
        out_dir,
        *,
        bind: bool = False,
        layout: str | None = None,
        images_per_file: int | None = None,
        default_prefix: str | None = None,
        overwrite: bool = False,
        idle_timeout_s: float = 10.0,
        start_timeout_s: float = 120.0,
        per_image_wait_s: float = 0.0,
        receive_hwm: int = 1000,
        block_images: int = 512,
        on_result: Callable[[RunResult], None] | None = None,
        log: Callable[[str], None] | None = None,
        store: str = "process",
    ) -> None:
        if idle_timeout_s <= 0 or start_timeout_s <= 0:
            raise ValueError(
                f"idle_timeout_s {idle_timeout_s}, start_timeout_s {start_timeout_s}: "
                "waiting limits must be positive seconds"
            )
        if not 0.0 <= per_image_wait_s < 3600.0:
            raise ValueError(f"per_image_wait_s {per_image_wait_s}: expected seconds in [0, 3600)")
        if store not in ("process", "local"):
            raise ValueError(f"store: {store!r}; allowed 'process' or 'local'")
        self.out_dir = Path(out_dir)
        self.log = log or (lambda line: None)
        self._store_kind = store if hasattr(os, "fork") else "local"
        self.store = self._new_store()  # before the ZeroMQ context: the store process is forked
        self.puller = Puller(endpoint, bind=bind, receive_hwm=receive_hwm, receive_timeout_ms=100)
        self.endpoint = self.puller.endpoint if hasattr(self.puller, "endpoint") else endpoint
        self.settings = {
            "layout": layout,
            "images_per_file": images_per_file,
            "overwrite": overwrite,
            "block_images": block_images,
        }
        self.idle_timeout_s = idle_timeout_s
        self.start_timeout_s = start_timeout_s
        self.per_image_wait_s = per_image_wait_s
        self._images_seen = 0  # image messages of the active run (its waiting limit)
        self.default_prefix = default_prefix
        self.on_result = on_result or (lambda result: None)
        self.results: list[RunResult] = []
        self._run: RunWriter | None = None
        self._refused: str | None = None
        self._stop = threading.Event()
        self._ignored: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._logged: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._last_message = time.monotonic()

    # --- control ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`serve` to finalise the current run and return (thread/signal safe)."""
        self._stop.set()

    def close(self) -> None:
        """Close the socket and stop the store process (after :meth:`serve` returned)."""
        self.puller.close()
        self.store.close()

    def _new_store(self):
        return ProcessStore() if self._store_kind == "process" else LocalStore()

    def _live_store(self):
        """The store for the next run: a store process that died (killed, crashed) is replaced."""
        if isinstance(self.store, ProcessStore) and not self.store.alive:
            self.log(
                f"warning: store process ended (exit code {self.store.exitcode}); starting a new one"
            )
            self.store.close()
            self.store = self._new_store()
        return self.store

    def serve(self, *, max_runs: int | None = None, max_seconds: float | None = None) -> None:
        """Receive until stopped (or ``max_runs`` finished / ``max_seconds`` passed), then
        finalise the active run without an end message."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while not self._stop.is_set():
            if max_runs is not None and self._counts["finished"] >= max_runs:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            raw = self.puller.receive_bytes(100)
            if raw is None:
                if self._run is not None:
                    limit = self.waiting_limit_s()
                    if time.monotonic() - self._last_message > limit:
                        self._log(
                            "stream idle",
                            f"no message for {limit:.3g} s (its waiting limit after "
                            f"{self._images_seen} image(s)): finalising without end",
                        )
                        self._finish(None)
                continue
            self._last_message = time.monotonic()
            try:
                message = decode(raw)
            except DecodeError as error:
                self.handle(None, error)
                continue
            self.handle(message)
        if self._run is not None:
            self._finish(None)

    def waiting_limit_s(self) -> float:
        """Seconds without a message the active run may wait before it is finalised without end.

        ``start_timeout_s`` until its first image; then ``idle_timeout_s`` plus, for each declared
        image not yet seen, the declared ``frame_time`` and ``per_image_wait_s`` (stream.md 4
        start fields).
        """
        run = self._run
        if run is None or self._images_seen == 0:
            return self.start_timeout_s
        start = run.start
        declared = start.number_of_images or 0
        frame_time = start.frame_time or 0.0
        if not (isinstance(frame_time, int | float) and 0.0 <= frame_time < 3600.0):
            frame_time = 0.0  # a nonsense declaration earns no extra wait
        missing = max(0, declared - self._images_seen)
        return self.idle_timeout_s + missing * (float(frame_time) + self.per_image_wait_s)

    # --- messages -----------------------------------------------------------------------------
    def handle(self, message, error=None) -> None:
        """Process one decoded message (or a decode ``error``): the service's state machine."""
        if error is not None:
            self._counts["decode_errors"] += 1
            self._log("malformed", f"malformed message skipped: {error}")
            return
        if isinstance(message, ImageMessage):
            self._image(message)
        elif isinstance(message, StartMessage):
            self._start(message)
        elif isinstance(message, EndMessage):
            self._end(message)
        elif isinstance(message, CalibrationMessage):
            if self._run is None:
                self._ignore("calibration without a run")
            else:
                try:
                    self._run.put_calibration(message)
                except Exception as error:  # noqa: BLE001 - a bad calibration image never stops the service
                    self._ignore("calibration not stored")
                    self._log("calibration", f"calibration {message.name!r} not stored: {error}")
        else:
            self._ignore(f"{message.TYPE} message (not written)")

    def _image(self, message: ImageMessage) -> None:
        run = self._run
        if run is not None:
            self._images_seen += 1
        if run is None:
            reason = str(RejectReason.RUN_REFUSED if self._refused else RejectReason.WITHOUT_RUN)
            self._rejected[reason] += 1
            self._log(reason, f"image {message.image_id}: {reason}")
            return
        reason = run.put_image(message)
        if reason is not None:
            self._log(reason, f"run {run.geometry.prefix!r} image {message.image_id}: {reason}")
            if (
                run.error is not None
                and reason == "run failed"
                and not self._logged[f"failed {id(run)}"]
            ):
                self._logged[f"failed {id(run)}"] += 1
                self.log(f"error: run {run.geometry.prefix!r}: {run.error}")

    def _start(self, message: StartMessage) -> None:
        if self._run is not None:
            self._log(
                "start during run",
                "start message during a run: finalising the previous run without end",
            )
            self._finish(None)
        self._refused = None
        self._images_seen = 0
        self._logged.clear()
        self._counts["started"] += 1
        try:
            declared = message.number_of_images
            if declared is not None and declared > MAX_DECLARED_IMAGES:
                raise ValueError(
                    f"start.number_of_images: {declared} declared, at most {MAX_DECLARED_IMAGES} allowed"
                )
            if message.file_prefix is None and self.default_prefix is not None:
                message = dataclasses.replace(message, file_prefix=self.default_prefix)
            settings = dict(self.settings)
            source = message.process_source_master
            if source is not None:
                # reprocessing (hdf5-format.md 2): results only, images linked from an existing run
                settings["layout"] = "process"
                settings["source_images"] = image_sources(self.out_dir / check_prefix(source))
            self._run = RunWriter(message, self.out_dir, store=self._live_store(), **settings)
        except Exception as error:  # noqa: BLE001 - WriterError and anything unexpected: refuse the run
            self._counts["refused"] += 1
            self._refused = str(error)
            self.log(f"error: run refused: {error}")
            return
        for warning in self._run.warnings:
            self._counts["warnings"] += 1
            self.log(f"warning: {warning}")

    def _end(self, message: EndMessage) -> None:
        run = self._run
        if run is None:
            self._ignore("end without a run")
            return
        start = run.start
        if (
            message.series_unique_id is not None
            and start.series_unique_id is not None
            and message.series_unique_id != start.series_unique_id
        ):
            self._ignore("end of another series")
            self._log(
                "end of another series",
                f"end message of series {message.series_unique_id!r} ignored",
            )
            return
        self._finish(message)

    def _finish(self, end) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        result = run.finish(end)
        self._counts["finished"] += 1
        if end is None:
            self._counts["without_end"] += 1
        if result.error is not None:
            self._counts["failed"] += 1
            self.log(f"error: run {result.prefix!r}: {result.error}")
        for reason, count in result.images_rejected:
            self._rejected[reason] += count
        self._counts["images"] += result.images_written
        self._counts["bytes"] += result.bytes_written
        for what, count in result.values_not_stored:
            self.log(f"warning: run {result.prefix!r}: {count} value(s) not stored: {what}")
        self.results.append(result)
        self.on_result(result)

    def _ignore(self, reason: str) -> None:
        self._ignored[reason] += 1

    def _log(self, reason: str, line: str) -> None:
        self._logged[reason] += 1
        if self._logged[reason] <= LOG_LIMIT:
            self.log(f"error: {line}")
        elif self._logged[reason] == LOG_LIMIT + 1:
            self.log(f"error: further '{reason}' errors of this run are only counted")

    def statistics(self) -> WriterStatistics:
        """Counters so far (the active run's images are added when it finishes)."""
        receiver = self.puller.statistics()
        return WriterStatistics(
            messages_received=receiver.messages_received,
            decode_errors=self._counts["decode_errors"],
            messages_ignored=tuple(sorted(self._ignored.items())),
            runs_started=self._counts["started"],
            runs_finished=self._counts["finished"],
            runs_refused=self._counts["refused"],
            runs_failed=self._counts["failed"],
            runs_without_end=self._counts["without_end"],
            images_written=self._counts["images"],
            images_rejected=tuple(sorted(self._rejected.items())),
            warnings=self._counts["warnings"],
            bytes_written=self._counts["bytes"],
            active_run=None if self._run is None else self._run.geometry.prefix,
        )
