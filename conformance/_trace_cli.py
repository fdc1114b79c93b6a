"""``jfcheck FILE --stream DIR`` / ``--connect ENDPOINT``: the file rules plus the stream trace."""

from __future__ import annotations

import json
import time
from pathlib import Path

from jfjoch_hil.conformance.errors import UsageError

__all__ = ["check_with_trace", "receive_live"]


def receive_live(endpoint: str, timeout_s: float, max_messages: int = 1_000_000) -> list:
    """(label, bytes) of the messages PULLed from ``endpoint`` until the end message, ``timeout_s``
    without a message, or ``max_messages`` (stream.md §2.3: the consumer connects PULL)."""
    import zmq

    sock = zmq.Context.instance().socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    received: list[tuple[str, bytes]] = []
    try:
        sock.connect(endpoint)
        while len(received) < max_messages:
            if not sock.poll(int(timeout_s * 1000)):
                break
            raw = sock.recv(copy=True)
            received.append((f"#{len(received):06d}", raw))
            if raw[:64].find(b"\x64type\x63end") >= 0:
                break
    finally:
        sock.close(linger=0)
    return received


def check_with_trace(args) -> int:
    """Run the file rules (unless ``--trace-only``) and the trace; print both; worst exit code."""
    from jfjoch_hil.conformance._trace import load_dir, trace_file

    if len(args.files) != 1:
        raise UsageError(f"--stream/--connect trace one file, {len(args.files)} given")
    if args.stream and args.connect:
        raise UsageError("give one of --stream DIR or --connect ENDPOINT")
    target = args.files[0]
    if args.stream:
        if not Path(args.stream).is_dir():
            raise UsageError(f"--stream {args.stream}: not a folder")
        messages = load_dir(args.stream)
    else:
        messages = receive_live(args.connect, args.timeout if args.timeout < 600 else 30.0)
        deadline = time.monotonic() + 30.0
        while not Path(target).is_file() and time.monotonic() < deadline:
            time.sleep(0.1)  # the writer renames its *.tmp file when it has finished (HDF5 §2)
    trace = trace_file(target, messages)
    report = None
    if not args.trace_only:
        from jfjoch_hil.conformance._isolate import check_file_isolated

        report = check_file_isolated(
            target,
            profile=args.profile,
            layout=args.layout,
            deep=args.deep,
            allow_outside=args.allow_outside,
            timeout_s=args.timeout,
        )
    if args.json:
        doc = (
            trace.to_json()
            if report is None
            else {"file": report.to_json(), "trace": trace.to_json()}
        )
        print(json.dumps(doc, indent=1, default=str))
    else:
        if report is not None:
            print(report.to_text() + "\n")
        s = trace.statistics
        print(trace.report.to_text())
        print(
            f"traced {s.fields_traced} fields, {s.values_compared} values; images: "
            f"{s.images_received}/{s.images_expected} received, {s.images_identical} identical "
            f"({s.images_raw_chunk_equal} as raw chunks), {s.images_never_sent} never sent "
            f"({s.images_never_sent_sentinel} read as sentinels, "
            f"{s.images_never_sent_beyond_file} beyond the file's last row), "
            f"{s.images_outside_run} numbered past the run"
        )
    codes = [0 if trace.ok else 1] + ([report.exit_code] if report is not None else [])
    return max(codes)
