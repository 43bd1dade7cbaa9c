"""The local pipeline's parts: the accounting rules, and the event source mapping driver's Lambda
semantics (partial failures, whole-batch failures, redrive) over a moto server subprocess, with the
resources created from the template. The demo and the local stack's program: test_demo.py,
test_local_stack_cli.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local.accounting.messages import DeadLetterSeen, Enqueued, Snapshot, account
from local.aws.esm_driver import EsmDriver, LambdaContext, redrive_is_implemented_by_moto
from local.keygen import KeyMaterial
from local.stack.local_stack import LocalStack

REPO = Path(__file__).resolve().parent.parent


# --- the accounting rules, without a run ------------------------------------------------------------


def test_accounting_of_a_run_stopped_early_counts_unfinished_messages_as_in_flight() -> None:
    msgs = [
        Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid"),
        Enqueued("m2", '{"out_trade_no":"B"}', "B", "slow"),
        Enqueued("m3", '{"out_trade_no":"C"}', "C", "slow"),
    ]
    snap = _snapshot(
        results={
            "A": {"trade_key": "A", "status": "CLOSED", "action": "close"},
            "B": {"trade_key": "B", "status": "RETRYING", "outcome_class": "retry", "error_code": "20000"},
        },
        trades={"A": {"key": "A", "state": "closed"}},
    )
    acc = account(msgs, snap, still_queued=2)
    assert acc.ok and acc.violations == []
    assert [o.message.message_id for o in acc.in_flight] == ["m2", "m3"]
    # Fewer messages on the queue than unfinished: some are really missing.
    short = account(msgs, snap, still_queued=1)
    assert short.violations == [
        "2 messages did not finish but only 1 are still on the queue: at least 1 missing"
    ]


def _snapshot(**kw: Any) -> Snapshot:
    base: dict[str, Any] = {"results": {}, "dead_letters": [], "trades": {}, "counts": {}}
    base.update(kw)
    return Snapshot(**base)


def test_accounting_flags_unaccounted_unreasoned_retrying_and_false_success() -> None:
    msgs = [
        Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid"),
        Enqueued("m2", '{"out_trade_no":"B"}', "B", "unpaid"),
        Enqueued("m3", "garbage", None, "malformed"),
        Enqueued("m4", '{"out_trade_no":"C"}', "C", "unpaid"),
    ]
    snap = _snapshot(
        results={
            "A": {"trade_key": "A", "status": "CLOSED", "action": "close"},
            "B": {"trade_key": "B", "status": "RETRYING", "outcome_class": "retry"},
        },
        dead_letters=[
            DeadLetterSeen("d1", "garbage", {"source_message_id": "m3", "reason": ""}),
            DeadLetterSeen("d2", "not what was sent", {"source_message_id": "zz", "reason": "x"}),
        ],
        trades={"A": {"key": "A", "state": "unpaid"}},
    )
    acc = account(msgs, snap)
    text = "\n".join(acc.violations)
    assert not acc.ok
    assert "m2" in text and "B is still RETRYING" in text
    assert "m3" in text and "d1 has no reason" in text
    assert "m4" in text  # no record, no dead letter
    assert "d2 body is not an enqueued body" in text
    assert "trade A recorded CLOSED but the emulator has it unpaid" in text


def test_accounting_accepts_records_dead_letters_and_queue_redrive_ids() -> None:
    msgs = [
        Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid", frozenset({"CLOSED"})),
        Enqueued("m2", '{"out_trade_no":"A"}', "A", "duplicate", frozenset({"CLOSED"})),
        Enqueued("m3", "garbage", None, "malformed", frozenset({"DEAD/bad_message"})),
        Enqueued("m4", '{"out_trade_no":"F"}', "F", "finished", frozenset({"FAILED/ACQ.TRADE_HAS_FINISHED"})),
        Enqueued("m5", '{"out_trade_no":"R"}', "R", "redriven"),
    ]
    snap = _snapshot(
        results={
            "A": {"trade_key": "A", "status": "CLOSED", "action": "close"},
            "F": {
                "trade_key": "F",
                "status": "FAILED",
                "outcome_class": "terminal",
                "error_code": "40004",
                "error_sub_code": "ACQ.TRADE_HAS_FINISHED",
            },
        },
        dead_letters=[
            DeadLetterSeen(
                "d1", "garbage", {"source_message_id": "m3", "reason": "bad", "outcome_class": "bad_message"}
            ),
            # moved by the queue's own redrive: same message id, and here a reason attribute of its own
            DeadLetterSeen("m5", '{"out_trade_no":"R"}', {"reason": "redriven by hand with a reason"}),
        ],
        trades={"A": {"key": "A", "state": "closed"}},
    )
    acc = account(msgs, snap)
    assert acc.violations == [] and acc.surprises == []
    assert [o.label for o in acc.outcomes] == [
        "CLOSED",
        "CLOSED",
        "DEAD/bad_message",
        "FAILED/ACQ.TRADE_HAS_FINISHED",
        "DEAD/redriven",
    ]
    wrong = [Enqueued("m1", '{"out_trade_no":"A"}', "A", "paid", frozenset({"REFUNDED"}))]
    assert account(wrong, snap).surprises == ["paid (trade A): ended CLOSED, expected REFUNDED"]
    # an earlier release's success is read as it was written
    legacy = _snapshot(results={"A": {"trade_key": "A", "status": "SUCCEEDED", "action": "refund"}})
    assert [o.label for o in account(wrong, legacy).outcomes] == ["SUCCEEDED/refund"]


# --- the ESM driver's Lambda semantics, with scripted handlers ----------------------------------------


@pytest.fixture
def clean(key_material: KeyMaterial) -> Iterator[LocalStack]:
    """A fresh stack per test: in-flight messages cannot be cleared (and SQS allows one purge a minute)."""
    with LocalStack(key_material=key_material) as s:
        yield s


def _send(stack: LocalStack, bodies: list[str]) -> list[str]:
    sqs = stack.client("sqs")
    ids = []
    for body in bodies:
        ids.append(
            sqs.send_message(
                QueueUrl=stack.resources.queue_url,
                MessageBody=body,
                MessageAttributes={"producer": {"DataType": "String", "StringValue": "tests"}},
            )["MessageId"]
        )
    return ids


def test_moto_still_redrives_on_receive() -> None:
    assert redrive_is_implemented_by_moto()


def test_partial_failures_are_retried_then_redriven_and_the_rest_deleted(clean: LocalStack) -> None:
    stack = clean
    settings = stack.settings
    ids = _send(stack, [json.dumps({"n": i}) for i in range(12)] + ["FAIL"])
    events: list[dict[str, Any]] = []
    contexts: list[LambdaContext] = []
    sqs = stack.client("sqs")

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        events.append(event)
        contexts.append(context)
        failures = []
        for r in event["Records"]:
            if r["body"] == "FAIL":  # like the real handler: it sets the retry delay itself
                sqs.change_message_visibility(
                    QueueUrl=stack.resources.queue_url, ReceiptHandle=r["receiptHandle"], VisibilityTimeout=0
                )
                failures.append({"itemIdentifier": r["messageId"]})
        return {"batchItemFailures": failures}

    result = stack.driver(handler).run_until_drained(deadline_seconds=30)
    assert result.drained
    stats = result.stats
    assert stats.records_deleted == 12
    assert stats.item_failures_reported == settings.queue.max_receive_count
    assert stats.receive_counts[ids[-1]] == settings.queue.max_receive_count
    assert stats.max_batch <= settings.event_source.batch_size
    # moto's redrive moved it on the receive after the last one, id and body unchanged
    dlq = sqs.receive_message(QueueUrl=stack.resources.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in dlq] == [(ids[-1], "FAIL")]

    record = events[0]["Records"][0]
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == stack.resources.queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    } <= set(record["attributes"])
    assert record["messageAttributes"]["producer"] == {
        "stringValue": "tests",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    ctx = contexts[0]
    assert ctx.memory_limit_in_mb == settings.function.memory_size
    assert ctx.invoked_function_arn.endswith(":function:" + stack.resources.function_name)
    assert 0 < ctx.get_remaining_time_in_millis() <= settings.function.timeout * 1000


@pytest.mark.parametrize(
    "behaviour",
    ["raises", "unknown item", "empty item id"],
)
def test_whole_batch_stays_when_the_handler_errors_or_answers_invalidly(
    clean: LocalStack, behaviour: str
) -> None:
    stack = clean
    _send(stack, ["a", "b", "c"])

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if behaviour == "raises":
            raise RuntimeError("boom")
        ident = "not-in-this-batch" if behaviour == "unknown item" else ""
        return {"batchItemFailures": [{"itemIdentifier": ident}]}

    driver: EsmDriver = stack.driver(handler)
    result = driver.run_until_drained(deadline_seconds=1.5)
    assert not result.drained
    assert result.stats.records_deleted == 0
    assert result.stats.records_received == 3
    assert result.depth.in_flight == 3  # back only after the queue's visibility timeout, as on AWS
    if behaviour == "raises":
        assert result.stats.handler_errors >= 1
    else:
        assert result.stats.invalid_responses >= 1


def test_empty_or_null_response_is_full_success(clean: LocalStack) -> None:
    stack = clean
    _send(stack, ["x", "y"])
    result = stack.driver(lambda event, context: None).run_until_drained(deadline_seconds=10)
    assert result.drained and result.stats.records_deleted == 2


def test_resources_are_created_with_the_templates_settings(clean: LocalStack) -> None:
    stack, settings = clean, clean.settings
    sqs, ddb = stack.client("sqs"), stack.client("dynamodb")
    attrs = sqs.get_queue_attributes(QueueUrl=stack.resources.queue_url, AttributeNames=["All"])["Attributes"]
    assert int(attrs["VisibilityTimeout"]) == settings.queue.visibility_timeout
    assert int(attrs["MessageRetentionPeriod"]) == settings.queue.message_retention_period
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.resources.dlq_arn,
        "maxReceiveCount": settings.queue.max_receive_count,
    }
    dlq = sqs.get_queue_attributes(QueueUrl=stack.resources.dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(dlq["MessageRetentionPeriod"]) == settings.dead_letter_queue.message_retention_period
    for name, table in ((stack.resources.results_table, settings.results_table),):
        described = ddb.describe_table(TableName=name)["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in described["KeySchema"]] == list(table.key_schema)
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == table.ttl_attribute
    secret = json.loads(
        stack.client("secretsmanager").get_secret_value(SecretId=stack.resources.secret_id)["SecretString"]
    )
    assert set(secret) == {"app_id", "private_key", "alipay_public_key"}
    env = stack.lambda_env
    assert env["MAX_RECEIVE_COUNT"] == str(settings.queue.max_receive_count)
    assert env["CANCEL_QUEUE_URL"] == stack.resources.queue_url
    assert env["ALIPAY_ENDPOINT"] == stack.gateway_url and env["AWS_ENDPOINT_URL"] == stack.moto_url
    # the same names as the sam local env file (which points at the default ports)
    local_env = json.loads((REPO / "local" / "sam-local-env.json").read_text())["CancelFunction"]
    for name in ("ALIPAY_SECRET_ID", "RESULTS_TABLE_NAME"):
        assert local_env[name] == env[name]
    for name in ("CANCEL_QUEUE_URL", "DEAD_LETTER_QUEUE_URL"):
        assert local_env[name].rsplit("/", 2)[1:] == env[name].rsplit("/", 2)[1:]


def test_running_out_of_retries_is_expected_only_when_planned_faults_met_every_call() -> None:
    exhausted = {"trade_key": "A", "status": "FAILED", "outcome_class": "exhausted"}
    msgs = [Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid", frozenset({"CLOSED"}), 3)]
    for requests, expected in ((2, True), (3, True), (4, False)):
        snap = _snapshot(results={"A": exhausted}, counts={"per_trade": {"A": {"requests": requests}}})
        acc = account(msgs, snap)
        assert acc.ok is expected, requests
        assert acc.outcomes[0].why == (f"faults on all {requests} of its calls" if expected else "")
    unfaulted = [Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid", frozenset({"CLOSED"}), 0)]
    snap = _snapshot(results={"A": exhausted}, counts={"per_trade": {"A": {"requests": 1}}})
    assert account(unfaulted, snap).surprises  # no fault planned: running out is a surprise
