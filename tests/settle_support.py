"""Answers for the settle flow's tests: the client's typed successes and failures, classified for the
operation that got them (``classify``), and a driver that feeds a script of outcomes to ``next_step``."""

from __future__ import annotations

from collections.abc import Iterable

from alipay_cancel.alipay import (
    AlipayFailure,
    CancelSuccess,
    CloseSuccess,
    FailureKind,
    QuerySuccess,
    RefundQuerySuccess,
    RefundStatus,
    RefundSuccess,
    TradeOutcome,
    TradeStatus,
)
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.plans import Answered
from alipay_cancel.decisions.steps import Answer, Call, Finish, Start, next_step
from alipay_cancel.shared.ledger_item import HistoryEntry, Pending
from alipay_cancel.shared.trade import PaidTradePolicy

TRADE = "T-1"
TOTAL = "88.88"
START = Start(TRADE, PaidTradePolicy.REFUND)


def cancel_ok(action: str | None, retry_flag: str | None = "N") -> CancelSuccess:
    refund = action == "refund"
    return CancelSuccess(
        action=action,
        gmt_refund_pay="2026-01-01 10:00:00" if refund else None,
        out_trade_no=TRADE,
        refund_settlement_id="2026010100000001" if refund else None,
        retry_flag=retry_flag,
        trade_no="2026010122001" if action else None,
        trace_id="trace-cancel",
    )


def query_ok(
    status: TradeStatus, total: str | None = TOTAL, *, paid: bool | None = None, buyer_pay: str | None = None
) -> QuerySuccess:
    paid = status in (TradeStatus.TRADE_SUCCESS, TradeStatus.TRADE_FINISHED) if paid is None else paid
    return QuerySuccess(
        trade_status=status,
        out_trade_no=TRADE,
        trade_no="2026010122001",
        total_amount=total,
        buyer_pay_amount=buyer_pay,
        receipt_amount=None,
        send_pay_date="2026-01-01 09:00:00" if paid else None,
        trace_id="trace-query",
    )


def close_ok() -> CloseSuccess:
    return CloseSuccess(out_trade_no=TRADE, trade_no="2026010122001", trace_id="trace-close")


def refund_ok(fund_change: str | None = "Y", refund_fee: str = TOTAL) -> RefundSuccess:
    return RefundSuccess(
        fund_change=fund_change,
        refund_fee=refund_fee,
        out_trade_no=TRADE,
        trade_no="2026010122001",
        gmt_refund_pay="2026-01-01 10:05:00",
        send_back_fee=None,
        trace_id="trace-refund",
    )


def refund_query_ok(done: bool, amount: str = TOTAL, out_request_no: str | None = None) -> RefundQuerySuccess:
    return RefundQuerySuccess(
        refund_status=RefundStatus.REFUND_SUCCESS if done else RefundStatus.NOT_REFUNDED,
        out_request_no=out_request_no,
        refund_amount=amount if done else None,
        total_amount=TOTAL if done else None,
        out_trade_no=TRADE,
        trade_no="2026010122001",
        gmt_refund_pay="2026-01-01 10:05:00" if done else None,
        trace_id="trace-refund-query",
    )


def business(code: str, *, verified: bool = True, envelope: bool = False) -> AlipayFailure:
    """A business error in v3 shape (HTTP 400, ``code``) or the seed envelope (40004 + ``sub_code``)."""
    if envelope:
        return AlipayFailure(
            FailureKind.BUSINESS,
            "business failure",
            http_status=200,
            code="40004",
            sub_code=code,
            verified=verified,
        )
    return AlipayFailure(
        FailureKind.V3_ERROR, "business failure", http_status=400, code=code, verified=verified
    )


def failed(kind: FailureKind, http_status: int | None = None) -> AlipayFailure:
    return AlipayFailure(kind, f"{kind.value} failure", http_status=http_status)


TIMEOUT = failed(FailureKind.TIMEOUT)
BAD_SIGNATURE = failed(FailureKind.BAD_SIGNATURE, 200)
NOT_OURS = failed(FailureKind.NOT_OUR_ANSWER, 200)


def answer(call: Call, outcome: TradeOutcome) -> Answer:
    return Answer(call, outcome, classify(outcome, call.op))


def run(start: Start, outcomes: Iterable[TradeOutcome]) -> tuple[list[Call], Finish, tuple[Answer, ...]]:
    """Feed ``outcomes`` to the flow in order, one per call it asks for; it must finish exactly when the
    script ends."""
    calls: list[Call] = []
    answers: tuple[Answer, ...] = ()
    for outcome in outcomes:
        step = next_step(start, answers)
        assert isinstance(step, Call), f"finished early: {step} (after {[c.op.value for c in calls]})"
        calls.append(step)
        answers = (*answers, answer(step, outcome))
    end = next_step(start, answers)
    assert isinstance(end, Finish), f"wants another call: {end}"
    return calls, end, answers


def delivered(
    *answers: Answer,
    history: tuple[HistoryEntry, ...] = (),
    resumed: Pending | None = None,
    start: Start = START,
) -> Answered:
    """What the service hands routing after these answers under the lease ``req:m-1``: the steps'
    finish (a signature problem whose keys could not be re-read is judged as it is, from fresh keys)."""
    step = next_step(start, answers)
    if isinstance(step, Call):
        last = answers[-1]
        fresh = last.call._replace(fresh_keys=True)
        decision = classify(last.outcome, fresh.op, after_secret_refresh=True)
        answers = (*answers[:-1], last._replace(call=fresh, decision=decision))
        step = next_step(start, answers)
    assert isinstance(step, Finish), step
    return Answered("req:m-1", history, answers, 0, start, step, resumed)
