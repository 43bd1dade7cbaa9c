"""The routing table, row by row: (delivery, what happened) → plan. No moto, no HTTP: it is pure."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.last_receive import unrecorded
from alipay_cancel.decisions.plans import (
    Attempt,
    Called,
    Delivery,
    Happened,
    InProgress,
    Plan,
    Replayed,
    SetupBroken,
    StoreFailed,
    TooLittleTime,
    Unreadable,
    Wait,
)
from alipay_cancel.decisions.routing import route
from alipay_cancel.shared.endings import (
    DUPLICATE_IN_FLIGHT_METRIC,
    ENDINGS,
    INFRASTRUCTURE_ERROR_METRIC,
    RECORDED_ENDINGS,
    REQUEUED_METRIC,
    Ending,
)
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel.stores.results import Status

REQUEST = CancelRequest(out_trade_no="T-1", trade_no=None, app_auth_token=None)
BODY = '{"out_trade_no": "T-1"}'
DAY = 86_400


def delivery(*, last: bool = False, age_days: float = 0, sent_hours: float = 0) -> Delivery:
    return Delivery(
        message_id="m-1",
        body=BODY,
        receive_count=8 if last else 2,
        max_receive_count=8,
        age_seconds=int(age_days * DAY),
        max_age_seconds=14 * DAY,
        sent_age_seconds=int(sent_hours * 3600),
        horizon_seconds=DAY,
    )


def success(action: str | None = "close", retry_flag: str | None = "N") -> CancelSuccess:
    return CancelSuccess(
        action=action,
        gmt_refund_pay=None,
        out_trade_no="T-1",
        refund_settlement_id=None,
        retry_flag=retry_flag,
        trade_no="2088",
        trace_id="trace-9",
    )


def called(outcome: CancelSuccess | AlipayFailure, calls: int = 1) -> Called:
    return Called(Attempt(outcome, classify(outcome), calls))


def attempt(outcome: CancelSuccess | AlipayFailure) -> Attempt:
    return Attempt(outcome, classify(outcome))


TIMEOUT = AlipayFailure(FailureKind.TIMEOUT, "read timed out")
BALANCE = AlipayFailure(
    FailureKind.V3_ERROR, "x", http_status=400, code="ACQ.SELLER_BALANCE_NOT_ENOUGH", verified=True
)
FROZEN = AlipayFailure(
    FailureKind.V3_ERROR, "x", http_status=400, code="ACQ.REASON_TRADE_BEEN_FREEZEN", verified=True
)
OUR_SIGNATURE = AlipayFailure(
    FailureKind.V3_ERROR, "x", http_status=401, code="invalid-signature", verified=True
)


@dataclass(frozen=True)
class Row:
    name: str
    happened: Happened
    last: bool
    ending: Ending
    acknowledge: bool
    status: Status | None  # the results item written, if any
    calls: int | None  # added to attempts
    letter: str | None  # the dead letter's outcome_class, if one is sent
    wait: Wait | None = None
    requeue: bool = False
    age_days: float = 0
    sent_hours: float = 0  # since this copy was sent: past 24 the retry horizon is reached
    reason_has: str = ""  # in the dead letter's reason, else in the record's error message


ROWS = [
    Row("bad message with an id", Unreadable("out_trade_no: too long", "T-1"), False,
        Ending.BAD_MESSAGE, True, Status.FAILED, 0, "bad_message", reason_has="too long"),
    Row("bad message, no id", Unreadable("not JSON", None), False,
        Ending.BAD_MESSAGE, True, None, None, "bad_message", reason_has="not JSON"),
    Row("signing setup broken", SetupBroken("secret not found"), False,
        Ending.CONFIG_ERROR, False, Status.RETRYING, 0, None, Wait.SLOW_BACKOFF, reason_has="secret"),
    Row("signing setup broken, last receive: kept", SetupBroken("secret not found"), True,
        Ending.CONFIG_ERROR, True, Status.RETRYING, 0, None, requeue=True, reason_has="secret"),
    Row("signing setup broken past the retention", SetupBroken("secret not found"), True,
        Ending.EXHAUSTED, True, Status.FAILED, 0, "exhausted", age_days=13.99,
        reason_has="longer than the queue keeps messages"),
    Row("too little time", TooLittleTime(900, 15000), False,
        Ending.LOW_TIME, False, None, None, None, Wait.SOON),
    Row("too little time, last receive: kept, untried", TooLittleTime(900, 15000), True,
        Ending.LOW_TIME, True, None, None, None, requeue=True),
    Row("too little time past the retention", TooLittleTime(900, 15000), True,
        Ending.EXHAUSTED, True, Status.FAILED, 0, "exhausted", age_days=13.99,
        reason_has="never tried: its deliveries found too little invocation time left"),
    Row("success", called(success()), False,
        Ending.SUCCEEDED, True, Status.SUCCEEDED, 1, None),
    Row("success after a secret refresh", called(success("refund"), calls=2), True,
        Ending.SUCCEEDED, True, Status.SUCCEEDED, 2, None),
    Row("replayed success", Replayed(success()), False,
        Ending.SUCCEEDED, True, Status.SUCCEEDED, 0, None),
    Row("success asking for a retry", called(success(retry_flag="Y")), False,
        Ending.RETRY, False, Status.RETRYING, 1, None, Wait.BACKOFF, reason_has="retry_flag"),
    Row("timeout", called(TIMEOUT), False,
        Ending.RETRY, False, Status.RETRYING, 1, None, Wait.BACKOFF, reason_has="timed out"),
    Row("timeout, last receive", called(TIMEOUT), True,
        Ending.EXHAUSTED, True, Status.FAILED, 1, "exhausted", reason_has="Gave up after 8 deliveries"),
    Row("timeout past the retry horizon", called(TIMEOUT), False,
        Ending.EXHAUSTED, True, Status.FAILED, 1, "exhausted", sent_hours=24,
        reason_has="the retry horizon is 24 h"),
    Row("merchant balance past the retry horizon", called(BALANCE), False,
        Ending.EXHAUSTED, True, Status.FAILED, 1, "exhausted", sent_hours=30, reason_has="balance"),
    Row("Alipay rejects our signature past the horizon: still kept", called(OUR_SIGNATURE), False,
        Ending.CONFIG_ERROR, False, Status.RETRYING, 1, None, Wait.SLOW_BACKOFF, sent_hours=30),
    Row("too little time past the horizon: nothing failed, back soon", TooLittleTime(900, 15000), False,
        Ending.LOW_TIME, False, None, None, None, Wait.SOON, sent_hours=30),
    Row("merchant balance", called(BALANCE), False,
        Ending.SLOW_RETRY, False, Status.RETRYING, 1, None, Wait.SLOW_BACKOFF, reason_has="balance"),
    Row("terminal", called(FROZEN), False,
        Ending.TERMINAL, True, Status.FAILED, 1, "terminal", reason_has="frozen"),
    Row("terminal, last receive", called(FROZEN), True,
        Ending.TERMINAL, True, Status.FAILED, 1, "terminal", reason_has="frozen"),
    Row("Alipay rejects our signature", called(OUR_SIGNATURE), False,
        Ending.CONFIG_ERROR, False, Status.RETRYING, 1, None, Wait.SLOW_BACKOFF, reason_has="signature"),
    Row("Alipay rejects our signature, last receive: kept", called(OUR_SIGNATURE), True,
        Ending.CONFIG_ERROR, True, Status.RETRYING, 1, None, requeue=True, reason_has="signature"),
    Row("duplicate in flight", InProgress(), False,
        Ending.DUPLICATE_IN_FLIGHT, False, None, None, None, Wait.FIRST_BACKOFF),
    Row("duplicate in flight, last receive", InProgress(), True,
        Ending.EXHAUSTED, True, None, None, "exhausted", reason_has="already in progress"),
    Row("idempotency store failed", StoreFailed("ThrottlingException"), False,
        Ending.AWS_FAILURE, False, None, None, None, Wait.QUEUE_DEFAULT),
    Row("idempotency store failed, last receive", StoreFailed("ThrottlingException"), True,
        Ending.EXHAUSTED, True, Status.FAILED, 0, "exhausted", reason_has="before Alipay was called"),
    Row("success the store could not remember, last receive",
        StoreFailed("ThrottlingException", attempt(success())), True,
        Ending.EXHAUSTED, True, Status.FAILED, 1, "exhausted", reason_has="not recorded as SUCCEEDED"),
    Row("terminal answer, store failed, last receive", StoreFailed("Throttling", attempt(FROZEN)), True,
        Ending.TERMINAL, True, Status.FAILED, 1, "terminal", reason_has="frozen"),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_routing_table(row: Row) -> None:
    plan = route(
        delivery(last=row.last, age_days=row.age_days, sent_hours=row.sent_hours), REQUEST, row.happened
    )

    assert (plan.ending, plan.acknowledge) == (row.ending, row.acknowledge)
    assert (plan.record.status if plan.record else None) == row.status
    assert (plan.record.alipay_calls if plan.record else None) == row.calls
    assert (plan.dead_letter.outcome_class if plan.dead_letter else None) == row.letter
    assert plan.wait == row.wait
    assert plan.requeue == row.requeue
    assert set(ENDINGS[plan.ending].metrics) <= set(plan.metrics)
    if plan.record is not None:
        assert plan.record.outcome_class == ENDINGS[plan.ending].outcome_class
        assert plan.ending in RECORDED_ENDINGS
    if plan.dead_letter is not None:
        assert plan.dead_letter.body == BODY  # byte for byte: a redrive replays it
        assert plan.dead_letter.source_message_id == "m-1"
        assert plan.dead_letter.reason.rstrip().endswith((".", "!", "?"))
    said = (
        plan.dead_letter.reason
        if plan.dead_letter
        else (plan.record.error_message or "" if plan.record else "")
    )
    assert row.reason_has in said


def test_every_ending_is_a_row_and_has_a_table_entry() -> None:
    assert set(ENDINGS) == set(Ending)
    assert {r.ending for r in ROWS} == set(Ending)


HAPPENINGS: list[Happened] = [r.happened for r in ROWS]


@pytest.mark.parametrize(("happened", "age_days"), list(itertools.product(HAPPENINGS, [0, 13.99])))
def test_the_last_receive_never_leaves_a_message_to_the_silent_redrive(
    happened: Happened, age_days: float
) -> None:
    plan = route(delivery(last=True, age_days=age_days), REQUEST, happened)
    assert plan.acknowledge
    assert plan.dead_letter is not None or plan.requeue or plan.ending is Ending.SUCCEEDED


@pytest.mark.parametrize("happened", HAPPENINGS)
def test_only_a_verified_success_is_recorded_succeeded(happened: Happened) -> None:
    for last in (False, True):
        plan = route(delivery(last=last), REQUEST, happened)
        succeeded = plan.record is not None and plan.record.status is Status.SUCCEEDED
        assert succeeded == (plan.ending is Ending.SUCCEEDED)
        if succeeded:
            assert isinstance(happened, Called | Replayed)


def test_a_success_carries_alipays_fields_and_none_when_no_trade_was_found() -> None:
    plan = route(delivery(), REQUEST, called(success(action=None)))
    assert plan.record is not None
    assert (plan.record.action, plan.record.trade_no, plan.record.alipay_trace_id) == (
        "none",
        "2088",
        "trace-9",
    )
    assert plan.fallback_letter is not None and "action none" in plan.fallback_letter.reason


@pytest.mark.parametrize(
    ("happened", "ending"),
    [(called(success()), Ending.EXHAUSTED), (called(FROZEN), Ending.TERMINAL)],
)
def test_a_result_not_recorded_on_the_last_receive_is_dead_lettered_saying_so(
    happened: Happened, ending: Ending
) -> None:
    plan = unrecorded(route(delivery(last=True), REQUEST, happened), "ThrottlingException")
    assert plan.ending is ending and plan.acknowledge
    assert plan.dead_letter is not None and plan.dead_letter.outcome_class == ENDINGS[ending].outcome_class
    assert plan.dead_letter.reason.startswith("The ") and "could not be recorded" in plan.dead_letter.reason
    assert "ThrottlingException" in plan.dead_letter.reason
    assert INFRASTRUCTURE_ERROR_METRIC in plan.metrics


def test_extra_metrics_say_why_a_message_was_kept_or_given_up() -> None:
    kept = route(delivery(last=True), REQUEST, SetupBroken("x"))
    assert REQUEUED_METRIC in kept.metrics and "ConfigurationError" in kept.metrics
    dup = route(delivery(last=True), REQUEST, InProgress())
    assert DUPLICATE_IN_FLIGHT_METRIC in dup.metrics and "OutcomeExhausted" in dup.metrics
    assert route(delivery(), REQUEST, InProgress()).metrics == ()


def test_too_little_time_on_the_last_receive_is_not_an_attempt() -> None:
    kept = route(delivery(last=True), REQUEST, TooLittleTime(900, 15000))
    assert kept.record is None and kept.dead_letter is None and kept.fallback_letter is None
    assert REQUEUED_METRIC not in kept.metrics and "DeferredLowTime" in kept.metrics
    assert not any(m.startswith("Outcome") for m in kept.metrics)
    given_up = route(delivery(last=True, age_days=13.99), REQUEST, TooLittleTime(900, 15000))
    assert given_up.record is not None and given_up.record.alipay_calls == 0
    assert given_up.dead_letter is not None and "Not enough time left" in given_up.dead_letter.reason


def test_plans_are_values() -> None:
    a = route(delivery(), REQUEST, called(TIMEOUT))
    b = route(delivery(), REQUEST, called(TIMEOUT))
    assert isinstance(a, Plan) and a == b
