"""What routing writes, whole: the trade's ledger record, the dead letter's attributes and the exact
metrics, for the endings a person reads afterwards (the item in the results table, the dead letter's
attributes, the alarms), and the log line on-call reads. Pure: no moto, no HTTP."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from alipay_cancel.alipay.responses import AlipayFailure, CancelOutcome, CancelSuccess, FailureKind
from alipay_cancel.decisions.alipay_codes import BUSINESS_RULES
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.decisions.plans import (
    Answered,
    ClaimFailed,
    Delivery,
    Happened,
    IdentityUnconfirmed,
    InProgress,
    LeaseLost,
    Plan,
    Settled,
    SetupBroken,
    TooLittleTime,
    Unreadable,
)
from alipay_cancel.decisions.records import sentence
from alipay_cancel.decisions.remedies import REMEDIES, Remedy
from alipay_cancel.decisions.retry_policy import RetrySchedule
from alipay_cancel.decisions.routing import route
from alipay_cancel.decisions.steps import Answer, Call, Start, interrupted
from alipay_cancel.decisions.waits import LOW_TIME_RETRY_SECONDS
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import (
    CallResult,
    HistoryEntry,
    LedgerWrite,
    Op,
    Pending,
    Status,
    TradeRecord,
)
from alipay_cancel.shared.trade import CancelRequest, PaidTradePolicy
from tests.routing_support import AT, BODY, DAY, REQUEST, SCHEDULE
from tests.settle_support import delivered

HOLDER = "req:m-1"
FROZEN = AlipayFailure(
    FailureKind.BUSINESS, "m", 200, "40004", "ACQ.REASON_TRADE_BEEN_FREEZEN", trace_id="tr-1", verified=True
)
TIMEOUT = AlipayFailure(FailureKind.TIMEOUT, "read timed out", trace_id=None)
OUR_SIGNATURE = AlipayFailure(
    FailureKind.V3_ERROR, "m", 401, "invalid-signature", trace_id="tr-2", verified=True
)
SUCCESS = CancelSuccess("refund", "2024-05-01 10:00:00", "T-1", "S-1", "N", "2088", "tr-3")
REFUND_REASON = "Alipay cancelled the paid trade and refunded the buyer (action refund)"


def delivery(
    receive_count: int = 2, *, age_days: float = 0, sent_hours: float = 0, schedule: RetrySchedule = SCHEDULE
) -> Delivery:
    return Delivery(
        "m-1",
        BODY,
        receive_count,
        schedule,
        age_seconds=int(age_days * DAY),
        max_age_seconds=14 * DAY,
        sent_age_seconds=int(sent_hours * 3600),
        jitter=0.5,
    )


def called(outcome: CancelOutcome, resumed: Pending | None = None) -> Answered:
    """One cancel answered under the lease ``HOLDER``, ended as the steps end it."""
    return delivered(Answer(Call(Op.CANCEL), outcome, classify(outcome, Op.CANCEL), AT), resumed=resumed)


def entry(
    outcome: CancelOutcome, result: CallResult, code: str | None = None, sub: str | None = None
) -> HistoryEntry:
    return HistoryEntry("cancel", AT, "m-1", result, code, sub, outcome.trace_id)


def written(plan: Plan) -> TradeRecord:
    assert plan.write is not None
    return plan.write.record


FROZEN_REASON = (
    "the trade is frozen by Alipay, so it cannot be cancelled now "
    "(HTTP 200, code 40004, sub_code ACQ.REASON_TRADE_BEEN_FREEZEN, business)"
)
TIMEOUT_REASON = "the call to Alipay timed out; whether the cancel happened is unknown (timeout)"


def test_a_terminal_answer_is_recorded_failed_and_dead_lettered_with_alipays_codes() -> None:
    plan = route(delivery(3), REQUEST, called(FROZEN))
    remedy = BUSINESS_RULES["ACQ.REASON_TRADE_BEEN_FREEZEN"].remedy
    record = TradeRecord(
        status=Status.FAILED, outcome_class=Ending.TERMINAL, out_trade_no="T-1", error_code="40004",
        error_sub_code="ACQ.REASON_TRADE_BEEN_FREEZEN", error_message=FROZEN_REASON, remedy=remedy,
        alipay_trace_id="tr-1", money_moved=False, if_paid="refund",
    )  # fmt: skip
    assert plan.write == LedgerWrite(
        trade_key="T-1", record=record, message_id="m-1", lease_holder=HOLDER,
        history=(entry(FROZEN, CallResult.ERROR, "40004", "ACQ.REASON_TRADE_BEEN_FREEZEN"),),
    )  # fmt: skip
    assert plan.dead_letter == DeadLetter(
        body=BODY, reason=f"{FROZEN_REASON}. {remedy}", source_message_id="m-1",
        outcome_class=Ending.TERMINAL, error_code="40004", error_sub_code="ACQ.REASON_TRADE_BEEN_FREEZEN",
        alipay_trace_id="tr-1", trade_key="T-1", attempts=3,
    )  # fmt: skip
    assert plan.metrics == ("OutcomeTerminal",)
    assert (plan.ending, plan.acknowledge, plan.log_level) == (Ending.TERMINAL, True, logging.WARNING)
    assert (plan.visibility_seconds, plan.requeue_seconds, plan.unrecorded) == (None, None, None)
    assert dict(plan.detail) == {
        "reason": FROZEN_REASON,
        "remedy": remedy,
        "error_code": "40004",
        "error_sub_code": "ACQ.REASON_TRADE_BEEN_FREEZEN",
        "op": "cancel",
        "if_paid": "refund",
    }


def test_a_retry_records_what_went_wrong_and_leaves_the_message() -> None:
    plan = route(delivery(), REQUEST, called(TIMEOUT))
    assert plan.dead_letter is None and plan.write is not None and plan.write.lease_holder == HOLDER
    assert written(plan) == TradeRecord(
        status=Status.RETRYING,
        outcome_class=Ending.RETRY,
        out_trade_no="T-1",
        error_message=TIMEOUT_REASON,
        if_paid="refund",
    )
    assert plan.write.history == (entry(TIMEOUT, CallResult.ERROR),)
    # receive 2, jitter 0.5: the normal backoff's upper bound 60 s -> 45 s
    assert (plan.visibility_seconds, plan.metrics, plan.log_level) == (45, ("OutcomeRetry",), logging.INFO)
    assert (plan.acknowledge, plan.log) == (False, "trade will be retried")
    assert dict(plan.detail) == {
        "reason": TIMEOUT_REASON,
        "remedy": None,
        "op": "cancel",
        "if_paid": "refund",
    }


def test_a_configuration_error_is_kept_with_an_alarm_and_its_remedy() -> None:
    plan = route(delivery(), REQUEST, called(OUR_SIGNATURE))
    record = written(plan)
    assert (record.status, record.outcome_class) == (Status.RETRYING, Ending.CONFIG_ERROR)
    assert (record.error_code, record.alipay_trace_id) == ("invalid-signature", "tr-2")
    assert record.remedy and "private_key" in record.remedy
    assert plan.metrics == ("OutcomeConfigError", "ConfigurationError")
    # the slow backoff whatever the receive: upper bound 1800 s -> 1350 s
    assert (plan.visibility_seconds, plan.log_level) == (1350, logging.ERROR)
    assert plan.log == "configuration error: the trade is kept and retried until it is fixed"
    assert plan.detail["error_code"] == "invalid-signature" and "error_sub_code" not in plan.detail


def test_a_configuration_error_waits_slowly_even_past_the_horizon() -> None:
    """Not Alipay's fault and not the message's: the horizon does not shorten the wait for a person."""
    plan = route(delivery(sent_hours=24 - 10 / 3600), REQUEST, called(OUR_SIGNATURE))
    assert (plan.ending, plan.visibility_seconds) == (Ending.CONFIG_ERROR, 1350)


def test_a_broken_signing_setup_is_a_configuration_error_with_the_default_remedy() -> None:
    plan = route(delivery(), REQUEST, SetupBroken("secret not found"))
    assert plan.write == LedgerWrite(
        trade_key="T-1",
        record=TradeRecord(
            status=Status.RETRYING,
            outcome_class=Ending.CONFIG_ERROR,
            out_trade_no="T-1",
            error_message="secret not found",
            remedy=REMEDIES[Remedy.SIGNING_SETUP],
        ),
        message_id="m-1",
    )  # fmt: skip  (a note: no lease, no history: Alipay was not called)
    assert (plan.visibility_seconds, plan.metrics, plan.log_level) == (
        1350, ("OutcomeConfigError", "ConfigurationError"), logging.ERROR,
    )  # fmt: skip
    named = route(delivery(), REQUEST, SetupBroken("secret x not found", "create secret x"))
    assert written(named).remedy == "create secret x"


def test_a_success_is_recorded_with_alipays_fields_under_the_lease() -> None:
    plan = route(delivery(), REQUEST, called(SUCCESS))
    assert plan.write == LedgerWrite(
        trade_key="T-1",
        record=TradeRecord(
            status=Status.REFUNDED, outcome_class=Ending.SUCCEEDED, out_trade_no="T-1", trade_no="2088",
            action="refund", gmt_refund_pay="2024-05-01 10:00:00", refund_settlement_id="S-1",
            retry_flag="N", alipay_trace_id="tr-3", money_moved=True, if_paid="refund",
            settled_reason=REFUND_REASON,
        ),
        message_id="m-1", lease_holder=HOLDER, history=(entry(SUCCESS, CallResult.OK),),
    )  # fmt: skip
    assert (plan.metrics, plan.dead_letter, plan.log_level) == (("OutcomeSucceeded",), None, logging.INFO)
    assert (plan.acknowledge, plan.log, plan.unrecorded) == (True, "trade settled", None)
    assert dict(plan.detail) == {
        "state": "REFUNDED", "action": "refund", "reason": REFUND_REASON, "op": "cancel", "if_paid": "refund",
    }  # fmt: skip
    resumed = route(delivery(), REQUEST, called(SUCCESS, Pending("cancel", AT, "m-dead")))
    assert dict(resumed.detail) == {
        "state": "REFUNDED", "action": "refund", "reason": REFUND_REASON, "op": "cancel", "if_paid": "refund",
        "resumed_call_of": "m-dead",
    }  # fmt: skip


def test_a_resumed_call_is_named_in_every_answered_ending() -> None:
    dead = Pending("cancel", AT, "m-dead")
    for outcome in (FROZEN, TIMEOUT, OUR_SIGNATURE):
        assert route(delivery(), REQUEST, called(outcome, dead)).detail["resumed_call_of"] == "m-dead"
        assert "resumed_call_of" not in route(delivery(), REQUEST, called(outcome)).detail


def test_a_bad_message_is_dead_lettered_at_once_with_its_trade_key_and_writes_nothing() -> None:
    plan = route(delivery(1), None, Unreadable("out_trade_no is empty", "T-1"))
    remedy = REMEDIES[Remedy.BAD_MESSAGE]
    assert plan.write is None
    assert plan.dead_letter == DeadLetter(
        body=BODY, reason=f"Bad message, not retried: out_trade_no is empty. {remedy}",
        source_message_id="m-1", outcome_class=Ending.BAD_MESSAGE, trade_key="T-1", attempts=1,
    )  # fmt: skip
    assert (plan.ending, plan.acknowledge, plan.metrics) == (Ending.BAD_MESSAGE, True, ("OutcomeBadMessage",))


@pytest.mark.parametrize(
    ("happened", "metrics"),
    [
        (called(TIMEOUT), ("OutcomeExhausted",)),
        (called(OUR_SIGNATURE), ("OutcomeConfigError", "ConfigurationError", "RequeuedWhileMisconfigured")),
        (SetupBroken("x"), ("OutcomeConfigError", "ConfigurationError", "RequeuedWhileMisconfigured")),
        (InProgress(), ("OutcomeExhausted", "DuplicateInFlight")),
        (LeaseLost(()), ("OutcomeExhausted", "DuplicateInFlight")),
        (TooLittleTime(900, 15000), ("DeferredLowTime",)),
        (ClaimFailed("Throttling"), ("OutcomeExhausted", "InfrastructureError")),
        (called(FROZEN), ("OutcomeTerminal",)),
        (called(SUCCESS), ("OutcomeSucceeded",)),
        (Settled("CLOSED"), ()),
    ],
)
def test_the_last_receive_counts_exactly_these_metrics(happened: Happened, metrics: tuple[str, ...]) -> None:
    """An ending's own outcome metric is replaced by OutcomeExhausted, its other metrics are kept."""
    assert route(delivery(8), REQUEST, happened).metrics == metrics


