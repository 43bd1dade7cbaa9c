"""Outcome events and scheduled cancels on the local stand-in, through a real moto server process:
ledger writes shaped as the ledger makes them go through the template's stream filter and the real
publisher to the bus, where the example rule delivers them to the order system's queue; one event per
final state, none for other writes, retries without loss or reordering, dead letters that replay,
duplicates identifiable by event_id; due schedules fire into the cancel queue."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from local.aws.provision import aws_client
from local.stack.events_and_schedules import EventsAndSchedules
from local.stack.local_stack import MotoServer

from alipay_cancel.shared.ledger_item import event_id
from alipay_cancel_events.contract import DETAIL_FIELDS
from alipay_cancel_ops.scheduling import schedule_cancel, schedule_name
from tests.fixtures.ledger_items import FINAL_STATES, Ledger

RESULTS, CANCEL_QUEUE = "alipay-cancel-results", "alipay-cancel-queue"
DETAIL_TYPES = dict(
    zip(
        FINAL_STATES,
        ("Trade Closed", "Trade Refunded", "Trade Kept", "Trade Not Found", "Trade Failed"),
        strict=True,
    )
)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def _fresh(moto: MotoServer) -> tuple[Callable[[str], Any], str]:
    """An empty stand-in with the results table (as local.aws.provision creates it: no stream, which the
    routes turn on) and the cancel queue; returns the client factory and the queue's URL."""
    requests.post(f"{moto.url}/moto-api/reset", timeout=30).raise_for_status()

    def client(service: str) -> Any:
        return aws_client(service, moto.url)

    client("dynamodb").create_table(
        TableName=RESULTS,
        KeySchema=[{"AttributeName": "trade_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "trade_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client, client("sqs").create_queue(QueueName=CANCEL_QUEUE)["QueueUrl"]


@pytest.fixture
def local(moto: MotoServer) -> Iterator[tuple[EventsAndSchedules, Ledger]]:
    client, queue_url = _fresh(moto)
    routes = EventsAndSchedules(
        client, results_table=RESULTS, cancel_queue_url=queue_url, endpoint_url=moto.url
    )
    yield routes, Ledger(client("dynamodb"), RESULTS)
    routes.stop()


def _fail_put_events(routes: EventsAndSchedules, code: str, times: int) -> list[int]:
    """The bus refuses the next ``times`` PutEvents of the publisher with ``code`` (SDK retries spent)."""
    left = [times]

    def refuse(**_: Any) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "PutEvents")

    routes.stream.runtime.publisher.events_client.meta.events.register("before-call.events.PutEvents", refuse)
    return left


def test_each_final_state_reaches_the_order_systems_queue_once_and_nothing_else_does(
    local: tuple[EventsAndSchedules, Ledger],
) -> None:
    routes, ledger = local
    ids = {state: ledger.settle(f"T-{state}", state) for state in FINAL_STATES}
    ledger.claim("T-INFLIGHT")  # in flight: no event
    ledger.claim("T-RETRY")
    ledger.release("T-RETRY")  # a retryable ending: no event
    ledger.discard_note("T-FAILED")  # a note on a final item: no second event
    ledger.discard_note("T-CLOSED")

    routes.settle()
    events = routes.received_events()

    assert sorted(e["detail"]["event_id"] for e in events) == sorted(ids.values())
    for event in events:
        detail = event["detail"]
        state = detail["state"]
        assert (event["source"], event["detail-type"]) == ("alipay-cancel", DETAIL_TYPES[state])
        assert list(detail) == list(DETAIL_FIELDS) and detail["version"] == "1"
        assert detail["trade_key"] == f"T-{state}" and detail["event_id"] == event_id(f"T-{state}", state)
        assert event["time"].startswith("2024-05-01T12:00:02")  # when the trade ended
    account = routes.account()
    assert account.ok and account.final_items == 5 and account.duplicates == {}, account.summary()


def test_a_failed_trade_redriven_and_closed_announces_both_endings(
    local: tuple[EventsAndSchedules, Ledger],
) -> None:
    routes, ledger = local
    ledger.settle("T-REDRIVE", "FAILED")
    ledger.settle("T-REDRIVE", "CLOSED")  # a redrive claims it again (event_id removed), then closes it
    routes.settle()
    received = [(e["detail-type"], e["detail"]["event_id"]) for e in routes.received_events()]
    assert sorted(received) == sorted(
        [("Trade Failed", event_id("T-REDRIVE", "FAILED")), ("Trade Closed", event_id("T-REDRIVE", "CLOSED"))]
    )
    account = routes.account()
    assert account.ok and account.superseded == [event_id("T-REDRIVE", "FAILED")], account.summary()


def test_a_bus_that_refuses_holds_the_stream_back_and_loses_and_reorders_nothing(
    local: tuple[EventsAndSchedules, Ledger],
) -> None:
    routes, ledger = local
    for n in range(1, 5):
        ledger.settle(f"T-HOLD-{n}", "CLOSED")
    left = _fail_put_events(routes, "ThrottlingException", times=3)
    for _ in range(3):
        stuck = routes.stream.poll_once()
        assert stuck.failed_shards == 1 and stuck.published == 0
    assert left == [0] and routes.received_events() == []
    routes.settle()
    assert [e.trade_key for e in routes.stream.published] == [f"T-HOLD-{n}" for n in range(1, 5)]
    assert routes.account().ok
    assert (
        routes.client("sqs").receive_message(QueueUrl=routes.routes.dead_letter_queue_url).get("Messages")
        is None
    )


def test_an_event_refused_past_the_retry_window_is_dead_lettered_whole_and_replays(
    local: tuple[EventsAndSchedules, Ledger],
) -> None:
    routes, ledger = local
    ledger.settle("T-LATE", "REFUNDED")
    ledger.settle("T-AFTER", "KEPT")
    _fail_put_events(routes, "AccessDeniedException", times=1)
    retry = int(routes.routes.publisher_environment["OUTCOME_EVENTS_RETRY_SECONDS"])
    routes.stream.clock = lambda: time.time() + retry + 60  # the record is older than the window
    routes.settle()
    assert [e["detail"]["trade_key"] for e in routes.received_events()] == ["T-AFTER"]  # the stream moved on
    sqs = routes.client("sqs")
    (letter,) = sqs.receive_message(
        QueueUrl=routes.routes.dead_letter_queue_url, MessageAttributeNames=["All"]
    )["Messages"]
    attributes = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert attributes["kind"] == "unpublished_event" and attributes["error_code"] == "AccessDeniedException"
    assert attributes["trade_key"] == "T-LATE" and attributes["event_id"] == event_id("T-LATE", "REFUNDED")
    entry = json.loads(letter["Body"])  # the PutEvents entry: replay it as it is
    assert routes.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0
    account = routes.account()
    assert account.ok and account.final_items == 2, account.summary()


def test_a_publisher_that_dies_after_publishing_repeats_events_consumers_can_drop_by_event_id(
    local: tuple[EventsAndSchedules, Ledger],
) -> None:
    routes, ledger = local
    ledger.settle("T-DUP-1", "CLOSED")
    ledger.settle("T-DUP-2", "NOT_FOUND")
    calls = [0]

    def die_after_second(**_: Any) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("the function's container died after PutEvents was answered")

    routes.stream.runtime.publisher.events_client.meta.events.register(
        "after-call.events.PutEvents", die_after_second
    )
    routes.settle()
    events = routes.received_events()
    assert len(events) == 4  # both published, the batch retried whole, both published again
    account = routes.account()
    assert account.ok and account.duplicates == {
        event_id("T-DUP-1", "CLOSED"): 2,
        event_id("T-DUP-2", "NOT_FOUND"): 2,
    }
    assert len({e["detail"]["event_id"] for e in events}) == 2  # what a consumer keeps after dropping repeats


def test_the_routes_follow_the_template_and_a_named_bus_replaces_the_created_one(moto: MotoServer) -> None:
    client, queue_url = _fresh(moto)
    created = EventsAndSchedules(
        client, results_table=RESULTS, cancel_queue_url=queue_url, endpoint_url=moto.url
    )
    assert created.routes.bus_name == "alipay-cancel-outcomes"
    assert created.routes.schedule_group == "alipay-cancel-cancels"
    assert created.routes.publisher_environment["OUTCOME_EVENT_BUS_NAME"] == "alipay-cancel-outcomes"
    assert (
        created.stream.filters
        and created.stream.batch_size == 25
        and created.stream.starting_position == "TRIM_HORIZON"
    )
    table = client("dynamodb").describe_table(TableName=RESULTS)["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    client("events").create_event_bus(Name="orders")
    client("scheduler").delete_schedule_group(Name="alipay-cancel-cancels")
    named = EventsAndSchedules(
        client,
        results_table=RESULTS,
        cancel_queue_url=queue_url,
        endpoint_url=moto.url,
        parameters={"EventBusName": "orders"},
    )
    assert (
        named.routes.bus_name == "orders"
        and named.routes.publisher_environment["OUTCOME_EVENT_BUS_NAME"] == "orders"
    )


def test_running_in_the_background_events_arrive_and_due_schedules_fire(
    local: tuple[EventsAndSchedules, Ledger],
) -> None:
    routes, ledger = local
    sqs = routes.client("sqs")
    cancel_queue = sqs.get_queue_url(QueueName=CANCEL_QUEUE)["QueueUrl"]
    now = dt.datetime.now(dt.UTC)
    body = json.dumps({"out_trade_no": "T-SCHEDULED"})
    scheduled = schedule_cancel(
        routes.client("scheduler"),
        body=body,
        deadline=now + dt.timedelta(minutes=20),
        group=routes.routes.schedule_group,
        queue_arn=routes.routes.cancel_queue_arn,
        role_arn=routes.routes.scheduler_role_arn,
        now=now,
    )
    routes.schedules.clock = lambda: (
        dt.datetime.now(dt.UTC) + dt.timedelta(minutes=21)
    )  # the deadline has come
    with routes:
        ledger.settle("T-LIVE", "CLOSED")
        deadline = time.monotonic() + 60  # generous: the threads poll every 0.2 s
        received: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not (received and messages):
            received = received or routes.received_events()
            messages = messages or sqs.receive_message(QueueUrl=cancel_queue, WaitTimeSeconds=1).get(
                "Messages", []
            )
    assert [e["detail"]["trade_key"] for e in received] == ["T-LIVE"]
    assert [m["Body"] for m in messages] == [body]
    assert routes.schedules.fired[0].name == scheduled.name == schedule_name("T-SCHEDULED")
    assert (
        routes.client("scheduler").list_schedules(GroupName=routes.routes.schedule_group)["Schedules"] == []
    )


def test_an_event_id_on_an_item_in_no_final_state_is_dead_lettered_as_a_defect_and_the_stream_moves_on(
    local: tuple[EventsAndSchedules, Ledger],
) -> None:
    routes, ledger = local
    ledger.claim("T-DEFECT")
    ledger.dynamodb.update_item(  # a ledger defect: an event id without a final state
        TableName=RESULTS,
        Key={"trade_key": {"S": "T-DEFECT"}},
        UpdateExpression="SET event_id = :e",
        ExpressionAttributeValues={":e": {"S": "0123456789abcdef0123456789abcdef"}},
    )
    ledger.settle("T-NEXT", "KEPT")
    routes.settle()
    assert [e["detail"]["trade_key"] for e in routes.received_events()] == ["T-NEXT"]
    sqs = routes.client("sqs")
    (letter,) = sqs.receive_message(
        QueueUrl=routes.routes.dead_letter_queue_url, MessageAttributeNames=["All"]
    )["Messages"]
    assert letter["MessageAttributes"]["kind"]["StringValue"] == "not_an_outcome"
    assert json.loads(letter["Body"])["trade_key"] == "T-DEFECT"


def test_a_reader_restarted_mid_run_resumes_after_its_checkpoint_and_loses_or_repeats_nothing(
    local: tuple[EventsAndSchedules, Ledger],
) -> None:
    routes, ledger = local
    for n in range(1, 4):
        ledger.settle(f"T-BEFORE-{n}", "CLOSED")
    routes.stream.poll_once()
    first_runtime = routes.stream.runtime
    ledger.settle("T-HELD", "REFUNDED")
    ledger.settle("T-AFTER", "NOT_FOUND")
    _fail_put_events(routes, "ThrottlingException", times=1)
    held = routes.stream.poll_once()  # T-HELD refused: fetched, not done; the checkpoint stays before it
    assert held.failed_shards == 1 and held.published == 0
    checkpoint = dict(routes.stream.checkpoints)
    cold: list[object] = []
    routes.restart_reader(on_restart=lambda reader: cold.append(reader.runtime))
    assert routes.stream.checkpoints == checkpoint and cold == [routes.stream.runtime]
    assert routes.stream.runtime is not first_runtime  # a cold start: new clients, new publisher
    routes.settle()
    events = routes.received_events()
    assert sorted(e["detail"]["trade_key"] for e in events) == sorted(
        ["T-BEFORE-1", "T-BEFORE-2", "T-BEFORE-3", "T-HELD", "T-AFTER"]
    )
    account = routes.account()
    assert account.ok and account.duplicates == {} and account.final_writes == 5, account.summary()


def test_the_stream_witness_finds_a_replaced_failure_whose_event_never_came(
    local: tuple[EventsAndSchedules, Ledger],
) -> None:
    routes, ledger = local
    ledger.settle("T-GONE", "FAILED")
    routes.settle()
    routes.received_events()
    routes.received.clear()  # the consumer lost it, as a lost event would look
    ledger.settle("T-GONE", "CLOSED")  # a redrive: the ledger now shows CLOSED only
    routes.settle()
    account = routes.account()
    assert not account.ok and account.lost == ["T-GONE FAILED"] and account.missing == [], account.summary()
