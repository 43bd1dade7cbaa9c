"""What routing reads and what it returns: the delivery, what happened to it, and the plan.

Values only: the pipeline builds the inputs, ``routing.route`` the plan, and ``pipeline.apply``
carries the plan out. They are named tuples: a cold start creates every class here, and a
named tuple class costs a fifth of a frozen dataclass to create.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from alipay_cancel.alipay.responses import CancelOutcome, CancelSuccess
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import ENDINGS, Ending
from alipay_cancel.stores.results import ResultRecord

# ---- inputs -----------------------------------------------------------------------------------------


class Delivery(NamedTuple):
    """One receive of one SQS message."""

    message_id: str
    body: str
    receive_count: int
    max_receive_count: int  # the queue's redrive maxReceiveCount
    age_seconds: int = 0  # since the message was first sent (across re-enqueues)
    max_age_seconds: int = 1_209_600  # how long the queue keeps a message (its retention)
    # Since this copy was sent (SentTimestamp): retryable Alipay failures are retried this long. A copy
    # re-enqueued while our configuration was broken starts its horizon again when it is fixed.
    sent_age_seconds: int = 0
    horizon_seconds: int = 86_400  # RETRY_HORIZON_SECONDS

    @property
    def past_horizon(self) -> bool:
        return self.sent_age_seconds >= self.horizon_seconds

    @property
    def last(self) -> bool:
        """This receive is the last the redrive policy allows: failing it moves the message silently."""
        return self.receive_count >= max(1, self.max_receive_count)


class Attempt(NamedTuple):
    """What one Alipay attempt came back with (a secret refresh may make it two calls)."""

    outcome: CancelOutcome
    decision: Decision
    calls: int = 1

    @property
    def success(self) -> CancelSuccess | None:
        return verified_success(self.outcome, self.decision)


def verified_success(outcome: CancelOutcome | None, decision: Decision) -> CancelSuccess | None:
    """The success to record and remember: a verified answer classified SUCCEEDED (not retry_flag Y)."""
    if isinstance(outcome, CancelSuccess) and decision.outcome is Ending.SUCCEEDED:
        return outcome
    return None


class Unreadable(NamedTuple):
    """The message could not be read as a cancel request."""

    reason: str
    trade_key: str | None


class SetupBroken(NamedTuple):
    """Our signing setup (secret, keys) is unusable: Alipay was not called. ``remedy``: what to fix
    when it is not the default app's secret (a further app's, named by the prefix convention)."""

    reason: str
    remedy: str | None = None


class TooLittleTime(NamedTuple):
    """Too little of the invocation was left to call Alipay safely."""

    remaining_ms: int
    needed_ms: int


class Called(NamedTuple):
    """Alipay was called now (the idempotency store had no success for the trade)."""

    attempt: Attempt


class Replayed(NamedTuple):
    """The idempotency store remembered this trade's success: Alipay was not called."""

    success: CancelSuccess


class InProgress:  # no fields: a plain class (a named tuple without fields would be falsy)
    """Another delivery holds the trade's in-progress idempotency record."""


class StoreFailed(NamedTuple):
    """The idempotency store failed, before the call (``attempt`` None) or after it."""

    error: str
    attempt: Attempt | None = None


Happened = Unreadable | SetupBroken | TooLittleTime | Called | Replayed | InProgress | StoreFailed


# ---- output -----------------------------------------------------------------------------------------


class Wait(StrEnum):
    """How long a message left on the queue stays invisible."""

    BACKOFF = "backoff"  # retry_policy's schedule for the receive count (normal)
    SLOW_BACKOFF = "slow_backoff"  # retry_policy's slow schedule
    FIRST_BACKOFF = "first_backoff"  # the schedule's first step, whatever the receive count
    SOON = "soon"  # LOW_TIME_RETRY_SECONDS
    QUEUE_DEFAULT = "queue_default"  # leave the queue's visibility timeout as it is


class Plan(NamedTuple):
    """What to do with one delivery: record, dead letter, wait or requeue, acknowledge."""

    ending: Ending
    acknowledge: bool  # False: the message stays on the queue (reported in batchItemFailures)
    record: ResultRecord | None = None  # written first
    dead_letter: DeadLetter | None = None  # sent after the record
    # Sent only if the record cannot be written on the last receive (a success's fallback).
    fallback_letter: DeadLetter | None = None
    wait: Wait | None = None  # for a message left on the queue
    requeue: bool = False  # re-enqueue the body unchanged (delayed like a slow retry), then acknowledge
    metrics: tuple[str, ...] = ()
    log: str = ""  # what happened, for the log line
    log_level: str = "info"
    detail: Mapping[str, object] = MappingProxyType({})  # extra log fields (never key material)

    @property
    def outcome_class(self) -> str:
        return ENDINGS[self.ending].outcome_class
