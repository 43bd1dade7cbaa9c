"""The AWS side of outcome events and scheduled cancels, created on the AWS stand-in as template.yaml
declares it: the results table's stream (its view type), the bus the stack creates (its name), the
events' dead-letter queue (its retention, SSE), the schedule group (its name), and the publisher's
environment resolved against those resources. Plus what a consumer would add (docs/events.md): a
queue and the example rule routing every outcome event to it.

``client(service)`` makes the AWS clients: in-process moto (``boto3.client``) or the local stack's
moto server (``local.aws.provision.aws_client(service, endpoint_url)``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.aws.provision import ACCOUNT_ID, REGION
from local.aws.template_intrinsics import PhysicalResource
from local.aws.template_settings import DEFAULT_TEMPLATE, TemplateSettings, read_template_settings

STACK_NAME = "alipay-cancel"
PUBLISHER_ID = "OutcomeEventsFunction"
STREAM_EVENT = "ResultsStream"
# What an order system adds to receive the events (docs/events.md shows the same rule).
EXAMPLE_RULE_NAME = "alipay-cancel-outcomes-to-orders"
EXAMPLE_RULE_PATTERN = {"source": ["alipay-cancel"], "detail-type": [{"prefix": "Trade "}]}
CONSUMER_QUEUE_NAME = "alipay-cancel-order-events"
EVENTS_DLQ_NAME = "alipay-cancel-outcome-events-dlq"

Client = Callable[[str], Any]


@dataclass(frozen=True)
class EventRoutes:
    bus_name: str
    bus_arn: str
    dead_letter_queue_url: str
    consumer_queue_url: str
    results_table: str
    stream_arn: str
    schedule_group: str
    scheduler_role_arn: str
    cancel_queue_arn: str
    publisher_environment: Mapping[str, str]  # OutcomeEventsFunction's variables, resolved
    stream_mapping: Mapping[str, Any]  # the publisher's stream event properties (filters, batch size)

    def cli_environment(self) -> dict[str, str]:
        """What `schedule` / `unschedule` read (the stack outputs' values)."""
        return {
            "CANCEL_SCHEDULE_GROUP": self.schedule_group,
            "CANCEL_QUEUE_ARN": self.cancel_queue_arn,
            "CANCEL_SCHEDULER_ROLE_ARN": self.scheduler_role_arn,
        }


def _properties(settings: TemplateSettings, logical_id: str) -> Mapping[str, Any]:
    return settings.template["Resources"][logical_id].get("Properties") or {}  # type: ignore[no-any-return]


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _enable_stream(ddb: Any, table: str, view_type: str) -> str:
    described = ddb.describe_table(TableName=table)["Table"]
    spec = described.get("StreamSpecification") or {}
    if not (spec.get("StreamEnabled") and spec.get("StreamViewType") == view_type):
        described = ddb.update_table(
            TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type}
        )["TableDescription"]
    return str(described["LatestStreamArn"])


def provision_event_routes(
    client: Client,
    *,
    results_table: str,
    cancel_queue_url: str,
    template: Path | str = DEFAULT_TEMPLATE,
    parameters: Mapping[str, Any] | None = None,
) -> EventRoutes:
    """Create everything on the stand-in; ``parameters`` override template defaults (EventBusName)."""
    settings = read_template_settings(template, parameters)
    structural = settings.resolver()
    ddb, sqs, events, scheduler = (client(s) for s in ("dynamodb", "sqs", "events", "scheduler"))

    table_props = _properties(settings, "CancelResultsTable")
    view_type = structural.resolve(table_props["StreamSpecification"]["StreamViewType"], "StreamViewType")
    stream_arn = _enable_stream(ddb, results_table, str(view_type))

    if structural.condition("CreateEventBus", "OutcomeEventBus"):
        bus_name = str(
            structural.resolve(_properties(settings, "OutcomeEventBus")["Name"], "OutcomeEventBus")
        )
        bus_arn = str(events.create_event_bus(Name=bus_name)["EventBusArn"])
    else:  # a bus the deployment names: it exists already in AWS, so here too
        bus_name = str(settings.parameter_defaults["EventBusName"])
        bus_arn = str(events.describe_event_bus(Name=bus_name)["Arn"])

    dlq_props = _properties(settings, "OutcomeEventsDeadLetterQueue")
    dlq_url = sqs.create_queue(
        QueueName=EVENTS_DLQ_NAME,
        Attributes={
            "MessageRetentionPeriod": str(
                structural.resolve(dlq_props["MessageRetentionPeriod"], EVENTS_DLQ_NAME)
            ),
            "SqsManagedSseEnabled": "true" if dlq_props.get("SqsManagedSseEnabled") else "false",
        },
    )["QueueUrl"]

    consumer_url = sqs.create_queue(QueueName=CONSUMER_QUEUE_NAME)["QueueUrl"]
    events.put_rule(
        Name=EXAMPLE_RULE_NAME, EventBusName=bus_name, EventPattern=json.dumps(EXAMPLE_RULE_PATTERN)
    )
    events.put_targets(
        Rule=EXAMPLE_RULE_NAME,
        EventBusName=bus_name,
        Targets=[{"Id": "order-events", "Arn": _queue_arn(sqs, consumer_url)}],
    )

    group = str(
        structural.resolve(_properties(settings, "CancelScheduleGroup")["Name"], "CancelScheduleGroup")
    )
    scheduler.create_schedule_group(Name=group)

    physical = {
        "CancelResultsTable": PhysicalResource(
            results_table,
            {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{results_table}", "StreamArn": stream_arn},
        ),
        "OutcomeEventBus": PhysicalResource(bus_name, {"Arn": bus_arn, "Name": bus_name}),
        "OutcomeEventsDeadLetterQueue": PhysicalResource(
            dlq_url, {"Arn": _queue_arn(sqs, dlq_url), "QueueUrl": dlq_url, "QueueName": EVENTS_DLQ_NAME}
        ),
    }
    resolver = settings.resolver(resources=physical)
    raw_env = _properties(settings, PUBLISHER_ID)["Environment"]["Variables"]
    environment = {}
    for name, raw in raw_env.items():
        value = resolver.resolve(raw, f"{PUBLISHER_ID}.Environment.{name}")
        if isinstance(value, str | int | float):  # AWS::NoValue drops the variable
            environment[name] = str(value)
    mapping = _properties(settings, PUBLISHER_ID)["Events"][STREAM_EVENT]["Properties"]
    return EventRoutes(
        bus_name=bus_name,
        bus_arn=bus_arn,
        dead_letter_queue_url=dlq_url,
        consumer_queue_url=consumer_url,
        results_table=results_table,
        stream_arn=stream_arn,
        schedule_group=group,
        scheduler_role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{STACK_NAME}-CancelSchedulerRole",
        cancel_queue_arn=_queue_arn(sqs, cancel_queue_url),
        publisher_environment=environment,
        stream_mapping=resolver.resolve(dict(mapping), f"{PUBLISHER_ID}.Events.{STREAM_EVENT}"),
    )