@pytest.mark.parametrize(
    ("happened", "metrics"),
    [
        (called(TIMEOUT), ("OutcomeExhausted",)),
        (called(OUR_SIGNATURE), ("OutcomeExhausted", "ConfigurationError")),
        (TooLittleTime(900, 15000), ("OutcomeExhausted", "DeferredLowTime")),
    ],
)
def test_past_the_retention_the_last_receive_counts_exactly_these_metrics(
    happened: Happened, metrics: tuple[str, ...]
) -> None:
    assert route(delivery(8, age_days=13.99), REQUEST, happened).metrics == metrics


def test_a_claim_failure_before_the_last_receive_only_counts_the_infrastructure() -> None:
    plan = route(delivery(), REQUEST, ClaimFailed("Throttling"))
    assert (plan.metrics, plan.visibility_seconds, plan.write, plan.acknowledge) == (
        ("InfrastructureError",), None, None, False,
    )  # fmt: skip


def test_the_last_receive_records_and_dead_letters_what_went_wrong() -> None:
    plan = route(delivery(8), REQUEST, called(TIMEOUT))
    assert plan.write is not None and plan.write.lease_holder == HOLDER
    assert plan.detail["remedy"] == REMEDIES[Remedy.GAVE_UP]  # the log line says what the letter says
    assert written(plan) == TradeRecord(
        status=Status.FAILED, outcome_class=Ending.EXHAUSTED, out_trade_no="T-1",
        error_message=TIMEOUT_REASON, remedy=REMEDIES[Remedy.GAVE_UP], if_paid="refund",
    )  # fmt: skip
    assert plan.dead_letter == DeadLetter(
        body=BODY,
        reason=f"Gave up after 8 deliveries. Last error: {TIMEOUT_REASON}. {REMEDIES[Remedy.GAVE_UP]}",
        source_message_id="m-1", outcome_class=Ending.EXHAUSTED, trade_key="T-1", attempts=8,
    )  # fmt: skip
    assert (plan.ending, plan.acknowledge, plan.visibility_seconds) == (Ending.EXHAUSTED, True, None)
    assert (plan.log, plan.log_level) == (
        "trade will be retried; but this was the last allowed receive: dead-lettered with the reason",
        logging.WARNING,
    )


