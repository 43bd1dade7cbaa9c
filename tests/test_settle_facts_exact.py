"""The facts a delivery's answers give the ledger item, as the ledger store reads them: a fact no answer
gave is None (the store leaves the item's earlier value; an empty string would overwrite it), and a
refund query that found no refund of ours states no refund."""

from __future__ import annotations

from alipay_cancel.alipay import RefundQuerySuccess, RefundStatus
from alipay_cancel.decisions.refund_request import RefundRequest, request_number
from alipay_cancel.decisions.settle_facts import trade_facts
from alipay_cancel.decisions.steps import Call, Start
from alipay_cancel.shared.ledger_item import Op
from alipay_cancel.shared.trade import PaidTradePolicy
from tests.settle_support import TIMEOUT, TOTAL, answer, business

OURS = RefundRequest(request_number("T-1"), TOTAL)
NOTHING = {
    "out_trade_no": None, "trade_no": None, "action": None, "gmt_refund_pay": None,
    "refund_settlement_id": None, "retry_flag": None, "trade_status": None, "total_amount": None,
    "refund_amount": None, "refund_fee": None, "money_moved": False, "refund": None,
}  # fmt: skip


def test_answers_that_carry_no_fact_state_none() -> None:
    start = Start("T-1", PaidTradePolicy.REFUND)
    for failure in (TIMEOUT, business("ACQ.REASON_TRADE_BEEN_FREEZEN")):
        assert trade_facts(start, (answer(Call(Op.CANCEL), failure),))._asdict() == NOTHING
    assert trade_facts(start, ())._asdict() == NOTHING


def test_a_refund_query_that_found_no_refund_of_ours_states_none_even_if_its_answer_echoes_amounts() -> None:
    """Alipay's answer to a refund not done may still carry the asked amount and a date: neither is a
    refund (the item would claim money went back)."""
    start = Start("T-1", PaidTradePolicy.REFUND, refund=OURS)
    not_done = RefundQuerySuccess(
        refund_status=RefundStatus.NOT_REFUNDED,
        out_request_no=OURS.out_request_no,
        refund_amount=TOTAL,
        total_amount=TOTAL,
        out_trade_no="T-1",
        trade_no="2026010122001",
        gmt_refund_pay="2026-01-01 10:05:00",
        trace_id="trace-refund-query",
    )
    got = trade_facts(start, (answer(Call(Op.REFUND_QUERY, OURS), not_done),))
    assert got._asdict() == {
        **NOTHING, "out_trade_no": "T-1", "trade_no": "2026010122001", "total_amount": TOTAL, "refund": OURS,
    }  # fmt: skip
