"""The routing table: (this delivery, what happened) → the plan that ends it. Pure: no AWS, no HTTP.

The pipeline parses a message, claims the trade's ledger item, makes the calls ``steps`` asks for,
asks ``route`` what to do and applies the plan as it is. Every ending is decided here, with its write,
dead letter and delays; the last allowed receive has one rule of its own (``last_receive``).
"""

from __future__ import annotations

import logging

from alipay_cancel.decisions.alipay_codes import RetryDelay
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.decisions.last_receive import on_last_receive, with_unrecorded
from alipay_cancel.decisions.plans import (
    Answered,
    ClaimFailed,
    Delivery,
    Happened,
    IdentityUnconfirmed,
    InProgress,
    LeaseLost,
    Plan,
    Settled,
    SetupBroken,
    TooLittleTime,
    Unreadable,
)
from alipay_cancel.decisions.records import dead_letter_for, note, sentence, trade_record, under_lease
from alipay_cancel.decisions.remedies import REMEDIES, Remedy
from alipay_cancel.decisions.settle_facts import trade_facts
from alipay_cancel.decisions.waits import backoff, soon, until_retry
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import ENDINGS, Ending
from alipay_cancel.shared.ledger_item import SETTLED, LedgerWrite, Status
from alipay_cancel.shared.trade import CancelRequest


def route(delivery: Delivery, request: CancelRequest | None, happened: Happened) -> Plan:
    """Decide how this delivery ends. Total: every input has a plan."""
    if isinstance(happened, Unreadable):
        return _bad_message(delivery, happened)
    assert request is not None, "only an unreadable message has no request"
    if isinstance(happened, SetupBroken) and request.app_auth_token is not None:
        happened = IdentityUnconfirmed(_setup_broken(happened))  # the token's merchant cannot be asked
    plan = _route(delivery, request, happened)
    if not plan.acknowledge:
        if delivery.last:
            plan = on_last_receive(delivery, request, plan)
        elif plan.ending in (Ending.RETRY, Ending.SLOW_RETRY) and delivery.past_horizon:
            # A refund of ours to confirm is not a failure to give up on: the next delivery confirms
            # it (or sends it again); only the receive limit bounds it.
            if not (isinstance(happened, Answered) and happened.finish.wait_seconds):
                plan = on_last_receive(delivery, request, plan, horizon=True)
    if isinstance(happened, IdentityUnconfirmed):
        return _unattributed(plan, happened)
    return with_unrecorded(delivery, request, plan) if delivery.last else plan


# ---- the rules --------------------------------------------------------------------------------------


def _route(delivery: Delivery, request: CancelRequest, happened: Happened) -> Plan:
    if isinstance(happened, IdentityUnconfirmed):
        return _identity_unconfirmed(delivery, happened.decision)
    if isinstance(happened, SetupBroken):
        decision = _setup_broken(happened)
        record = trade_record(request, Ending.CONFIG_ERROR, Status.RETRYING, decision.reason, decision.remedy)
        return _left_to_retry(delivery, Ending.CONFIG_ERROR, decision, note(delivery, request, record))
    if isinstance(happened, TooLittleTime):
        return _leave(
            Ending.LOW_TIME,
            soon(delivery),
            "not enough invocation time left to call Alipay; retrying soon",
            logging.WARNING,
            {
                "remaining_ms": happened.remaining_ms,
                "needed_ms": happened.needed_ms,
                "reason": (
                    f"Not enough time left in the invocation to call Alipay ({happened.remaining_ms} ms "
                    f"left, {happened.needed_ms} ms needed); not tried"
                ),
                "remedy": REMEDIES[Remedy.LOW_TIME],
            },
        )
    if isinstance(happened, InProgress | LeaseLost):
        # The other delivery usually finishes within seconds: look again soon.
        lost = isinstance(happened, LeaseLost)
        return _leave(
            Ending.DUPLICATE_IN_FLIGHT,
            backoff(delivery, RetryDelay.NORMAL, receive_count=1),
            "another delivery took the trade's lease over; retrying later"
            if lost
            else "cancel already in progress for this trade; retrying later",
            logging.INFO,
            {
                "reason": (
                    "each time, a cancel of the same trade was already in progress (another delivery of "
                    "it, usually)"
                ),
                "remedy": REMEDIES[Remedy.DUPLICATE_IN_FLIGHT],
            },
        )
    if isinstance(happened, Settled):
        return Plan(
            Ending.DUPLICATE,
            acknowledge=True,
            metrics=ENDINGS[Ending.DUPLICATE].metrics,
            log="trade already settled: nothing to do",
            detail={"status": happened.status},
        )
    if isinstance(happened, ClaimFailed):
        # The queue's own visibility timeout (at least the function's timeout): a claim that went
        # through unseen holds the lease until this invocation's deadline, which passes first.
        return _leave(
            Ending.AWS_FAILURE,
            None,
            "ledger claim failed; message will be retried",
            logging.WARNING,
            {
                "error": happened.error,
                "reason": f"The ledger could not be claimed before Alipay was called ({happened.error})",
                "remedy": REMEDIES[Remedy.LEDGER],
            },
        )
    assert isinstance(happened, Answered), f"unrouted: {happened!r}"  # Unreadable is routed before
    return _answered(delivery, request, happened)


