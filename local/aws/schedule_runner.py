"""Runs EventBridge Scheduler's one-time schedules on the AWS stand-in, which stores schedules but
never fires them: a schedule of the group whose ``at(...)`` time has come sends its input to its SQS
target (as Scheduler does with the schedule's role), then is deleted when its
``ActionAfterCompletion`` is ``DELETE`` (and otherwise never fired again).

``fire_due(now)`` fires once, for tests that set the clock; ``start(interval)`` / ``stop()`` (or
``with``) run it every ``interval`` seconds on a thread, against ``clock``. A send that fails leaves the
schedule in place for the next round (Scheduler retries too); recurring schedules and targets other
than SQS are not this app's and are left alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from alipay_cancel_ops.scheduling import ScheduleError, parse_at_expression
from local.aws.background import RunsInBackground

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    name: str
    target_arn: str
    message_id: str
    deleted: bool


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ScheduleRunner(RunsInBackground):
    def __init__(
        self,
        scheduler: Any,
        sqs: Any,
        *,
        group: str,
        clock: Callable[[], dt.datetime] = _utcnow,
        on_fired: Callable[[Fired], None] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.sqs = sqs
        self.group = group
        self.clock = clock
        self.on_fired = on_fired  # told of each schedule as it fires (the local stack prints a line)
        self.fired: list[Fired] = []
        self._kept: set[str] = set()  # fired, ActionAfterCompletion NONE: never again
        self._lock = threading.Lock()

    def _names(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {"GroupName": self.group, "State": "ENABLED"}
        while True:
            page = self.scheduler.list_schedules(**kwargs)
            names += [s["Name"] for s in page.get("Schedules", [])]
            if not page.get("NextToken"):
                return names
            kwargs["NextToken"] = page["NextToken"]

    def _queue_url(self, arn: str) -> str:
        _, _, _, _, account, name = arn.split(":", 5)
        return str(self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])

    def _fire(self, schedule: dict[str, Any]) -> Fired:
        target = schedule["Target"]
        send: dict[str, Any] = {"QueueUrl": self._queue_url(target["Arn"]), "MessageBody": target["Input"]}
        group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
        if group_id:
            send["MessageGroupId"] = group_id
        message_id = str(self.sqs.send_message(**send)["MessageId"])
        deleted = schedule.get("ActionAfterCompletion") == "DELETE"
        if deleted:
            self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=self.group)
        else:
            self._kept.add(schedule["Name"])
        return Fired(schedule["Name"], target["Arn"], message_id, deleted)

    def fire_due(self, now: dt.datetime | None = None) -> list[Fired]:
        """Fire every schedule of the group that is due at ``now`` (default: the clock)."""
        moment = now or self.clock()
        fired: list[Fired] = []
        with self._lock:
            for name in self._names():
                if name in self._kept:
                    continue
                schedule = self.scheduler.get_schedule(Name=name, GroupName=self.group)
                try:
                    due = parse_at_expression(
                        schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone") or "UTC"
                    )
                except ScheduleError:
                    continue  # a recurring schedule: not one of ours
                if due > moment or not schedule["Target"]["Arn"].startswith("arn:aws:sqs:"):
                    continue
                try:
                    fired.append(self._fire(schedule))
                except (ClientError, BotoCoreError) as error:
                    log.warning("schedule %s not fired this round: %s", name, type(error).__name__)
                    continue
                if self.on_fired is not None:
                    self.on_fired(fired[-1])
            self.fired += fired
        return fired

    def round(self) -> list[Fired]:
        return self.fire_due()
