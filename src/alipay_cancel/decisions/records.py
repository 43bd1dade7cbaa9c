"""Building a plan's ledger record, its writes and its dead letter: Alipay's facts, the reason as a
sentence."""

from __future__ import annotations

from alipay_cancel.decisions.history import answered, extended
from alipay_cancel.decisions.plans import Answered, Delivery
from alipay_cancel.decisions.settle_facts import TradeFacts
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import ENDINGS, Ending
from alipay_cancel.shared.ledger_item import LedgerWrite, Status, TradeRecord
from alipay_cancel.shared.trade import CancelRequest, PaidTradePolicy

# The facts a dead letter names (attribute ``alipay_facts``), in this order.
_LETTER_FACTS = ("trade_status", "total_amount", "refund_fee", "refund_amount", "out_request_no")


def dead_letter_for(
    delivery: Delivery, request: CancelRequest, ending: Ending, reason: str, record: TradeRecord | None
) -> DeadLetter:
    """This delivery's dead letter: its body unchanged, its message id and receive count, and the
    facts Alipay gave about the trade."""
    return DeadLetter(
        body=delivery.body,
        reason=reason,
        source_message_id=delivery.message_id,
        outcome_class=ENDINGS[ending].outcome_class,
        error_code=record.error_code if record else None,
        error_sub_code=record.error_sub_code if record else None,
        alipay_trace_id=record.alipay_trace_id if record else None,
        trade_key=request.trade_key,
        attempts=delivery.receive_count,
        alipay_facts=alipay_facts(record),
    )


def alipay_facts(record: TradeRecord | None) -> str | None:
    """``trade_status=TRADE_FINISHED total_amount=88.88``: what Alipay said about the trade, or None."""
    if record is None:
        return None
    said = [f"{name}={getattr(record, name)}" for name in _LETTER_FACTS if getattr(record, name)]
    return " ".join(said) or None


def trade_record(
    request: CancelRequest,
    ending: Ending,
    status: Status,
    reason: str | None = None,
    remedy: str | None = None,
    *,
    facts: TradeFacts | None = None,
    trace_id: str | None = None,
    code: str | None = None,
    sub_code: str | None = None,
    if_paid: PaidTradePolicy | None = None,
    settled_reason: str | None = None,
) -> TradeRecord:
    """The trade's record for this delivery: Alipay's facts (else what we asked about) and, unless it
    settled, what went wrong and what to do (settled: why). ``money_moved`` only on a final state."""
    said = facts or TradeFacts()
    refund = said.refund
    return TradeRecord(
        status=status,
        outcome_class=ENDINGS[ending].outcome_class,
        out_trade_no=said.out_trade_no or request.out_trade_no,
        trade_no=said.trade_no or request.trade_no,
        action=said.action,
        gmt_refund_pay=said.gmt_refund_pay,
        refund_settlement_id=said.refund_settlement_id,
        retry_flag=said.retry_flag,
        trade_status=said.trade_status,
        total_amount=said.total_amount,
        refund_amount=said.refund_amount,
        refund_fee=said.refund_fee,
        out_request_no=refund.out_request_no if refund else None,
        refund_request_amount=refund.refund_amount if refund else None,
        error_code=code,
        error_sub_code=sub_code,
        error_message=reason,
        remedy=remedy,
        alipay_trace_id=trace_id,
        money_moved=said.money_moved if status is not Status.RETRYING and facts is not None else None,
        if_paid=if_paid.value if if_paid else None,
        settled_reason=settled_reason,
    )


def under_lease(
    delivery: Delivery, request: CancelRequest, answered_now: Answered, record: TradeRecord
) -> LedgerWrite:
    """The write that ends this delivery's lease: ``record``, and the calls answered since the last
    write appended to the history."""
    unrecorded = answered_now.answers[answered_now.recorded :]
    entries = tuple(answered(answer, delivery.message_id) for answer in unrecorded)
    history, dropped = extended(answered_now.history, entries)
    return note(delivery, request, record)._replace(
        lease_holder=answered_now.lease_holder, history=history, history_dropped=dropped
    )


def note(delivery: Delivery, request: CancelRequest, record: TradeRecord) -> LedgerWrite:
    """A write without a lease (no call was made): never over a settled item or a live lease."""
    return LedgerWrite(
        trade_key=request.trade_key,
        record=record,
        message_id=delivery.message_id,
        app_id=request.app_id,
        merchant_id=request.merchant_id,
    )


def sentence(what: str, remedy: str | None) -> str:
    what = what.strip()
    if what and what[-1] not in ".!?":
        what += "."
    return f"{what} {remedy}".strip() if remedy else what
