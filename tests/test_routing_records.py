"""What routing writes, whole: the trade's record, the dead letter's attributes and the exact metrics,
for the endings a person reads afterwards (the record in the results table, the dead letter's
attributes, the alarms). Pure: no moto, no HTTP."""

from __future__ import annotations

import pytest

from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.decisions.alipay_codes import BUSINESS_RULES
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.last_receive import unrecorded
from alipay_cancel.decisions.plans import (
    Attempt,
    Called,
    Delivery,
    Happened,
    InProgress,
    Replayed,
    SetupBroken,
    StoreFailed,
    TooLittleTime,
    Unreadable,
    Wait,
)
from alipay_cancel.decisions.remedies import REMEDIES, Remedy
from alipay_cancel.decisions.routing import LOW_TIME_RETRY_SECONDS, route
from alipay_cancel.pipeline.messages import CancelRequest
from alipay_cancel.stores.dead_letters import DeadLetter
from alipay_cancel.stores.results import ResultRecord, Status

REQUEST = CancelRequest(out_trade_no="T-1", trade_no=None, app_auth_token=None)
BODY = '{"out_trade_no": "T-1"}'
FROZEN = AlipayFailure(
    FailureKind.BUSINESS, "m", 200, "40004", "ACQ.REASON_TRADE_BEEN_FREEZEN", trace_id="tr-1", verified=True
)
TIMEOUT = AlipayFailure(FailureKind.TIMEOUT, "read timed out", trace_id=None)
OUR_SIGNATURE = AlipayFailure(
    FailureKind.V3_ERROR, "m", 401, "invalid-signature", trace_id="tr-2", verified=True
)
SUCCESS = CancelSuccess("refund", "2024-05-01 10:00:00", "T-1", "S-1", "N", "2088", "tr-3")


def delivery(receive_count: int = 2, *, age_days: float = 0, sent_hours: float = 0) -> Delivery:
    return Delivery(
        "m-1", BODY, receive_count, 8, int(age_days * 86_400), 14 * 86_400, int(sent_hours * 3600)
    )


def called(outcome: CancelSuccess | AlipayFailure, calls: int = 1) -> Called:
    return Called(Attempt(outcome, classify(outcome), calls))


FROZEN_REASON = (
    "the trade is frozen by Alipay, so it cannot be cancelled now "
    "(HTTP 200, code 40004, sub_code ACQ.REASON_TRADE_BEEN_FREEZEN, business)"
)


def test_a_terminal_answer_is_recorded_failed_and_dead_lettered_with_alipays_codes() -> None:
    plan = route(delivery(3), REQUEST, called(FROZEN))
    remedy = BUSINESS_RULES["ACQ.REASON_TRADE_BEEN_FREEZEN"].remedy
    assert plan.record == ResultRecord(
        trade_key="T-1", status=Status.FAILED, outcome_class="terminal", message_id="m-1", alipay_calls=1,
        out_trade_no="T-1", error_code="40004", error_sub_code="ACQ.REASON_TRADE_BEEN_FREEZEN",
        error_message=FROZEN_REASON, remedy=remedy, alipay_trace_id="tr-1",
    )  # fmt: skip
    assert plan.dead_letter == DeadLetter(
        body=BODY, reason=f"{FROZEN_REASON}. {remedy}", source_message_id="m-1", outcome_class="terminal",
        error_code="40004", error_sub_code="ACQ.REASON_TRADE_BEEN_FREEZEN", alipay_trace_id="tr-1",
        trade_key="T-1", attempts=3,
    )  # fmt: skip
    assert plan.metrics == ("OutcomeTerminal",)
    assert (plan.acknowledge, plan.log_level) == (True, "warning")
    assert (
        plan.detail["error_code"] == "40004"
        and plan.detail["error_sub_code"] == "ACQ.REASON_TRADE_BEEN_FREEZEN"
    )


