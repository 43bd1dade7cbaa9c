"""``alipay-cancel schedule``: cancel a payment at a given time, with an EventBridge Scheduler one-time
schedule that sends the message to the cancel queue at the deadline (``alipay_cancel_ops.scheduling``).

The schedule group, the cancel queue's ARN and the scheduler role's ARN are the stack's outputs; an
app_auth_token is read from a file or stdin only and never printed."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from typing import Any

from alipay_cancel_ops.cli_support import (
    Console,
    ExitCode,
    UsageError,
    client,
    env_option,
    need,
    print_json,
    read_token,
)
from alipay_cancel_ops.scheduling import ScheduleError, parse_deadline, schedule_cancel
from alipay_cancel_ops.trade_parts import add_scope_options

NAME = "schedule"
SUMMARY = "cancel a payment at a given time (EventBridge Scheduler one-time schedule)"

_DURATION = re.compile(r"(\d+)\s*(s|m|min|h|d)")
_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def duration(text: str) -> dt.timedelta:
    """``--in``: 90s, 30m, 2h, 3d."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 30m, 2h or 3d")
    return dt.timedelta(seconds=int(match.group(1)) * _SECONDS[match.group(2)])


def add_group_option(parser: argparse.ArgumentParser) -> None:
    env_option(
        parser,
        "--group",
        "CANCEL_SCHEDULE_GROUP",
        "the stack's schedule group (output CancelScheduleGroupName)",
        metavar="NAME",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    when = parser.add_argument_group("when (one of)")
    when.add_argument(
        "--at", metavar="TIME", help="ISO 8601 time with a zone, e.g. 2024-05-01T12:30:00+08:00"
    )
    when.add_argument(
        "--in", dest="within", type=duration, metavar="DURATION", help="from now: 90s, 30m, 2h, 3d"
    )
    parser.add_argument("--out-trade-no", metavar="ID", help="the merchant's order number")
    parser.add_argument("--trade-no", metavar="ID", help="Alipay's trade number")
    parser.add_argument(
        "--if-paid",
        choices=("refund", "keep"),
        help="what to do if the buyer paid meanwhile (default: the stack's)",
    )
    parser.add_argument(
        "--app-auth-token-file",
        metavar="PATH",
        help="ISV calls: read the token from a file ('-': stdin); never printed",
    )
    add_scope_options(parser)
    add_group_option(parser)
    env_option(
        parser, "--queue-arn", "CANCEL_QUEUE_ARN", "the cancel queue (output CancelQueueArn)", metavar="ARN"
    )
    env_option(
        parser,
        "--role-arn",
        "CANCEL_SCHEDULER_ROLE_ARN",
        "the role the schedule sends with (output CancelSchedulerRoleArn)",
        metavar="ARN",
    )
    parser.add_argument(
        "--kms-key-arn",
        metavar="ARN",
        help="a customer-managed KMS key encrypting the schedule's input (the message)",
    )
    parser.add_argument("--replace", action="store_true", help="move the trade's existing scheduled cancel")


def run(args: argparse.Namespace, console: Console) -> ExitCode:
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
            body=_body(args, console),
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
    at = scheduled.deadline.isoformat(timespec="seconds").replace("+00:00", "Z")
    if args.json:
        print_json(
            {
                "trade_key": scheduled.trade_key,
                "at": at,
                "schedule": scheduled.name,
                "group": scheduled.group,
                "replaced": scheduled.replaced,
            },
            console.out,
        )
    else:
        verb = "moved" if scheduled.replaced else "scheduled"
        where = f"schedule={scheduled.name} group={scheduled.group}"
        print(f"{verb} trade_key={scheduled.trade_key} at={at} {where}", file=console.out)
    return ExitCode.OK


def _body(args: argparse.Namespace, console: Console) -> str:
    body: dict[str, Any] = {
        "out_trade_no": args.out_trade_no,
        "trade_no": args.trade_no,
        "app_id": args.app_id,
        "merchant_id": args.merchant_id,
        "if_paid": args.if_paid,
    }
    if args.app_auth_token_file is not None:
        body["app_auth_token"] = read_token(args.app_auth_token_file, console)
    return json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)
