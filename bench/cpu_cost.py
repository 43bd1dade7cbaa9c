"""Per-message CPU at zero latency: ``lambda_handler`` vs the hand-written floors, same process and run
(against moto; ``bench.latency_model`` measures the same with AWS as a latency model).

Both talk to the same emulator and moto server (child processes, so ``time.process_time`` of this
process is the code under test only, all its threads included). Rounds alternate: one batch through
the handler, the same number of messages through ``MinimalCanceller``. The CPU the two servers spend
per message is read from /proc for each side too: it shows what extra round trips cost on the other
end (and, on a 2-core machine, why wall time is dominated by the local emulators).

``profile_breakdown`` runs both under cProfile with a CPU-time clock (``time.process_time``: waiting on a
socket costs nothing) in the main thread (the handler with MAX_CONCURRENCY=1, so every record runs
inline) and attributes per-message CPU to the pieces of work that matter: the Alipay call, the ledger's
claim and final write, logging, metrics, AWS API calls, the batch processor.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.lambda_runtime.in_process import reload_function

from bench.bench_stack import BenchStack
from bench.lambda_event import BenchContext, failures, sqs_event
from bench.minimal_loop import MinimalCanceller

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int | None) -> float:
    """user+system CPU of another process (Linux /proc); 0.0 when unavailable."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


class _Meter:
    """CPU of this process and of the two servers, accumulated over measured sections."""

    def __init__(self, stack: BenchStack) -> None:
        self._pids = {
            "moto": stack.moto.pid,
            "gateway": stack.gateway_pid,
        }
        self.totals = {"self": 0.0, "moto": 0.0, "gateway": 0.0, "wall": 0.0}

    def measure(self, work: Callable[[], None]) -> None:
        before = {name: process_cpu_seconds(pid) for name, pid in self._pids.items()}
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        self.totals["self"] += time.process_time() - cpu
        self.totals["wall"] += time.perf_counter() - wall
        for name, pid in self._pids.items():
            self.totals[name] += process_cpu_seconds(pid) - before[name]

    def per_message_ms(self, messages: int) -> dict[str, float]:
        return {k: round(v * 1000 / messages, 2) for k, v in self.totals.items()}


def build_floor(stack: BenchStack) -> MinimalCanceller:
    import boto3
    from botocore.config import Config

    # The function's client settings (pipeline/builder.py): the same pool, no client-side validation.
    config = Config(max_pool_connections=12, parameter_validation=False)
    dynamodb = boto3.session.Session().client("dynamodb", config=config)  # AWS_ENDPOINT_URL: moto
    return MinimalCanceller(
        stack.gateway_url, stack.key_material.secret(), dynamodb, stack.resources.results_table
    )


