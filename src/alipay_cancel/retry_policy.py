"""Pure retry policy: how long a retried message stays invisible, and when attempts are exhausted."""

from __future__ import annotations

import random

from alipay_cancel.outcomes import RetryDelay


def visibility_timeout(
    receive_count: int,
    delay: RetryDelay,
    *,
    base_seconds: int,
    max_seconds: int,
    slow_base_seconds: int,
    rng: random.Random | None = None,
) -> int:
    """Seconds before the message is visible again: exponential on receive_count, with jitter."""
    raise NotImplementedError


def is_last_attempt(receive_count: int, max_receive_count: int) -> bool:
    raise NotImplementedError