def _answered(delivery: Delivery, request: CancelRequest, happened: Answered) -> Plan:
    """What Alipay answered under this delivery's lease, as the steps ended it: the state, Alipay's
    facts from every answer, and the last answer's trace id."""
    finish, last = happened.finish, happened.answers[-1]
    status, decision = finish.status, finish.decision
    facts = trade_facts(happened.start, happened.answers)
    resumed = {"resumed_call_of": happened.resumed.delivery} if happened.resumed else {}
    said = {"op": last.call.op.value, "if_paid": happened.start.policy.value}
    if status in SETTLED:
        record = trade_record(
            request,
            Ending.SUCCEEDED,
            status,
            facts=facts,
            trace_id=last.outcome.trace_id,
            if_paid=happened.start.policy,
            settled_reason=decision.reason,
        )
        return Plan(
            Ending.SUCCEEDED,
            acknowledge=True,
            write=under_lease(delivery, request, happened, record),
            metrics=ENDINGS[Ending.SUCCEEDED].metrics,
            log="trade settled",
            detail={
                "state": status.value,
                "action": facts.action,
                "reason": decision.reason,
                **said,
                **resumed,
            },
        )
    if status is Status.FAILED:
        ending = Ending.TERMINAL
    elif decision.outcome is Ending.CONFIG_ERROR:
        ending = Ending.CONFIG_ERROR
    else:
        ending = Ending.SLOW_RETRY if decision.delay is RetryDelay.SLOW else Ending.RETRY
    record = trade_record(
        request,
        ending,
        status,
        decision.reason,
        decision.remedy,
        facts=facts,
        trace_id=last.outcome.trace_id,
        code=decision.code,
        sub_code=decision.sub_code,
        if_paid=happened.start.policy,
    )
    write = under_lease(delivery, request, happened, record)
    if ending is Ending.TERMINAL:
        letter = dead_letter_for(
            delivery, request, ending, sentence(decision.reason, decision.remedy), record
        )
        return Plan(
            ending,
            acknowledge=True,
            write=write,
            dead_letter=letter,
            metrics=ENDINGS[ending].metrics,
            log="trade failed for good; dead-lettered",
            log_level=logging.WARNING,
            detail={**_decision_detail(decision), **said, **resumed},
        )
    plan = _left_to_retry(delivery, ending, decision, write)
    wait = soon(delivery) if finish.soon else plan.visibility_seconds or 0
    return plan._replace(
        visibility_seconds=max(wait, finish.wait_seconds), detail={**plan.detail, **said, **resumed}
    )


def _setup_broken(broken: SetupBroken) -> Decision:
    remedy = broken.remedy or REMEDIES[Remedy.SIGNING_SETUP]
    return Decision(Ending.CONFIG_ERROR, broken.reason, remedy, RetryDelay.SLOW)