def measure_cpu(stack: BenchStack, *, messages: int = 200, batch: int = 10) -> dict[str, Any]:
    """Call inside ``stack.applied_env()``; latency is set to 0 here."""
    import alipay_cancel.handler as handler

    stack.set_latency(0)
    memory_mb = stack.settings.function.memory_size
    floor = build_floor(stack)
    handler.lambda_handler(sqs_event(batch, "warmup"), BenchContext(memory_mb))
    for i in range(batch):
        floor.cancel(f"BENCH-FLOOR-WARMUP-{uuid.uuid4().hex[:12]}-{i}")

    handler_meter, floor_meter, alipay_meter = _Meter(stack), _Meter(stack), _Meter(stack)
    ledger_floor_meter = _Meter(stack)
    failed = 0
    rounds = max(1, messages // batch)
    for _ in range(rounds):
        event = sqs_event(batch, uuid.uuid4().hex[:8])
        keys = [f"BENCH-FLOOR-{uuid.uuid4().hex[:16]}" for _ in range(batch)]
        result: list[Any] = []

        def handler_batch(event: dict[str, Any] = event, result: list[Any] = result) -> None:
            result.append(handler.lambda_handler(event, BenchContext(memory_mb)))

        def floor_batch(keys: list[str] = keys) -> None:
            for key in keys:
                floor.cancel(key)

        def alipay_only_batch(keys: list[str] = keys) -> None:
            for key in keys:
                floor.cancel(key + "-A", writes=0)

        def ledger_floor_batch(keys: list[str] = keys) -> None:
            for key in keys:
                floor.cancel(key + "-L", writes=2)

        handler_meter.measure(handler_batch)
        failed += failures(result[-1])
        floor_meter.measure(floor_batch)
        alipay_meter.measure(alipay_only_batch)
        ledger_floor_meter.measure(ledger_floor_batch)

    total = rounds * batch
    h, f = handler_meter.per_message_ms(total), floor_meter.per_message_ms(total)
    a = alipay_meter.per_message_ms(total)
    two = ledger_floor_meter.per_message_ms(total)
    aws_call = max(0.0, f["self"] - a["self"])
    return {
        "messages": total,
        "batch": batch,
        "failed_records": failed,
        "handler_ms_per_message": h,
        "floor_ms_per_message": f,
        "floor_without_dynamodb_ms_per_message": a,
        # The same guarantee as the handler's: a claim before the call, a final write after it.
        "same_guarantee_floor_ms_per_message": two,
        "ratio_to_same_guarantee_floor": round(h["self"] / two["self"], 2) if two["self"] else None,
        # What one DynamoDB call costs this process, by difference: prices the extra round trips.
        "one_dynamodb_call_ms": round(aws_call, 2),
        "handler_excess_ms": round(h["self"] - f["self"], 2),
        "ratio": round(h["self"] / f["self"], 2) if f["self"] else None,
    }


# (path suffix, function name) -> bucket; cumulative times of these are summed per message.
HANDLER_BUCKETS: dict[str, list[tuple[str, str]]] = {
    "handler total": [("alipay_cancel/handler.py", "lambda_handler")],
    "record handler (CancelService.handle)": [("alipay_cancel/pipeline/service.py", "handle")],
    "Alipay call (sign, POST, verify, parse)": [("alipay_cancel/alipay/client.py", "cancel")],
    "  RSA sign": [("alipay_cancel/alipay/v3_signing.py", "sign")],
    "  RSA verify": [("alipay_cancel/alipay/v3_signing.py", "verify")],
    "  HTTP (requests)": [("requests/sessions.py", "request")],
    "ledger claim (UpdateItem)": [("alipay_cancel/stores/ledger.py", "claim")],
    "ledger final write (UpdateItem)": [("alipay_cancel/stores/ledger.py", "write")],
    "AWS API calls (botocore, all)": [("botocore/client.py", "_make_api_call")],
    "logging (records emitted)": [("logging/__init__.py", "_log")],
    "logging keys (append/clear)": [
        ("logging/logger.py", "thread_safe_append_keys"),
        ("logging/logger.py", "thread_safe_clear_keys"),
    ],
    "metrics (add + flush)": [
        ("alipay_cancel/observability.py", "add_count"),
        ("alipay_cancel/observability.py", "timed_alipay_call"),
        ("metrics/provider/cloudwatch_emf/cloudwatch.py", "flush_metrics"),
    ],
    "secret cache + client check (begin_invocation)": [
        ("alipay_cancel/pipeline/service.py", "begin_invocation")
    ],
    "message parsing": [("alipay_cancel/pipeline/messages.py", "parse_message")],
    "classification": [("alipay_cancel/decisions/classification.py", "classify")],
}
FLOOR_BUCKETS: dict[str, list[tuple[str, str]]] = {
    "floor total": [("bench/minimal_loop.py", "cancel")],
    "  RSA sign": [("bench/minimal_loop.py", "cancel")],  # replaced below by the primitive's time
    "  HTTP (requests)": [("requests/sessions.py", "request")],
    "AWS API calls (botocore, all)": [("botocore/client.py", "_make_api_call")],
}
COUNTED_CALLS = {
    "AWS API calls per message": ("botocore/client.py", "_make_api_call"),
    "log records per message": ("logging/__init__.py", "_log"),
    "HTTP POSTs per message": ("requests/sessions.py", "request"),
}


def _sum(stats: pstats.Stats, wanted: list[tuple[str, str]], field: int = 3) -> float:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    for (filename, _, funcname), values in raw.items():
        if any(filename.endswith(suffix) and funcname == name for suffix, name in wanted):
            total += values[field]
    return total


def _top_functions(stats: pstats.Stats, messages: int, n: int = 12) -> list[dict[str, Any]]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:n]
    out = []
    for (filename, line, funcname), (_, ncalls, tottime, _, _) in rows:
        short = "/".join(Path(filename).parts[-2:]) if filename.startswith("/") else filename
        out.append(
            {
                "function": f"{short}:{line}({funcname})",
                "self_ms_per_message": round(tottime * 1000 / messages, 3),
                "calls_per_message": round(ncalls / messages, 2),
            }
        )
    return out


