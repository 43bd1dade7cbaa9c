"""The settle flow, one situation at a time: the calls it makes and how the delivery ends."""

from __future__ import annotations

import dataclasses

import pytest

from alipay_cancel.alipay import FailureKind, TradeOutcome, TradeStatus
from alipay_cancel.decisions.alipay_codes import RetryDelay
from alipay_cancel.decisions.classification import business_code
from alipay_cancel.decisions.refund_request import RefundRequest, request_number
from alipay_cancel.decisions.steps import (
    MAX_CALLS,
    REFUND_CONFIRM_SECONDS,
    Call,
    Start,
    next_step,
    settle_code,
)
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import Op, Status
from alipay_cancel.shared.trade import PaidTradePolicy
from tests.settle_support import (
    BAD_SIGNATURE,
    NOT_OURS,
    TIMEOUT,
    TOTAL,
    business,
    cancel_ok,
    close_ok,
    failed,
    query_ok,
    refund_ok,
    refund_query_ok,
    run,
)

KEY = "T-1"
REFUND = Start(KEY, PaidTradePolicy.REFUND)
KEEP = Start(KEY, PaidTradePolicy.KEEP)
OURS = RefundRequest(request_number(KEY), TOTAL)
UNPAID, PAID = TradeStatus.WAIT_BUYER_PAY, TradeStatus.TRADE_SUCCESS
FINISHED, CLOSED = TradeStatus.TRADE_FINISHED, TradeStatus.TRADE_CLOSED
TIME_OUT = business("ACQ.TRADE_CANCEL_TIME_OUT")


def ops(calls: list[Call]) -> list[str]:
    return [call.op.value for call in calls]


# ---- the first call ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "first"),
    [
        (REFUND, Call(Op.CANCEL)),
        (KEEP, Call(Op.QUERY)),
        (REFUND._replace(unanswered=Op.CANCEL), Call(Op.QUERY)),
        (REFUND._replace(unanswered=Op.CLOSE), Call(Op.QUERY)),
        (REFUND._replace(unanswered=Op.QUERY), Call(Op.QUERY)),
        (KEEP._replace(unanswered=Op.CLOSE), Call(Op.QUERY)),
        # An unconfirmed refund of ours comes first, whatever the policy or the unanswered call.
        (REFUND._replace(unanswered=Op.REFUND, refund=OURS), Call(Op.REFUND_QUERY, OURS)),
        (KEEP._replace(refund=OURS), Call(Op.REFUND_QUERY, OURS)),
        (REFUND._replace(unanswered=Op.CANCEL, refund=OURS), Call(Op.REFUND_QUERY, OURS)),
    ],
)
def test_the_first_call(start: Start, first: Call) -> None:
    assert next_step(start, ()) == first


# ---- cancel -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "status"), [("close", Status.CLOSED), ("refund", Status.REFUNDED), (None, Status.NOT_FOUND)]
)
def test_cancel_settles_by_its_action(action: str | None, status: Status) -> None:
    calls, end, _ = run(REFUND, [cancel_ok(action)])
    assert ops(calls) == ["cancel"] and end.status is status
    assert end.decision.outcome is Ending.SUCCEEDED and end.wait_seconds == 0


def test_cancel_asking_for_a_retry_leaves_the_message() -> None:
    _, end, _ = run(REFUND, [cancel_ok(None, retry_flag="Y")])
    assert (end.status, end.decision.outcome, end.wait_seconds) == (Status.RETRYING, Ending.RETRY, 0)


@pytest.mark.parametrize(
    "code",
    [
        "ACQ.TRADE_CANCEL_TIME_OUT",
        "ACQ.CANCEL_NOT_ALLOWED",
        "ACQ.TRADE_HAS_SUCCESS",
        "ACQ.REASON_TRADE_REFUND_FEE_ERR",
    ],
)
@pytest.mark.parametrize("envelope", [False, True])
def test_what_cancel_cannot_settle_is_queried_then_closed_or_refunded(code: str, envelope: bool) -> None:
    calls, end, _ = run(REFUND, [business(code, envelope=envelope), query_ok(UNPAID), close_ok()])
    assert ops(calls) == ["cancel", "query", "close"] and end.status is Status.CLOSED
    calls, end, _ = run(REFUND, [business(code, envelope=envelope), query_ok(PAID), refund_ok("Y")])
    assert ops(calls) == ["cancel", "query", "refund"] and end.status is Status.REFUNDED
    assert calls[2].refund == OURS


