"""Batch latency: ``lambda_handler`` on batches of 1, 10 and 100 against the emulator at latency L.

Baselines in the same process and run, on the same warm service (same clients, same secret, same
ledger table):
- sequential: Powertools' stock ``BatchProcessor`` (SQS) calling the very same record handler
  (``runtime.service.handle``) one record after another;
- the floor L: one Alipay round trip, what a batch cannot beat.

Every batch uses fresh trade keys (no duplicates of a settled trade) and must come back with no
``batchItemFailures``; a run with failures is reported as such, its time is not comparable. Against
moto this is informative: moto's own CPU weighs on it (the targets are measured with AWS as a latency
model, ``bench.latency_model``).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.bench_stack import BenchStack
from bench.lambda_event import BenchContext, failures, sqs_event

Invoke = Callable[[dict[str, Any], BenchContext], Any]


def _handler_invoke() -> Invoke:
    import alipay_cancel.handler as handler

    return handler.lambda_handler  # type: ignore[no-any-return]


def _sequential_invoke() -> Invoke:
    """Powertools' sequential BatchProcessor around the handler's own per-record work."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    import alipay_cancel.handler as handler

    def invoke(event: dict[str, Any], context: BenchContext) -> Any:
        runtime = handler.get_runtime()
        runtime.service.begin_invocation()
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(
            event=event,
            record_handler=runtime.service.handle,
            processor=processor,
            context=context,  # type: ignore[arg-type]
        )

    return invoke


def _time_batches(invoke: Invoke, size: int, reps: int, memory_mb: int) -> dict[str, Any]:
    times: list[float] = []
    failed = 0
    for _ in range(reps):
        event = sqs_event(size, uuid.uuid4().hex[:8])
        started = time.perf_counter()
        response = invoke(event, BenchContext(memory_mb))
        times.append(time.perf_counter() - started)
        failed += max(0, failures(response)) if failures(response) >= 0 else size
    return {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "min_ms": round(min(times) * 1000, 1),
        "reps": reps,
        "failed_records": failed,
    }


def measure_batch_latency(
    stack: BenchStack,
    *,
    latency_ms: int = 100,
    sizes: tuple[int, ...] = (1, 10, 100),
    reps: dict[int, int] | None = None,
    sequential_reps: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Call inside ``stack.applied_env()`` with the handler's runtime reset."""
    # The batch of 10 carries the targets: 15 batches, so that a median is not moved by the few that
    # other load on a 2-core machine disturbs (with 5, one run's median spread 2.6-3.1 L, same code).
    reps = reps or {1: 5, 10: 15, 100: 2}
    sequential_reps = sequential_reps or {1: 3, 10: 3, 100: 1}
    memory_mb = stack.settings.function.memory_size
    handler = _handler_invoke()
    sequential = _sequential_invoke()

    stack.set_latency(0)
    handler(sqs_event(10, "warmup"), BenchContext(memory_mb))  # secret, clients, connections, pool
    stack.set_latency(latency_ms)
    handler(sqs_event(10, "warmup"), BenchContext(memory_mb))

    rows = []
    for size in sizes:
        concurrent = _time_batches(handler, size, reps.get(size, 3), memory_mb)
        seq = _time_batches(sequential, size, sequential_reps.get(size, 1), memory_mb)
        rows.append(
            {
                "batch_size": size,
                "handler": concurrent,
                "sequential": seq,
                "floor_ms": latency_ms,
                "handler_over_floor": round(concurrent["median_ms"] / latency_ms, 2) if latency_ms else None,
                "speedup_vs_sequential": round(seq["median_ms"] / concurrent["median_ms"], 2),
            }
        )
    return {
        "latency_ms": latency_ms,
        "max_concurrency": int(stack.lambda_env.get("MAX_CONCURRENCY", "0") or 0),
        "rows": rows,
    }
