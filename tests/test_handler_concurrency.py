"""Records of a batch run concurrently, and their log keys never bleed into each other's lines."""

from __future__ import annotations

import time

from tests.fixtures.aws import Pipeline, PowertoolsLines, cancel_body, sqs_event, sqs_record

LATENCY_MS = 200


def _timed_batch(pipeline: Pipeline, prefix: str) -> float:
    keys = [f"{prefix}-{n}" for n in range(10)]
    pipeline.gateway.admin.seed_trades([{"out_trade_no": key, "state": "unpaid"} for key in keys])
    event = sqs_event(
        [sqs_record(cancel_body(key), message_id=f"{prefix}-m{n}") for n, key in enumerate(keys)]
    )
    pipeline.invoke(sqs_event([sqs_record(cancel_body(f"{prefix}-warm"))]))  # warm: clients, secret, pool
    started = time.perf_counter()
    response = pipeline.invoke(event)
    elapsed = time.perf_counter() - started
    assert response == {"batchItemFailures": []}
    assert all((pipeline.aws.result(key) or {}).get("status") == "CLOSED" for key in keys)
    return elapsed


def test_batch_of_ten_is_concurrent_compared_with_sequential_in_the_same_test(pipeline: Pipeline) -> None:
    pipeline.gateway.admin.settings(latency_ms=LATENCY_MS)

    pipeline.configure(MAX_CONCURRENCY=1)
    sequential = _timed_batch(pipeline, "SEQ")
    pipeline.configure(MAX_CONCURRENCY=10)
    # Best of two: the test shares 2 CPUs with other work, and a timing's noise only ever adds.
    concurrent = min(_timed_batch(pipeline, "CON"), _timed_batch(pipeline, "CON2"))

    assert sequential >= 10 * LATENCY_MS / 1000  # the baseline really waited on each call in turn
    # Typically ~0.17 here (0.36 s vs 2.2 s; the rest is moto and the in-process emulator's CPU).
    assert concurrent / sequential < 0.5, (concurrent, sequential)


def test_concurrency_is_capped_by_max_concurrency(pipeline: Pipeline) -> None:
    pipeline.gateway.admin.settings(latency_ms=LATENCY_MS)
    pipeline.configure(MAX_CONCURRENCY=5)
    elapsed = _timed_batch(pipeline, "CAP")
    # 10 records, 5 at a time: at least two rounds of the emulator's latency.
    assert elapsed >= 2 * LATENCY_MS / 1000


def test_per_record_log_keys_do_not_bleed_across_threads(
    pipeline: Pipeline, powertools_lines: PowertoolsLines
) -> None:
    admin = pipeline.gateway.admin
    admin.settings(latency_ms=50)
    keys = [f"LOG-{n}" for n in range(8)]
    admin.seed_trades([{"out_trade_no": key, "state": "unpaid"} for key in keys])
    admin.set_fault("http_5xx", trade="LOG-3")
    event = sqs_event([sqs_record(cancel_body(key), message_id=f"msg-{key}") for key in keys])
    pipeline.invoke(event)

    per_record = [
        r
        for r in powertools_lines.records()
        if r.get("message") in {"trade settled", "trade will be retried"}
    ]
    assert len(per_record) == len(keys)
    for line in per_record:
        assert line["message_id"] == f"msg-{line['trade_key']}", line
        assert line["alipay_trace_id"]
        assert line["function_request_id"]
    trace_ids = [line["alipay_trace_id"] for line in per_record]
    assert len(set(trace_ids)) == len(trace_ids)
    summary = [r for r in powertools_lines.records() if r.get("message") == "batch processed"]
    assert summary and "trade_key" not in summary[-1] and "message_id" not in summary[-1]