def test_a_settle_code_that_is_not_signed_is_retried_never_settled_on() -> None:
    calls, end, _ = run(REFUND, [business("ACQ.TRADE_CANCEL_TIME_OUT", verified=False)])
    assert ops(calls) == ["cancel"]
    assert (end.status, end.decision.outcome) == (Status.RETRYING, Ending.RETRY)
    assert "not signed by Alipay" in end.decision.reason


@pytest.mark.parametrize(
    "code", ["ACQ.TRADE_HAS_FINISHED", "ACQ.REASON_TRADE_BEEN_FREEZEN", "ACQ.INVALID_PARAMETER"]
)
def test_what_no_call_settles_fails_at_cancel(code: str) -> None:
    calls, end, _ = run(REFUND, [business(code)])
    assert ops(calls) == ["cancel"] and end.status is Status.FAILED
    assert end.decision.outcome is Ending.TERMINAL and end.decision.code == code


def test_a_cancel_answer_that_cannot_be_bound_is_settled_by_query() -> None:
    """A trade known only by trade_no that Alipay does not know: cancel's answer names no id of ours."""
    calls, end, _ = run(REFUND, [NOT_OURS, business("ACQ.TRADE_NOT_EXIST")])
    assert ops(calls) == ["cancel", "query"] and end.status is Status.NOT_FOUND


def test_a_cancel_that_timed_out_is_retried_later() -> None:
    calls, end, _ = run(REFUND, [TIMEOUT])
    assert ops(calls) == ["cancel"]
    assert (end.status, end.wait_seconds, end.decision.delay) == (Status.RETRYING, 0, RetryDelay.NORMAL)


# ---- query ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [REFUND, KEEP])
def test_an_unknown_trade_is_not_found(start: Start) -> None:
    script = [business("ACQ.TRADE_NOT_EXIST")]
    if start.policy is PaidTradePolicy.REFUND:
        script.insert(0, TIME_OUT)
    _, end, _ = run(start, script)
    assert end.status is Status.NOT_FOUND and end.decision.outcome is Ending.SUCCEEDED


def test_keep_never_cancels_and_keeps_a_paid_trade() -> None:
    calls, end, _ = run(KEEP, [query_ok(PAID)])
    assert ops(calls) == ["query"] and end.status is Status.KEPT
    calls, end, _ = run(KEEP, [query_ok(FINISHED)])
    assert ops(calls) == ["query"] and end.status is Status.KEPT


@pytest.mark.parametrize("start", [REFUND, KEEP])
def test_an_unpaid_trade_is_closed_under_both_policies(start: Start) -> None:
    first = [] if start.policy is PaidTradePolicy.KEEP else [TIME_OUT]
    calls, end, _ = run(start, [*first, query_ok(UNPAID), close_ok()])
    assert ops(calls)[-2:] == ["query", "close"] and end.status is Status.CLOSED


def test_a_buyer_paying_before_the_close_is_kept_under_keep() -> None:
    calls, end, _ = run(KEEP, [query_ok(UNPAID), business("ACQ.TRADE_STATUS_ERROR"), query_ok(PAID)])
    assert ops(calls) == ["query", "close", "query"] and end.status is Status.KEPT


def test_a_buyer_paying_before_the_close_is_refunded_under_refund() -> None:
    script = [TIME_OUT, query_ok(UNPAID), business("ACQ.TRADE_STATUS_ERROR"), query_ok(PAID), refund_ok("Y")]
    calls, end, _ = run(REFUND, script)
    assert ops(calls) == ["cancel", "query", "close", "query", "refund"] and end.status is Status.REFUNDED
    assert len(calls) < MAX_CALLS


def test_a_finished_trade_fails_under_refund_with_a_remedy_no_call_can_settle() -> None:
    calls, end, _ = run(REFUND, [TIME_OUT, query_ok(FINISHED)])
    assert ops(calls) == ["cancel", "query"] and end.status is Status.FAILED
    assert end.decision.outcome is Ending.TERMINAL
    assert "cannot succeed" in (end.decision.remedy or "") and "TRADE_FINISHED" in end.decision.reason


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (query_ok(CLOSED, paid=False), Status.CLOSED),
        (query_ok(CLOSED, paid=True), Status.REFUNDED),
        (query_ok(CLOSED, paid=False, buyer_pay="0.01"), Status.REFUNDED),
        (query_ok(CLOSED, paid=False, buyer_pay="0.00"), Status.CLOSED),
    ],
)
@pytest.mark.parametrize("start", [REFUND, KEEP])
def test_a_closed_trade_is_recorded_as_alipay_shows_it(
    answer: TradeOutcome, status: Status, start: Start
) -> None:
    first = [] if start.policy is PaidTradePolicy.KEEP else [business("ACQ.REASON_TRADE_REFUND_FEE_ERR")]
    _, end, _ = run(start, [*first, answer])
    assert end.status is status and end.decision.outcome is Ending.SUCCEEDED