def test_the_retry_horizon_says_how_long_it_tried() -> None:
    plan = route(delivery(3, sent_hours=30), REQUEST, called(TIMEOUT))
    assert plan.dead_letter is not None
    assert plan.dead_letter.reason.startswith(
        "Gave up after 3 deliveries over 30 h (the retry horizon is 24 h)."
    )
    assert plan.log == (
        "trade will be retried; but the retry horizon is reached: dead-lettered with the reason"
    )
    assert (written(plan).status, written(plan).outcome_class) == (Status.FAILED, Ending.EXHAUSTED)


def test_the_horizon_is_reached_at_its_second_not_before() -> None:
    before = route(delivery(3, sent_hours=24 - 1 / 3600), REQUEST, called(TIMEOUT))
    assert (before.ending, before.visibility_seconds) == (Ending.RETRY, 1)
    at = route(delivery(3, sent_hours=24), REQUEST, called(TIMEOUT))
    assert at.ending is Ending.EXHAUSTED


@pytest.mark.parametrize("happened", [InProgress(), LeaseLost(())])
def test_a_duplicate_in_flight_on_the_last_receive_writes_nothing_and_says_to_check_it(
    happened: Happened,
) -> None:
    plan = route(delivery(8), REQUEST, happened)
    reason = "each time, a cancel of the same trade was already in progress (another delivery of it, usually)"
    assert plan.write is None and plan.unrecorded is None
    assert plan.dead_letter == DeadLetter(
        body=BODY,
        reason=f"Gave up after 8 deliveries. Last error: {reason}. {REMEDIES[Remedy.DUPLICATE_IN_FLIGHT]}",
        source_message_id="m-1", outcome_class=Ending.EXHAUSTED, trade_key="T-1", attempts=8,
    )  # fmt: skip


