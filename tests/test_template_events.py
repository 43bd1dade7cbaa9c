"""template.yaml's outcome events and scheduled cancels, transformed as CloudFormation would: the
results table's stream, the publisher function and its stream mapping (filter, retries, dead letters),
the bus (created, or the one named), the schedule group and the scheduler's role, their alarms and
outputs; least privilege for both roles, checked against what the publisher really calls."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.events.models import EventPattern

from alipay_cancel.shared.ledger_item import event_id
from alipay_cancel_events import config as events_config
from alipay_cancel_events.handler import build_runtime
from alipay_cancel_events.outcome_event import outcome_event
from tests.fixtures.ledger_items import typed_image
from tests.template_support import (
    ACCOUNT,
    PARTITION,
    REGION,
    Resolver,
    allowed,
    as_list,
    resource_props,
    resources,
    role_statements,
    sam_template,
    transform,
)

PUBLISHER_ROLE = "OutcomeEventsFunctionRole"
SCHEDULER_ROLE = "CancelSchedulerRole"
STACK = "alipay-cancel"  # template_support's stack name


def getatt(logical: str, attribute: str = "Arn") -> str:
    return f"arn:{PARTITION}:getatt:::{logical}.{attribute}"


def bus_arn(name: str) -> str:
    return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transform(sam_template())


def _stream_mapping(cfn: dict[str, Any]) -> dict[str, Any]:
    (mapping,) = [
        m["Properties"]
        for m in resources(cfn, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": "OutcomeEventsFunction"}
    ]
    return mapping  # type: ignore[no-any-return]


def _publisher_env(cfn: dict[str, Any], params: dict[str, str] | None = None) -> dict[str, str]:
    env = resource_props(cfn, "OutcomeEventsFunction")["Environment"]["Variables"]
    return {k: str(v) for k, v in Resolver(cfn, params).resolve(env).items()}


# ---------------------------------------------------------------------------- stream and mapping


def test_the_results_table_streams_every_write_with_both_images(cfn: dict[str, Any]) -> None:
    assert resource_props(cfn, "CancelResultsTable")["StreamSpecification"] == {
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    }


def test_the_publisher_reads_the_stream_in_order_from_its_oldest_record_and_reports_partial_failures(
    cfn: dict[str, Any],
) -> None:
    mapping = _stream_mapping(cfn)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["CancelResultsTable", "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"  # nothing written before the mapping is skipped
    assert mapping["ParallelizationFactor"] == 1  # one batch per shard: one trade's events in order
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_a_record_is_retried_until_dead_lettered_and_never_dropped_by_the_stream_silently(
    cfn: dict[str, Any],
) -> None:
    mapping = _stream_mapping(cfn)
    retry = int(_publisher_env(cfn)["OUTCOME_EVENTS_RETRY_SECONDS"])
    assert retry == events_config.DEFAULT_RETRY_SECONDS == 3600
    assert mapping["MaximumRetryAttempts"] == -1  # the record's age decides, not a count
    # The function dead-letters the event first; the mapping reports what it gives up on to the same
    # queue before the stream's 24-hour retention would drop it.
    assert retry < mapping["MaximumRecordAgeInSeconds"] < 24 * 3600
    assert events_config.MAX_RETRY_SECONDS <= mapping["MaximumRecordAgeInSeconds"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["OutcomeEventsDeadLetterQueue", "Arn"]}}
    }


def _record(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"trade_key": {"S": "T1"}}, "SequenceNumber": "1"}
    if old is not None:
        change["OldImage"] = typed_image(old)
    if new is not None:
        change["NewImage"] = typed_image(new)
    return {"eventName": "MODIFY" if old else "INSERT", "eventSource": "aws:dynamodb", "dynamodb": change}


CLOSED = {"trade_key": "T1", "status": "CLOSED", "event_id": event_id("T1", "CLOSED")}
RETRYING = {"trade_key": "T1", "status": "RETRYING", "lease_holder": "r:m"}


@pytest.mark.parametrize(
    ("old", "new", "passes"),
    [
        (RETRYING, CLOSED, True),  # the final write
        (None, CLOSED, True),  # a final item inserted in one write
        (None, RETRYING, False),  # the claim creating the item
        ({"trade_key": "T1", "status": "RETRYING"}, RETRYING, False),  # a retry
        (CLOSED, {**CLOSED, "discarded": [{"by": "on-call"}]}, False),  # a note on a final item
        ({**CLOSED, "status": "FAILED"}, RETRYING, False),  # a redrive claims a failed trade
        (CLOSED, None, False),  # the item deleted
    ],
)
def test_the_stream_filter_passes_exactly_the_writes_of_a_final_state(
    cfn: dict[str, Any], old: dict[str, Any] | None, new: dict[str, Any] | None, passes: bool
) -> None:
    (only,) = _stream_mapping(cfn)["FilterCriteria"]["Filters"]
    pattern = EventPattern.load(only["Pattern"])  # an EventBridge pattern matcher (moto's)
    assert pattern.matches_event(_record(old, new)) is passes


# ---------------------------------------------------------------------------- function and bus


def test_the_publisher_is_told_exactly_what_its_configuration_reads_and_accepts_it(
    cfn: dict[str, Any],
) -> None:
    env = _publisher_env(cfn)
    props = resource_props(cfn, "OutcomeEventsFunction")
    assert props["Handler"] == "alipay_cancel_events.handler.lambda_handler"
    assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"])
    assert set(env) == {
        "OUTCOME_EVENT_BUS_NAME",
        "OUTCOME_EVENTS_DEAD_LETTER_QUEUE_URL",
        "OUTCOME_EVENTS_RETRY_SECONDS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
    config = events_config.load_config(env)
    assert config.bus_name == "stack-OutcomeEventBus"  # Ref of the bus the stack creates: its name
    assert config.dead_letter_queue_url.endswith("-OutcomeEventsDeadLetterQueue-XYZ")
    local = _publisher_env(cfn, {"LocalAwsEndpointUrl": "http://127.0.0.1:4566"})
    assert local["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"  # sam local only


def test_the_stack_creates_a_bus_unless_one_is_named(cfn: dict[str, Any]) -> None:
    bus = cfn["Resources"]["OutcomeEventBus"]
    assert bus["Condition"] == "CreateEventBus"
    assert Resolver(cfn).resolve(bus["Properties"]["Name"]) == f"{STACK}-outcomes"
    assert Resolver(cfn).condition("CreateEventBus")
    named = {"EventBusName": "orders"}
    assert not Resolver(cfn, named).condition("CreateEventBus")
    assert _publisher_env(cfn, named)["OUTCOME_EVENT_BUS_NAME"] == "orders"
    outputs = {k: cfn["Outputs"][k]["Value"] for k in ("OutcomeEventBusName", "OutcomeEventBusArn")}
    assert Resolver(cfn, named).resolve(outputs) == {
        "OutcomeEventBusName": "orders",
        "OutcomeEventBusArn": bus_arn("orders"),
    }
    assert Resolver(cfn).resolve(outputs)["OutcomeEventBusArn"] == getatt("OutcomeEventBus")
    assert allowed(cfn, "EventBusName", "") and allowed(cfn, "EventBusName", "orders.prod_v2-eu")
    for bad in ("*", "orders/*", bus_arn("orders"), "a b", "x" * 257):
        assert not allowed(cfn, "EventBusName", bad), bad


def test_events_that_cannot_be_published_wait_in_an_encrypted_tls_only_queue_with_an_alarm(
    cfn: dict[str, Any],
) -> None:
    queue = resource_props(cfn, "OutcomeEventsDeadLetterQueue")
    assert queue["SqsManagedSseEnabled"] is True
    assert Resolver(cfn).resolve(queue["MessageRetentionPeriod"]) == 14 * 86400
    assert cfn["Resources"]["OutcomeEventsDeadLetterQueue"]["DeletionPolicy"] == "Retain"
    # New letters and letters left waiting, as for the cancel dead letters
    # (tests/test_template_dead_letter_alarms.py plays both over days of queue life).
    for name, metric in (
        ("OutcomeEventsDeadLetterQueueNewLettersAlarm", "NumberOfMessagesSent"),
        ("OutcomeEventsDeadLetterQueueUnhandledAlarm", "ApproximateNumberOfMessagesVisible"),
    ):
        alarm = resource_props(cfn, name)
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", metric)
        assert alarm["Dimensions"] == [
            {"Name": "QueueName", "Value": {"Fn::GetAtt": ["OutcomeEventsDeadLetterQueue", "QueueName"]}}
        ]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    delayed = resource_props(cfn, "OutcomeEventsDelayedAlarm")
    assert (delayed["Namespace"], delayed["MetricName"]) == ("AWS/Lambda", "IteratorAge")
    assert delayed["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "OutcomeEventsFunction"}}]
    # It fires well before the publisher gives up on a record and dead-letters its event.
    assert delayed["Threshold"] / 1000 < int(_publisher_env(cfn)["OUTCOME_EVENTS_RETRY_SECONDS"])


# ---------------------------------------------------------------------------- least privilege


def _data_grants(
    cfn: dict[str, Any], role: str, params: dict[str, str] | None = None
) -> set[tuple[str, str]]:
    grants: set[tuple[str, str]] = set()
    for statement in role_statements(cfn, params or {}, role=role):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, action
            for resource in as_list(statement["Resource"]):
                if resource == "*":
                    assert action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"), action
                    continue
                grants.add((action, resource))
    return grants


STREAM_READ = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}


@pytest.mark.parametrize(
    ("params", "bus"), [({}, getatt("OutcomeEventBus")), ({"EventBusName": "orders"}, bus_arn("orders"))]
)
def test_the_publisher_may_read_the_stream_put_on_its_bus_and_dead_letter_nothing_else(
    cfn: dict[str, Any], params: dict[str, str], bus: str
) -> None:
    assert _data_grants(cfn, PUBLISHER_ROLE, params) == {
        ("logs:CreateLogStream", getatt("OutcomeEventsFunctionLogGroup")),
        ("logs:PutLogEvents", getatt("OutcomeEventsFunctionLogGroup")),
        *((action, getatt("CancelResultsTable", "StreamArn")) for action in STREAM_READ),
        ("events:PutEvents", bus),
        ("sqs:SendMessage", getatt("OutcomeEventsDeadLetterQueue")),
    }
    role = resource_props(cfn, PUBLISHER_ROLE)
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert resource_props(cfn, "OutcomeEventsFunction")["Role"] == {"Fn::GetAtt": [PUBLISHER_ROLE, "Arn"]}


def test_every_call_the_publisher_makes_is_granted_and_every_grant_is_used() -> None:
    """The publisher's own calls, made against the AWS stand-in (a published event, a dead-lettered
    one, a defect), mapped to (IAM action, resource), are the grants the stream mapping does not use."""
    cfn = transform(sam_template())
    performed: set[tuple[str, str]] = set()
    with mock_aws():
        events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
        events.create_event_bus(Name="bus")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        session = boto3.session.Session(region_name=REGION)
        runtime = build_runtime(
            events_config.EventsConfig(bus_name="bus", dead_letter_queue_url=dlq), session=session
        )
        resource_of = {"bus": getatt("OutcomeEventBus"), dlq: getatt("OutcomeEventsDeadLetterQueue")}

        def record(model: Any, params: dict[str, Any], **_: Any) -> None:
            named = params.get("QueueUrl") or next(e["EventBusName"] for e in params["Entries"])
            performed.add((f"{model.service_model.service_name}:{model.name}", resource_of[named]))

        for client in (runtime.publisher.events_client, runtime.publisher.sqs_client):
            client.meta.events.register(
                "provide-client-params", lambda params, model, **kw: record(model, params)
            )
        event = outcome_event(typed_image(CLOSED))
        runtime.publisher.publish(event)
        runtime.publisher.dead_letter_event(event, reason="test", error_code="X")
        runtime.publisher.dead_letter_record(trade_key="T1", event_id="e", sequence_number="1", reason="test")
    grants = {g for g in _data_grants(cfn, PUBLISHER_ROLE) if not g[0].startswith("logs:")}
    stream_mapping_only = {(a, getatt("CancelResultsTable", "StreamArn")) for a in STREAM_READ}
    assert performed == grants - stream_mapping_only


def test_scheduled_cancels_are_sent_by_a_role_that_may_only_send_to_the_cancel_queue(
    cfn: dict[str, Any],
) -> None:
    assert _data_grants(cfn, SCHEDULER_ROLE) == {("sqs:SendMessage", getatt("CancelQueue"))}
    # SSE-SQS: senders need no KMS permission. A customer-managed key on the queue would change that.
    queue = resource_props(cfn, "CancelQueue")
    assert queue["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in queue
    trust = Resolver(cfn).resolve(resource_props(cfn, SCHEDULER_ROLE)["AssumeRolePolicyDocument"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {
            "aws:SourceArn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/stack-CancelScheduleGroup/*"
        },
    }


def test_a_scheduled_cancel_scheduler_gives_up_on_raises_an_alarm(cfn: dict[str, Any]) -> None:
    alarm = resource_props(cfn, "ScheduledCancelsDroppedAlarm")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/Scheduler",
        "InvocationDroppedCount",
        "Sum",
    )
    assert alarm["Dimensions"] == [{"Name": "ScheduleGroup", "Value": {"Ref": "CancelScheduleGroup"}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_schedule_group_and_the_role_are_outputs(cfn: dict[str, Any]) -> None:
    group = resource_props(cfn, "CancelScheduleGroup")
    assert Resolver(cfn).resolve(group["Name"]) == f"{STACK}-cancels"
    outputs = {k: v["Value"] for k, v in cfn["Outputs"].items()}
    assert outputs["CancelScheduleGroupName"] == {"Ref": "CancelScheduleGroup"}
    assert outputs["CancelSchedulerRoleArn"] == {"Fn::GetAtt": [SCHEDULER_ROLE, "Arn"]}
    assert outputs["OutcomeEventsDeadLetterQueueUrl"] == {"Ref": "OutcomeEventsDeadLetterQueue"}
    assert json.dumps(outputs["OutcomeEventBusName"]) == json.dumps(
        {"Fn::If": ["CreateEventBus", {"Ref": "OutcomeEventBus"}, {"Ref": "EventBusName"}]}
    )
