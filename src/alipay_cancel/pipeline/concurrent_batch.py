"""Powertools' SQS partial-batch processing, with the records of a batch processed concurrently.

Why a ``BatchProcessor`` subclass with a thread pool, not ``AsyncBatchProcessor``: the pipeline is
blocking I/O (requests, boto3), so the async processor would only wrap it in ``asyncio.to_thread``,
whose default executor has min(32, cpus + 4) workers (5-6 on a small Lambda: below MAX_CONCURRENCY)
and which ``asyncio.run`` tears down after every invocation outside Lambda. One pool sized to
MAX_CONCURRENCY, owned by the warm container, keeps its threads (and their keep-alive connections'
users) across invocations and needs no event loop.

Each record runs in a copy of the caller's ``contextvars`` context, so Powertools Logger's
thread-safe keys (message id, trade key, trace id) set for one record never show on another's lines.
Powertools' success/failure handlers only append to lists, which is atomic in CPython.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType


class ConcurrentSqsBatchProcessor(BatchProcessor):
    def __init__(self, executor: ThreadPoolExecutor | None) -> None:
        """``executor`` None processes one record after another (MAX_CONCURRENCY=1)."""
        # Every record failing is a normal answer here (e.g. all retried): return the full
        # batchItemFailures list instead of raising.
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._executor = executor

    def process(self) -> list[tuple[Any, ...]]:
        if self._executor is None or len(self.records) <= 1:
            return [contextvars.copy_context().run(self._process_record, record) for record in self.records]
        futures = [
            self._executor.submit(contextvars.copy_context().run, self._process_record, record)
            for record in self.records
        ]
        # _process_record catches every Exception itself, so result() returns the record's tuple.
        return [future.result() for future in futures]

    def failed_message_ids_in_order(self) -> list[dict[str, str]]:
        """batchItemFailures in the event's record order (threads finish in any order)."""
        failed = {item["itemIdentifier"] for item in self.response()["batchItemFailures"]}
        return [
            {"itemIdentifier": record["messageId"]}
            for record in self.records
            if record["messageId"] in failed
        ]