def test_a_retry_records_what_went_wrong_and_leaves_the_message() -> None:
    plan = route(delivery(), REQUEST, called(TIMEOUT))
    assert plan.record is not None and plan.dead_letter is None
    assert (plan.record.status, plan.record.outcome_class, plan.record.alipay_calls) == (
        Status.RETRYING, "retry", 1,
    )  # fmt: skip
    assert plan.record.error_message == (
        "the call to Alipay timed out; whether the cancel happened is unknown (timeout)"
    )
    assert (plan.record.error_code, plan.record.remedy, plan.record.alipay_trace_id) == (None, None, None)
    assert (plan.wait, plan.metrics, plan.log_level) == (Wait.BACKOFF, ("OutcomeRetry",), "info")
    assert "error_code" not in plan.detail and "error_sub_code" not in plan.detail


def test_a_configuration_error_is_kept_with_an_alarm_and_its_remedy() -> None:
    plan = route(delivery(), REQUEST, called(OUR_SIGNATURE, calls=2))
    assert plan.record is not None
    assert (plan.record.status, plan.record.outcome_class, plan.record.alipay_calls) == (
        Status.RETRYING, "config_error", 2,
    )  # fmt: skip
    assert (plan.record.error_code, plan.record.alipay_trace_id) == ("invalid-signature", "tr-2")
    assert plan.record.remedy and "private_key" in plan.record.remedy
    assert plan.metrics == ("OutcomeConfigError", "ConfigurationError")
    assert (plan.wait, plan.log_level) == (Wait.SLOW_BACKOFF, "error")


def test_a_broken_signing_setup_is_a_configuration_error_with_the_default_remedy() -> None:
    plan = route(delivery(), REQUEST, SetupBroken("secret not found"))
    assert plan.record is not None
    assert (plan.record.error_message, plan.record.remedy) == (
        "secret not found", REMEDIES[Remedy.SIGNING_SETUP],
    )  # fmt: skip
    assert plan.record.alipay_calls == 0
    named = route(delivery(), REQUEST, SetupBroken("secret x not found", "create secret x"))
    assert named.record is not None and named.record.remedy == "create secret x"


def test_a_success_is_recorded_with_alipays_fields_and_a_fallback_letter() -> None:
    plan = route(delivery(), REQUEST, called(SUCCESS))
    assert plan.record == ResultRecord(
        trade_key="T-1", status=Status.SUCCEEDED, outcome_class="succeeded", message_id="m-1",
        alipay_calls=1, out_trade_no="T-1", trade_no="2088", action="refund",
        gmt_refund_pay="2024-05-01 10:00:00", refund_settlement_id="S-1", retry_flag="N",
        alipay_trace_id="tr-3",
    )  # fmt: skip
    assert plan.fallback_letter is not None and plan.fallback_letter.outcome_class == "exhausted"
    assert plan.fallback_letter.reason == (
        f"Alipay cancelled the payment (action refund). {REMEDIES[Remedy.UNRECORDED_SUCCESS]}"
    )
    assert (plan.metrics, plan.dead_letter, plan.log_level) == (("OutcomeSucceeded",), None, "info")
    assert plan.detail == {"action": "refund", "replayed": False}
    replayed = route(delivery(), REQUEST, Replayed(SUCCESS))
    assert replayed.detail == {"action": "refund", "replayed": True}
    assert replayed.record is not None and replayed.record.alipay_calls == 0


def test_a_bad_message_is_dead_lettered_at_once_with_its_trade_key() -> None:
    plan = route(delivery(1), None, Unreadable("out_trade_no is empty", "T-1"))
    remedy = REMEDIES[Remedy.BAD_MESSAGE]
    assert plan.record == ResultRecord(
        trade_key="T-1", status=Status.FAILED, outcome_class="bad_message", message_id="m-1", alipay_calls=0,
        error_message="out_trade_no is empty", remedy=remedy,
    )  # fmt: skip
    assert plan.dead_letter == DeadLetter(
        body=BODY, reason=f"Bad message, not retried: out_trade_no is empty. {remedy}",
        source_message_id="m-1", outcome_class="bad_message", trade_key="T-1", attempts=1,
    )  # fmt: skip
    assert plan.metrics == ("OutcomeBadMessage",)


