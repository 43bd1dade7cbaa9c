"""The one rule for a message's last allowed receive, and its second half for a failed results write.

Failing the last receive would let the queue's redrive policy move the message to the dead-letter
queue with no reason, so a plan that would leave the message on the queue becomes a dead letter with
a reason, and the message is acknowledged. Exceptions: a message that was not at fault and not tried
(a configuration error, our deployment's; or too little invocation time left to try it) re-enqueues
the body unchanged, so neither ever empties the queue into the dead-letter queue (bounded by the
queue's retention); and a duplicate whose trade is in progress elsewhere records nothing (the other
delivery owns the trade's record)."""

from __future__ import annotations

from alipay_cancel.decisions.plans import Delivery, Plan
from alipay_cancel.decisions.records import dead_letter_for, sentence, trade_record
from alipay_cancel.decisions.remedies import REMEDIES, Remedy
from alipay_cancel.shared.endings import (
    DUPLICATE_IN_FLIGHT_METRIC,
    ENDINGS,
    INFRASTRUCTURE_ERROR_METRIC,
    REQUEUED_METRIC,
    Ending,
)
from alipay_cancel.shared.sqs_limits import SQS_MAX_DELAY_SECONDS
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel.stores.results import Status

# The longest a re-enqueued message waits before it is visible: SQS's DelaySeconds maximum.
MAX_REQUEUE_DELAY_SECONDS = SQS_MAX_DELAY_SECONDS

# Endings kept on the last receive (re-enqueued) until the queue's retention, and what to do once it
# is reached: the message was never at fault, and retrying it cannot have failed.
_KEPT = {Ending.CONFIG_ERROR: Remedy.MISCONFIGURED_TOO_LONG, Ending.LOW_TIME: Remedy.UNTRIED_TOO_LONG}


def on_last_receive(delivery: Delivery, request: CancelRequest, plan: Plan, *, horizon: bool = False) -> Plan:
    """The one rule for a plan that would leave the message on the queue on its last allowed receive
    (or, for a retryable Alipay failure, once the message has been retried for the horizon)."""
    reason = str(plan.detail.get("reason") or plan.log)
    remedy = str(plan.detail.get("remedy") or REMEDIES[Remedy.GAVE_UP])
    if plan.ending in _KEPT:
        if delivery.age_seconds + MAX_REQUEUE_DELAY_SECONDS < delivery.max_age_seconds:
            return _kept(plan)
        remedy = f"{REMEDIES[_KEPT[plan.ending]]} {remedy}"
    gave_up = f"Gave up after {delivery.receive_count} deliveries"
    if horizon:  # RETRY_HORIZON_SECONDS reached before the queue's receive limit
        gave_up += (
            f" over {_span(delivery.sent_age_seconds)} "
            f"(the retry horizon is {_span(delivery.horizon_seconds)})"
        )
    exhausted = sentence(f"{gave_up}. Last error: {reason}", remedy)
    record = None
    if plan.ending is not Ending.DUPLICATE_IN_FLIGHT:  # the delivery in flight owns the trade's record
        record = plan.record or trade_record(
            delivery, request, Ending.EXHAUSTED, Status.FAILED, reason, remedy
        )
        record = record._replace(status=Status.FAILED, outcome_class=ENDINGS[Ending.EXHAUSTED].outcome_class)
    extra = tuple(m for m in plan.metrics if not m.startswith("Outcome"))
    if plan.ending is Ending.DUPLICATE_IN_FLIGHT:
        extra = (*extra, DUPLICATE_IN_FLIGHT_METRIC)
    return plan._replace(
        ending=Ending.EXHAUSTED,
        acknowledge=True,
        wait=None,
        record=record,
        dead_letter=dead_letter_for(delivery, request, Ending.EXHAUSTED, exhausted, plan.record),
        metrics=(*ENDINGS[Ending.EXHAUSTED].metrics, *extra),
        log=(
            f"{plan.log}; but the retry horizon is reached: dead-lettered with the reason"
            if horizon
            else f"{plan.log}; but this was the last allowed receive: dead-lettered with the reason"
        ),
        log_level="warning",
    )


def _kept(plan: Plan) -> Plan:
    """Re-enqueued unchanged, the original acknowledged: no dead letter, no attempt counted."""
    if plan.ending is Ending.CONFIG_ERROR:
        metrics = (*plan.metrics, REQUEUED_METRIC)
        log = "configuration error on the last allowed receive: message re-enqueued unchanged, kept"
    else:
        metrics = plan.metrics
        log = "too little time left on the last allowed receive: message re-enqueued unchanged, untried"
    return plan._replace(acknowledge=True, wait=None, requeue=True, metrics=metrics, log=log)


def unrecorded(plan: Plan, error: str) -> Plan:
    """The plan's results write failed on the last receive: its dead letter (or a success's fallback)
    goes out anyway, saying the result was not recorded, and the message is acknowledged."""
    letter = plan.dead_letter or plan.fallback_letter
    assert letter is not None and plan.record is not None
    note = (
        f"The {plan.record.status.value} result could not be recorded on the last allowed delivery "
        f"({error}); the trade's result record may be missing or out of date."
    )
    what = letter.reason[:1].upper() + letter.reason[1:]
    ending = Ending.EXHAUSTED if plan.ending is Ending.SUCCEEDED else plan.ending
    return plan._replace(
        ending=ending,
        dead_letter=letter._replace(reason=f"{note} {what}", outcome_class=ENDINGS[ending].outcome_class),
        fallback_letter=None,
        metrics=(*ENDINGS[ending].metrics, INFRASTRUCTURE_ERROR_METRIC),
        log="result not recorded on the last allowed receive; dead-lettered with the reason",
        log_level="warning",
        detail={**plan.detail, "error": error},
    )


def _span(seconds: int) -> str:
    if seconds >= 7200:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"
