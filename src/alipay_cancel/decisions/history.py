"""The ledger's history of Alipay calls: one entry per call, the last ``HISTORY_LIMIT`` kept.

Every call the ledger counts (``attempts``) gets exactly one entry: when its answer is recorded (the
write after it: ``ok`` or ``error`` with the codes and trace id), or, when its holder died before
that, ``unknown`` (written by the delivery that resumes it). So, whenever no call is pending,
``len(history) + history_dropped == attempts``.
"""

from __future__ import annotations

from alipay_cancel.alipay.responses import AlipayFailure
from alipay_cancel.decisions.steps import Answer
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import HISTORY_LIMIT, CallResult, HistoryEntry, Pending


def answered(answer: Answer, delivery: str) -> HistoryEntry:
    """``ok``: a verified success (not a cancel's retry_flag Y); ``error``: anything else came back."""
    outcome = answer.outcome
    failed = isinstance(outcome, AlipayFailure)
    ok = not failed and answer.decision.outcome is Ending.SUCCEEDED
    code = sub_code = None
    if failed:
        code, sub_code = answer.decision.code, answer.decision.sub_code  # sanitised codes
    return HistoryEntry(
        op=answer.call.op.value,
        at=answer.sent_at,
        delivery=delivery,
        result=CallResult.OK if ok else CallResult.ERROR,
        code=code,
        sub_code=sub_code,
        trace_id=outcome.trace_id,
    )


def unanswered(pending: Pending) -> HistoryEntry:
    """A call sent (or about to be) by a holder that died before recording its answer."""
    return HistoryEntry(op=pending.op, at=pending.at, delivery=pending.delivery, result=CallResult.UNKNOWN)


def extended(
    history: tuple[HistoryEntry, ...], entries: tuple[HistoryEntry, ...]
) -> tuple[tuple[HistoryEntry, ...], int]:
    """(the history with ``entries`` appended, bounded; how many entries fell off the front)."""
    whole = history + entries
    dropped = max(0, len(whole) - HISTORY_LIMIT)
    return whole[dropped:], dropped