@pytest.mark.parametrize(
    ("happened", "metrics"),
    [
        (called(TIMEOUT), ("OutcomeExhausted",)),
        (called(OUR_SIGNATURE), ("OutcomeConfigError", "ConfigurationError", "RequeuedWhileMisconfigured")),
        (InProgress(), ("OutcomeExhausted", "DuplicateInFlight")),
        (TooLittleTime(900, 15000), ("DeferredLowTime",)),
        (StoreFailed("Throttling"), ("OutcomeExhausted", "InfrastructureError")),
        (
            StoreFailed("Throttling", Attempt(SUCCESS, classify(SUCCESS))),
            ("OutcomeExhausted", "InfrastructureError"),
        ),
        (
            StoreFailed("Throttling", Attempt(FROZEN, classify(FROZEN))),
            ("OutcomeTerminal", "InfrastructureError"),
        ),
    ],
)
def test_the_last_receive_counts_exactly_these_metrics(happened: Happened, metrics: tuple[str, ...]) -> None:
    """An ending's own outcome metric is replaced by OutcomeExhausted, its other metrics are kept."""
    assert route(delivery(8), REQUEST, happened).metrics == metrics


def test_a_store_failure_before_the_last_receive_only_counts_the_infrastructure() -> None:
    plan = route(delivery(), REQUEST, StoreFailed("Throttling"))
    assert (plan.metrics, plan.wait, plan.record) == (("InfrastructureError",), Wait.QUEUE_DEFAULT, None)


def test_the_last_receive_records_and_dead_letters_what_went_wrong() -> None:
    plan = route(delivery(8), REQUEST, called(TIMEOUT))
    reason = "the call to Alipay timed out; whether the cancel happened is unknown (timeout)"
    assert plan.record is not None and plan.dead_letter is not None
    assert (plan.record.status, plan.record.outcome_class, plan.record.alipay_calls) == (
        Status.FAILED, "exhausted", 1,
    )  # fmt: skip
    assert plan.record.error_message == reason
    assert plan.dead_letter == DeadLetter(
        body=BODY, reason=f"Gave up after 8 deliveries. Last error: {reason}. {REMEDIES[Remedy.GAVE_UP]}",
        source_message_id="m-1", outcome_class="exhausted", trade_key="T-1", attempts=8,
    )  # fmt: skip
    assert (
        plan.log
        == "cancel will be retried; but this was the last allowed receive: dead-lettered with the reason"
    )


def test_the_retry_horizon_says_how_long_it_tried() -> None:
    plan = route(delivery(3, sent_hours=30), REQUEST, called(TIMEOUT))
    assert plan.dead_letter is not None
    assert plan.dead_letter.reason.startswith(
        "Gave up after 3 deliveries over 30 h (the retry horizon is 24 h)."
    )
    assert plan.log.endswith("but the retry horizon is reached: dead-lettered with the reason")


def test_a_duplicate_in_flight_on_the_last_receive_writes_no_record_and_says_to_check_it() -> None:
    plan = route(delivery(8), REQUEST, InProgress())
    assert plan.record is None and plan.dead_letter is not None
    assert plan.dead_letter.reason.endswith(REMEDIES[Remedy.DUPLICATE_IN_FLIGHT])
    assert (plan.dead_letter.trade_key, plan.dead_letter.attempts) == ("T-1", 8)


def test_a_result_not_recorded_keeps_the_letters_codes_and_counts_the_infrastructure() -> None:
    plan = unrecorded(route(delivery(8), REQUEST, called(FROZEN)), "Throttling")
    assert plan.dead_letter is not None
    assert plan.dead_letter.reason.startswith(
        "The FAILED result could not be recorded on the last allowed delivery (Throttling); the trade's "
        f"result record may be missing or out of date. {FROZEN_REASON[0].upper()}{FROZEN_REASON[1:]}"
    )
    assert (plan.dead_letter.error_code, plan.dead_letter.outcome_class) == ("40004", "terminal")
    assert plan.metrics == ("OutcomeTerminal", "InfrastructureError")
    assert plan.fallback_letter is None and plan.detail["error"] == "Throttling"


# ------------------------------------------------------------------ the log line on-call reads