def test_a_duplicate_in_flight_looks_again_after_the_first_backoff_step() -> None:
    """The other delivery usually finishes within seconds: 22 s (receive 1's upper 30 s, jitter 0.5)."""
    for happened in (InProgress(), LeaseLost(())):
        plan = route(delivery(5), REQUEST, happened)
        assert (plan.ending, plan.visibility_seconds, plan.write) == (Ending.DUPLICATE_IN_FLIGHT, 22, None)
    assert route(delivery(5), REQUEST, LeaseLost(())).log == (
        "another delivery took the trade's lease over; retrying later"
    )


def test_a_result_not_recorded_keeps_the_letters_codes() -> None:
    plan = route(delivery(8), REQUEST, called(FROZEN)).unrecorded
    assert plan is not None and plan.dead_letter is not None and plan.write is None
    remedy = BUSINESS_RULES["ACQ.REASON_TRADE_BEEN_FREEZEN"].remedy
    assert plan.dead_letter == DeadLetter(
        body=BODY,
        reason=(
            "The FAILED result could not be recorded on the last allowed delivery (the ledger write failed: "
            "the function's log says why); the trade's ledger item may be out of date. "
            f"{FROZEN_REASON}. {remedy}"
        ),
        source_message_id="m-1", outcome_class=Ending.TERMINAL, error_code="40004",
        error_sub_code="ACQ.REASON_TRADE_BEEN_FREEZEN", alipay_trace_id="tr-1", trade_key="T-1", attempts=8,
    )  # fmt: skip
    assert (plan.ending, plan.acknowledge, plan.metrics) == (Ending.TERMINAL, True, ("OutcomeTerminal",))
    assert dict(plan.detail)["error_code"] == "40004"


