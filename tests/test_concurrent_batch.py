"""ConcurrentSqsBatchProcessor: concurrency, failure order, and per-record context isolation."""

from __future__ import annotations

import contextvars
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from alipay_cancel.pipeline.concurrent_batch import ConcurrentSqsBatchProcessor
from tests.fixtures.aws import sqs_event, sqs_record

CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("CURRENT", default="")


def test_records_run_at_once_and_failures_come_back_in_event_order() -> None:
    # All six must be inside the handler together to pass the barrier: run one after another, the
    # first would wait alone and the barrier break (proof by a meeting, not by timing).
    all_in = threading.Barrier(6, timeout=30)
    others_done = threading.Semaphore(0)

    def handle(record: SQSRecord) -> str:
        all_in.wait()
        if record.body == "0":  # the first record finishes last
            for _ in range(5):
                assert others_done.acquire(timeout=30)
        else:
            others_done.release()
        if int(record.body) % 2 == 0:
            raise RuntimeError("retry me")
        return record.body

    event = sqs_event([sqs_record(str(n), message_id=f"m{n}") for n in range(6)])
    with ThreadPoolExecutor(max_workers=6) as pool:
        processor = ConcurrentSqsBatchProcessor(pool)
        process_partial_response(event=event, record_handler=handle, processor=processor)
    assert processor.failed_message_ids_in_order() == [{"itemIdentifier": f"m{n}"} for n in (0, 2, 4)]


def test_every_record_sees_its_own_context_even_on_reused_worker_threads() -> None:
    seen: list[tuple[str, str]] = []

    def handle(record: SQSRecord) -> None:
        before = CURRENT.get()
        CURRENT.set(record.message_id)
        time.sleep(0.01)
        seen.append((before, CURRENT.get()))

    with ThreadPoolExecutor(max_workers=2) as pool:
        for round_ in range(3):
            event = sqs_event([sqs_record("x", message_id=f"r{round_}-{n}") for n in range(4)])
            process_partial_response(
                event=event, record_handler=handle, processor=ConcurrentSqsBatchProcessor(pool)
            )
    assert len(seen) == 12
    assert all(before == "" for before, _ in seen)  # nothing left over from a previous record
    assert len({after for _, after in seen}) == 12


def test_without_executor_records_run_one_after_another_and_all_failed_is_not_raised() -> None:
    order: list[str] = []

    def handle(record: SQSRecord) -> None:
        order.append(record.message_id)
        raise RuntimeError("no")

    event = sqs_event([sqs_record("x", message_id=f"m{n}") for n in range(3)])
    processor = ConcurrentSqsBatchProcessor(None)
    response = process_partial_response(event=event, record_handler=handle, processor=processor)
    assert order == ["m0", "m1", "m2"]
    assert response == {"batchItemFailures": [{"itemIdentifier": f"m{n}"} for n in range(3)]}
