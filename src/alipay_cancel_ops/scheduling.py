"""Cancel a payment at a given time: an EventBridge Scheduler one-time schedule that sends the cancel
message to the cancel queue at the deadline (docs/scheduling.md).

The schedule is named after the trade (``schedule_name``), so the producer can delete it when the
payment succeeds first (``unschedule_cancel``) without having kept anything. It runs once
(``at(...)``, flexible time window off: within the minute, EventBridge Scheduler's precision) and
deletes itself after it ran (``ActionAfterCompletion: DELETE``).

Validation, before anything is created: the message is one the function would accept (else it
would only be dead-lettered at the deadline); the deadline is a time with a zone, not past, at most
``MAX_AHEAD`` ahead, and more than 15 minutes ahead: a shorter delay is what SQS's own
``DelaySeconds`` does (up to 900 s), with no schedule to create or delete.

The message may hold an ``app_auth_token``: it becomes the schedule's input, which EventBridge
Scheduler encrypts at rest (with an AWS-owned key, or the customer-managed ``kms_key_arn``). Nothing
here returns, prints or puts the body into a description or an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from alipay_cancel.pipeline.messages import BadMessage, parse_message

SQS_MAX_DELAY_SECONDS = 900
# Alipay's longest order timeout (timeout_express up to 15d, as the pay APIs document it): by then an
# unpaid trade is closed by Alipay itself, and a paid one is past any cancel window.
MAX_AHEAD = dt.timedelta(days=15)
MAX_NAME_CHARS = 64
NAME_PREFIX = "cancel-"
_NAME_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]")
_AT_EXPRESSION = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
# Scheduler's own defaults, written out: a day of retries if the queue cannot be reached.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}


class ScheduleError(ValueError):
    """The cancel cannot be scheduled as asked; the message says why and what to do instead."""


class UseSqsDelay(ScheduleError):
    """The deadline is within SQS's own delay: send the message with ``DelaySeconds`` instead."""

    def __init__(self, delay_seconds: int) -> None:
        super().__init__(
            f"the deadline is {delay_seconds} s away, within SQS's own delay (at most "
            f"{SQS_MAX_DELAY_SECONDS} s): no schedule is needed, send the message to the cancel queue "
            f"with DelaySeconds={delay_seconds} (e.g. sqs.send_message(QueueUrl=..., MessageBody=..., "
            f"DelaySeconds={delay_seconds}))"
        )
        self.delay_seconds = delay_seconds


class ScheduleExists(ScheduleError):
    """This trade already has a scheduled cancel (ask with ``replace=True`` to move it)."""


@dataclass(frozen=True)
class ScheduledCancel:
    """What was scheduled (never the message: it may hold a token)."""

    name: str
    group: str
    trade_key: str
    deadline: dt.datetime  # UTC
    expression: str
    replaced: bool = False


def schedule_name(trade_key: str) -> str:
    """Deterministic, unique per trade, at most 64 characters of [0-9A-Za-z_.-]: "cancel-" + the trade's
    id (made safe, cut to 24) + "-" + 32 hex of sha256(trade_key)."""
    readable = _NAME_UNSAFE.sub("_", trade_key.rsplit(" ", 1)[-1])[:24]
    digest = hashlib.sha256(trade_key.encode("utf-8")).hexdigest()[:32]
    return f"{NAME_PREFIX}{readable}-{digest}"


def parse_deadline(text: str) -> dt.datetime:
    """An ISO 8601 time with its zone ("2024-05-01T12:00:00Z", "...+08:00") as a UTC datetime."""
    cleaned = text.strip()
    try:
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise ScheduleError(
            f"{cleaned[:40]!r} is not a time: give ISO 8601 with a zone, e.g. 2024-05-01T12:30:00+08:00"
        ) from None
    if moment.tzinfo is None:
        raise ScheduleError(
            f"{cleaned[:40]!r} has no time zone: add Z (UTC) or an offset such as +08:00 (Beijing time); "
            "a time without one means different moments on different machines"
        )
    return moment.astimezone(dt.UTC)


