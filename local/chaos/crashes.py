"""Crash faults for the chaos run: execution environments SIGKILLed at chosen points, and at the timeout.

Chosen from outside the function (no change to its code), at the points where a crash hurts most:

- ``before the Alipay call`` and ``after Alipay answered, before the ledger's final write``: the wire
  tap (``local.chaos.wiretap``) asks the pool to kill the environment running the planned trade's
  batch, once per planned trade, before forwarding its cancel / after the emulator answered it (the
  cancel happened; the function never hears of it). Either leaves the call pending under the lease:
  the next delivery records it as ``unknown`` and resumes it;
- ``after the ledger claim``: the AWS stand-in (``local.aws.moto_atomic``) kills the caller once its
  claim (the UpdateItem that takes the lease and counts the call) was processed: a call counted and
  pending, never sent;
- ``after the final write, before the dead letter / visibility change``: kill once a final write
  (the UpdateItem that ends the lease) was processed, or before a SendMessage to the dead-letter queue
  or a ChangeMessageVisibility is;
- ``at the timeout``: a final write is held longer than the function timeout, so the driver kills the
  environment at its deadline (the held write lands afterwards, as a request in flight at AWS would,
  and goes through only if no later delivery took the lease over meanwhile).

Every one of these kills the whole environment, so the other records of its batch die mid-way too
(the mid-batch case): the batch comes back after the visibility timeout. Rule cadences are counts
(the n-th matching request, then every k-th), so a run's crash points do not depend on a random draw,
and every point is hit early, even in a CI-sized run.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.chaos.wiretap import Exchange

BEFORE_ALIPAY = "before the Alipay call"
AFTER_ALIPAY = "after Alipay answered, before the ledger's final write"
# What the ledger's UpdateItems carry in their request body (``stores.ledger``): the claim sets the
# lease holder, the final write is conditional on it alone.
CLAIM_MARKER = "#lease_holder = :lease_holder"
FINAL_WRITE_MARKER = '#lease_holder = :holder"'  # the closing quote: not the step's longer condition


@dataclass
class CrashPlan:
    before_alipay: set[str] = field(default_factory=set)  # trade keys
    after_alipay: set[str] = field(default_factory=set)
    moto_rules: list[dict[str, Any]] = field(default_factory=list)


# Matching requests per invocation, as measured in a full chaos run (2,003 messages): they turn a
# share of invocations to kill into a request cadence per rule. Smaller runs get fewer kills per
# invocation (smaller batches), but every point at least once (``_FIRST``).
_PER_INVOCATION = {"claim": 8.0, "results": 6.5, "visibility": 1.8, "dead_letter": 0.7}
_INVOCATIONS_PER_TRADE = 0.28
# How the share of invocations killed is spread over the crash points (the tap's two take the rest).
_WEIGHTS = {"claim": 0.2, "results": 0.2, "visibility": 0.2, "dead_letter": 0.15, "tap": 0.25}
_FIRST = {"claim": 5, "results": 7, "visibility": 2, "dead_letter": 2}  # act early even in a short run


def build_crash_plan(
    trade_keys: list[str],
    *,
    seed: int,
    crash_rate: float,
    function_timeout: float,
    dlq_name: str,
) -> CrashPlan:
    """``crash_rate``: the share of invocations to kill, spread over the crash points by ``_WEIGHTS``
    (the whole batch of a killed invocation dies with it, so more records than that are hit)."""
    if crash_rate <= 0:
        return CrashPlan()

    def every(point: str) -> int:
        return max(2, round(_PER_INVOCATION[point] / (crash_rate * _WEIGHTS[point])))

    rng = random.Random(seed * 7919 + 17)
    keys = sorted(trade_keys)
    planned = round(len(keys) * _INVOCATIONS_PER_TRADE * crash_rate * _WEIGHTS["tap"])  # one kill each
    chosen = rng.sample(keys, min(len(keys), max(2, planned)))
    ddb = "DynamoDB_20120810"
    rules = [
        {
            "name": "after the ledger claim (a call counted and pending, never sent)",
            "operation": f"{ddb}.UpdateItem",
            "body_contains": CLAIM_MARKER,
            "action": "kill",
            "when": "after",
            "every": every("claim"),
            "first": _FIRST["claim"],
        },
        {
            "name": "after the final write, before the dead letter / visibility change",
            "operation": f"{ddb}.UpdateItem",
            "body_contains": FINAL_WRITE_MARKER,
            "action": "kill",
            "when": "after",
            "every": every("results"),
            "first": _FIRST["results"],
        },
        {
            "name": "before the visibility change (after the final write)",
            "operation": "AmazonSQS.ChangeMessageVisibility",
            "action": "kill",
            "when": "before",
            "every": every("visibility"),
            "first": _FIRST["visibility"],
        },
        {
            "name": "before the dead letter (after the final write)",
            "operation": "AmazonSQS.SendMessage",
            "body_contains": dlq_name,
            "action": "kill",
            "when": "before",
            "every": every("dead_letter"),
            "first": _FIRST["dead_letter"],
        },
        {
            "name": "at the timeout (a final write held past the deadline)",
            "operation": f"{ddb}.UpdateItem",
            "body_contains": FINAL_WRITE_MARKER,
            "action": "stall",
            "seconds": function_timeout + 2,
            "every": every("claim"),
            "first": 20,
        },
    ]
    half = len(chosen) // 2
    return CrashPlan(set(chosen[:half]), set(chosen[half:]), rules)


def _event_mentions(key: str) -> Callable[[dict[str, Any]], bool]:
    """The event has a record naming ``key`` (as a whole id: not a longer one it is a prefix of)."""
    pattern = re.compile(re.escape(key) + r"(?![0-9A-Za-z_-])")

    def matches(event: dict[str, Any]) -> bool:
        return any(pattern.search(str(r.get("body", ""))) for r in event.get("Records") or ())

    return matches


class TapCrashes:
    """The wire tap's crash hook: kills (through ``kill_where``) the environment running a planned
    trade, the first time that trade's cancel passes the tap at the planned phase (and again later if
    no environment was found to kill)."""

    def __init__(self, plan: CrashPlan, kill_where: Callable[[Callable[[dict[str, Any]], bool], str], int]):
        self._plan = {"before": plan.before_alipay, "after": plan.after_alipay}
        self._names = {"before": BEFORE_ALIPAY, "after": AFTER_ALIPAY}
        self._kill_where = kill_where
        self._lock = threading.Lock()
        self._done: set[tuple[str, str]] = set()
        self.killed: Counter[str] = Counter()

    def __call__(self, phase: str, exchange: Exchange) -> bool:
        key = exchange.out_trade_no or exchange.trade_no
        if not key or key not in self._plan[phase]:
            return False
        with self._lock:
            if (phase, key) in self._done:
                return False
            self._done.add((phase, key))
        killed = self._kill_where(_event_mentions(key), f"chaos: {self._names[phase]}")
        with self._lock:
            self.killed[self._names[phase]] += killed
            if not killed:  # its environment was already gone: try again on the trade's next call
                self._done.discard((phase, key))
        return killed > 0
