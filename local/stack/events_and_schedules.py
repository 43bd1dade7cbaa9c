"""Outcome events and scheduled cancels for a local run, in one object with a start/stop API:

    routes = EventsAndSchedules(client, results_table=..., cancel_queue_url=..., endpoint_url=...)
    with routes:                       # provisions (local.aws.event_routes), then runs on threads:
        ...                            # - the stream mapping + publisher (local.aws.stream_publisher)
        routes.received_events()       # - the schedule runner (local.aws.schedule_runner)

``received_events()`` drains the order system's queue (the example rule's target) and keeps what it
took; ``account()`` checks them against the ledger and against every final write the table's stream
recorded (``final_writes()``: a reader of its own, apart from the publisher's; see
``local.accounting.outcome_accounting``). ``settle()`` runs rounds until the stream has nothing left
to publish (tests, the end of a demo), without waiting on the background threads' timing.
``restart_reader()`` stops the stream reader and starts it again from its checkpoints with a fresh
publisher runtime.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from local.accounting.outcome_accounting import EventAccount, FinalWrite, account_events, final_writes
from local.aws.event_routes import EventRoutes, provision_event_routes
from local.aws.provision import DUMMY_CREDENTIALS, REGION
from local.aws.schedule_runner import ScheduleRunner
from local.aws.stream_publisher import StreamPublisher
from local.aws.template_settings import DEFAULT_TEMPLATE
from local.stack.local_stack import LocalStack

_PLAIN = TypeDeserializer()


class EventsAndSchedules:
    def __init__(
        self,
        client: Callable[[str], Any],
        *,
        results_table: str,
        cancel_queue_url: str,
        endpoint_url: str | None = None,
        session: Any = None,
        template: Path | str = DEFAULT_TEMPLATE,
        parameters: Mapping[str, Any] | None = None,
        interval: float = 0.2,
    ) -> None:
        self.client = client
        self.interval = interval
        self.routes: EventRoutes = provision_event_routes(
            client,
            results_table=results_table,
            cancel_queue_url=cancel_queue_url,
            template=template,
            parameters=parameters,
        )
        if session is None and endpoint_url is not None:  # the moto server: never real credentials
            session = boto3.session.Session(
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=REGION,
            )
        self.stream = StreamPublisher.for_routes(
            client, self.routes, endpoint_url=endpoint_url, session=session
        )
        self.schedules = ScheduleRunner(client("scheduler"), client("sqs"), group=self.routes.schedule_group)
        self.received: list[dict[str, Any]] = []

    @classmethod
    def on_stack(cls, stack: LocalStack, *, interval: float = 0.2) -> EventsAndSchedules:
        """The routes of a running local stack (its moto server, results table and cancel queue)."""
        res = stack.resources
        return cls(
            stack.client,
            results_table=res.results_table,
            cancel_queue_url=res.queue_url,
            endpoint_url=stack.moto_url,
            interval=interval,
        )

    def start(self) -> EventsAndSchedules:
        self.stream.start(self.interval)
        self.schedules.start(self.interval)
        return self

    def stop(self) -> None:
        self.stream.stop()
        self.schedules.stop()

    def restart_reader(self, on_restart: Callable[[StreamPublisher], None] | None = None) -> None:
        """Stop the stream reader, and (if it was running) start it again from its checkpoints with a
        fresh publisher runtime; ``on_restart`` sees the new reader before it runs a round."""
        running = self.stream.running
        self.stream.stop()
        self.stream = self.stream.restarted()
        if on_restart is not None:
            on_restart(self.stream)
        if running:
            self.stream.start(self.interval)

    def __enter__(self) -> EventsAndSchedules:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def settle(self, max_rounds: int = 50) -> int:
        """Publish until a round finds nothing to deliver and no shard is stuck; returns rounds run."""
        for rounds in range(1, max_rounds + 1):
            done = self.stream.poll_once()
            if done.delivered == 0 and done.failed_shards == 0:
                return rounds
        raise RuntimeError(f"the stream still had records to publish after {max_rounds} rounds")

    def received_events(self) -> list[dict[str, Any]]:
        """Drain the order system's queue; every event received so far (duplicates included)."""
        sqs = self.client("sqs")
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.routes.consumer_queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not messages:
                return list(self.received)
            for message in messages:
                self.received.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.routes.consumer_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def ledger_items(self) -> list[dict[str, Any]]:
        ddb = self.client("dynamodb")
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.routes.results_table, "ConsistentRead": True}
        while True:
            page = ddb.scan(**kwargs)
            items += [{k: _PLAIN.deserialize(v) for k, v in item.items()} for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def final_writes(self) -> list[FinalWrite]:
        """Every final write the results table's stream holds, read from its start by a reader of
        this method's own (the publisher's position plays no part)."""
        streams = self.client("dynamodbstreams")
        records: list[dict[str, Any]] = []
        arn = self.routes.stream_arn
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                if not page.get("Records"):
                    break  # an open shard's iterator never ends: stop at its current end
                records += page["Records"]
                iterator = page.get("NextShardIterator")
        return final_writes(records)

    def account(self) -> EventAccount:
        """Every final state the ledger holds and every one the stream says it wrote, against every
        event received (call after ``settle``)."""
        return account_events(self.ledger_items(), self.received_events(), self.final_writes())
