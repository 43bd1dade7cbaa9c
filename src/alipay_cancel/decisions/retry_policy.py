"""Pure retry policy: how long a retried message stays invisible, and when attempts are exhausted.

Backoff is exponential on SQS's ``ApproximateReceiveCount`` with *equal jitter*: the upper bound is
``min(cap, base * 2 ** (receive_count - 1))`` and the delay is drawn uniformly from
``[upper / 2, upper]``. Equal rather than full jitter because a full-jitter draw near 0 makes the
message visible again at once and burns one of the queue's few receives (``maxReceiveCount``) for
nothing; half the bound is still enough spread to keep a burst of retries from arriving together.

The SLOW class (the merchant must act, e.g. top up the balance) starts from ``slow_base_seconds``
(never below the normal base). Everything is capped at ``max_seconds`` and at SQS's 43200-second
visibility limit, and never below 0.
"""

from __future__ import annotations

import random

from alipay_cancel.decisions.classification import RetryDelay

SQS_MAX_VISIBILITY_SECONDS = 43200  # 12 hours: ChangeMessageVisibility rejects anything larger
_MAX_DOUBLINGS = 40  # 2**40 * 1 s is far past any cap; stops absurd receive counts from costing time

_default_rng = random.Random()


def upper_bound(
    receive_count: int,
    delay: RetryDelay,
    *,
    base_seconds: int,
    max_seconds: int,
    slow_base_seconds: int,
) -> int:
    """The largest delay ``visibility_timeout`` can return for these inputs (the jitter's ceiling)."""
    base = max(0, base_seconds)
    if delay is RetryDelay.SLOW:
        base = max(base, slow_base_seconds)
    cap = max(0, min(max_seconds, SQS_MAX_VISIBILITY_SECONDS))
    doublings = min(max(receive_count, 1) - 1, _MAX_DOUBLINGS)
    return min(cap, base << doublings)


def visibility_timeout(
    receive_count: int,
    delay: RetryDelay,
    *,
    base_seconds: int,
    max_seconds: int,
    slow_base_seconds: int,
    rng: random.Random | None = None,
) -> int:
    """Seconds before the message is visible again: exponential on receive_count, equal jitter.

    ``receive_count`` is the message's ApproximateReceiveCount (1 on the first delivery; values
    below 1 count as 1). Pass a seeded ``rng`` for reproducible delays.
    """
    upper = upper_bound(
        receive_count,
        delay,
        base_seconds=base_seconds,
        max_seconds=max_seconds,
        slow_base_seconds=slow_base_seconds,
    )
    half = upper / 2
    drawn = half + (rng or _default_rng).uniform(0, half)
    return max(0, min(upper, round(drawn)))


def is_last_attempt(receive_count: int, max_receive_count: int) -> bool:
    """True when this receive is the last one the queue's redrive policy allows.

    After a failure on this receive SQS moves the message to the dead-letter queue, so the handler
    records the final ``FAILED`` state now. ``max_receive_count`` below 1 counts as 1.
    """
    return receive_count >= max(1, max_receive_count)
