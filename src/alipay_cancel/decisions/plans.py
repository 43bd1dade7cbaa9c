"""What routing reads and what it returns: the delivery, what happened to it, and the plan.

Values only: the pipeline builds the inputs, ``routing.route`` the plan, and ``pipeline.apply``
carries the plan out as it is. They are named tuples: a cold start creates every class here, and a
named tuple class costs a fifth of a frozen dataclass to create.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from alipay_cancel.decisions.decision import Decision
from alipay_cancel.decisions.retry_policy import RetrySchedule
from alipay_cancel.decisions.steps import Answer, Finish, Start
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import ENDINGS, Ending
from alipay_cancel.shared.ledger_item import HistoryEntry, LedgerWrite, Pending

# ---- inputs -----------------------------------------------------------------------------------------


class Delivery(NamedTuple):
    """One receive of one SQS message, under the deployment's retry schedule."""

    message_id: str
    body: str
    receive_count: int
    schedule: RetrySchedule  # the queue's receive limit, the horizon and the backoff
    age_seconds: int = 0  # since the message was first sent (across re-enqueues)
    max_age_seconds: int = 1_209_600  # how long the queue keeps a message (its retention)
    # Since this copy was sent (SentTimestamp): retryable Alipay failures are retried this long. A copy
    # re-enqueued while our configuration was broken starts its horizon again when it is fixed.
    sent_age_seconds: int = 0
    jitter: float = 0.5  # a uniform draw in [0, 1): where in its jitter range this delivery's delay falls

    @property
    def past_horizon(self) -> bool:
        return self.sent_age_seconds >= self.schedule.horizon_seconds

    @property
    def last(self) -> bool:
        """This receive is the last the redrive policy allows: failing it moves the message silently."""
        return self.receive_count >= max(1, self.schedule.max_receive_count)


class Unreadable(NamedTuple):
    """The message could not be read as a cancel request."""

    reason: str
    trade_key: str | None


class SetupBroken(NamedTuple):
    """Our signing setup (secret, keys) is unusable: Alipay was not called. ``remedy``: what to fix
    when it is not the default app's secret (a further app's, named by the prefix convention)."""

    reason: str
    remedy: str | None = None


class IdentityUnconfirmed(NamedTuple):
    """Which merchant the message's app_auth_token belongs to could not be confirmed
    (``identity_check``): ``decision`` says what happens; nothing is written under the trade the
    message names, whose merchant is only the producer's word."""

    decision: Decision
    trace_id: str | None = None  # the app-auth-token query's alipay-trace-id, if it was answered


class TooLittleTime(NamedTuple):
    """Too little of the invocation was left to call Alipay safely."""

    remaining_ms: int
    needed_ms: int


class Settled(NamedTuple):
    """The trade's item is in a settled state: this delivery is a duplicate (nothing written)."""

    status: str


class InProgress:  # no fields: a plain class (a named tuple without fields would be falsy)
    """Another delivery holds the trade's lease (it is calling Alipay now)."""


class ClaimFailed(NamedTuple):
    """The claim (DynamoDB) failed: Alipay was not called."""

    error: str


class LeaseLost(NamedTuple):
    """The lease was taken over between calls (this invocation overran it): no more calls made."""

    answers: tuple[Answer, ...]


class Answered(NamedTuple):
    """Alipay was called under this delivery's lease."""

    lease_holder: str
    history: tuple[HistoryEntry, ...]  # the item's history as the last write under the lease left it
    answers: tuple[Answer, ...]  # every call this delivery made, answered, in order
    recorded: int  # how many of them that history already holds (written before a further call)
    start: Start  # what the steps started from
    finish: Finish  # how the steps end this delivery
    resumed: Pending | None = None  # a dead holder's call this delivery resumed


Happened = (
    Unreadable
    | SetupBroken
    | IdentityUnconfirmed
    | TooLittleTime
    | Settled
    | InProgress
    | ClaimFailed
    | LeaseLost
    | Answered
)


# ---- output -----------------------------------------------------------------------------------------


class Plan(NamedTuple):
    """What to do with one delivery, in this order: write, dead letter, re-enqueue or visibility,
    metrics, log; acknowledge or not."""

    ending: Ending
    acknowledge: bool  # False: the message stays on the queue (reported in batchItemFailures)
    write: LedgerWrite | None = None
    dead_letter: DeadLetter | None = None  # sent after the write
    # Left on the queue: invisible this long (None: the queue's own visibility timeout).
    visibility_seconds: int | None = None
    # Re-enqueue the body unchanged with this delay, then acknowledge (None: no re-enqueue).
    requeue_seconds: int | None = None
    # On the last allowed receive, the plan carried out instead when ``write`` fails: a dead letter
    # saying what could not be recorded. (Before the last receive a failed write leaves the message.)
    unrecorded: Plan | None = None
    metrics: tuple[str, ...] = ()
    log: str = ""  # what happened, for the log line
    log_level: int = logging.INFO
    detail: Mapping[str, object] = MappingProxyType({})  # extra log fields (never key material)

    @property
    def outcome_class(self) -> Ending:
        return ENDINGS[self.ending].outcome_class
