"""Child process for the memory benchmark: one warm "container" handling N messages.

Run by ``bench.memory`` with the Lambda environment of a bench stack; writes its figures as JSON to
the path given. Imports nothing heavy of its own, so its RSS is the handler's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def rss_mb() -> float:
    """Current resident set size."""
    return _status_mb("VmRSS") or 0.0


def peak_rss_mb() -> float:
    """High-water RSS of this process image. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from
    the parent across fork+exec, so it would report the harness's size, not this worker's."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--memory-mb", type=int, default=512)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    start_rss = rss_mb()
    # The function's logs and EMF metrics go to stdout, as in Lambda; here to /dev/null.
    sys.stdout = open(os.devnull, "w")  # open for the life of the process
    import alipay_cancel.handler as handler
    from bench.lambda_event import BenchContext, failures, sqs_event

    import_rss = rss_mb()
    failed = 0
    handled = 0
    after_first = 0.0
    started = time.perf_counter()
    while handled < args.messages:
        size = min(args.batch, args.messages - handled)
        response = handler.lambda_handler(sqs_event(size, f"mem{handled}"), BenchContext(args.memory_mb))
        count = failures(response)
        failed += count if count >= 0 else size
        handled += size
        if not after_first:
            after_first = rss_mb()
    elapsed = time.perf_counter() - started
    result = {
        "messages": handled,
        "batch": args.batch,
        "failed_records": failed,
        "rss_at_start_mb": round(start_rss, 1),
        "rss_after_import_mb": round(import_rss, 1),
        "rss_after_first_batch_mb": round(after_first, 1),
        "rss_at_end_mb": round(rss_mb(), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "seconds": round(elapsed, 2),
    }
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