RETRIED = "cancel will be retried"
LAST = "; but this was the last allowed receive: dead-lettered with the reason"
KEPT = "configuration error: the cancel is kept and retried until it is fixed"
FAILED = "cancel failed for good; dead-lettered"
IN_PROGRESS = "cancel already in progress for this trade; retrying later"
STORE = "idempotency store failed; message will be retried"
WHY = {"reason", "remedy"}
CODES = {"error_code", "error_sub_code"}
LOG_ROWS = [
    (2, TooLittleTime(900, 15000), "not enough invocation time left to call Alipay; retrying soon", "warning",
     WHY | {"needed_ms", "remaining_ms"}),
    (2, InProgress(), IN_PROGRESS, "info", WHY),
    (2, StoreFailed("Throttling"), STORE, "warning", {"error"}),
    (2, SetupBroken("secret not found"), KEPT, "error", WHY),
    (2, called(TIMEOUT), RETRIED, "info", WHY),
    (2, called(FROZEN), FAILED, "warning", WHY | CODES),
    (2, called(OUR_SIGNATURE), KEPT, "error", WHY | {"error_code"}),
    (2, called(SUCCESS), "cancel succeeded", "info", {"action", "replayed"}),
    (8, TooLittleTime(900, 15000),
     "too little time left on the last allowed receive: message re-enqueued unchanged, untried", "warning",
     WHY | {"needed_ms", "remaining_ms"}),
    (8, InProgress(), IN_PROGRESS + LAST, "warning", WHY),
    (8, StoreFailed("Throttling"), RETRIED + LAST, "warning", WHY | {"alipay_called", "error"}),
    (8, SetupBroken("secret not found"),
     "configuration error on the last allowed receive: message re-enqueued unchanged, kept", "error", WHY),
    (8, StoreFailed("Throttling", Attempt(FROZEN, classify(FROZEN))), FAILED, "warning",
     WHY | CODES | {"alipay_called", "error"}),
]  # fmt: skip


@pytest.mark.parametrize(("receive_count", "happened", "log", "level", "fields"), LOG_ROWS)
def test_each_ending_logs_what_happened_at_its_level_with_its_fields(
    receive_count: int, happened: Happened, log: str, level: str, fields: set[str]
) -> None:
    plan = route(delivery(receive_count), REQUEST, happened)
    assert (plan.log, plan.log_level, set(plan.detail)) == (log, level, fields)
    if isinstance(happened, TooLittleTime):
        assert (plan.detail["remaining_ms"], plan.detail["needed_ms"]) == (900, 15000)
        assert plan.detail["remedy"] == REMEDIES[Remedy.LOW_TIME]
    if isinstance(happened, InProgress):
        assert plan.detail["remedy"] == REMEDIES[Remedy.DUPLICATE_IN_FLIGHT]
        assert str(plan.detail["reason"]).startswith("each time, a cancel of the same trade was already")
    if isinstance(happened, StoreFailed):
        assert plan.detail["error"] == "Throttling"
        if "alipay_called" in fields:
            assert plan.detail["alipay_called"] is (happened.attempt is not None)


def test_a_bad_message_logs_its_reason_as_a_warning() -> None:
    plan = route(delivery(1), None, Unreadable("not JSON", None))
    assert (plan.log, plan.log_level, dict(plan.detail)) == (
        "bad message dead-lettered",
        "warning",
        {"reason": "not JSON"},
    )


def test_a_store_failure_on_the_last_receive_keeps_what_alipay_said() -> None:
    plan = route(delivery(8), REQUEST, StoreFailed("Throttling"))
    assert plan.record is not None and plan.record.remedy == REMEDIES[Remedy.IDEMPOTENCY_STORE]
    assert plan.record.error_message == "The idempotency store failed before Alipay was called (Throttling)"
    frozen = route(delivery(8), REQUEST, StoreFailed("Throttling", Attempt(FROZEN, classify(FROZEN))))
    assert frozen.record is not None and frozen.dead_letter is not None
    assert (frozen.record.alipay_trace_id, frozen.dead_letter.alipay_trace_id) == ("tr-1", "tr-1")
    success = route(delivery(8), REQUEST, StoreFailed("Throttling", Attempt(SUCCESS, classify(SUCCESS))))
    assert success.record is not None and success.record.remedy == REMEDIES[Remedy.UNREMEMBERED_SUCCESS]
    assert success.record.action == "refund" and success.record.alipay_trace_id == "tr-3"


