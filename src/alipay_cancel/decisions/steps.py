"""What a delivery does with a trade, step by step: pure rules over the ledger item and Alipay's answers.

A delivery claims the trade's ledger item, then asks ``next_step`` what to do: call an operation, or
stop with a state (a final one, or RETRYING: left for a later delivery). After each call it asks again
with the answers so far. Today there is one operation, cancel:

- nothing answered yet: cancel. When the claim found a call a dead holder sent whose answer was never
  recorded (``Prior.unknown``), cancel again: a cancel is idempotent at Alipay, and the ledger records
  that this delivery resumed it;
- a signature problem (keys may have rotated) whose answer did not come from freshly read keys: the
  same call again, with the app's secret re-read;
- otherwise the last answer decides (``finish``).

The settle flow adds operations (query, close, refund, refund_query) as further rules here.

``refused`` reads the item a failed claim returned: settled (a duplicate: nothing to do), held by a
live lease (in progress elsewhere), held by this very delivery (its own claim, retried by the SDK), or
a dead holder's call left unanswered (claim again and resume it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from alipay_cancel.alipay.responses import CancelOutcome, CancelSuccess
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import CANCEL_ACTIONS, CLAIMABLE, LedgerItem, Op, Pending, Status


class Prior(NamedTuple):
    """The trade's item before this delivery claimed it."""

    item: LedgerItem | None = None  # None: the first delivery of this trade
    unknown: Pending | None = None  # a dead holder's call whose answer was never recorded: resumed


class Call(NamedTuple):
    """Call ``op`` next (``fresh_keys``: after re-reading the app's secret)."""

    op: Op
    fresh_keys: bool = False


class Answer(NamedTuple):
    """What one call came back with, classified."""

    op: Op
    outcome: CancelOutcome
    decision: Decision
    sent_at: str  # ISO UTC, ms: when it was about to be sent (the ledger's pending ``at``)
    fresh_keys: bool = False  # sent with the app's secret re-read after a signature problem


class Finish(NamedTuple):
    """Stop calling: the trade's state (RETRYING: left for a later delivery), on ``answer``'s word."""

    status: Status
    answer: Answer


class Refusal(StrEnum):
    """Why a claim was refused, from the item it returned."""

    SETTLED = "settled"  # a final state: this delivery is a duplicate
    HELD = "held"  # another delivery holds a live lease
    OURS = "ours"  # this delivery's own lease: its claim went through before (an SDK retry)
    UNANSWERED = "unanswered"  # a dead holder's pending call: claim again, without it, and resume


def refused(item: LedgerItem, holder: str, now_ms: int) -> Refusal:
    if item.status is None:  # gone between the condition and now (deleted by hand): look again later
        return Refusal.HELD
    if item.status not in CLAIMABLE:
        return Refusal.SETTLED
    if item.lease_holder == holder:
        return Refusal.OURS
    if item.lease_live(now_ms):
        return Refusal.HELD
    return Refusal.UNANSWERED


def next_step(prior: Prior, answers: tuple[Answer, ...]) -> Call | Finish:
    if not answers:
        return Call(Op.CANCEL)  # also when resuming ``prior.unknown``: cancel again
    last = answers[-1]
    if last.decision.refresh_secret and not any(a.fresh_keys for a in answers):
        return Call(last.op, fresh_keys=True)
    return finish(last)


def finish(answer: Answer) -> Finish:
    """The state ``answer`` leaves the trade in: a verified success settles it by cancel's action;
    a terminal refusal fails it; anything else leaves it for a later delivery."""
    success = verified_success(answer.outcome, answer.decision)
    if success is not None:
        action = (success.action or "").strip().lower() or None
        return Finish(CANCEL_ACTIONS.get(action, Status.RETRYING), answer)
    if answer.decision.outcome is Ending.TERMINAL:
        return Finish(Status.FAILED, answer)
    return Finish(Status.RETRYING, answer)


def verified_success(outcome: CancelOutcome | None, decision: Decision) -> CancelSuccess | None:
    """The success to record: a verified answer classified SUCCEEDED (not retry_flag Y)."""
    if isinstance(outcome, CancelSuccess) and decision.outcome is Ending.SUCCEEDED:
        return outcome
    return None
