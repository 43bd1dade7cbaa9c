"""Waiting on a condition, never on a clock: a test polls for what it needs to see, with a deadline far
beyond what a passing run takes on a busy machine."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    condition: Callable[[], object], what: str, *, seconds: float = 30.0, poll: float = 0.01
) -> None:
    """Returns as soon as ``condition()`` is true; AssertionError naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {seconds:g} s")
        time.sleep(poll)
