"""The routing table, row by row: (delivery, what happened) → plan. No moto, no HTTP: it is pure."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alipay_cancel.alipay.responses import (
    AlipayFailure,
    CancelOutcome,
    CancelSuccess,
    FailureKind,
    TradeStatus,
)
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.plans import (
    Answered,
    ClaimFailed,
    Delivery,
    Happened,
    InProgress,
    LeaseLost,
    Plan,
    Settled,
    SetupBroken,
    TooLittleTime,
    Unreadable,
)
from alipay_cancel.decisions.refund_request import request_number
from alipay_cancel.decisions.retry_policy import RetryDelay, RetrySchedule, receives_within_horizon
from alipay_cancel.decisions.routing import route
from alipay_cancel.decisions.steps import Answer, Call
from alipay_cancel.shared.endings import (
    DUPLICATE_IN_FLIGHT_METRIC,
    ENDINGS,
    REQUEUED_METRIC,
    Ending,
)
from alipay_cancel.shared.ledger_item import (
    HISTORY_LIMIT,
    SETTLED,
    CallResult,
    HistoryEntry,
    Op,
    Pending,
    Status,
)
from tests.routing_support import AT, BODY, DAY, REQUEST, SCHEDULE
from tests.settle_support import START, business, delivered, query_ok, refund_ok, run


def delivery(*, last: bool = False, age_days: float = 0, sent_hours: float = 0) -> Delivery:
    return Delivery(
        message_id="m-1",
        body=BODY,
        receive_count=8 if last else 2,
        schedule=SCHEDULE,
        age_seconds=int(age_days * DAY),
        max_age_seconds=14 * DAY,
        sent_age_seconds=int(sent_hours * 3600),
        jitter=0.5,
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


def answer(outcome: CancelOutcome, fresh_keys: bool = False) -> Answer:
    decision = classify(outcome, Op.CANCEL, after_secret_refresh=fresh_keys)
    return Answer(Call(Op.CANCEL, fresh_keys=fresh_keys), outcome, decision, AT)


def called(outcome: CancelOutcome) -> Answered:
    return delivered(answer(outcome))


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
BAD_SIGNATURE = AlipayFailure(FailureKind.BAD_SIGNATURE, "no signature")

# The delays a delivery with jitter 0.5 gets (base 30, slow base 900, cap 3600): receive 2, normal
# upper 60 -> 45; slow upper 1800 -> 1350; the first step's upper 30 -> 22 (round half to even); soon 5.
BACKOFF, SLOW, FIRST, SOON = 45, 1350, 22, 5


@dataclass(frozen=True)
class Row:
    name: str
    happened: Happened
    last: bool
    ending: Ending
    acknowledge: bool
    status: Status | None  # the ledger item's state the plan writes, if it writes
    lease: bool | None  # the write is under the lease (True) or a note (False)
    letter: str | None  # the dead letter's outcome_class, if one is sent
    visibility: int | None = None
    requeue: bool = False
    age_days: float = 0
    sent_hours: float = 0  # since this copy was sent: past 24 the retry horizon is reached
    reason_has: str = ""  # in the dead letter's reason, else in the record's error message


ROWS = [
    Row("bad message with an id: nothing written", Unreadable("out_trade_no: too long", "T-1"), False,
        Ending.BAD_MESSAGE, True, None, None, "bad_message", reason_has="too long"),
    Row("bad message, no id", Unreadable("not JSON", None), False,
        Ending.BAD_MESSAGE, True, None, None, "bad_message", reason_has="not JSON"),
    Row("signing setup broken", SetupBroken("secret not found"), False,
        Ending.CONFIG_ERROR, False, Status.RETRYING, False, None, SLOW, reason_has="secret"),
    Row("signing setup broken, last receive: kept", SetupBroken("secret not found"), True,
        Ending.CONFIG_ERROR, True, Status.RETRYING, False, None, requeue=True, reason_has="secret"),
    Row("signing setup broken past the retention", SetupBroken("secret not found"), True,
        Ending.EXHAUSTED, True, Status.FAILED, False, "exhausted", age_days=13.99,
        reason_has="longer than the queue keeps messages"),
    Row("too little time", TooLittleTime(900, 15000), False,
        Ending.LOW_TIME, False, None, None, None, SOON),
    Row("too little time, last receive: kept, untried", TooLittleTime(900, 15000), True,
        Ending.LOW_TIME, True, None, None, None, requeue=True),
    Row("too little time past the retention", TooLittleTime(900, 15000), True,
        Ending.EXHAUSTED, True, Status.FAILED, False, "exhausted", age_days=13.99,
        reason_has="never tried: its deliveries found too little invocation time left"),
    Row("closed", called(success()), False,
        Ending.SUCCEEDED, True, Status.CLOSED, True, None),
    Row("refunded, on the last receive", called(success("refund")), True,
        Ending.SUCCEEDED, True, Status.REFUNDED, True, None),
    Row("no such trade", called(success(None)), False,
        Ending.SUCCEEDED, True, Status.NOT_FOUND, True, None),
    Row("refunded after a secret refresh",
        delivered(answer(BAD_SIGNATURE), answer(success("refund"), fresh_keys=True)), False,
        Ending.SUCCEEDED, True, Status.REFUNDED, True, None),
    Row("a duplicate of a settled trade", Settled("CLOSED"), False,
        Ending.DUPLICATE, True, None, None, None),
    Row("a duplicate of an earlier release's success, last receive", Settled("SUCCEEDED"), True,
        Ending.DUPLICATE, True, None, None, None),
    Row("success asking for a retry", called(success(retry_flag="Y")), False,
        Ending.RETRY, False, Status.RETRYING, True, None, BACKOFF, reason_has="retry_flag"),
    Row("timeout", called(TIMEOUT), False,
        Ending.RETRY, False, Status.RETRYING, True, None, BACKOFF, reason_has="timed out"),
    Row("bad signature, the keys could not be re-read", called(BAD_SIGNATURE), False,
        Ending.RETRY, False, Status.RETRYING, True, None, BACKOFF, reason_has="signature"),
    Row("timeout, last receive", called(TIMEOUT), True,
        Ending.EXHAUSTED, True, Status.FAILED, True, "exhausted", reason_has="Gave up after 8 deliveries"),
    Row("timeout past the retry horizon", called(TIMEOUT), False,
        Ending.EXHAUSTED, True, Status.FAILED, True, "exhausted", sent_hours=24,
        reason_has="the retry horizon is 24 h"),
    Row("merchant balance past the retry horizon", called(BALANCE), False,
        Ending.EXHAUSTED, True, Status.FAILED, True, "exhausted", sent_hours=30, reason_has="balance"),
    Row("Alipay rejects our signature past the horizon: still kept", called(OUR_SIGNATURE), False,
        Ending.CONFIG_ERROR, False, Status.RETRYING, True, None, SLOW, sent_hours=30),
    Row("too little time past the horizon: nothing failed, back soon", TooLittleTime(900, 15000), False,
        Ending.LOW_TIME, False, None, None, None, SOON, sent_hours=30),
    Row("merchant balance", called(BALANCE), False,
        Ending.SLOW_RETRY, False, Status.RETRYING, True, None, SLOW, reason_has="balance"),
    Row("terminal", called(FROZEN), False,
        Ending.TERMINAL, True, Status.FAILED, True, "terminal", reason_has="frozen"),
    Row("terminal, last receive", called(FROZEN), True,
        Ending.TERMINAL, True, Status.FAILED, True, "terminal", reason_has="frozen"),
    Row("Alipay rejects our signature", called(OUR_SIGNATURE), False,
        Ending.CONFIG_ERROR, False, Status.RETRYING, True, None, SLOW, reason_has="signature"),
    Row("Alipay rejects our signature, last receive: kept", called(OUR_SIGNATURE), True,
        Ending.CONFIG_ERROR, True, Status.RETRYING, True, None, requeue=True, reason_has="signature"),
    Row("duplicate in flight", InProgress(), False,
        Ending.DUPLICATE_IN_FLIGHT, False, None, None, None, FIRST),
    Row("duplicate in flight, last receive: nothing written", InProgress(), True,
        Ending.EXHAUSTED, True, None, None, "exhausted", reason_has="already in progress"),
    Row("lease taken over between calls", LeaseLost((answer(BAD_SIGNATURE),)), False,
        Ending.DUPLICATE_IN_FLIGHT, False, None, None, None, FIRST),
    Row("claim failed: the queue's own visibility timeout", ClaimFailed("ThrottlingException"), False,
        Ending.AWS_FAILURE, False, None, None, None, None),
    Row("claim failed, last receive", ClaimFailed("ThrottlingException"), True,
        Ending.EXHAUSTED, True, Status.FAILED, False, "exhausted",
        reason_has="could not be claimed before Alipay was called"),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_routing_table(row: Row) -> None:
    plan = route(
        delivery(last=row.last, age_days=row.age_days, sent_hours=row.sent_hours), REQUEST, row.happened
    )

    assert (plan.ending, plan.acknowledge) == (row.ending, row.acknowledge)
    record = plan.write.record if plan.write else None
    assert (record.status if record else None) == row.status
    assert (plan.write.lease_holder is not None if plan.write else None) == row.lease
    assert (plan.dead_letter.outcome_class if plan.dead_letter else None) == row.letter
    assert plan.visibility_seconds == row.visibility
    assert (plan.requeue_seconds is not None) == row.requeue
    assert set(ENDINGS[plan.ending].metrics) <= set(plan.metrics)
    if record is not None:
        assert record.outcome_class == ENDINGS[plan.ending].outcome_class
        assert plan.write is not None and plan.write.trade_key == "T-1" and plan.write.message_id == "m-1"
    if plan.dead_letter is not None:
        assert plan.dead_letter.body == BODY  # byte for byte: a redrive replays it
        assert plan.dead_letter.source_message_id == "m-1"
        assert plan.dead_letter.reason.rstrip().endswith((".", "!", "?"))
    said = plan.dead_letter.reason if plan.dead_letter else (record.error_message or "" if record else "")
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
    settled = plan.write is not None and plan.write.record.status in SETTLED
    assert (
        plan.dead_letter is not None
        or plan.requeue_seconds is not None
        or settled
        or (plan.ending is Ending.DUPLICATE)
    )
    # a failed write on the last receive still ends with a dead letter (or the re-enqueue)
    if plan.write is not None:
        assert plan.unrecorded is not None and plan.unrecorded.write is None
        assert plan.unrecorded.dead_letter is not None or plan.unrecorded.requeue_seconds is not None


@pytest.mark.parametrize("happened", HAPPENINGS)
def test_only_a_verified_success_settles_the_trade(happened: Happened) -> None:
    for last in (False, True):
        plan = route(delivery(last=last), REQUEST, happened)
        settled = plan.write is not None and plan.write.record.status in SETTLED
        assert settled == (plan.ending is Ending.SUCCEEDED)
        if settled:
            assert isinstance(happened, Answered) and plan.write is not None
            assert plan.write.lease_holder == "req:m-1"  # only ever under the lease


def test_a_settlement_carries_alipays_fields_and_no_action_when_no_trade_was_found() -> None:
    plan = route(delivery(), REQUEST, called(success(action=None)))
    assert plan.write is not None
    record = plan.write.record
    assert (record.status, record.action, record.trade_no, record.alipay_trace_id) == (
        Status.NOT_FOUND,
        None,
        "2088",
        "trace-9",
    )
    assert record.error_message is None and record.remedy is None


def test_the_write_under_the_lease_appends_the_answers_to_the_history() -> None:
    earlier = HistoryEntry("cancel", "t0", "m-0", CallResult.ERROR, code="20000")
    unknown = Pending("cancel", "t1", "m-dead")
    plan = route(
        delivery(),
        REQUEST,
        delivered(
            answer(BAD_SIGNATURE), answer(success(), fresh_keys=True), history=(earlier,), resumed=unknown
        ),
    )
    assert plan.write is not None and plan.write.history_dropped == 0
    assert [(e.delivery, e.result, e.code) for e in plan.write.history] == [
        ("m-0", "error", "20000"),
        ("m-1", "error", None),  # a bad signature: no code of Alipay's to keep
        ("m-1", "ok", None),
    ]
    assert plan.write.history[-1].trace_id == "trace-9"
    assert plan.detail["resumed_call_of"] == "m-dead"


def test_the_history_keeps_the_last_entries_and_counts_the_dropped() -> None:
    full = tuple(HistoryEntry("cancel", f"t{n}", f"m{n}", CallResult.ERROR) for n in range(HISTORY_LIMIT))
    plan = route(delivery(), REQUEST, delivered(answer(TIMEOUT), history=full))
    assert plan.write is not None
    assert len(plan.write.history) == HISTORY_LIMIT and plan.write.history_dropped == 1
    assert plan.write.history[0].delivery == "m1" and plan.write.history[-1].delivery == "m-1"


@pytest.mark.parametrize(
    ("happened", "ending", "starts"),
    [
        (called(success()), Ending.EXHAUSTED, "The CLOSED result could not be recorded"),
        (called(FROZEN), Ending.TERMINAL, "The FAILED result could not be recorded"),
        (called(TIMEOUT), Ending.EXHAUSTED, "The FAILED result could not be recorded"),
    ],
)
def test_a_result_not_recorded_on_the_last_receive_is_dead_lettered_saying_so(
    happened: Happened, ending: Ending, starts: str
) -> None:
    planned = route(delivery(last=True), REQUEST, happened)
    plan = planned.unrecorded
    assert plan is not None and plan.ending is ending and plan.acknowledge and plan.write is None
    assert plan.dead_letter is not None and plan.dead_letter.outcome_class == ENDINGS[ending].outcome_class
    assert plan.dead_letter.reason.startswith(starts)
    assert planned.write is not None
    assert plan.dead_letter.alipay_trace_id == planned.write.record.alipay_trace_id


def test_before_the_last_receive_a_failed_write_leaves_the_message() -> None:
    for happened in HAPPENINGS:
        assert route(delivery(), REQUEST, happened).unrecorded is None


def test_extra_metrics_say_why_a_message_was_kept_or_given_up() -> None:
    kept = route(delivery(last=True), REQUEST, SetupBroken("x"))
    assert REQUEUED_METRIC in kept.metrics and "ConfigurationError" in kept.metrics
    dup = route(delivery(last=True), REQUEST, InProgress())
    assert DUPLICATE_IN_FLIGHT_METRIC in dup.metrics and "OutcomeExhausted" in dup.metrics
    assert route(delivery(), REQUEST, InProgress()).metrics == ()
    assert route(delivery(), REQUEST, Settled("CLOSED")).metrics == ()


def test_too_little_time_on_the_last_receive_is_not_an_attempt() -> None:
    kept = route(delivery(last=True), REQUEST, TooLittleTime(900, 15000))
    assert kept.write is None and kept.dead_letter is None and kept.requeue_seconds == SOON
    assert REQUEUED_METRIC not in kept.metrics and "DeferredLowTime" in kept.metrics
    assert not any(m.startswith("Outcome") for m in kept.metrics)
    given_up = route(delivery(last=True, age_days=13.99), REQUEST, TooLittleTime(900, 15000))
    assert given_up.write is not None and given_up.write.lease_holder is None
    assert given_up.dead_letter is not None and "Not enough time left" in given_up.dead_letter.reason


def test_a_retry_lands_no_later_than_the_horizon() -> None:
    plan = route(delivery(sent_hours=24 - 10 / 3600), REQUEST, called(TIMEOUT))
    assert plan.ending is Ending.RETRY and plan.visibility_seconds == 10


def test_plans_are_values() -> None:
    a = route(delivery(), REQUEST, called(TIMEOUT))
    b = route(delivery(), REQUEST, called(TIMEOUT))
    assert isinstance(a, Plan) and a == b


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    horizon=st.integers(min_value=1, max_value=3 * DAY),
    base=st.integers(min_value=1, max_value=4000),
    cap=st.integers(min_value=2, max_value=43200),
    slow=st.booleans(),
    seed=st.integers(),
)
def test_a_failing_message_gives_up_at_the_horizon_within_the_receives_the_config_checks(
    horizon: int, base: int, cap: int, slow: bool, seed: int
) -> None:
    """A message whose cancel fails every time, left on the queue for as long as each plan says, is
    dead-lettered at the horizon, never before it, and within ``receives_within_horizon`` receives
    (what config.py requires MaxReceiveCount to be)."""
    schedule = RetrySchedule(horizon, base, max(cap, base), 2 * base, 10**6)
    failure = BALANCE if slow else TIMEOUT
    rng = random.Random(seed)
    age, receives = 0, 1
    while True:
        one = Delivery("m", BODY, receives, schedule, sent_age_seconds=age, jitter=rng.random())
        plan = route(one, REQUEST, called(failure))
        if plan.acknowledge:
            break
        assert plan.visibility_seconds is not None
        age += plan.visibility_seconds
        receives += 1
    assert plan.ending is Ending.EXHAUSTED and age >= horizon
    delay = RetryDelay.SLOW if slow else RetryDelay.NORMAL
    assert receives <= receives_within_horizon(schedule, delay)


def test_a_refund_to_confirm_is_not_given_up_at_the_retry_horizon_only_at_the_receive_limit() -> None:
    script = [business("ACQ.TRADE_CANCEL_TIME_OUT"), query_ok(TradeStatus.TRADE_SUCCESS), refund_ok("N")]
    _, _, answers = run(START, script)
    confirming = delivered(*answers)
    plan = route(delivery(sent_hours=30), REQUEST, confirming)
    assert (plan.ending, plan.acknowledge) == (Ending.RETRY, False)
    assert plan.visibility_seconds is not None and plan.visibility_seconds >= 10
    assert plan.write is not None and plan.write.record.out_request_no == request_number("T-1")
    last = route(delivery(last=True, sent_hours=30), REQUEST, confirming)
    assert last.ending is Ending.EXHAUSTED and last.dead_letter is not None