def test_an_unrecorded_success_is_dead_lettered_saying_what_alipay_did() -> None:
    plan = route(delivery(8), REQUEST, called(SUCCESS)).unrecorded
    assert plan is not None and plan.dead_letter is not None
    assert plan.dead_letter == DeadLetter(
        body=BODY,
        reason=(
            "The REFUNDED result could not be recorded on the last allowed delivery (the ledger write "
            "failed: the function's log says why); the trade's ledger item may be out of date. Alipay "
            f"settled the trade as REFUNDED (action refund). {REMEDIES[Remedy.UNRECORDED_SUCCESS]}"
        ),
        source_message_id="m-1", outcome_class=Ending.EXHAUSTED, alipay_trace_id="tr-3", trade_key="T-1",
        attempts=8,
    )  # fmt: skip
    assert (plan.ending, plan.metrics) == (Ending.EXHAUSTED, ("OutcomeExhausted",))
    assert (plan.log, plan.log_level) == (
        "result not recorded on the last allowed receive; dead-lettered with the reason", logging.WARNING,
    )  # fmt: skip
    none_found = route(delivery(8), REQUEST, called(dataclasses.replace(SUCCESS, action=None))).unrecorded
    assert none_found is not None and none_found.dead_letter is not None
    assert "Alipay settled the trade as NOT_FOUND (action none)." in none_found.dead_letter.reason


def test_a_kept_message_whose_write_fails_is_still_requeued() -> None:
    plan = route(delivery(8), REQUEST, SetupBroken("x"))
    assert plan.unrecorded == plan._replace(write=None, unrecorded=None)
    assert plan.requeue_seconds == 900  # the slow backoff of receive 8 (1800 s upper), within SQS's delay


# ------------------------------------------------------------------ the log line on-call reads

RETRIED = "trade will be retried"
LAST = "; but this was the last allowed receive: dead-lettered with the reason"
KEPT = "configuration error: the trade is kept and retried until it is fixed"
FAILED = "trade failed for good; dead-lettered"
IN_PROGRESS = "cancel already in progress for this trade; retrying later"
CLAIM = "ledger claim failed; message will be retried"
WHY = {"reason", "remedy"}
SAID = {"op", "if_paid"}  # which call ended the delivery, and the paid-trade policy applied
CODES = {"error_code", "error_sub_code"}
W, INFO, E = logging.WARNING, logging.INFO, logging.ERROR
LOG_ROWS = [
    (2, TooLittleTime(900, 15000), "not enough invocation time left to call Alipay; retrying soon", W,
     WHY | {"needed_ms", "remaining_ms"}),
    (2, InProgress(), IN_PROGRESS, INFO, WHY),
    (2, ClaimFailed("Throttling"), CLAIM, W, WHY | {"error"}),
    (2, SetupBroken("secret not found"), KEPT, E, WHY),
    (2, called(TIMEOUT), RETRIED, INFO, WHY | SAID),
    (2, called(FROZEN), FAILED, W, WHY | CODES | SAID),
    (2, called(OUR_SIGNATURE), KEPT, E, WHY | {"error_code"} | SAID),
    (2, called(SUCCESS), "trade settled", INFO, {"state", "action", "reason"} | SAID),
    (2, Settled("CLOSED"), "trade already settled: nothing to do", INFO, {"status"}),
    (8, TooLittleTime(900, 15000),
     "too little time left on the last allowed receive: message re-enqueued unchanged, untried", W,
     WHY | {"needed_ms", "remaining_ms"}),
    (8, InProgress(), IN_PROGRESS + LAST, W, WHY),
    (8, ClaimFailed("Throttling"), CLAIM + LAST, W, WHY | {"error"}),
    (8, SetupBroken("secret not found"),
     "configuration error on the last allowed receive: message re-enqueued unchanged, kept", E, WHY),
    (8, called(FROZEN), FAILED, W, WHY | CODES | SAID),
]  # fmt: skip


@pytest.mark.parametrize(("receive_count", "happened", "log", "level", "fields"), LOG_ROWS)
def test_each_ending_logs_what_happened_at_its_level_with_its_fields(
    receive_count: int, happened: Happened, log: str, level: int, fields: set[str]
) -> None:
    plan = route(delivery(receive_count), REQUEST, happened)
    assert (plan.log, plan.log_level, set(plan.detail)) == (log, level, fields)
    if isinstance(happened, TooLittleTime):
        assert (plan.detail["remaining_ms"], plan.detail["needed_ms"]) == (900, 15000)
        assert plan.detail["remedy"] == REMEDIES[Remedy.LOW_TIME]
        assert plan.detail["reason"] == (
            "Not enough time left in the invocation to call Alipay (900 ms left, 15000 ms needed); not tried"
        )
    if isinstance(happened, InProgress):
        assert plan.detail["remedy"] == REMEDIES[Remedy.DUPLICATE_IN_FLIGHT]
        assert str(plan.detail["reason"]).startswith("each time, a cancel of the same trade was already")
    if isinstance(happened, ClaimFailed):
        assert plan.detail["error"] == "Throttling" and plan.detail["remedy"] == REMEDIES[Remedy.LEDGER]
        assert (
            plan.detail["reason"] == "The ledger could not be claimed before Alipay was called (Throttling)"
        )
    if isinstance(happened, Settled):
        assert dict(plan.detail) == {"status": "CLOSED"}


