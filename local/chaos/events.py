"""Outcome events under chaos (``local.chaos`` wires it in): the publisher's side of the run.

- ``local.stack.events_and_schedules`` on the chaos stack: the results table's stream read with the
  template's mapping and handed to the real publisher on a thread, while the cancel function's
  environments are killed at every crash point.
- Faults on the publisher, through botocore hooks on its EventBridge client, counted over the run's
  PutEvents calls: every ``CRASH_BEFORE_EVERY``-th the function dies before the call (the batch is
  retried whole), every ``CRASH_AFTER_EVERY``-th it dies after the bus answered (retried whole: the
  events before it in the batch and that one are published again, repeats a consumer drops by
  ``event_id``), every ``REFUSE_EVERY``-th the bus refuses (``ThrottlingException`` after the SDK's
  retries: the stream resumes from that record).
- The stream reader restarted at ``RESTART_AT`` shares of the first wave: stopped, then started again
  from its checkpoints with a fresh publisher runtime (a cold start with new clients).
- After the run: the rest is published and ``check()`` asks that every final state the ledger holds
  and every final write the table's stream recorded (a reader apart from the publisher) has its
  event, that nothing else arrived, and counts the repeats by ``event_id``.

The records' retry window (an hour) is never reached in a run, so nothing is dead-lettered here; the
dead-letter paths are tested apart (tests/test_local_events.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from local.accounting.outcome_accounting import EventAccount
from local.aws.stream_publisher import StreamPublisher
from local.chaos.checks import CheckResult
from local.stack.events_and_schedules import EventsAndSchedules
from local.stack.local_stack import LocalStack

CRASH_BEFORE_EVERY = 17
CRASH_AFTER_EVERY = 13
REFUSE_EVERY = 11
RESTART_AT = (1 / 3, 2 / 3)
INTERVAL_SECONDS = 0.3
CHECK_NAME = "every final state reached the order system's queue as an event"
CRASH_BEFORE, CRASH_AFTER, REFUSED = (
    "publisher died before PutEvents",
    "publisher died after PutEvents was answered",
    "bus refused PutEvents (ThrottlingException)",
)


class PublisherDied(RuntimeError):
    """The publisher's execution environment ended mid-batch (Lambda retries the batch whole)."""


class PublisherFaults:
    """The run's PutEvents calls, counted across reader restarts; install on each new reader."""

    def __init__(self) -> None:
        self.calls = 0
        self.injected: Counter[str] = Counter()
        self._crash_after: set[int] = set()

    def install(self, reader: StreamPublisher) -> None:
        events = reader.runtime.publisher.events_client.meta.events
        events.register("before-call.events.PutEvents", self._before)
        events.register("after-call.events.PutEvents", self._after)

    def _before(self, **_: Any) -> None:
        self.calls += 1
        if self.calls % CRASH_BEFORE_EVERY == 0:
            self.injected[CRASH_BEFORE] += 1
            raise PublisherDied(CRASH_BEFORE)
        if self.calls % REFUSE_EVERY == 0:
            self.injected[REFUSED] += 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "chaos"}}, "PutEvents")
        if self.calls % CRASH_AFTER_EVERY == 0:
            self._crash_after.add(self.calls)

    def _after(self, **_: Any) -> None:
        if self.calls in self._crash_after:
            self._crash_after.discard(self.calls)
            self.injected[CRASH_AFTER] += 1
            raise PublisherDied(CRASH_AFTER)


class ChaosEvents:
    """Create once the chaos stack is up, before anything is sent; ``start()`` with the drive."""

    def __init__(self, stack: LocalStack) -> None:
        self.routes = EventsAndSchedules.on_stack(stack, interval=INTERVAL_SECONDS)
        self.faults = PublisherFaults()
        self.faults.install(self.routes.stream)
        self.restarts = 0
        self.notes: list[str] = []
        self.account: EventAccount | None = None

    def start(self) -> None:
        self.routes.stream.start(INTERVAL_SECONDS)

    def restart_reader(self) -> None:
        self.routes.restart_reader(on_restart=self.faults.install)
        self.restarts += 1

    def on_progress(self, share_done: float) -> None:
        """Restart the reader at each planned share of the first wave processed."""
        while self.restarts < len(RESTART_AT) and share_done >= RESTART_AT[self.restarts]:
            self.restart_reader()

    def finish(self) -> None:
        """Restarts still owed happen now (the first wave drained between two progress reports), then
        the rest is published and the events are accounted for."""
        if self.restarts < len(RESTART_AT):
            self.notes.append("a reader restart happened only once the first wave had drained")
        while self.restarts < len(RESTART_AT):
            self.restart_reader()
        self.routes.stream.stop()
        self.routes.settle(max_rounds=500)
        self.account = self.routes.account()

    def check(self) -> CheckResult:
        account = self.account
        assert account is not None, "finish() first"
        result = CheckResult(CHECK_NAME)
        result.violations += [f"trade {key}: its final state has no event" for key in account.missing]
        result.violations += [f"final write {write} (replaced since) has no event" for write in account.lost]
        result.violations += [f"trade {key}: its event does not match the item" for key in account.mismatched]
        result.violations += [f"event_id {i}: no final state was written for it" for i in account.unexpected]
        repeats = sum(n - 1 for n in account.duplicates.values())
        result.facts = {
            "final states in the ledger": account.final_items,
            "final writes on the table's stream": account.final_writes,
            "events received": account.events,
            "distinct event_ids received / distinct final states written": (
                f"{account.distinct_received} / {account.distinct_written}"
            ),
            "events of final states replaced since (a later delivery)": len(account.superseded),
            "repeats, identified by event_id": repeats,
            "events received more than once": len(account.duplicates),
            "PutEvents calls": self.faults.calls,
            "publisher faults": dict(sorted(self.faults.injected.items())),
            "stream reader restarts (from its checkpoints, fresh runtime)": self.restarts,
        }
        return result

    def summary(self) -> dict[str, Any]:
        account = self.account
        assert account is not None, "finish() first"
        return {
            "events received": account.events,
            "by state (trades / events / distinct event_ids)": {
                state: f"{c.trades} / {c.events} / {c.distinct}" for state, c in account.by_state.items()
            },
            "repeats by event_id (first 10)": {
                event_id: f"trade {account.duplicate_trades[event_id]}, received {n} times"
                for event_id, n in sorted(account.duplicates.items())[:10]
            },
            "notes": self.notes,
        }
