"""The outcome-event publisher's Lambda entry point, in-process over moto: configuration from the
environment the template sets, the partial batch response Lambda resumes from, what it logs (never a
token or an item's values), and a dead-letter queue that does not answer either."""

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
