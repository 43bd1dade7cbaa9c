"""The routing table: (this delivery, what happened) → the plan that ends it. Pure: no AWS, no HTTP.

The pipeline parses a message, attempts the cancel, asks ``route`` what to do and applies the plan.
Every ending is decided here; the last allowed receive has one rule of its own (``last_receive``).
"""

from __future__ import annotations

from alipay_cancel.alipay.responses import CancelOutcome, CancelSuccess
from alipay_cancel.decisions.classification import RetryDelay
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.decisions.last_receive import on_last_receive
from alipay_cancel.decisions.plans import (
    Called,
    Delivery,
    Happened,
    InProgress,
    Plan,
    Replayed,
    SetupBroken,
    StoreFailed,
    TooLittleTime,
    Unreadable,
    Wait,
    verified_success,
)
from alipay_cancel.decisions.records import dead_letter_for, sentence, trade_record
from alipay_cancel.decisions.remedies import REMEDIES, Remedy
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import (
    ENDINGS,
    INFRASTRUCTURE_ERROR_METRIC,
    Ending,
)
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel.stores.results import ResultRecord, Status

# A record left untried for lack of time comes back this soon: nothing failed, so no backoff is due,
# but not at once either, so that a function whose timeout can never fit a call does not spin.
LOW_TIME_RETRY_SECONDS = 5


def route(delivery: Delivery, request: CancelRequest | None, happened: Happened) -> Plan:
    """Decide how this delivery ends. Total: every input has a plan."""
    if isinstance(happened, Unreadable):
        return _bad_message(delivery, happened)
    assert request is not None, "only an unreadable message has no request"
    plan = _route(delivery, request, happened)
    if plan.acknowledge:
        return plan
    if delivery.last:
        return on_last_receive(delivery, request, plan)
    if plan.ending in (Ending.RETRY, Ending.SLOW_RETRY) and delivery.past_horizon:
        return on_last_receive(delivery, request, plan, horizon=True)
    return plan


# ---- the rules --------------------------------------------------------------------------------------


