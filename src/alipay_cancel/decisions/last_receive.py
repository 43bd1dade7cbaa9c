"""The one rule for a message's last allowed receive, and what its plan does when its write fails.

Failing the last receive would let the queue's redrive policy move the message to the dead-letter
queue with no reason, so a plan that would leave the message on the queue becomes a dead letter with
a reason, and the message is acknowledged. Exceptions: a message that was not at fault and not tried
(a configuration error, our deployment's; or too little invocation time left to try it) re-enqueues
the body unchanged, so neither ever empties the queue into the dead-letter queue (bounded by the
queue's retention); and a duplicate whose trade is in progress elsewhere writes nothing (the other
delivery holds the trade's lease).

On the last receive a plan that writes also says what happens when the write fails
(``with_unrecorded``): its dead letter goes out anyway, saying that the result was not recorded.
"""

from __future__ import annotations

import logging

from alipay_cancel.decisions.plans import Delivery, Plan
from alipay_cancel.decisions.records import dead_letter_for, note, sentence, trade_record
from alipay_cancel.decisions.remedies import REMEDIES, Remedy
from alipay_cancel.decisions.waits import requeued_configuration_error, soon
from alipay_cancel.shared.endings import (
    DUPLICATE_IN_FLIGHT_METRIC,
    ENDINGS,
    REQUEUED_METRIC,
    Ending,
)
from alipay_cancel.shared.ledger_item import Status
from alipay_cancel.shared.sqs_limits import SQS_MAX_DELAY_SECONDS
from alipay_cancel.shared.trade import CancelRequest

# Endings kept on the last receive (re-enqueued) until the queue's retention, and what to do once it
# is reached: the message was never at fault, and retrying it cannot have failed.
_KEPT = {Ending.CONFIG_ERROR: Remedy.MISCONFIGURED_TOO_LONG, Ending.LOW_TIME: Remedy.UNTRIED_TOO_LONG}
# Another delivery holds the trade: it writes the trade's state, this one writes nothing.
_NOT_OURS = (Ending.DUPLICATE_IN_FLIGHT,)


def on_last_receive(delivery: Delivery, request: CancelRequest, plan: Plan, *, horizon: bool = False) -> Plan:
    """The one rule for a plan that would leave the message on the queue on its last allowed receive
    (or, for a retryable Alipay failure, once the message has been retried for the horizon)."""
    reason = str(plan.detail.get("reason") or plan.log)
    remedy = str(plan.detail.get("remedy") or REMEDIES[Remedy.GAVE_UP])
    if plan.ending in _KEPT:
        if delivery.age_seconds + SQS_MAX_DELAY_SECONDS < delivery.max_age_seconds:
            return _kept(delivery, plan)
        remedy = f"{REMEDIES[_KEPT[plan.ending]]} {remedy}"
    gave_up = f"Gave up after {delivery.receive_count} deliveries"
    if horizon:  # RETRY_HORIZON_SECONDS reached before the queue's receive limit
        gave_up += (
            f" over {_span(delivery.sent_age_seconds)} "
            f"(the retry horizon is {_span(delivery.schedule.horizon_seconds)})"
        )
    exhausted = sentence(f"{gave_up}. Last error: {reason}", remedy)
    write = None
    if plan.ending not in _NOT_OURS:
        failed = Status.FAILED
        outcome_class = ENDINGS[Ending.EXHAUSTED].outcome_class
        if plan.write is not None:  # under the lease, or a note: the same write, now FAILED
            # with the dead letter's remedy: the plan's may say the message is kept, and it no longer is
            record = plan.write.record._replace(status=failed, outcome_class=outcome_class, remedy=remedy)
            write = plan.write._replace(record=record)
        else:
            record = trade_record(request, Ending.EXHAUSTED, failed, reason, remedy)
            write = note(delivery, request, record)
    extra = tuple(m for m in plan.metrics if not m.startswith("Outcome"))
    if plan.ending in _NOT_OURS:
        extra = (*extra, DUPLICATE_IN_FLIGHT_METRIC)
    return plan._replace(
        ending=Ending.EXHAUSTED,
        acknowledge=True,
        visibility_seconds=None,
        write=write,
        dead_letter=dead_letter_for(
            delivery, request, Ending.EXHAUSTED, exhausted, plan.write.record if plan.write else None
        ),
        metrics=(*ENDINGS[Ending.EXHAUSTED].metrics, *extra),
        log=(
            f"{plan.log}; but the retry horizon is reached: dead-lettered with the reason"
            if horizon
            else f"{plan.log}; but this was the last allowed receive: dead-lettered with the reason"
        ),
        log_level=logging.WARNING,
        detail={**plan.detail, "remedy": remedy},
    )


def _kept(delivery: Delivery, plan: Plan) -> Plan:
    """Re-enqueued unchanged, the original acknowledged: no dead letter, no attempt counted."""
    if plan.ending is Ending.CONFIG_ERROR:
        delay = requeued_configuration_error(delivery)
        metrics = (*plan.metrics, REQUEUED_METRIC)
        log = "configuration error on the last allowed receive: message re-enqueued unchanged, kept"
    else:
        delay = soon(delivery)
        metrics = plan.metrics
        log = "too little time left on the last allowed receive: message re-enqueued unchanged, untried"
    return plan._replace(
        acknowledge=True, visibility_seconds=None, requeue_seconds=delay, metrics=metrics, log=log
    )


def with_unrecorded(delivery: Delivery, request: CancelRequest, plan: Plan) -> Plan:
    """On the last receive: what to do instead when the plan's write fails. A re-enqueue goes ahead
    without it (the copy keeps the message); otherwise the plan's dead letter (for a settled trade, a
    new one) is sent saying that the result could not be recorded, and the message is acknowledged."""
    if plan.write is None:
        return plan
    if plan.requeue_seconds is not None:
        return plan._replace(unrecorded=plan._replace(write=None))
    record = plan.write.record
    ending = plan.ending
    letter = plan.dead_letter
    if letter is None:  # the trade settled: say what Alipay did, and that the ledger does not show it
        ending = Ending.EXHAUSTED
        what = f"Alipay settled the trade as {record.status.value} (action {record.action or 'none'})"
        letter = dead_letter_for(
            delivery, request, ending, sentence(what, REMEDIES[Remedy.UNRECORDED_SUCCESS]), record
        )
    note_ = (
        f"The {record.status.value} result could not be recorded on the last allowed delivery (the "
        "ledger write failed: the function's log says why); the trade's ledger item may be out of date."
    )
    unrecorded = Plan(
        ending,
        acknowledge=True,
        dead_letter=letter._replace(
            reason=f"{note_} {letter.reason}", outcome_class=ENDINGS[ending].outcome_class
        ),
        metrics=ENDINGS[ending].metrics,
        log="result not recorded on the last allowed receive; dead-lettered with the reason",
        log_level=logging.WARNING,
        detail=plan.detail,
    )
    return plan._replace(unrecorded=unrecorded)


def _span(seconds: int) -> str:
    if seconds >= 7200:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"