def test_a_bad_message_logs_its_reason_as_a_warning() -> None:
    plan = route(delivery(1), None, Unreadable("not JSON", None))
    assert (plan.log, plan.log_level, dict(plan.detail)) == (
        "bad message dead-lettered",
        logging.WARNING,
        {"reason": "not JSON"},
    )
    assert plan.dead_letter is not None and plan.dead_letter.trade_key is None


def test_a_claim_failure_on_the_last_receive_records_why_and_what_to_do() -> None:
    plan = route(delivery(8), REQUEST, ClaimFailed("Throttling"))
    reason = "The ledger could not be claimed before Alipay was called (Throttling)"
    assert plan.write == LedgerWrite(
        trade_key="T-1",
        record=TradeRecord(
            status=Status.FAILED, outcome_class=Ending.EXHAUSTED, out_trade_no="T-1", error_message=reason,
            remedy=REMEDIES[Remedy.LEDGER],
        ),
        message_id="m-1",
    )  # fmt: skip
    assert plan.dead_letter is not None
    assert (
        plan.dead_letter.reason
        == f"Gave up after 8 deliveries. Last error: {reason}. {REMEDIES[Remedy.LEDGER]}"
    )


# ------------------------------------------------------------------ the last receive's rule at its bounds

BALANCE = AlipayFailure(
    FailureKind.V3_ERROR, "m", 400, "ACQ.SELLER_BALANCE_NOT_ENOUGH", trace_id="tr-4", verified=True
)


def test_a_given_up_letter_carries_the_last_answers_codes() -> None:
    plan = route(delivery(3, sent_hours=30), REQUEST, called(BALANCE))
    assert plan.dead_letter is not None
    assert (plan.dead_letter.error_code, plan.dead_letter.alipay_trace_id) == (
        "ACQ.SELLER_BALANCE_NOT_ENOUGH",
        "tr-4",
    )
    record = written(plan)
    assert (record.status, record.outcome_class, record.error_code, record.alipay_trace_id) == (
        Status.FAILED, Ending.EXHAUSTED, "ACQ.SELLER_BALANCE_NOT_ENOUGH", "tr-4",
    )  # fmt: skip


def test_untried_past_the_retention_records_why_and_what_to_do() -> None:
    plan = route(delivery(8, age_days=13.99), REQUEST, TooLittleTime(900, 15000))
    reason = "Not enough time left in the invocation to call Alipay (900 ms left, 15000 ms needed); not tried"
    remedy = f"{REMEDIES[Remedy.UNTRIED_TOO_LONG]} {REMEDIES[Remedy.LOW_TIME]}"
    assert plan.write == LedgerWrite(
        trade_key="T-1",
        record=TradeRecord(
            status=Status.FAILED, outcome_class=Ending.EXHAUSTED, out_trade_no="T-1", error_message=reason,
            remedy=remedy,
        ),
        message_id="m-1",
    )  # fmt: skip
    assert plan.dead_letter is not None
    assert plan.dead_letter.reason == f"Gave up after 8 deliveries. Last error: {reason}. {remedy}"
    assert plan.requeue_seconds is None and plan.acknowledge


def test_a_kept_message_is_requeued_only_while_the_requeue_delay_fits_in_the_retention() -> None:
    retention = 14 * DAY
    fits = Delivery("m-1", BODY, 8, SCHEDULE, retention - 901, retention)
    assert route(fits, REQUEST, SetupBroken("x")).requeue_seconds is not None
    full = Delivery("m-1", BODY, 8, SCHEDULE, retention - 900, retention)
    given_up = route(full, REQUEST, SetupBroken("x"))
    assert given_up.requeue_seconds is None and given_up.dead_letter is not None
    assert given_up.dead_letter.outcome_class == Ending.EXHAUSTED