def test_a_paid_trade_without_an_order_amount_is_not_refunded_by_a_guess() -> None:
    calls, end, _ = run(REFUND, [TIME_OUT, query_ok(PAID, total=None)])
    assert ops(calls) == ["cancel", "query"]
    assert (end.status, end.decision.outcome) == (Status.RETRYING, Ending.RETRY)
    _, end, _ = run(REFUND, [TIME_OUT, query_ok(PAID, total="0.00")])
    assert end.status is Status.RETRYING


# ---- refund and its confirmation ---------------------------------------------------------------------


@pytest.mark.parametrize("fund_change", ["N", None])
def test_a_refund_without_fund_change_y_waits_for_its_confirmation(fund_change: str | None) -> None:
    _, end, _ = run(REFUND, [TIME_OUT, query_ok(PAID), refund_ok(fund_change)])
    assert (end.status, end.wait_seconds) == (Status.RETRYING, REFUND_CONFIRM_SECONDS)
    assert "fund_change" in end.decision.reason


@pytest.mark.parametrize(
    "outcome", [TIMEOUT, business("ACQ.SYSTEM_ERROR"), failed(FailureKind.HTTP_ERROR, 502)]
)
def test_a_refund_whose_answer_is_lost_is_confirmed_no_sooner_than_alipay_allows(
    outcome: TradeOutcome,
) -> None:
    _, end, _ = run(REFUND, [TIME_OUT, query_ok(PAID), outcome])
    assert (end.status, end.wait_seconds, end.decision.outcome) == (Status.RETRYING, 10, Ending.RETRY)


def test_a_refund_short_of_balance_is_retried_slowly() -> None:
    _, end, _ = run(REFUND, [TIME_OUT, query_ok(PAID), business("ACQ.SELLER_BALANCE_NOT_ENOUGH")])
    assert (end.status, end.decision.delay, end.wait_seconds) == (Status.RETRYING, RetryDelay.SLOW, 10)


@pytest.mark.parametrize(
    "code",
    ["ACQ.REASON_TRADE_BEEN_FREEZEN", "ACQ.REASON_TRADE_REFUND_FEE_ERR", "ACQ.DISCORDANT_REPEAT_REQUEST"],
)
def test_a_refund_no_call_can_settle_fails(code: str) -> None:
    _, end, _ = run(REFUND, [TIME_OUT, query_ok(PAID), business(code)])
    assert (end.status, end.decision.code) == (Status.FAILED, code)


@pytest.mark.parametrize(
    ("code", "then", "status"),
    [
        ("ACQ.TRADE_HAS_CLOSE", query_ok(CLOSED, paid=True), Status.REFUNDED),
        ("ACQ.TRADE_HAS_CLOSE", query_ok(CLOSED, paid=False), Status.CLOSED),
        ("ACQ.TRADE_HAS_FINISHED", query_ok(FINISHED), Status.FAILED),
        ("ACQ.TRADE_NOT_EXIST", business("ACQ.TRADE_NOT_EXIST"), Status.NOT_FOUND),
    ],
)
def test_a_refund_refused_for_the_trades_state_reads_the_state_again(
    code: str, then: TradeOutcome, status: Status
) -> None:
    calls, end, _ = run(REFUND, [TIME_OUT, query_ok(PAID), business(code), then])
    assert ops(calls) == ["cancel", "query", "refund", "query"] and end.status is status


def test_a_refund_refused_as_unpaid_closes_the_trade() -> None:
    script = [TIME_OUT, query_ok(PAID), business("ACQ.TRADE_STATUS_ERROR"), query_ok(UNPAID), close_ok()]
    calls, end, _ = run(REFUND, script)
    assert ops(calls)[-2:] == ["query", "close"] and end.status is Status.CLOSED


def test_an_unconfirmed_refund_is_confirmed_by_the_refund_query() -> None:
    calls, end, _ = run(REFUND._replace(refund=OURS), [refund_query_ok(True)])
    assert calls == [Call(Op.REFUND_QUERY, OURS)] and end.status is Status.REFUNDED


@pytest.mark.parametrize("start", [REFUND, KEEP])
def test_a_refund_alipay_never_did_is_sent_again_unchanged(start: Start) -> None:
    """Once sent, a refund is finished whatever the policy: Alipay may still carry it out."""
    calls, end, _ = run(start._replace(refund=OURS), [refund_query_ok(False), refund_ok("Y")])
    assert calls == [Call(Op.REFUND_QUERY, OURS), Call(Op.REFUND, OURS)] and end.status is Status.REFUNDED