def profile_breakdown(stack: BenchStack, *, messages: int = 50, batch: int = 10) -> dict[str, Any]:
    """cProfile of both sides, in the main thread; call inside ``stack.applied_env()``."""
    import alipay_cancel.handler as handler

    stack.set_latency(0)
    memory_mb = stack.settings.function.memory_size
    saved = os.environ.get("MAX_CONCURRENCY")
    os.environ["MAX_CONCURRENCY"] = "1"  # records inline in this thread, where cProfile sees them
    reload_function()
    try:
        handler.lambda_handler(sqs_event(batch, "warmup"), BenchContext(memory_mb))
        rounds = max(1, messages // batch)
        events = [sqs_event(batch, uuid.uuid4().hex[:8]) for _ in range(rounds)]
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for event in events:
            handler.lambda_handler(event, BenchContext(memory_mb))
        profiler.disable()
        handler_stats = pstats.Stats(profiler)
    finally:
        if saved is None:
            os.environ.pop("MAX_CONCURRENCY", None)
        else:
            os.environ["MAX_CONCURRENCY"] = saved
        reload_function()

    floor = build_floor(stack)
    floor.cancel(f"BENCH-FLOOR-WARMUP-{uuid.uuid4().hex[:12]}")
    total = rounds * batch
    keys = [f"BENCH-FLOOR-{uuid.uuid4().hex[:16]}" for _ in range(total)]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for key in keys:
        floor.cancel(key)
    profiler.disable()
    floor_stats = pstats.Stats(profiler)

    def per_message(stats: pstats.Stats, buckets: dict[str, list[tuple[str, str]]]) -> dict[str, float]:
        return {name: round(_sum(stats, wanted) * 1000 / total, 3) for name, wanted in buckets.items()}

    handler_buckets = per_message(handler_stats, HANDLER_BUCKETS)
    floor_buckets = per_message(floor_stats, FLOOR_BUCKETS)
    sign_wanted = [
        ("~", "<method 'sign' of 'cryptography.hazmat.bindings._rust.openssl.rsa.RSAPrivateKey' objects>")
    ]
    floor_buckets["  RSA sign"] = round(_sum(floor_stats, sign_wanted) * 1000 / total, 3)
    counts = {
        name: {
            "handler": round(_sum(handler_stats, [wanted], field=1) / total, 2),
            "floor": round(_sum(floor_stats, [wanted], field=1) / total, 2),
        }
        for name, wanted in COUNTED_CALLS.items()
    }
    return {
        "messages": total,
        "note": "CPU ms per message under cProfile (process_time clock); profiling inflates absolute figures",
        "handler_ms_per_message": handler_buckets,
        "floor_ms_per_message": floor_buckets,
        "calls": counts,
        "handler_top_self": _top_functions(handler_stats, total),
        "floor_top_self": _top_functions(floor_stats, total, n=8),
    }