@pytest.mark.parametrize(
    ("sent", "horizon", "says"),
    [
        (7200, 7200, "over 2 h (the retry horizon is 2 h)"),
        (7199, 7199, "over 119 min (the retry horizon is 119 min)"),
        (120, 120, "over 2 min (the retry horizon is 2 min)"),
        (119, 119, "over 119 s (the retry horizon is 119 s)"),
        (365_400, 345_600, "over 102 h (the retry horizon is 96 h)"),
    ],
)
def test_the_horizon_is_said_in_the_unit_a_person_reads(sent: int, horizon: int, says: str) -> None:
    schedule = dataclasses.replace(SCHEDULE, horizon_seconds=horizon)
    late = Delivery("m-1", BODY, 3, schedule, sent, 14 * DAY, sent)
    plan = route(late, REQUEST, called(TIMEOUT))
    assert plan.dead_letter is not None
    assert plan.dead_letter.reason.startswith(f"Gave up after 3 deliveries {says}.")


def test_an_untried_message_comes_back_in_five_seconds() -> None:
    """README "How a batch is processed": handed back, visible again in 5 s."""
    assert LOW_TIME_RETRY_SECONDS == 5
    assert route(delivery(), REQUEST, TooLittleTime(900, 15000)).visibility_seconds == 5


def test_a_configuration_broken_past_the_retention_says_to_fix_it_then_redrive() -> None:
    """The ledger item and the dead letter say the same: it was dead-lettered after all, fix, redrive
    (the item must not keep the remedy that promised the message is kept)."""
    plan = route(delivery(8, age_days=13.99), REQUEST, SetupBroken("secret not found"))
    assert plan.dead_letter is not None
    remedy = f"{REMEDIES[Remedy.MISCONFIGURED_TOO_LONG]} {REMEDIES[Remedy.SIGNING_SETUP]}"
    assert plan.write == LedgerWrite(
        trade_key="T-1",
        record=TradeRecord(
            status=Status.FAILED, outcome_class=Ending.EXHAUSTED, out_trade_no="T-1",
            error_message="secret not found", remedy=remedy,
        ),
        message_id="m-1",
    )  # fmt: skip
    assert plan.dead_letter.reason == f"Gave up after 8 deliveries. Last error: secret not found. {remedy}"
    assert dict(plan.detail) == {"reason": "secret not found", "remedy": remedy}  # the log line too


def test_alipays_configuration_error_past_the_retention_records_the_dead_letters_remedy() -> None:
    plan = route(delivery(8, age_days=13.99), REQUEST, called(OUR_SIGNATURE))
    kept_remedy = classify(OUR_SIGNATURE).remedy
    remedy = f"{REMEDIES[Remedy.MISCONFIGURED_TOO_LONG]} {kept_remedy}"
    record = written(plan)
    assert (record.status, record.outcome_class, record.remedy) == (Status.FAILED, Ending.EXHAUSTED, remedy)
    assert (record.error_code, record.alipay_trace_id) == ("invalid-signature", "tr-2")
    assert plan.dead_letter is not None and plan.dead_letter.reason.endswith(f". {remedy}")
    assert plan.write is not None and plan.write.lease_holder == HOLDER
    assert plan.detail["remedy"] == remedy


def test_a_kept_configuration_error_comes_back_after_the_slow_backoff() -> None:
    """Re-enqueued with the slow delay (slow base 300 s, receive 2: upper 600 s, jitter 0.5 -> 450 s),
    not the normal one (45 s), and never beyond SQS's 900 s DelaySeconds."""
    quick = dataclasses.replace(SCHEDULE, slow_base_seconds=300, max_receive_count=2)
    assert route(delivery(2, schedule=quick), REQUEST, SetupBroken("x")).requeue_seconds == 450
    assert route(delivery(2, schedule=quick), REQUEST, called(OUR_SIGNATURE)).requeue_seconds == 450
    assert route(delivery(8), REQUEST, SetupBroken("x")).requeue_seconds == 900


ISV = CancelRequest(
    out_trade_no="T-1", trade_no=None, app_auth_token="token", app_id="2021000000000009", merchant_id="2088M"
)


@pytest.mark.parametrize(
    "happened",
    [called(SUCCESS), called(FROZEN), called(TIMEOUT), SetupBroken("x"), ClaimFailed("Throttling")],
)
def test_every_write_names_the_trades_app_and_merchant(happened: Happened) -> None:
    """The ledger item (and the outcome event read from it) says whose trade it is; never the token."""
    for receive_count in (2, 8):
        plan = route(delivery(receive_count), ISV, happened)
        if plan.write is None:
            continue
        assert (plan.write.trade_key, plan.write.app_id, plan.write.merchant_id) == (
            "app:2021000000000009 merchant:2088M T-1", "2021000000000009", "2088M",
        )  # fmt: skip
        assert "token" not in repr(plan)
        if plan.dead_letter is not None:
            assert plan.dead_letter.trade_key == "app:2021000000000009 merchant:2088M T-1"


