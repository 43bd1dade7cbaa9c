"""The demo's outcome events and scheduled cancels (``make demo``; ``local.demo`` wires it in).

- **Events.** ``local.stack.events_and_schedules`` on the demo's stack: while the pipeline runs, a thread
  reads the results table's stream with the template's mapping and hands it to the real publisher;
  the example rule routes each event to the order system's queue. Afterwards the rest is published
  (``settle``) and the events received are checked against every final state the ledger holds and
  every final write the table's stream recorded (``local.accounting.outcome_accounting``): each one's event
  arrived, nothing else did, and repeats are listed by ``event_id``.
- **Schedules.** Two cancels are scheduled at the start with the producer's library
  (``alipay_cancel_ops.scheduling.schedule_cancel``), 16 minutes ahead: the library refuses 15 or
  less (SQS's own delay does that). moto stores schedules and never runs them; the local schedule
  runner fires them, on a clock the demo sets instead of waiting 16 minutes: once the pipeline is
  running it sets the clock to the first one's deadline (it fires into the cancel queue and goes
  through the pipeline like any message), and the producer unschedules the second (its payment
  succeeded first). At the end the clock is set past the second's deadline: nothing may fire, its
  trade must never have been called, and no schedule may be left in the group.

What the demo's pass/fail takes from here: ``violations()`` (an event missing, lost, mismatched or
unexpected; a schedule that did not behave), and the fired message as one more ``Enqueued`` for the
demo's own accounting (it must end ``CLOSED``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from alipay_cancel_events.contract import FinalState
from alipay_cancel_ops.scheduling import ScheduledCancel, schedule_cancel, unschedule_cancel
from local.accounting.messages import Enqueued, Snapshot
from local.accounting.outcome_accounting import EventAccount
from local.accounting.outcome_labels import CLOSED
from local.alipay_gateway.admin_client import GatewayAdmin
from local.aws.esm_driver import DriveResult, EsmDriver, Progress
from local.aws.schedule_runner import Fired
from local.stack.events_and_schedules import EventsAndSchedules
from local.stack.local_stack import LocalStack

FIRED_TRADE = "DEMO-SCHEDULED-0001"  # scheduled, fires during the run
UNSCHEDULED_TRADE = "DEMO-UNSCHEDULED-0001"  # scheduled, unscheduled before its time
AHEAD = dt.timedelta(minutes=16)
FIRED_SCENARIO = "scheduled cancel (fired at its deadline)"
INTERVAL_SECONDS = 0.5


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)  # at(...) has whole seconds


def _at(moment: dt.datetime) -> str:
    return moment.strftime("%H:%M:%SZ")


@dataclass
class ScheduleStory:
    """What happened to the two scheduled cancels, for the summary."""

    fired_at_run_second: float | None = None
    fired: list[Fired] = field(default_factory=list)
    unscheduled: bool | None = None  # unschedule_cancel's answer (True: there was one to delete)
    fired_at_the_end: list[Fired] = field(default_factory=list)
    left_in_group: list[str] = field(default_factory=list)


class DemoEvents:
    """Create after the stack started and the plan's trades are seeded (it adds its own two)."""

    fires = 1  # messages the schedules add to the cancel queue during the run

    def __init__(self, stack: LocalStack, admin: GatewayAdmin, out: TextIO) -> None:
        self.out = out
        self.admin = admin
        self.routes = EventsAndSchedules.on_stack(stack, interval=INTERVAL_SECONDS)
        self.scheduler = stack.client("scheduler")
        # Only the fired one is seeded: a call for the other would still be counted (as an unknown
        # trade's), and its row would say so in the calls per trade.
        admin.seed_trades([{"out_trade_no": FIRED_TRADE, "state": "unpaid"}])
        now = _utcnow()
        self.bodies = {t: json.dumps({"out_trade_no": t}) for t in (FIRED_TRADE, UNSCHEDULED_TRADE)}
        self.scheduled: dict[str, ScheduledCancel] = {
            trade: self._schedule(trade, now + AHEAD + dt.timedelta(minutes=n), now)
            for n, trade in enumerate((FIRED_TRADE, UNSCHEDULED_TRADE))
        }
        self.story = ScheduleStory()
        self.account: EventAccount | None = None
        self.ran_dry = False  # the run ended before its first progress report with work queued
        out.write(
            f"Scheduled 2 cancels with the producer's library (EventBridge Scheduler one-time schedules in "
            f"group {self.routes.routes.schedule_group}): {FIRED_TRADE} at "
            f"{_at(self.scheduled[FIRED_TRADE].deadline)} fires during the run (the local scheduler's "
            f"clock is set to its deadline), {UNSCHEDULED_TRADE} at "
            f"{_at(self.scheduled[UNSCHEDULED_TRADE].deadline)} is unscheduled first. Outcome events go to "
            "the order system's queue.\n"
        )

    def _schedule(self, trade: str, deadline: dt.datetime, now: dt.datetime) -> ScheduledCancel:
        routes = self.routes.routes
        return schedule_cancel(
            self.scheduler,
            body=self.bodies[trade],
            deadline=deadline,
            group=routes.schedule_group,
            queue_arn=routes.cancel_queue_arn,
            role_arn=routes.scheduler_role_arn,
            now=now,
        )

    # --- during the run -------------------------------------------------------------------------

    def drive(
        self, driver: EsmDriver, *, deadline_seconds: float, progress: Callable[[Progress], None]
    ) -> DriveResult:
        """The demo's drive, with the stream published on a thread and the schedules' moments in it.
        The first schedule fires at the first progress report with work still queued (the driver
        cannot then stop before it is taken); a run that drains before one fires it and drives on."""

        def with_schedules(p: Progress) -> None:
            progress(p)
            if self.story.fired_at_run_second is None and p.depth.total > 0:
                self._fire_and_unschedule(p.elapsed)

        self.routes.stream.start(INTERVAL_SECONDS)
        try:
            drive = driver.run_until_drained(deadline_seconds=deadline_seconds, progress=with_schedules)
            if drive.drained and self.story.fired_at_run_second is None:
                self.ran_dry = True
                self._fire_and_unschedule(drive.elapsed)
                left = max(1.0, deadline_seconds - drive.elapsed)
                drive = driver.run_until_drained(deadline_seconds=left, progress=with_schedules)
        finally:
            self.routes.stream.stop()
        return drive

    def _fire_and_unschedule(self, elapsed: float) -> None:
        deadline = self.scheduled[FIRED_TRADE].deadline
        self.story.fired = self.routes.schedules.fire_due(deadline)
        self.story.fired_at_run_second = elapsed
        scheduled = self.scheduled[UNSCHEDULED_TRADE]
        self.story.unscheduled = unschedule_cancel(
            self.scheduler, trade_key=scheduled.trade_key, group=scheduled.group
        )
        self.out.write(
            f"  (scheduled cancel of {FIRED_TRADE} fired: the local scheduler's clock set to "
            f"{_at(deadline)}; {UNSCHEDULED_TRADE}'s payment succeeded first: its schedule deleted)\n"
        )

    def fired_messages(self) -> list[Enqueued]:
        """The scheduled messages that reached the cancel queue, for the demo's accounting."""
        return [
            Enqueued(f.message_id, self.bodies[FIRED_TRADE], FIRED_TRADE, FIRED_SCENARIO, frozenset({CLOSED}))
            for f in self.story.fired
        ]

    # --- after the run --------------------------------------------------------------------------

    def finish(self) -> None:
        """Publish what is left, account for the events, and play the second deadline."""
        self.routes.settle()
        self.account = self.routes.account()
        late = self.scheduled[UNSCHEDULED_TRADE].deadline + dt.timedelta(minutes=1)
        self.story.fired_at_the_end = self.routes.schedules.fire_due(late)
        group = self.routes.routes.schedule_group
        self.story.left_in_group = [
            s["Name"] for s in self.scheduler.list_schedules(GroupName=group).get("Schedules", [])
        ]

    def violations(self, snapshot: Snapshot, *, drained: bool) -> list[str]:
        assert self.account is not None, "finish() first"
        return violations(self.account, self.story, snapshot, drained=drained)

    def summary_lines(self, snapshot: Snapshot) -> list[str]:
        account = self.account
        assert account is not None, "finish() first"
        routes = self.routes.routes
        out = [
            f"Outcome events (bus {routes.bus_name} -> the example rule -> the order system's queue; "
            "docs/events.md):",
            *_state_table(account),
        ]
        writes = account.final_writes or 0
        replaced = writes - account.final_items
        out.append(
            f"  every final state has its event: {account.final_items - len(account.missing)}/"
            f"{account.final_items} trades; {writes} final writes on the table's stream"
            + (f" ({replaced} replaced since, by a later delivery of the trade)" if replaced > 0 else "")
            + (f", {len(account.lost)} of them without an event" if account.lost else "")
        )
        out.append(
            f"  one distinct event_id per final state written: {account.distinct_received} distinct "
            f"event_ids received for {account.distinct_written} distinct final states "
            + ("(yes)" if account.ok and account.distinct_received == account.distinct_written else "(NO)")
        )
        if account.duplicates:
            out.append(
                "  duplicates, identified by event_id (a consumer drops the repeats): "
                f"{len(account.duplicates)}"
            )
            out += [
                f"    - {event_id} (trade {account.duplicate_trades[event_id]}) received {n} times"
                for event_id, n in sorted(account.duplicates.items())
            ]
        else:
            out.append("  duplicates: none received (a repeat would carry the same event_id)")
        out += [
            "",
            "Scheduled cancels (EventBridge Scheduler one-time schedules; moto never runs them, the local "
            "runner does):",
        ]
        out += self._schedule_lines(snapshot)
        return out

    def _schedule_lines(self, snapshot: Snapshot) -> list[str]:
        story = self.story
        fired = self.scheduled[FIRED_TRADE]
        record = snapshot.results.get(FIRED_TRADE) or {}
        if story.fired:
            when = (
                f"{story.fired_at_run_second:.1f}s into the run"
                if not self.ran_dry
                else "after the queue had drained (a fast run)"
            )
            first = (
                f"  - {FIRED_TRADE}: due {_at(fired.deadline)}, fired {when} when the runner's clock was "
                f"set to its deadline: message {story.fired[0].message_id} -> "
                f"{record.get('status') or 'no state yet'}"
                + (f" (action {record['action']})" if record.get("action") else "")
                + ("; schedule deleted after it ran" if story.fired[0].deleted else "")
            )
        else:
            first = f"  - {FIRED_TRADE}: due {_at(fired.deadline)}, NOT fired (the run stopped first)"
        counts = snapshot.counts.get("per_trade", {}).get(UNSCHEDULED_TRADE, {})
        second = (
            f"  - {UNSCHEDULED_TRADE}: due {_at(self.scheduled[UNSCHEDULED_TRADE].deadline)}, unscheduled "
            + ("before its time" if story.unscheduled else "(nothing to delete)")
            + "; at the end the runner's clock was set past its deadline: "
            f"{len(story.fired_at_the_end)} fired, {counts.get('requests', 0)} Alipay calls, "
            + ("no ledger item" if snapshot.results.get(UNSCHEDULED_TRADE) is None else "a ledger item")
        )
        left = ", ".join(story.left_in_group) or "none"
        return [first, second, f"  schedules left in the group: {left}"]


