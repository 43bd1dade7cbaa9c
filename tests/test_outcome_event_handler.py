"""The outcome-event publisher's Lambda entry point, in-process over moto: configuration from the
environment the template sets, the partial batch response Lambda resumes from, what it logs (never a
token or an item's values), and a dead-letter queue that does not answer either; then ``publish_batch``'s
own decisions against a recording sink: where the stream resumes, when a refused event is dead-lettered
and with which reason, a record that can never be an event, records that announce nothing."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alipay_cancel.shared.ledger_item import event_id
from alipay_cancel_events import handler
from alipay_cancel_events.config import ConfigError, load_config
from alipay_cancel_events.outcome_event import OutcomeEvent
from alipay_cancel_events.publisher import NOT_AN_OUTCOME, UNPUBLISHED_EVENT, DeadLetterFailed, PublishFailed
from alipay_cancel_events.stream_batch import BatchReport, publish_batch
from tests.fixtures.aws import FakeLambdaContext
from tests.fixtures.ledger_items import FACTS, typed_image

REGION = "us-east-1"
TOKEN = "202405BBd1b0e2a9f8c7d6e5f4a3b2c1"


def _record(trade_key: str, status: str, sequence: int, **extra: Any) -> dict[str, Any]:
    new = {
        "trade_key": trade_key,
        "status": status,
        "event_id": event_id(trade_key, status),
        **FACTS[status],
        **extra,
    }
    return {
        "eventID": f"e{sequence}",
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": time.time(),
            "Keys": {"trade_key": {"S": trade_key}},
            "OldImage": typed_image({"trade_key": trade_key, "status": "RETRYING"}),
            "NewImage": typed_image(new),
            "SequenceNumber": str(1000 + sequence),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "AlipayCancelTest")
    handler.get_runtime.cache_clear()
    with mock_aws():
        events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
        events.create_event_bus(Name="outcomes")
        consumer = sqs.create_queue(QueueName="orders")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=consumer, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="all", EventBusName="outcomes", EventPattern=json.dumps({"source": ["alipay-cancel"]})
        )
        events.put_targets(Rule="all", EventBusName="outcomes", Targets=[{"Id": "q", "Arn": arn}])
        dlq = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
        monkeypatch.setenv("OUTCOME_EVENT_BUS_NAME", "outcomes")
        monkeypatch.setenv("OUTCOME_EVENTS_DEAD_LETTER_QUEUE_URL", dlq)
        yield {"consumer": consumer, "dlq": dlq}
    handler.get_runtime.cache_clear()


def _bodies(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    return [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the publisher's Powertools Logger writes during the test."""
    stream = handler.logger.registered_handler
    assert isinstance(stream, logging.StreamHandler)
    original, captured = stream.stream, io.StringIO()
    stream.setStream(captured)
    yield captured
    stream.setStream(original)


def test_a_batch_is_published_in_order_and_logged_by_trade_and_event_id_only(
    aws: dict[str, str], log_lines: io.StringIO
) -> None:
    records = [
        _record("T1", "CLOSED", 1),
        _record("T2", "REFUNDED", 2, app_auth_token=TOKEN),
        {
            **_record("T3", "KEPT", 3),
            "dynamodb": {
                **_record("T3", "KEPT", 3)["dynamodb"],
                "OldImage": _record("T3", "KEPT", 3)["dynamodb"]["NewImage"],
            },
        },
    ]
    response = handler.lambda_handler({"Records": records}, FakeLambdaContext())
    assert response == {"batchItemFailures": []}
    received = _bodies(aws["consumer"])
    assert sorted(e["detail"]["trade_key"] for e in received) == ["T1", "T2"]  # T3: a later edit, no event
    logged = log_lines.getvalue()
    assert TOKEN not in logged and "88.88" not in logged
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{") and '"message"' in line]
    published = [line for line in lines if line["message"] == "outcome event published"]
    assert [(p["trade_key"], p["event_id"]) for p in published] == [
        ("T1", event_id("T1", "CLOSED")),
        ("T2", event_id("T2", "REFUNDED")),
    ]


def test_the_first_refused_record_is_where_lambda_resumes(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = handler.get_runtime()
    calls = [0]

    def refuse_second(**_: Any) -> None:
        calls[0] += 1
        if calls[0] == 2:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "injected"}}, "PutEvents")

    runtime.publisher.events_client.meta.events.register("before-call.events.PutEvents", refuse_second)
    records = [_record("T1", "CLOSED", 1), _record("T2", "FAILED", 2), _record("T3", "NOT_FOUND", 3)]
    response = handler.lambda_handler({"Records": records}, FakeLambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "1002"}]}
    assert [e["detail"]["trade_key"] for e in _bodies(aws["consumer"])] == ["T1"]  # T3 waits behind T2


