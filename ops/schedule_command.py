"""``schedule`` and ``unschedule``: cancel a payment at a given time with an EventBridge Scheduler
one-time schedule, or delete that schedule when the payment succeeded first (``ops.scheduling``).

``add_schedule_commands`` registers both on a CLI's subcommand parsers. The schedule group, the
cancel queue's ARN and the scheduler role's ARN come from flags or from the stack outputs' values in
``CANCEL_SCHEDULE_GROUP``, ``CANCEL_QUEUE_ARN`` and ``CANCEL_SCHEDULER_ROLE_ARN``. A token is read
from a file or stdin only, and never printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from ops.cli_support import UsageError, client, need
from ops.scheduling import ScheduleError, parse_deadline, schedule_cancel, unschedule_cancel
from ops.trade_parts import add_scope_options, add_trade_options, result_key

_DURATION = re.compile(r"(\d+)\s*(s|m|min|h|d)")
_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> dt.timedelta:
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 30m, 2h or 3d")
    return dt.timedelta(seconds=int(match.group(1)) * _SECONDS[match.group(2)])


def _read_token(path: str, stdin: TextIO | None) -> str:
    try:
        if path == "-":
            return (stdin or sys.stdin).readline().strip()
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read --app-auth-token-file: {exc.strerror}") from None


def _body(args: argparse.Namespace) -> str:
    body: dict[str, Any] = {
        "out_trade_no": args.out_trade_no,
        "trade_no": args.trade_no,
        "app_id": args.app_id,
        "merchant_id": args.merchant_id,
        "if_paid": args.if_paid,
    }
    if args.app_auth_token_file is not None:
        body["app_auth_token"] = _read_token(args.app_auth_token_file, args.stdin)
    return json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)


def cmd_schedule(args: argparse.Namespace, out: TextIO) -> int:
    if (args.at is None) == (args.within is None):
        raise UsageError("give the deadline with --at TIME or --in DURATION (one of them)")
    group = need(args.group, "--group", "CANCEL_SCHEDULE_GROUP")
    queue_arn = need(args.queue_arn, "--queue-arn", "CANCEL_QUEUE_ARN")
    role_arn = need(args.role_arn, "--role-arn", "CANCEL_SCHEDULER_ROLE_ARN")
    now = dt.datetime.now(dt.UTC)
    try:
        deadline = parse_deadline(args.at) if args.at is not None else now + args.within
        scheduled = schedule_cancel(
            client("scheduler", args),
            body=_body(args),
            deadline=deadline,
            group=group,
            queue_arn=queue_arn,
            role_arn=role_arn,
            default_app_id=args.default_app_id,
            kms_key_arn=args.kms_key_arn,
            replace=args.replace,
            now=now,
        )
    except ScheduleError as exc:
        raise UsageError(str(exc)) from None
    verb = "moved" if scheduled.replaced else "scheduled"
    at = scheduled.deadline.isoformat(timespec="seconds").replace("+00:00", "Z")
    print(
        f"{verb} trade_key={scheduled.trade_key} at={at} schedule={scheduled.name} group={scheduled.group}",
        file=out,
    )
    return 0


def cmd_unschedule(args: argparse.Namespace, out: TextIO) -> int:
    key = result_key(args)
    group = need(args.group, "--group", "CANCEL_SCHEDULE_GROUP")
    if unschedule_cancel(client("scheduler", args), trade_key=key, group=group):
        print(f"deleted the scheduled cancel of trade_key={key}", file=out)
        return 0
    print(f"no scheduled cancel for trade_key={key} in {group} (it already ran, or never existed)", file=out)
    return 1


def add_schedule_commands(commands: Any, aws_options: Callable[[argparse.ArgumentParser, Any], None]) -> None:
    """Register ``schedule`` and ``unschedule`` on ``commands`` (``add_subparsers()``'s result);
    ``aws_options(parser, argparse.SUPPRESS)`` adds the CLI's --endpoint-url / --region."""
    group_help = "the stack's schedule group (output CancelScheduleGroupName; default: CANCEL_SCHEDULE_GROUP)"

    schedule = commands.add_parser(
        "schedule", help="cancel a payment at a given time (EventBridge Scheduler)"
    )
    aws_options(schedule, argparse.SUPPRESS)
    when = schedule.add_argument_group("when (one of)")
    when.add_argument("--at", help="ISO 8601 time with a zone, e.g. 2024-05-01T12:30:00+08:00")
    when.add_argument("--in", dest="within", type=_duration, help="from now: 90s, 30m, 2h, 3d")
    schedule.add_argument("--out-trade-no", help="merchant order number")
    schedule.add_argument("--trade-no", help="Alipay trade number")
    schedule.add_argument("--if-paid", choices=("refund", "keep"), help="what to do if it was paid meanwhile")
    schedule.add_argument(
        "--app-auth-token-file", help="ISV calls: read the token from a file ('-' for stdin); never printed"
    )
    add_scope_options(schedule)
    schedule.add_argument("--group", default=os.environ.get("CANCEL_SCHEDULE_GROUP"), help=group_help)
    schedule.add_argument(
        "--queue-arn",
        default=os.environ.get("CANCEL_QUEUE_ARN"),
        help="the cancel queue (output CancelQueueArn)",
    )
    schedule.add_argument(
        "--role-arn",
        default=os.environ.get("CANCEL_SCHEDULER_ROLE_ARN"),
        help="the role the schedule sends with (output CancelSchedulerRoleArn)",
    )
    schedule.add_argument(
        "--kms-key-arn", help="a customer-managed KMS key encrypting the schedule's input (the message)"
    )
    schedule.add_argument("--replace", action="store_true", help="move the trade's existing scheduled cancel")
    schedule.set_defaults(run=cmd_schedule)

    unschedule = commands.add_parser(
        "unschedule", help="delete a trade's scheduled cancel (it was paid first)"
    )
    aws_options(unschedule, argparse.SUPPRESS)
    add_trade_options(unschedule)
    unschedule.add_argument("--group", default=os.environ.get("CANCEL_SCHEDULE_GROUP"), help=group_help)
    unschedule.set_defaults(run=cmd_unschedule)
