"""Lambda's DynamoDB-stream event source mapping for the outcome-event publisher, on the AWS stand-in
(moto keeps the results table's stream but runs no mappings).

Read from template.yaml (``local.aws.event_routes``): the mapping's filter, batch size and starting
position, and the publisher's environment. Each round reads every shard of the stream from where
it left off, shapes the records as Lambda delivers them (``ApproximateCreationDateTime`` in epoch
seconds, ``eventSourceARN``), drops what the filter does not pass (Lambda does the same, moving its
checkpoint past them), and invokes the real publisher code (``alipay_cancel_events.handler``) in
batches; a batch item failure is retried from that record in the next round, as Lambda resumes a
shard there. Not emulated: bisecting a batch that crashes the function, and the 23-hour record age
(a local run never lasts that long).

``poll_once()`` runs one round (tests); ``start()`` / ``stop()`` (or ``with``) run rounds on a
thread. ``published`` keeps every event the publisher reported as published, in order.

``checkpoints`` are the mapping's own position per shard (the last record it is done with: delivered,
or dropped by the filter), as Lambda keeps it apart from the function. ``restarted()`` is the reader
after a restart: a new publisher runtime (a cold start, new clients) that reads every shard again
after its checkpoint, so records fetched but not yet done are read again and nothing is skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from moto.events.models import EventPattern

from alipay_cancel_events.config import load_config
from alipay_cancel_events.handler import Runtime, build_runtime, process_event
from alipay_cancel_events.outcome_event import OutcomeEvent
from local.aws.background import RunsInBackground
from local.aws.event_routes import REGION, EventRoutes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Round:
    delivered: int  # records handed to the publisher
    filtered_out: int
    published: int
    failed_shards: int  # shards whose batch reported a failure (retried next round)


def _sequence(record: Mapping[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def _lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda's event carries it."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, dt.datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", REGION),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


class StreamPublisher(RunsInBackground):
    def __init__(
        self,
        streams: Any,
        routes: EventRoutes,
        build_runtime: Callable[[], Runtime],
        *,
        clock: Callable[[], float] = time.time,
        checkpoints: Mapping[str, int] | None = None,
    ) -> None:
        self.streams = streams
        self.routes = routes
        self.build_runtime = build_runtime  # the function's cold start: its clients, its publisher
        self.runtime = build_runtime()
        self.clock = clock
        self.checkpoints: dict[str, int] = dict(checkpoints or {})
        mapping = routes.stream_mapping
        self.batch_size = int(mapping.get("BatchSize", 100))
        self.starting_position = str(mapping["StartingPosition"])
        self.filters = [
            EventPattern.load(f["Pattern"]) for f in (mapping.get("FilterCriteria") or {}).get("Filters", [])
        ]
        self.published: list[OutcomeEvent] = []
        self._iterators: dict[str, str] = {}
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_routes(
        cls,
        client: Callable[[str], Any],
        routes: EventRoutes,
        *,
        endpoint_url: str | None = None,
        session: Any = None,
    ) -> StreamPublisher:
        """The publisher configured from its template environment, its clients from ``session`` (or
        the default) at ``endpoint_url`` (the moto server; None: in-process moto)."""
        config = load_config(routes.publisher_environment)
        return cls(
            client("dynamodbstreams"),
            routes,
            lambda: build_runtime(config, session=session, endpoint_url=endpoint_url),
        )

    def restarted(self) -> StreamPublisher:
        """The reader after a restart (stop this one first): a fresh runtime from the same checkpoints,
        with what it published so far carried over."""
        with self._lock:
            again = type(self)(
                self.streams, self.routes, self.build_runtime, clock=self.clock, checkpoints=self.checkpoints
            )
            again.published = list(self.published)
        return again

    def _passes(self, record: Mapping[str, Any]) -> bool:
        return not self.filters or any(f.matches_event(dict(record)) for f in self.filters)

    def _fetch(self, shard_id: str) -> None:
        if shard_id not in self._iterators:
            where: dict[str, Any] = {"ShardIteratorType": self.starting_position}
            if shard_id in self.checkpoints:
                where = {
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "SequenceNumber": str(self.checkpoints[shard_id]),
                }
            self._iterators[shard_id] = self.streams.get_shard_iterator(
                StreamArn=self.routes.stream_arn, ShardId=shard_id, **where
            )["ShardIterator"]
        response = self.streams.get_records(ShardIterator=self._iterators[shard_id], Limit=1000)
        if response.get("NextShardIterator"):
            self._iterators[shard_id] = response["NextShardIterator"]
        self._pending.setdefault(shard_id, []).extend(
            _lambda_record(r, self.routes.stream_arn) for r in response.get("Records", [])
        )

    def _deliver(self, shard_id: str) -> tuple[int, int, int, bool]:
        pending = self._pending.get(shard_id, [])
        passing = [r for r in pending if self._passes(r)]
        delivered = published = 0
        for start in range(0, len(passing), self.batch_size):
            batch = passing[start : start + self.batch_size]
            try:
                response, report = process_event({"Records": batch}, self.runtime, self.clock())
            except Exception as error:  # noqa: BLE001 - the whole batch fails, as in Lambda: retried next round
                log.warning(
                    "outcome-event publisher failed on a batch (retried): %s: %s", type(error).__name__, error
                )
                failed_at: str | None = str(batch[0]["dynamodb"]["SequenceNumber"])
            else:
                delivered += len(batch)
                published += len(report.published)
                self.published += report.published
                failures = response["batchItemFailures"]
                failed_at = str(failures[0]["itemIdentifier"]) if failures else None
            if failed_at is not None:
                resume = int(failed_at)
                self._pending[shard_id] = [r for r in pending if _sequence(r) >= resume]
                self._advance(shard_id, [r for r in pending if _sequence(r) < resume])
                return delivered, len(pending) - len(passing), published, True
        self._pending[shard_id] = []
        self._advance(shard_id, pending)
        return delivered, len(pending) - len(passing), published, False

    def _advance(self, shard_id: str, done: list[dict[str, Any]]) -> None:
        if done:
            self.checkpoints[shard_id] = max(self.checkpoints.get(shard_id, 0), *map(_sequence, done))

    def poll_once(self) -> Round:
        """Read what the stream has and hand it to the publisher, once per shard."""
        delivered = filtered = published = failed = 0
        with self._lock:
            shards = self.streams.describe_stream(StreamArn=self.routes.stream_arn)["StreamDescription"][
                "Shards"
            ]
            for shard in shards:
                shard_id = shard["ShardId"]
                if not self._pending.get(shard_id):
                    self._fetch(shard_id)
                d, f, p, stuck = self._deliver(shard_id)
                delivered, filtered, published, failed = (
                    delivered + d,
                    filtered + f,
                    published + p,
                    failed + stuck,
                )
        return Round(delivered, filtered, published, failed)

    def round(self) -> Round:
        return self.poll_once()