def test_when_the_dead_letter_queue_does_not_answer_either_the_record_is_retried(aws: dict[str, str]) -> None:
    runtime = handler.get_runtime()
    from botocore.exceptions import ClientError

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "injected"}}, "X")

    runtime.publisher.events_client.meta.events.register("before-call.events.PutEvents", refuse)
    runtime.publisher.sqs_client.meta.events.register("before-call.sqs.SendMessage", refuse)
    old = _record("T1", "CLOSED", 1)
    old["dynamodb"]["ApproximateCreationDateTime"] = time.time() - runtime.config.retry_seconds - 1
    response = handler.lambda_handler({"Records": [old]}, FakeLambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "1001"}]}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "OUTCOME_EVENT_BUS_NAME is required"),
        ({"OUTCOME_EVENT_BUS_NAME": "b"}, "OUTCOME_EVENTS_DEAD_LETTER_QUEUE_URL is required"),
        (
            {
                "OUTCOME_EVENT_BUS_NAME": "b",
                "OUTCOME_EVENTS_DEAD_LETTER_QUEUE_URL": "u",
                "OUTCOME_EVENTS_RETRY_SECONDS": "1e3",
            },
            "whole number",
        ),
        (
            {
                "OUTCOME_EVENT_BUS_NAME": "b",
                "OUTCOME_EVENTS_DEAD_LETTER_QUEUE_URL": "u",
                "OUTCOME_EVENTS_RETRY_SECONDS": "90000",
            },
            "60 to 82800",
        ),
    ],
)
def test_a_wrong_environment_is_refused_naming_the_variable(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_config(env)


# ------------------------------------------------------------- publish_batch, against a recording sink
NOW = 1_700_000_000.0
RETRY_SECONDS = 3600


class _Sink:
    """Records what publish_batch hands on: published, dead-lettered as an unpublished event (with the
    bus's error code) or as a record that is not an outcome (with its stream position)."""

    def __init__(self, refuse: dict[str, str] | None = None, *, dead_letters_fail: bool = False) -> None:
        self.refuse = refuse or {}  # trade_key -> the code the bus answers
        self.dead_letters_fail = dead_letters_fail
        self.calls: list[tuple[Any, ...]] = []

    def publish(self, event: OutcomeEvent) -> None:
        if event.trade_key in self.refuse:
            raise PublishFailed(self.refuse[event.trade_key])
        self.calls.append(("published", event.trade_key, event.detail_type))

    def dead_letter_event(self, event: OutcomeEvent, *, reason: str, error_code: str) -> None:
        if self.dead_letters_fail:
            raise DeadLetterFailed("AccessDenied")
        self.calls.append((UNPUBLISHED_EVENT, event.trade_key, reason, error_code))

    def dead_letter_record(
        self, *, trade_key: str | None, event_id: str | None, sequence_number: str, reason: str
    ) -> None:
        if self.dead_letters_fail:
            raise DeadLetterFailed("AccessDenied")
        self.calls.append((NOT_AN_OUTCOME, trade_key, event_id, sequence_number, reason))


def _aged(record: dict[str, Any], seconds: float) -> dict[str, Any]:
    record["dynamodb"]["ApproximateCreationDateTime"] = NOW - seconds
    return record


def _publish(records: list[dict[str, Any]], sink: _Sink) -> BatchReport:
    return publish_batch(records, sink, retry_seconds=RETRY_SECONDS, now=NOW)


@pytest.mark.parametrize("age", [0, RETRY_SECONDS - 1, RETRY_SECONDS - 0.001])
def test_a_refused_event_younger_than_retry_seconds_holds_the_stream_at_its_record(age: float) -> None:
    sink = _Sink({"T2": "ThrottlingException"})
    records = [_aged(_record("T1", "CLOSED", 1), 5), _aged(_record("T2", "FAILED", 2), age)]
    report = _publish([*records, _aged(_record("T3", "KEPT", 3), 5)], sink)
    assert sink.calls == [("published", "T1", "Trade Closed")]  # T3 waits behind T2
    assert (report.failed_sequence_number, report.failure) == ("1002", "ThrottlingException")
    assert report.batch_item_failures() == [{"itemIdentifier": "1002"}]
    assert [e.trade_key for e in report.published] == ["T1"] and report.dead_lettered == []


def test_a_refused_record_without_a_creation_time_counts_as_new_and_is_retried() -> None:
    record = _record("T1", "CLOSED", 1)
    del record["dynamodb"]["ApproximateCreationDateTime"]
    report = _publish([record], _Sink({"T1": "InternalFailure"}))
    assert report.batch_item_failures() == [{"itemIdentifier": "1001"}] and report.dead_lettered == []


@pytest.mark.parametrize("age", [RETRY_SECONDS, RETRY_SECONDS + 0.9])
def test_an_event_refused_for_retry_seconds_is_dead_lettered_and_the_stream_moves_on(age: float) -> None:
    sink = _Sink({"T1": "AccessDeniedException"})
    report = _publish([_aged(_record("T1", "CLOSED", 1), age), _aged(_record("T2", "REFUNDED", 2), 1)], sink)
    reason = f"the bus refused the event for {RETRY_SECONDS} s (last error AccessDeniedException)"
    assert sink.calls == [
        (UNPUBLISHED_EVENT, "T1", reason, "AccessDeniedException"),
        ("published", "T2", "Trade Refunded"),
    ]
    assert report.dead_lettered == [("T1", reason)] and [e.trade_key for e in report.published] == ["T2"]
    assert (report.failed_sequence_number, report.failure) == (None, None)
    assert report.batch_item_failures() == []


def test_a_record_that_can_never_be_an_event_is_dead_lettered_at_once_with_its_position() -> None:
    not_final = _record("T1", "CLOSED", 1)
    not_final["dynamodb"]["NewImage"]["status"] = {"S": "RETRYING"}
    keyless = _record("T2", "CLOSED", 2)
    del keyless["dynamodb"]["NewImage"]["trade_key"]
    sink = _Sink()
    report = _publish([not_final, keyless, _record("T3", "NOT_FOUND", 3)], sink)
    not_final_reason = "the item has an event_id but its status is not a final state"
    keyless_reason = "the item has no event_id or no trade_key"
    assert sink.calls == [
        (NOT_AN_OUTCOME, "T1", event_id("T1", "CLOSED"), "1001", not_final_reason),
        (NOT_AN_OUTCOME, None, event_id("T2", "CLOSED"), "1002", keyless_reason),
        ("published", "T3", "Trade Not Found"),
    ]
    assert report.dead_lettered == [("T1", not_final_reason), ("", keyless_reason)]
    assert report.batch_item_failures() == [] and report.announced_nothing == 0


def test_records_that_announce_nothing_are_counted_and_skipped() -> None:
    later_edit = _record("T1", "CLOSED", 1)
    later_edit["dynamodb"]["OldImage"] = later_edit["dynamodb"]["NewImage"]
    sink = _Sink()
    report = _publish([later_edit, {"eventName": "REMOVE"}, _record("T2", "KEPT", 3)], sink)
    assert report.announced_nothing == 2 and sink.calls == [("published", "T2", "Trade Kept")]
    assert report.batch_item_failures() == []


@pytest.mark.parametrize("refused", [True, False])
def test_a_dead_letter_queue_that_refuses_holds_the_stream_at_the_record(refused: bool) -> None:
    first = _aged(_record("T1", "CLOSED", 1), RETRY_SECONDS + 1)
    if not refused:
        first["dynamodb"]["NewImage"]["status"] = {"S": "RETRYING"}
    sink = _Sink({"T1": "AccessDeniedException"}, dead_letters_fail=True)
    report = _publish([first, _record("T2", "KEPT", 2)], sink)
    assert (report.failed_sequence_number, report.failure) == ("1001", "dead-letter queue: AccessDenied")
    assert sink.calls == [] and report.published == [] and report.dead_lettered == []
