"""Memory: peak RSS of one warm process handling N messages, against the function's MemorySize.

The handler runs in a fresh child interpreter (``bench.memory_worker``) with the Lambda environment of
the bench stack, so nothing of the harness (moto client, cfn-lint, profilers) is counted. Lambda's
own runtime process adds a little on top of this; the figure to compare with MemorySize is the peak.
Growth between the first batch and the end is what a long-lived warm container would accumulate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_stack import REPO, BenchStack


def measure_memory(stack: BenchStack, *, messages: int = 1000, batch: int = 10) -> dict[str, Any]:
    stack.set_latency(0)
    memory_size = stack.settings.function.memory_size
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        out = Path(tmp) / "memory.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.memory_worker",
                "--messages",
                str(messages),
                "--batch",
                str(batch),
                "--memory-mb",
                str(memory_size),
                "--out",
                str(out),
            ],
            cwd=REPO,
            env=stack.child_env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"memory worker failed ({done.returncode}): {tail}")
        result: dict[str, Any] = json.loads(out.read_text())
    result["memory_size_mb"] = memory_size
    result["peak_share_of_memory_size"] = round(result["peak_rss_mb"] / memory_size, 3)
    result["growth_after_first_batch_mb"] = round(
        result["rss_at_end_mb"] - result["rss_after_first_batch_mb"], 1
    )
    result["fits"] = result["peak_rss_mb"] < memory_size
    return result