def test_a_refund_never_done_on_a_trade_found_closed_is_not_sent_again() -> None:
    script = [refund_query_ok(False), business("ACQ.TRADE_HAS_CLOSE"), query_ok(CLOSED, paid=True)]
    calls, end, _ = run(REFUND._replace(refund=OURS), script)
    assert ops(calls) == ["refund_query", "refund", "query"] and end.status is Status.REFUNDED
    script = [business("TRADE_NOT_EXIST"), query_ok(PAID), refund_ok("Y")]
    calls, end, _ = run(KEEP._replace(refund=OURS), script)
    assert calls[2] == Call(Op.REFUND, OURS) and end.status is Status.REFUNDED


def test_a_refund_query_that_fails_leaves_the_message_without_extra_wait() -> None:
    _, end, _ = run(REFUND._replace(refund=OURS), [TIMEOUT])
    assert (end.status, end.wait_seconds) == (Status.RETRYING, 0)


def test_a_refund_query_found_nothing_after_a_query_follows_the_state() -> None:
    script = [business("TRADE_NOT_EXIST"), query_ok(CLOSED, paid=False)]
    calls, end, _ = run(REFUND._replace(refund=OURS), script)
    assert ops(calls) == ["refund_query", "query"] and end.status is Status.CLOSED


# ---- keys, bounds -----------------------------------------------------------------------------------


def test_a_signature_problem_repeats_the_same_call_once_with_fresh_keys() -> None:
    calls, end, _ = run(REFUND, [TIME_OUT, query_ok(PAID), BAD_SIGNATURE, refund_ok("Y")])
    assert calls[2:] == [Call(Op.REFUND, OURS), Call(Op.REFUND, OURS, fresh_keys=True)]
    assert end.status is Status.REFUNDED
    calls, end, _ = run(REFUND, [BAD_SIGNATURE, BAD_SIGNATURE])
    assert calls == [Call(Op.CANCEL), Call(Op.CANCEL, fresh_keys=True)] and end.status is Status.RETRYING


def test_a_trade_whose_state_keeps_changing_is_left_after_max_calls() -> None:
    flip = [query_ok(UNPAID), business("ACQ.TRADE_STATUS_ERROR")] * MAX_CALLS
    calls, end, _ = run(KEEP, flip[:MAX_CALLS])
    assert len(calls) == MAX_CALLS
    assert (end.status, end.decision.outcome) == (Status.RETRYING, Ending.RETRY)
    assert str(MAX_CALLS) in end.decision.reason


# ---- reading codes ----------------------------------------------------------------------------------


def test_business_codes_in_both_shapes_and_the_sandbox_prefix() -> None:
    assert business_code(business("ACQ.TRADE_NOT_EXIST")) == "ACQ.TRADE_NOT_EXIST"
    assert business_code(business("aop.ACQ.TRADE_NOT_EXIST")) == "ACQ.TRADE_NOT_EXIST"
    assert business_code(business(" ACQ.TRADE_HAS_CLOSE ", envelope=True)) == "ACQ.TRADE_HAS_CLOSE"
    assert business_code(business("", envelope=True)) is None
    assert business_code(TIMEOUT) is None
    seed_20000 = dataclasses.replace(business("ACQ.TRADE_NOT_EXIST", envelope=True), code="20000")
    assert business_code(seed_20000) is None


def test_settle_codes_are_per_operation_and_verified_only() -> None:
    assert settle_code(Op.REFUND_QUERY, business("TRADE_NOT_EXIST")) == "TRADE_NOT_EXIST"
    assert settle_code(Op.QUERY, business("TRADE_NOT_EXIST")) is None
    assert settle_code(Op.CLOSE, business("ACQ.TRADE_HAS_CLOSE")) is None
    assert settle_code(Op.REFUND, business("ACQ.TRADE_HAS_CLOSE")) == "ACQ.TRADE_HAS_CLOSE"
    assert settle_code(Op.REFUND, business("ACQ.TRADE_HAS_CLOSE", verified=False)) is None


def test_not_even_a_repeat_with_fresh_keys_goes_past_max_calls() -> None:
    flip = [query_ok(UNPAID), business("ACQ.TRADE_STATUS_ERROR")] * MAX_CALLS
    calls, end, _ = run(KEEP, [*flip[: MAX_CALLS - 1], BAD_SIGNATURE])
    assert len(calls) == MAX_CALLS and not any(call.fresh_keys for call in calls)
    assert end.status is Status.RETRYING and str(MAX_CALLS) in end.decision.reason