def _identity_unconfirmed(delivery: Delivery, decision: Decision) -> Plan:
    """The token's merchant could not be confirmed: as the decision says (the token ending, a retry or
    our configuration), with nothing written (``route`` keeps it so on the last receive too)."""
    if decision.outcome is Ending.TERMINAL:
        return Plan(
            Ending.TERMINAL,
            acknowledge=True,
            dead_letter=DeadLetter(
                body=delivery.body,
                reason=sentence(decision.reason, decision.remedy),
                source_message_id=delivery.message_id,
                outcome_class=ENDINGS[Ending.TERMINAL].outcome_class,
                attempts=delivery.receive_count,
            ),
            metrics=ENDINGS[Ending.TERMINAL].metrics,
            log="the app_auth_token cannot be used; dead-lettered",
            log_level=logging.WARNING,
            detail=_decision_detail(decision),
        )
    if decision.outcome is Ending.CONFIG_ERROR:
        ending = Ending.CONFIG_ERROR
    else:
        ending = Ending.SLOW_RETRY if decision.delay is RetryDelay.SLOW else Ending.RETRY
    return _left_to_retry(delivery, ending, decision, None)


def _unattributed(plan: Plan, unconfirmed: IdentityUnconfirmed) -> Plan:
    """Nothing written and no trade key named for a message whose merchant is unconfirmed: the trade
    it names is only the producer's word (a mislabelled message must not leave a false record)."""
    letter = plan.dead_letter
    if letter is not None:
        decision = unconfirmed.decision
        letter = letter._replace(
            trade_key=None,
            error_code=decision.code,
            error_sub_code=decision.sub_code,
            alipay_trace_id=unconfirmed.trace_id,
        )
    return plan._replace(write=None, dead_letter=letter, unrecorded=None)


def _left_to_retry(delivery: Delivery, ending: Ending, decision: Decision, write: LedgerWrite | None) -> Plan:
    """A retryable answer or a configuration error: written, and back on the queue after the backoff
    (a configuration error is kept beyond the horizon, waiting slowly for a person)."""
    config = ending is Ending.CONFIG_ERROR
    return Plan(
        ending,
        acknowledge=False,
        write=write,
        visibility_seconds=(
            backoff(delivery, RetryDelay.SLOW)
            if config
            else until_retry(delivery, decision.delay or RetryDelay.NORMAL)
        ),
        metrics=ENDINGS[ending].metrics,
        log=(
            "configuration error: the trade is kept and retried until it is fixed"
            if config
            else "trade will be retried"
        ),
        log_level=logging.ERROR if config else logging.INFO,
        detail=_decision_detail(decision),
    )


def _decision_detail(decision: Decision) -> dict[str, object]:
    detail: dict[str, object] = {"reason": decision.reason, "remedy": decision.remedy}
    if decision.code:
        detail["error_code"] = decision.code
    if decision.sub_code:
        detail["error_sub_code"] = decision.sub_code
    return detail


def _leave(
    ending: Ending, visibility_seconds: int | None, log: str, level: int, detail: dict[str, object]
) -> Plan:
    """A plan that leaves the message on the queue without writing anything."""
    return Plan(
        ending,
        acknowledge=False,
        visibility_seconds=visibility_seconds,
        metrics=ENDINGS[ending].metrics,
        log=log,
        log_level=level,
        detail=detail,
    )


def _bad_message(delivery: Delivery, bad: Unreadable) -> Plan:
    """Dead-lettered on its first receipt; nothing written to the ledger, not even under a key the
    message seems to name (a bad message must never write under a real trade's key)."""
    remedy = REMEDIES[Remedy.BAD_MESSAGE]
    letter = DeadLetter(
        body=delivery.body,
        reason=sentence(f"Bad message, not retried: {bad.reason}", remedy),
        source_message_id=delivery.message_id,
        outcome_class=ENDINGS[Ending.BAD_MESSAGE].outcome_class,
        trade_key=bad.trade_key,
        attempts=delivery.receive_count,
    )
    return Plan(
        Ending.BAD_MESSAGE,
        acknowledge=True,
        dead_letter=letter,
        metrics=ENDINGS[Ending.BAD_MESSAGE].metrics,
        log="bad message dead-lettered",
        log_level=logging.WARNING,
        detail={"reason": bad.reason},
    )
