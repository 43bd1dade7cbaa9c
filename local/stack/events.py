"""What ``make local-stack`` runs for outcome events and scheduled cancels (``local.stack.__main__``
wires it in).

- The routes of ``local.stack.events_and_schedules`` on the stack's moto server, on threads: the results
  table's stream read with the template's mapping and handed to the real publisher, and due one-time
  schedules of the group fired into the cancel queue.
- One line per event the example rule delivers, as it arrives, in the same terminal as the
  function's one line per message. The stack reads a copy: the rule gets a second target, a queue of
  the stack's own (``WATCH_QUEUE_NAME``), so the order system's queue keeps every event for you to
  read. A repeated ``event_id`` is said (a consumer drops it).
- One line per schedule fired. ``clock_ahead`` sets the schedule runner's clock ahead of the real
  one: a cancel scheduled 16 minutes out (the CLI refuses 15 or less: SQS's own delay does that)
  fires after 16 minutes minus it. Default: none, schedules fire at their time.
- The banner's section: how to read the order system's queue, the variables ``alipay-cancel
  schedule`` reads, and a copy-paste ``schedule`` / ``unschedule`` for a trade seeded for it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any, TextIO

from alipay_cancel_ops.masking import mask_text
from local.alipay_gateway.admin_client import GatewayAdmin
from local.aws.background import RunsInBackground
from local.aws.event_routes import EXAMPLE_RULE_NAME
from local.aws.provision import REGION
from local.aws.schedule_runner import Fired
from local.stack.events_and_schedules import EventsAndSchedules
from local.stack.local_stack import LocalStack

WATCH_QUEUE_NAME = "alipay-cancel-local-stack-event-lines"
SCHEDULED_TRADE = {"out_trade_no": "DEMO-SCHEDULED-0001", "state": "unpaid"}
SCHEDULE_AHEAD = dt.timedelta(minutes=16)  # the shortest whole-minute deadline the CLI takes
INTERVAL_SECONDS = 0.5
LABEL_WIDTH = 19  # the function's lines' column (local.lambda_runtime.function_log.RecordEnd.line)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _span(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest:02d}s" if minutes and rest else (f"{minutes}m" if minutes else f"{rest}s")


def event_line(event: dict[str, Any], repeat: bool) -> str:
    """One line per event received, in the function's lines' columns."""
    detail = event.get("detail") or {}
    at = str(event.get("time", ""))[11:19]
    text = (
        f"{at}  {'event':<{LABEL_WIDTH}} {detail.get('trade_key')} {detail.get('state')}: "
        f"{event.get('detail-type')} event_id {detail.get('event_id')}"
    )
    return mask_text(text + (" (a repeat of this event_id: drop it)" if repeat else ""))


def fired_line(fired: Fired, at: dt.datetime) -> str:
    then = "schedule deleted" if fired.deleted else "schedule kept"
    return (
        f"{at:%H:%M:%S}  {'schedule fired':<{LABEL_WIDTH}} {fired.name}: cancel message "
        f"{fired.message_id} sent to the cancel queue ({then})"
    )


class StackEvents(RunsInBackground):
    """Start with ``StackEvents(stack, out).start()`` after the stack is up; ``stop()`` stops all."""

    def __init__(
        self, stack: LocalStack, out: TextIO, *, clock_ahead: dt.timedelta = dt.timedelta(0)
    ) -> None:
        self.out = out
        self.clock_ahead = clock_ahead
        self.endpoint_url = stack.moto_url
        self.routes = EventsAndSchedules.on_stack(stack, interval=INTERVAL_SECONDS)
        self.routes.schedules.clock = lambda: _utcnow() + clock_ahead
        self.routes.schedules.on_fired = lambda fired: self._say(fired_line(fired, _utcnow()))
        routes = self.routes.routes
        self.sqs = stack.client("sqs")
        self.watch_url = self.sqs.create_queue(QueueName=WATCH_QUEUE_NAME)["QueueUrl"]
        watch_arn = self.sqs.get_queue_attributes(QueueUrl=self.watch_url, AttributeNames=["QueueArn"])
        stack.client("events").put_targets(
            Rule=EXAMPLE_RULE_NAME,
            EventBusName=routes.bus_name,
            Targets=[{"Id": "local-stack-lines", "Arn": watch_arn["Attributes"]["QueueArn"]}],
        )
        admin = GatewayAdmin(stack.gateway_url)
        try:
            admin.seed_trades([SCHEDULED_TRADE])
        finally:
            admin.close()
        self.seen: set[str] = set()
        self.events = 0
        self.repeats = 0
        self._lock = threading.Lock()

    def start(self, interval: float = INTERVAL_SECONDS) -> StackEvents:
        self.routes.start()
        return super().start(interval)

    def stop(self) -> None:
        super().stop()
        self.routes.stop()

    def _say(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def round(self) -> None:
        while messages := self.sqs.receive_message(QueueUrl=self.watch_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                event = json.loads(message["Body"])
                event_id = str((event.get("detail") or {}).get("event_id"))
                repeat = event_id in self.seen
                self.seen.add(event_id)
                self.events += 1
                self.repeats += repeat
                self._say(event_line(event, repeat))
                self.sqs.delete_message(QueueUrl=self.watch_url, ReceiptHandle=message["ReceiptHandle"])

    def totals(self) -> str:
        return (
            f"{self.events} outcome events ({self.repeats} repeats), "
            f"{len(self.routes.schedules.fired)} schedules fired"
        )

    def banner(self) -> list[str]:
        routes = self.routes.routes
        cli_env = " ".join(f"{k}={v}" for k, v in routes.cli_environment().items())
        trade = SCHEDULED_TRADE["out_trade_no"]
        fires = "in 16 minutes (this stack's scheduler clock is the real one"
        if self.clock_ahead:
            fires = (
                f"in about {_span(max(SCHEDULE_AHEAD - self.clock_ahead, dt.timedelta(0)))} (this stack's "
                f"scheduler clock runs {_span(self.clock_ahead)} ahead"
            )
        else:
            fires += '; STACK_ARGS="--scheduler-clock-ahead 15m" fires it in one'
        return [
            f"Outcome events (docs/events.md) go from the results table's stream to bus {routes.bus_name};",
            "the example rule routes each to the order system's queue, and each prints one line here as",
            "it arrives (the stack reads a copy of its own). Read it yourself with the AWS CLI:",
            f"  aws --endpoint-url {self.endpoint_url} --region {REGION} sqs receive-message "
            f"--queue-url {routes.consumer_queue_url} --max-number-of-messages 10",
            f"Scheduled cancels (docs/scheduling.md): due schedules of group {routes.schedule_group} fire "
            "here, one line each:",
            f"  export {cli_env}",
            f"  alipay-cancel schedule --in {_span(SCHEDULE_AHEAD)} --out-trade-no {trade}",
            f"  alipay-cancel unschedule --out-trade-no {trade}",
            f"  # the schedule fires {fires}); unschedule first and it never does",
        ]