def _state_table(account: EventAccount) -> list[str]:
    header = ("state", "detail-type", "trades", "events received", "distinct event_ids")
    rows = [
        (state, FinalState(state).detail_type, c.trades, c.events, c.distinct)
        for state, c in account.by_state.items()
    ]
    cells = [[str(x) for x in header], *[[str(x) for x in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return lines


def violations(
    account: EventAccount, story: ScheduleStory, snapshot: Snapshot, *, drained: bool
) -> list[str]:
    """What makes the demo fail here: an event missing, lost, mismatched or unexpected; the first
    schedule not firing exactly once (unless the run stopped at its deadline first) or not deleting
    itself; the second not deleted in time, firing anyway, or its trade reaching the ledger or Alipay;
    anything left in the group."""
    found = [f"events: the final state of trade {key} has no event" for key in account.missing]
    found += [f"events: the final write {write} (replaced since) has no event" for write in account.lost]
    found += [f"events: the event of trade {key} does not match its item" for key in account.mismatched]
    found += [f"events: event_id {i} matches no final state written" for i in account.unexpected]
    if len(story.fired) != 1 and (drained or story.fired):
        found.append(f"schedules: {len(story.fired)} scheduled cancels of {FIRED_TRADE} fired, not 1")
    if story.fired and not story.fired[0].deleted:
        found.append(f"schedules: the schedule of {FIRED_TRADE} was not deleted after it ran")
    if story.fired_at_run_second is not None and story.unscheduled is not True:
        found.append(f"schedules: {UNSCHEDULED_TRADE} had no schedule left to delete")
    if story.fired_at_the_end:
        names = ", ".join(f.name for f in story.fired_at_the_end)
        found.append(f"schedules: fired after it was unscheduled or already ran: {names}")
    if story.left_in_group:
        found.append(f"schedules: left in the group after the run: {', '.join(story.left_in_group)}")
    if snapshot.results.get(UNSCHEDULED_TRADE) is not None:
        found.append(f"schedules: {UNSCHEDULED_TRADE} was unscheduled, yet has a ledger item")
    if snapshot.counts.get("per_trade", {}).get(UNSCHEDULED_TRADE, {}).get("requests", 0):
        found.append(f"schedules: {UNSCHEDULED_TRADE} was unscheduled, yet Alipay was called for it")
    return found