@pytest.mark.parametrize(
    ("what", "remedy", "said"),
    [
        ("the call timed out", "Redrive it.", "the call timed out. Redrive it."),
        ("the call timed out.", "Redrive it.", "the call timed out. Redrive it."),
        ("done!", None, "done!"),
        ("why?", "", "why?"),
        ("  padded  ", None, "padded."),
        ("", "Redrive it.", "Redrive it."),
        ("", None, ""),
        ("version 1.2", None, "version 1.2."),
        ("a.k.a. the proxy", None, "a.k.a. the proxy."),
        ("a proxy named EDGE-BOX", None, "a proxy named EDGE-BOX."),
    ],
)
def test_a_reason_and_its_remedy_read_as_sentences(what: str, remedy: str | None, said: str) -> None:
    assert sentence(what, remedy) == said


def test_a_failure_under_the_lease_states_no_alipay_fact_it_did_not_learn() -> None:
    """As the ledger store reads it: a field that is None is left as an earlier answer wrote it (an
    empty string would overwrite it)."""
    plan = route(delivery(), REQUEST, called(FROZEN))
    assert written(plan)._asdict() == {
        "status": "FAILED", "outcome_class": "terminal", "out_trade_no": "T-1", "trade_no": None,
        "action": None, "gmt_refund_pay": None, "refund_settlement_id": None, "retry_flag": None,
        "error_code": "40004", "error_sub_code": "ACQ.REASON_TRADE_BEEN_FREEZEN",
        "error_message": FROZEN_REASON, "remedy": BUSINESS_RULES["ACQ.REASON_TRADE_BEEN_FREEZEN"].remedy,
        "alipay_trace_id": "tr-1", "trade_status": None, "total_amount": None, "refund_amount": None,
        "refund_fee": None, "out_request_no": None, "refund_request_amount": None, "money_moved": False,
        "if_paid": "refund", "settled_reason": None,
    }  # fmt: skip


@pytest.mark.parametrize("max_receive_count", [1, 0])
def test_a_queue_that_allows_one_receive_makes_the_first_the_last(max_receive_count: int) -> None:
    """The redrive policy moves the message after its only receive: it must not leave the message."""
    once = dataclasses.replace(SCHEDULE, max_receive_count=max_receive_count)
    plan = route(delivery(1, schedule=once), REQUEST, called(TIMEOUT))
    assert (plan.ending, plan.acknowledge) == (Ending.EXHAUSTED, True)
    assert plan.dead_letter is not None and plan.dead_letter.reason.startswith("Gave up after 1 deliveries.")
    twice = dataclasses.replace(SCHEDULE, max_receive_count=2)
    assert route(delivery(1, schedule=twice), REQUEST, called(TIMEOUT)).ending is Ending.RETRY


# ------------------------------------------------------------------ identity and interrupted deliveries


def test_an_unusable_token_is_dead_lettered_whole_with_its_log_line() -> None:
    """No trade key and no record (the merchant is only the producer's word), but the codes Alipay gave,
    the delivery that got them and the line on-call reads."""
    decision = Decision(
        Ending.TERMINAL, "token dead", "re-authorise", code="40004", sub_code="isv.invalid-app-auth-token"
    )
    plan = route(delivery(3), ISV, IdentityUnconfirmed(decision, "trace-7"))
    assert plan.dead_letter == DeadLetter(
        body=BODY, reason="token dead. re-authorise", source_message_id="m-1", outcome_class=Ending.TERMINAL,
        error_code="40004", error_sub_code="isv.invalid-app-auth-token", alipay_trace_id="trace-7",
        trade_key=None, attempts=3,
    )  # fmt: skip
    assert (plan.write, plan.unrecorded, plan.metrics) == (None, None, ("OutcomeTerminal",))
    assert (plan.log, plan.log_level) == ("the app_auth_token cannot be used; dead-lettered", logging.WARNING)
    assert dict(plan.detail) == {
        "reason": "token dead", "remedy": "re-authorise", "error_code": "40004",
        "error_sub_code": "isv.invalid-app-auth-token",
    }  # fmt: skip


def test_a_delivery_interrupted_between_calls_comes_back_soon() -> None:
    """Too little time for the next call: back in seconds (not the backoff), the ledger going on."""
    answers = (Answer(Call(Op.CANCEL), TIMEOUT, classify(TIMEOUT, Op.CANCEL), AT),)
    start = Start("T-1", PaidTradePolicy.REFUND)
    happened = Answered(HOLDER, (), answers, 0, start, interrupted(answers, Call(Op.CANCEL)))
    plan = route(delivery(), REQUEST, happened)
    assert (plan.ending, plan.acknowledge, plan.visibility_seconds) == (
        Ending.RETRY,
        False,
        LOW_TIME_RETRY_SECONDS,
    )
    assert written(plan).remedy == "Nothing to do: a later delivery goes on from what the ledger recorded."
