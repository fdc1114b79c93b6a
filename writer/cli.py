"""`jfwriter`: the stream-to-NXmx writer service (hdf5-format.md).

    jfwriter --listen tcp://127.0.0.1:5500 --dir OUT [--bind] [--layout NXmxVDS]
             [--images-per-file N] [--overwrite] [--idle-timeout S] [--start-timeout S]
             [--per-image-wait S]

By default the PULL socket connects to ``--listen`` (the sender binds PUSH, stream.md 2.3);
``--bind`` makes it bind (``tcp://127.0.0.1:0`` picks a free port).  Standard output carries JSON
lines, the records of :mod:`stream.writer_events`: first ``ready`` (endpoint), then one ``run``
per finished run (prefix, layout, files, images written, images rejected by reason, bytes,
seconds, MB/s, and the service's statistics after it) and ``exit`` (final statistics) last.  Errors and warnings go to standard error,
one line each, naming the run and image number.  SIGTERM / SIGINT finalise the active run and exit 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from jfjoch_hil.stream import (
    FILE_FORMATS,
    RunFinished,
    WriterEvent,
    WriterExit,
    WriterReady,
    event_line,
)
from jfjoch_hil.writer.layout import LAYOUTS

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The `jfwriter` argument parser."""
    parser = argparse.ArgumentParser(
        prog="jfwriter", description="jfjoch-hil: the stream-to-NXmx writer service."
    )
    parser.add_argument(
        "--listen", required=True, help="ZeroMQ endpoint of the image stream (tcp://HOST:PORT)"
    )
    parser.add_argument(
        "--dir", required=True, help="output root; file_prefix is taken relative to it"
    )
    parser.add_argument(
        "--bind", action="store_true", help="bind the PULL socket instead of connecting"
    )
    parser.add_argument(
        "--layout", choices=FILE_FORMATS, help="override the start message's file_format"
    )
    parser.add_argument(
        "--images-per-file", type=int, help="override the start message's images_per_file"
    )
    parser.add_argument(
        "--prefix",
        help="file prefix of a run whose start message has no file_prefix (a DECTRIS stream, "
        "stream.md 5.1, names no files)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing final files")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help=(
            "seconds without a message before a run that has images is finalised without end, "
            "added to the declared frame_time times the declared images still missing (default 10)"
        ),
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds a run waits for its first image after the start message (default 120)",
    )
    parser.add_argument(
        "--per-image-wait",
        type=float,
        default=0.0,
        metavar="S",
        help=(
            "extra seconds of waiting per declared image still missing, on top of its frame_time "
            "(a sender that processes every image on a busy machine; default 0)"
        ),
    )
    parser.add_argument(
        "--receive-hwm", type=int, default=1000, help="ZeroMQ receive high-water mark"
    )
    parser.add_argument("--max-runs", type=int, help="exit after this many runs (tests)")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        metavar="N",
        help="raise this process's niceness by N at start (a simulator gives its packet path priority)",
    )
    parser.add_argument(
        "--store",
        choices=("process", "local"),
        default="process",
        help="where the HDF5 work runs: a second process (default) or this one",
    )
    return parser


def _emit(record: WriterEvent) -> None:
    sys.stdout.write(event_line(record) + "\n")
    sys.stdout.flush()


def _run_record(result, statistics) -> RunFinished:
    """The ``run`` event of a finished :class:`~writer._run.RunResult`."""
    return RunFinished(
        prefix=result.prefix,
        layout=result.layout,
        files=tuple(result.files),
        images_written=result.images_written,
        images_rejected=tuple(sorted(result.images_rejected)),
        bytes=result.bytes_written,
        seconds=round(result.seconds, 6),
        mb_per_s=round(result.mb_per_s, 3),
        end_received=result.end_received,
        error=result.error,
        warnings=tuple(result.warnings),
        values_not_stored=tuple(sorted(result.values_not_stored)),
        statistics=statistics,
    )


def _log(line: str) -> None:
    sys.stderr.write(f"jfwriter: {line}\n")
    sys.stderr.flush()


def _tune_allocator() -> None:
    """Keep glibc from returning every freed ~200 kB message buffer to the kernel and faulting it
    in again for the next one (measured: receive ~90 -> ~55 us per image, ~10 % more images/s).
    A no-op where glibc's ``mallopt`` is not available."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    libc.mallopt(m_mmap_threshold, 4 << 20)
    libc.mallopt(m_trim_threshold, 64 << 20)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jfwriter` console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.nice > 0 and hasattr(os, "nice"):
        os.nice(min(args.nice, 19))  # before the store process is forked: it inherits it
    _tune_allocator()
    from jfjoch_hil.writer.service import (
        WriterService,  # imported late: `jfwriter --help` stays fast
    )

    service: WriterService
    try:
        service = WriterService(
            args.listen,
            args.dir,
            bind=args.bind,
            layout=LAYOUTS[args.layout] if args.layout else None,
            images_per_file=args.images_per_file,
            default_prefix=args.prefix,
            overwrite=args.overwrite,
            idle_timeout_s=args.idle_timeout,
            start_timeout_s=args.start_timeout,
            per_image_wait_s=args.per_image_wait,
            receive_hwm=args.receive_hwm,
            on_result=lambda result: _emit(_run_record(result, service.statistics())),
            log=_log,
            store=args.store,
        )
    except Exception as error:  # noqa: BLE001 - a bad endpoint is reported, not a traceback
        _log(f"error: cannot start: {error}")
        return 2

    def _stop(signum, frame) -> None:
        service.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _emit(WriterReady(endpoint=service.endpoint, dir=args.dir))
    try:
        service.serve(max_runs=args.max_runs)
    finally:
        statistics = service.statistics()
        service.close()
        _emit(WriterExit(statistics=statistics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
