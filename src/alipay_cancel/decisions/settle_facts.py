"""What a delivery's answers say about the trade: the facts its ledger item and outcome event carry.

Read from verified successes only, in call order; a later answer's value replaces an earlier one, and
a field an answer does not carry keeps what an earlier one said. ``money_moved`` is Alipay's word
that money went back to the buyer because of this service: a cancel that refunded (``action:
refund``), a refund with ``fund_change: Y``, or the refund query confirming this service's refund
request (its answer was lost before). A trade found closed after a payment that no refund of ours
explains is REFUNDED with ``money_moved`` false.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from alipay_cancel.alipay import (
    CancelSuccess,
    CloseSuccess,
    QuerySuccess,
    RefundQuerySuccess,
    RefundStatus,
    RefundSuccess,
)
from alipay_cancel.decisions.refund_request import RefundRequest
from alipay_cancel.decisions.steps import Answer, Start, committed_refund


class TradeFacts(NamedTuple):
    out_trade_no: str | None = None
    trade_no: str | None = None
    action: str | None = None  # cancel's
    gmt_refund_pay: str | None = None
    refund_settlement_id: str | None = None
    retry_flag: str | None = None
    trade_status: str | None = None  # the query's, last read
    total_amount: str | None = None  # the order amount
    refund_amount: str | None = None  # what this service's refund request refunded (when confirmed)
    refund_fee: str | None = None  # everything refunded on the trade, as a refund's answer said
    money_moved: bool = False
    refund: RefundRequest | None = None  # this service's refund request, once sent


def trade_facts(start: Start, answers: tuple[Answer, ...]) -> TradeFacts:
    found: dict[str, Any] = {}
    for answer in answers:
        found.update((name, value) for name, value in _said(answer).items() if value is not None)
    return TradeFacts(**found, refund=committed_refund(start, answers))


def _said(answer: Answer) -> dict[str, object]:
    outcome = answer.outcome
    if isinstance(outcome, CancelSuccess):
        return {
            "out_trade_no": outcome.out_trade_no,
            "trade_no": outcome.trade_no,
            "action": outcome.action,
            "gmt_refund_pay": outcome.gmt_refund_pay,
            "refund_settlement_id": outcome.refund_settlement_id,
            "retry_flag": outcome.retry_flag,
            "money_moved": True if outcome.action == "refund" else None,
        }
    if isinstance(outcome, QuerySuccess):
        return {
            "out_trade_no": outcome.out_trade_no,
            "trade_no": outcome.trade_no,
            "trade_status": outcome.trade_status.value,
            "total_amount": outcome.total_amount,
        }
    if isinstance(outcome, CloseSuccess):
        return {"out_trade_no": outcome.out_trade_no, "trade_no": outcome.trade_no}
    if isinstance(outcome, RefundSuccess):
        moved, request = outcome.money_moved, answer.call.refund
        return {
            "out_trade_no": outcome.out_trade_no,
            "trade_no": outcome.trade_no,
            "gmt_refund_pay": outcome.gmt_refund_pay,
            "refund_fee": outcome.refund_fee,
            "refund_amount": request.refund_amount if moved and request else None,
            "money_moved": True if moved else None,
        }
    if isinstance(outcome, RefundQuerySuccess):
        done = outcome.refund_status is RefundStatus.REFUND_SUCCESS
        return {
            "out_trade_no": outcome.out_trade_no,
            "trade_no": outcome.trade_no,
            "total_amount": outcome.total_amount,
            "gmt_refund_pay": outcome.gmt_refund_pay if done else None,
            "refund_amount": outcome.refund_amount if done else None,
            "money_moved": True if done else None,
        }
    return {}  # a failure says nothing about the trade (its codes are the record's error fields)
