"""The facts a delivery's answers give the ledger item and the outcome event."""

from __future__ import annotations

from alipay_cancel.alipay import TradeOutcome, TradeStatus
from alipay_cancel.decisions.refund_request import RefundRequest, request_number
from alipay_cancel.decisions.settle_facts import TradeFacts, trade_facts
from alipay_cancel.decisions.steps import Start
from alipay_cancel.shared.trade import PaidTradePolicy
from tests.settle_support import (
    START,
    TIMEOUT,
    TOTAL,
    business,
    cancel_ok,
    close_ok,
    query_ok,
    refund_ok,
    refund_query_ok,
    run,
)

OURS = RefundRequest(request_number("T-1"), TOTAL)
TIME_OUT = business("ACQ.TRADE_CANCEL_TIME_OUT")


def facts(start: Start, script: list[TradeOutcome]) -> TradeFacts:
    _, _, answers = run(start, script)
    return trade_facts(start, answers)


def test_a_cancel_that_refunded_moved_money() -> None:
    assert facts(START, [cancel_ok("refund")]) == TradeFacts(
        out_trade_no="T-1",
        trade_no="2026010122001",
        action="refund",
        gmt_refund_pay="2026-01-01 10:00:00",
        refund_settlement_id="2026010100000001",
        retry_flag="N",
        money_moved=True,
    )


def test_a_cancel_that_closed_moved_nothing() -> None:
    got = facts(START, [cancel_ok("close")])
    assert (got.action, got.money_moved, got.gmt_refund_pay, got.refund) == ("close", False, None, None)


def test_a_refund_with_fund_change_y_records_the_amounts_and_the_request() -> None:
    got = facts(START, [TIME_OUT, query_ok(TradeStatus.TRADE_SUCCESS), refund_ok("Y", refund_fee="88.88")])
    assert got == TradeFacts(
        out_trade_no="T-1",
        trade_no="2026010122001",
        gmt_refund_pay="2026-01-01 10:05:00",
        trade_status="TRADE_SUCCESS",
        total_amount=TOTAL,
        refund_amount=TOTAL,
        refund_fee="88.88",
        money_moved=True,
        refund=OURS,
    )


def test_a_refund_without_fund_change_y_records_the_request_but_no_money() -> None:
    got = facts(START, [TIME_OUT, query_ok(TradeStatus.TRADE_SUCCESS), refund_ok("N", refund_fee="88.88")])
    assert (got.refund, got.refund_amount, got.money_moved, got.refund_fee) == (OURS, None, False, "88.88")


def test_a_lost_refund_keeps_the_request_for_the_next_delivery() -> None:
    got = facts(START, [TIME_OUT, query_ok(TradeStatus.TRADE_SUCCESS), TIMEOUT])
    assert (got.refund, got.money_moved, got.trade_status) == (OURS, False, "TRADE_SUCCESS")


def test_the_refund_query_confirming_our_refund_moved_money() -> None:
    got = facts(START._replace(refund=OURS), [refund_query_ok(True, "88.88", OURS.out_request_no)])
    assert (got.refund_amount, got.money_moved, got.gmt_refund_pay, got.total_amount, got.refund) == (
        "88.88",
        True,
        "2026-01-01 10:05:00",
        TOTAL,
        OURS,
    )


def test_a_refund_query_finding_nothing_says_no_money_moved() -> None:
    got = facts(START._replace(refund=OURS), [refund_query_ok(False), refund_ok("N")])
    assert (got.refund_amount, got.money_moved, got.gmt_refund_pay) == (None, False, "2026-01-01 10:05:00")


def test_a_trade_found_closed_after_a_payment_moved_no_money_of_ours() -> None:
    got = facts(
        START, [business("ACQ.REASON_TRADE_REFUND_FEE_ERR"), query_ok(TradeStatus.TRADE_CLOSED, paid=True)]
    )
    assert (got.trade_status, got.money_moved, got.refund_amount, got.action) == (
        "TRADE_CLOSED",
        False,
        None,
        None,
    )


def test_later_answers_replace_earlier_values_and_absent_fields_keep_them() -> None:
    script = [
        TIME_OUT,
        query_ok(TradeStatus.WAIT_BUYER_PAY),
        business("ACQ.TRADE_STATUS_ERROR"),
        query_ok(TradeStatus.TRADE_SUCCESS, total="10.00"),
        refund_ok("Y", refund_fee="10.00"),
    ]
    got = facts(START, script)
    assert (got.trade_status, got.total_amount, got.refund_amount) == ("TRADE_SUCCESS", "10.00", "10.00")
    got = facts(Start("T-1", PaidTradePolicy.KEEP), [query_ok(TradeStatus.WAIT_BUYER_PAY), close_ok()])
    assert (got.trade_status, got.trade_no, got.money_moved) == ("WAIT_BUYER_PAY", "2026010122001", False)
