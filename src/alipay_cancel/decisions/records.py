"""Building a plan's results record and dead letter: the Alipay fields, the reason as a sentence."""

from __future__ import annotations

from alipay_cancel.alipay.responses import CancelOutcome, CancelSuccess
from alipay_cancel.decisions.plans import Delivery
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import ENDINGS, Ending
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel.stores.results import ResultRecord, Status


def dead_letter_for(
    delivery: Delivery, request: CancelRequest, ending: Ending, reason: str, record: ResultRecord | None
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
    delivery: Delivery,
    request: CancelRequest,
    ending: Ending,
    status: Status,
    reason: str | None = None,
    remedy: str | None = None,
    *,
    calls: int = 0,
    outcome: CancelOutcome | None = None,
    code: str | None = None,
    sub_code: str | None = None,
) -> ResultRecord:
    """The trade's results record for this delivery: Alipay's fields (else what we asked about) and,
    unless it succeeded, what went wrong and what to do."""
    return ResultRecord(
        trade_key=request.trade_key,
        status=status,
        outcome_class=ENDINGS[ending].outcome_class,
        message_id=delivery.message_id,
        alipay_calls=calls,
        error_code=code,
        error_sub_code=sub_code,
        error_message=reason,
        remedy=remedy,
        alipay_trace_id=outcome.trace_id if outcome is not None else None,
        **alipay_fields(outcome, request),
    )


def alipay_fields(outcome: CancelOutcome | None, request: CancelRequest) -> dict[str, str | None]:
    """The six Alipay result fields a record stores: what Alipay said, else what we asked about."""
    fields: dict[str, str | None] = {"out_trade_no": request.out_trade_no, "trade_no": request.trade_no}
    if isinstance(outcome, CancelSuccess):
        fields.update(
            out_trade_no=outcome.out_trade_no or request.out_trade_no,
            trade_no=outcome.trade_no or request.trade_no,
            action=outcome.action,
            gmt_refund_pay=outcome.gmt_refund_pay,
            refund_settlement_id=outcome.refund_settlement_id,
            retry_flag=outcome.retry_flag,
        )
    return fields


def sentence(what: str, remedy: str | None) -> str:
    what = what.strip()
    if what and what[-1] not in ".!?":
        what += "."
    return f"{what} {remedy}".strip() if remedy else what
