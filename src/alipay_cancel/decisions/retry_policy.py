"""Pure retry policy: how long a retried message stays invisible, and when to stop retrying.

Backoff is exponential on SQS's ``ApproximateReceiveCount`` with *equal jitter*: the upper bound is
``min(cap, base * 2 ** (receive_count - 1))`` and the delay is drawn uniformly from
``[upper / 2, upper]``. Equal rather than full jitter because a full-jitter draw near 0 makes the
message visible again at once and burns one of the queue's receives for nothing; half the bound is
still enough spread to keep a burst of retries from arriving together.

The SLOW class (the merchant must act, e.g. top up the balance) starts from ``slow_base_seconds``
(never below the normal base). Everything is capped at ``max_seconds`` and at SQS's 43200-second
visibility limit, and never below 0.

The *horizon* is what a person reasons about: a retryable Alipay failure is retried until the
message is ``horizon_seconds`` old (counted from when it was sent to the queue), then dead-lettered
as exhausted. The last delay is shortened so that the final try happens at the horizon, not up to
one cap later. The queue's ``maxReceiveCount`` is only the backstop: it must leave room for every
receive the schedule can use within the horizon (``receives_within_horizon``), which config.py
checks at load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alipay_cancel.decisions.alipay_codes import RetryDelay
from alipay_cancel.shared.sqs_limits import SQS_MAX_RETENTION_SECONDS, SQS_MAX_VISIBILITY_SECONDS

# Half the retention: a message moved by the queue's own redrive keeps its original enqueue time, so
# after its last retry it still has at least a week in the dead-letter queue for a person to act.
MAX_HORIZON_SECONDS = SQS_MAX_RETENTION_SECONDS // 2
_MAX_DOUBLINGS = 40  # 2**40 * 1 s is far past any cap; stops absurd receive counts from costing time


def jitter_bounds(
    receive_count: int,
    delay: RetryDelay,
    *,
    base_seconds: int,
    max_seconds: int,
    slow_base_seconds: int,
) -> tuple[int, int]:
    """(floor, ceiling): the smallest and largest delay ``visibility_timeout`` can return here."""
    base = max(0, base_seconds)
    if delay is RetryDelay.SLOW:
        base = max(base, slow_base_seconds)
    cap = max(0, min(max_seconds, SQS_MAX_VISIBILITY_SECONDS))
    doublings = min(max(receive_count, 1) - 1, _MAX_DOUBLINGS)
    upper = min(cap, base << doublings)
    return upper // 2, upper


def visibility_timeout(
    receive_count: int,
    delay: RetryDelay,
    *,
    base_seconds: int,
    max_seconds: int,
    slow_base_seconds: int,
    jitter: float,
) -> int:
    """Seconds before the message is visible again: exponential on receive_count, equal jitter.

    ``receive_count`` is the message's ApproximateReceiveCount (1 on the first delivery; values
    below 1 count as 1); ``jitter`` a uniform draw in [0, 1) (the caller's: this stays pure).
    """
    floor, upper = jitter_bounds(
        receive_count,
        delay,
        base_seconds=base_seconds,
        max_seconds=max_seconds,
        slow_base_seconds=slow_base_seconds,
    )
    half = upper / 2
    return max(floor, min(upper, round(half + half * jitter)))


# --------------------------------------------------------------------------------------- horizon


@dataclass(frozen=True)
class RetrySchedule:
    """The retry settings as one value (``Config.retry_schedule`` builds it from RETRY_* variables)."""

    horizon_seconds: int  # RETRY_HORIZON_SECONDS: retry until the message is this old
    base_seconds: int  # RETRY_BASE_SECONDS
    max_seconds: int  # RETRY_MAX_SECONDS
    slow_base_seconds: int  # RETRY_SLOW_BASE_SECONDS
    max_receive_count: int  # MAX_RECEIVE_COUNT: the queue's redrive backstop

    def backoff_bounds(self) -> dict[str, int]:
        """The keyword arguments of ``visibility_timeout`` / ``jitter_bounds``."""
        return {
            "base_seconds": self.base_seconds,
            "max_seconds": self.max_seconds,
            "slow_base_seconds": self.slow_base_seconds,
        }


UNBOUNDED = 10**9  # receives_within_horizon's answer when delays never grow past 0


def receives_within_horizon(schedule: RetrySchedule, delay: RetryDelay = RetryDelay.NORMAL) -> int:
    """The most receives a message can take before giving up at the horizon: every delay at its
    jitter floor, no time spent processing. ``maxReceiveCount`` must be at least this."""
    bounds = schedule.backoff_bounds()
    horizon = schedule.horizon_seconds
    age, receives = 0, 1
    while age < horizon:
        step, upper = jitter_bounds(receives, delay, **bounds)  # every delay at its floor
        if upper == jitter_bounds(receives + 1, delay, **bounds)[1]:
            # At the cap every further delay is the same: count the rest in one go.
            if step <= 0:
                return UNBOUNDED  # delays never grow past 0: retried at once, forever
            return receives + math.ceil((horizon - age) / step)
        age = min(horizon, age + step)
        receives += 1
    return receives


def schedule_problems(schedule: RetrySchedule) -> list[str]:
    """What makes these settings inconsistent, in words naming the environment variables (empty: fine)."""
    problems = []
    if schedule.max_seconds < schedule.base_seconds:
        problems.append(
            f"RETRY_MAX_SECONDS ({schedule.max_seconds}) must be at least RETRY_BASE_SECONDS "
            f"({schedule.base_seconds})"
        )
        return problems
    needed = receives_within_horizon(schedule)
    if needed >= UNBOUNDED:
        problems.append(
            f"RETRY_MAX_SECONDS ({schedule.max_seconds}) must be at least 2: shorter delays retry "
            "at once, forever"
        )
    elif schedule.max_receive_count < needed:
        problems.append(
            f"MAX_RECEIVE_COUNT ({schedule.max_receive_count}) is too small for "
            f"RETRY_HORIZON_SECONDS ({schedule.horizon_seconds}): with RETRY_BASE_SECONDS "
            f"{schedule.base_seconds} and RETRY_MAX_SECONDS {schedule.max_seconds} retries within the "
            f"horizon can take up to {needed} receives; set MaxReceiveCount to at least {needed}, "
            "or shorten RetryHorizonSeconds, or raise RetryMaxSeconds"
        )
    return problems