def check_deadline(deadline: dt.datetime, now: dt.datetime, max_ahead: dt.timedelta = MAX_AHEAD) -> None:
    """``ScheduleError`` unless a one-time schedule is the right tool for ``deadline`` (both aware)."""
    if deadline.tzinfo is None or now.tzinfo is None:
        raise ScheduleError("the deadline and the current time must carry a time zone")
    ahead = deadline - now
    if ahead <= dt.timedelta(0):
        raise ScheduleError(
            f"the deadline {_iso(deadline)} is {_span(-ahead)} in the past: send the cancel now instead "
            "(the cancel queue, or `enqueue`)"
        )
    if ahead <= dt.timedelta(seconds=SQS_MAX_DELAY_SECONDS):
        raise UseSqsDelay(max(1, int(ahead.total_seconds())))
    if ahead > max_ahead:
        raise ScheduleError(
            f"the deadline {_iso(deadline)} is {_span(ahead)} ahead, more than {_span(max_ahead)}: "
            "by then Alipay has ended the trade itself; check the time (and its zone)"
        )


def at_expression(deadline: dt.datetime) -> str:
    """EventBridge Scheduler's one-time expression, in UTC (``ScheduleExpressionTimezone`` "UTC")."""
    return f"at({deadline.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def parse_at_expression(expression: str, timezone: str = "UTC") -> dt.datetime:
    """The moment an ``at(...)`` expression names (``ScheduleError`` for anything else)."""
    from zoneinfo import ZoneInfo

    match = _AT_EXPRESSION.fullmatch(expression.strip())
    if not match:
        raise ScheduleError("not a one-time at(yyyy-mm-ddThh:mm:ss) expression")
    return dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone)).astimezone(dt.UTC)


def schedule_cancel(
    scheduler: Any,
    *,
    body: str,
    deadline: dt.datetime,
    group: str,
    queue_arn: str,
    role_arn: str,
    default_app_id: str | None = None,
    kms_key_arn: str | None = None,
    replace: bool = False,
    now: dt.datetime | None = None,
    max_ahead: dt.timedelta = MAX_AHEAD,
) -> ScheduledCancel:
    """Create the one-time schedule that sends ``body`` (a cancel message, as sent to the queue) to the
    queue ``queue_arn`` at ``deadline``. ``replace``: move an existing schedule of the same trade."""
    try:
        request = parse_message(body, default_app_id=default_app_id)
    except BadMessage as exc:
        raise ScheduleError(f"not a valid cancel request: {exc.reason}") from None
    check_deadline(deadline, now or dt.datetime.now(dt.UTC), max_ahead)
    name, expression = schedule_name(request.trade_key), at_expression(deadline)
    target: dict[str, Any] = {
        "Arn": queue_arn,
        "RoleArn": role_arn,
        "Input": body,
        "RetryPolicy": RETRY_POLICY,
    }
    if queue_arn.endswith(".fifo"):
        target["SqsParameters"] = {"MessageGroupId": request.trade_key}
    params: dict[str, Any] = {
        "Name": name,
        "GroupName": group,
        "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "State": "ENABLED",
        "Target": target,
        "Description": f"alipay-cancel: cancel {request.trade_key[:400]}",
    }
    if kms_key_arn:
        params["KmsKeyArn"] = kms_key_arn
    replaced = False
    try:
        # The same request retried after a lost answer creates one schedule (idempotency token).
        token = hashlib.sha256(f"{group}\n{name}\n{expression}".encode()).hexdigest()[:64]
        scheduler.create_schedule(ClientToken=token, **params)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConflictException":
            raise
        if not replace:
            raise ScheduleExists(
                f"trade {request.trade_key!r} already has a scheduled cancel ({name} in {group}): "
                "unschedule it first, or ask to replace it"
            ) from None
        scheduler.update_schedule(**params)
        replaced = True
    return ScheduledCancel(name, group, request.trade_key, deadline.astimezone(dt.UTC), expression, replaced)


def unschedule_cancel(scheduler: Any, *, trade_key: str, group: str) -> bool:
    """Delete the trade's scheduled cancel (the payment succeeded first). False: there was none (it
    already ran, or never existed)."""
    try:
        scheduler.delete_schedule(Name=schedule_name(trade_key), GroupName=group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _span(delta: dt.timedelta) -> str:
    """ "1 d 2 h", "14 min 30 s": the two largest units."""
    days, rest = divmod(int(delta.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{value} {unit}"
        for value, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s"))
        if value
    ]
    return " ".join(parts[:2]) or "0 s"