def test_a_successs_fallback_letter_carries_the_trade_and_alipays_trace_id() -> None:
    plan = route(delivery(5), REQUEST, called(SUCCESS))
    assert plan.fallback_letter is not None
    assert (plan.fallback_letter.trade_key, plan.fallback_letter.attempts) == ("T-1", 5)
    assert (plan.fallback_letter.alipay_trace_id, plan.fallback_letter.body) == ("tr-3", BODY)


# ------------------------------------------------------------------ the last receive's rule at its bounds

BALANCE = AlipayFailure(
    FailureKind.V3_ERROR, "m", 400, "ACQ.SELLER_BALANCE_NOT_ENOUGH", trace_id="tr-4", verified=True
)


def test_a_given_up_letter_carries_the_last_answers_codes() -> None:
    plan = route(delivery(3, sent_hours=30), REQUEST, called(BALANCE))
    assert plan.dead_letter is not None and plan.record is not None
    assert (plan.dead_letter.error_code, plan.dead_letter.alipay_trace_id) == (
        "ACQ.SELLER_BALANCE_NOT_ENOUGH",
        "tr-4",
    )
    assert (plan.record.status, plan.record.outcome_class, plan.record.error_code) == (
        Status.FAILED, "exhausted", "ACQ.SELLER_BALANCE_NOT_ENOUGH",
    )  # fmt: skip


def test_untried_past_the_retention_records_why_and_what_to_do() -> None:
    plan = route(delivery(8, age_days=13.99), REQUEST, TooLittleTime(900, 15000))
    assert plan.record is not None
    reason = "Not enough time left in the invocation to call Alipay (900 ms left, 15000 ms needed); not tried"
    assert (plan.record.status, plan.record.error_message) == (Status.FAILED, reason)
    assert plan.record.remedy == f"{REMEDIES[Remedy.UNTRIED_TOO_LONG]} {REMEDIES[Remedy.LOW_TIME]}"


def test_a_kept_message_is_requeued_only_while_the_requeue_delay_fits_in_the_retention() -> None:
    retention = 14 * 86_400
    fits = Delivery("m-1", BODY, 8, 8, retention - 901, retention)
    assert route(fits, REQUEST, SetupBroken("x")).requeue
    full = Delivery("m-1", BODY, 8, 8, retention - 900, retention)
    given_up = route(full, REQUEST, SetupBroken("x"))
    assert not given_up.requeue and given_up.dead_letter is not None
    assert given_up.dead_letter.outcome_class == "exhausted"


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
    late = Delivery("m-1", BODY, 3, 8, sent, 14 * 86_400, sent, horizon)
    plan = route(late, REQUEST, called(TIMEOUT))
    assert plan.dead_letter is not None
    assert plan.dead_letter.reason.startswith(f"Gave up after 3 deliveries {says}.")


def test_an_unrecorded_success_sends_its_fallback_once_and_says_so() -> None:
    plan = unrecorded(route(delivery(8), REQUEST, called(SUCCESS)), "Throttling")
    assert plan.fallback_letter is None and plan.dead_letter is not None
    assert plan.dead_letter.outcome_class == "exhausted"
    assert plan.dead_letter.reason.startswith("The SUCCEEDED result could not be recorded")
    assert (plan.log, plan.log_level) == (
        "result not recorded on the last allowed receive; dead-lettered with the reason", "warning",
    )  # fmt: skip


def test_an_untried_message_comes_back_in_five_seconds() -> None:
    """README "How a batch is processed": handed back, visible again in 5 s."""
    assert LOW_TIME_RETRY_SECONDS == 5
    assert route(delivery(), REQUEST, TooLittleTime(900, 15000)).wait is Wait.SOON


def test_a_configuration_broken_past_the_retention_says_to_fix_it_then_redrive() -> None:
    plan = route(delivery(8, age_days=13.99), REQUEST, SetupBroken("secret not found"))
    assert plan.record is not None and plan.dead_letter is not None
    remedy = f"{REMEDIES[Remedy.MISCONFIGURED_TOO_LONG]} {REMEDIES[Remedy.SIGNING_SETUP]}"
    assert (plan.record.status, plan.record.outcome_class) == (Status.FAILED, "exhausted")
    assert plan.dead_letter.reason == f"Gave up after 8 deliveries. Last error: secret not found. {remedy}"
