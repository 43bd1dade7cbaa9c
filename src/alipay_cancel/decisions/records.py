"""Building a plan's ledger record, its writes and its dead letter: Alipay's fields, the reason as a
sentence."""

from __future__ import annotations

from alipay_cancel.alipay.responses import CancelOutcome, CancelSuccess
from alipay_cancel.decisions.history import answered, extended
from alipay_cancel.decisions.plans import Answered, Delivery
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import ENDINGS, Ending
from alipay_cancel.shared.ledger_item import ALIPAY_FIELDS, LedgerWrite, Status, TradeRecord
from alipay_cancel.shared.trade import CancelRequest


def dead_letter_for(
    delivery: Delivery, request: CancelRequest, ending: Ending, reason: str, record: TradeRecord | None
) -> DeadLetter:
    """This delivery's dead letter: its body unchanged, its message id and receive count."""
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
    )


def trade_record(
    request: CancelRequest,
    ending: Ending,
    status: Status,
    reason: str | None = None,
    remedy: str | None = None,
    *,
    outcome: CancelOutcome | None = None,
    code: str | None = None,
    sub_code: str | None = None,
) -> TradeRecord:
    """The trade's record for this delivery: Alipay's fields (else what we asked about) and, unless it
    settled, what went wrong and what to do."""
    return TradeRecord(
        status=status,
        outcome_class=ENDINGS[ending].outcome_class,
        error_code=code,
        error_sub_code=sub_code,
        error_message=reason,
        remedy=remedy,
        alipay_trace_id=outcome.trace_id if outcome is not None else None,
        **alipay_fields(outcome, request),
    )


def alipay_fields(outcome: CancelOutcome | None, request: CancelRequest) -> dict[str, str | None]:
    """The Alipay result fields a record stores: what Alipay said, else what we asked about."""
    fields: dict[str, str | None] = {"out_trade_no": request.out_trade_no, "trade_no": request.trade_no}
    if isinstance(outcome, CancelSuccess):
        said = {name: getattr(outcome, name) for name in ALIPAY_FIELDS}
        fields.update({name: value for name, value in said.items() if value is not None})
    return fields


def under_lease(
    delivery: Delivery, request: CancelRequest, answered_now: Answered, record: TradeRecord
) -> LedgerWrite:
    """The write that ends this delivery's lease: ``record``, and the calls answered since the last
    write appended to the history."""
    entries = tuple(answered(answer, delivery.message_id) for answer in answered_now.answers)
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