def _route(delivery: Delivery, request: CancelRequest, happened: Happened) -> Plan:
    if isinstance(happened, SetupBroken):
        decision = Decision(
            Ending.CONFIG_ERROR,
            happened.reason,
            happened.remedy or REMEDIES[Remedy.SIGNING_SETUP],
            RetryDelay.SLOW,
        )
        return _answer(delivery, request, None, decision, calls=0)
    if isinstance(happened, TooLittleTime):
        return _leave(
            Ending.LOW_TIME,
            Wait.SOON,
            "not enough invocation time left to call Alipay; retrying soon",
            "warning",
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
    if isinstance(happened, InProgress):
        return _leave(  # the other delivery usually finishes within seconds: look again soon
            Ending.DUPLICATE_IN_FLIGHT,
            Wait.FIRST_BACKOFF,
            "cancel already in progress for this trade; retrying later",
            "info",
            {
                "reason": (
                    "each time, a cancel of the same trade was already in progress (another delivery of "
                    "it, usually)"
                ),
                "remedy": REMEDIES[Remedy.DUPLICATE_IN_FLIGHT],
            },
        )
    if isinstance(happened, Replayed):
        return _succeeded(delivery, request, happened.success, calls=0, replayed=True)
    if isinstance(happened, Called):
        attempt = happened.attempt
        return _answer(delivery, request, attempt.outcome, attempt.decision, calls=attempt.calls)
    if isinstance(happened, StoreFailed):
        return _store_failed(delivery, request, happened)
    raise AssertionError(f"unrouted: {happened!r}")  # Unreadable is routed before this


def _answer(
    delivery: Delivery,
    request: CancelRequest,
    outcome: CancelOutcome | None,
    decision: Decision,
    *,
    calls: int,
) -> Plan:
    """What Alipay answered (or, with ``outcome`` None, a decision made without calling it)."""
    success = verified_success(outcome, decision)
    if success is not None:
        return _succeeded(delivery, request, success, calls=calls, replayed=False)
    if decision.outcome is Ending.TERMINAL:
        ending, status = Ending.TERMINAL, Status.FAILED
    elif decision.outcome is Ending.CONFIG_ERROR:
        ending, status = Ending.CONFIG_ERROR, Status.RETRYING
    elif decision.delay is RetryDelay.SLOW:
        ending, status = Ending.SLOW_RETRY, Status.RETRYING
    else:
        ending, status = Ending.RETRY, Status.RETRYING
    record = trade_record(
        delivery,
        request,
        ending,
        status,
        decision.reason,
        decision.remedy,
        calls=calls,
        outcome=outcome,
        code=decision.code,
        sub_code=decision.sub_code,
    )
    detail: dict[str, object] = {"reason": decision.reason, "remedy": decision.remedy}
    if decision.code:
        detail["error_code"] = decision.code
    if decision.sub_code:
        detail["error_sub_code"] = decision.sub_code
    if ending is Ending.TERMINAL:
        letter = dead_letter_for(
            delivery, request, ending, sentence(decision.reason, decision.remedy), record
        )
        return _ended(ending, record, "cancel failed for good; dead-lettered", detail, dead_letter=letter)
    slow = decision.delay is RetryDelay.SLOW or ending is Ending.CONFIG_ERROR
    return Plan(
        ending,
        acknowledge=False,
        record=record,
        wait=Wait.SLOW_BACKOFF if slow else Wait.BACKOFF,
        metrics=ENDINGS[ending].metrics,
        log=(
            "configuration error: the cancel is kept and retried until it is fixed"
            if ending is Ending.CONFIG_ERROR
            else "cancel will be retried"
        ),
        log_level="error" if ending is Ending.CONFIG_ERROR else "info",
        detail=detail,
    )


def _succeeded(
    delivery: Delivery, request: CancelRequest, success: CancelSuccess, *, calls: int, replayed: bool
) -> Plan:
    action = success.action or "none"  # none: Alipay found no trade to close or refund
    record = trade_record(delivery, request, Ending.SUCCEEDED, Status.SUCCEEDED, calls=calls, outcome=success)
    record = record._replace(action=action)
    fallback = dead_letter_for(
        delivery,
        request,
        Ending.EXHAUSTED,
        sentence(f"Alipay cancelled the payment (action {action})", REMEDIES[Remedy.UNRECORDED_SUCCESS]),
        record,
    )
    detail: dict[str, object] = {"action": action, "replayed": replayed}
    return _ended(Ending.SUCCEEDED, record, "cancel succeeded", detail, fallback_letter=fallback)


def _store_failed(delivery: Delivery, request: CancelRequest, failed: StoreFailed) -> Plan:
    """Before the last receive: left with the queue's own visibility timeout (not a shorter backoff): a
    failed cleanup may have left an in-progress record, which expires with the invocation's timeout,
    before the message is visible again. On the last receive, what Alipay answered is routed as usual,
    except that a success the store could not remember is not recorded SUCCEEDED (a later duplicate
    would then cancel again after a recorded success)."""
    if not delivery.last:
        return _leave(
            Ending.AWS_FAILURE,
            Wait.QUEUE_DEFAULT,
            "idempotency store failed; message will be retried",
            "warning",
            {"error": failed.error},
        )
    if failed.attempt is None:
        decision = Decision(
            Ending.RETRY,
            f"The idempotency store failed before Alipay was called ({failed.error})",
            REMEDIES[Remedy.IDEMPOTENCY_STORE],
            RetryDelay.NORMAL,
        )
        plan = _answer(delivery, request, None, decision, calls=0)
    else:
        outcome, decision = failed.attempt.outcome, failed.attempt.decision
        success = failed.attempt.success
        if success is not None:
            decision = Decision(
                Ending.RETRY,
                f"Alipay cancelled the payment (action {success.action or 'none'}), but the idempotency "
                f"store could not remember it ({failed.error}), so it is not recorded as SUCCEEDED",
                REMEDIES[Remedy.UNREMEMBERED_SUCCESS],
                RetryDelay.NORMAL,
            )
        plan = _answer(delivery, request, outcome, decision, calls=failed.attempt.calls)
    return plan._replace(
        metrics=(*plan.metrics, INFRASTRUCTURE_ERROR_METRIC),
        detail={**plan.detail, "error": failed.error, "alipay_called": failed.attempt is not None},
    )


def _leave(ending: Ending, wait: Wait, log: str, level: str, detail: dict[str, object]) -> Plan:
    """A plan that leaves the message on the queue without writing anything."""
    return Plan(
        ending,
        acknowledge=False,
        wait=wait,
        metrics=ENDINGS[ending].metrics,
        log=log,
        log_level=level,
        detail=detail,
    )


def _ended(
    ending: Ending,
    record: ResultRecord | None,
    log: str,
    detail: dict[str, object],
    *,
    dead_letter: DeadLetter | None = None,
    fallback_letter: DeadLetter | None = None,
) -> Plan:
    """A plan that acknowledges the message: this ending's record and metrics; a dead letter is
    worth a warning."""
    return Plan(
        ending,
        acknowledge=True,
        record=record,
        dead_letter=dead_letter,
        fallback_letter=fallback_letter,
        metrics=ENDINGS[ending].metrics,
        log=log,
        log_level="warning" if dead_letter is not None else "info",
        detail=detail,
    )


def _bad_message(delivery: Delivery, bad: Unreadable) -> Plan:
    remedy = REMEDIES[Remedy.BAD_MESSAGE]
    record = None
    if bad.trade_key:
        record = ResultRecord(
            trade_key=bad.trade_key,
            status=Status.FAILED,
            outcome_class=ENDINGS[Ending.BAD_MESSAGE].outcome_class,
            message_id=delivery.message_id,
            alipay_calls=0,
            error_message=bad.reason,
            remedy=remedy,
        )
    letter = DeadLetter(
        body=delivery.body,
        reason=sentence(f"Bad message, not retried: {bad.reason}", remedy),
        source_message_id=delivery.message_id,
        outcome_class=ENDINGS[Ending.BAD_MESSAGE].outcome_class,
        trade_key=bad.trade_key,
        attempts=delivery.receive_count,
    )
    return _ended(
        Ending.BAD_MESSAGE, record, "bad message dead-lettered", {"reason": bad.reason}, dead_letter=letter
    )
