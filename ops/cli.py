"""Operator CLI for the cancel pipeline: ``python -m ops.cli <command> --help``.

Commands:
  enqueue       put one timed-out payment on the cancel queue
  result        show a trade's record from the results table
  dead-letters  list dead letters with their reasons (they stay in the queue)
  redrive       move dead letters back to the cancel queue (body unchanged), optionally filtered;
                shows what it would move by outcome class first, leaves the ones whose reason says a
                redrive cannot succeed unless asked, and asks before large redrives (--yes)
  schedule      cancel a payment at a given time (EventBridge Scheduler one-time schedule)
  unschedule    delete a trade's scheduled cancel (the payment succeeded first)

Queues and table come from flags or from the Lambda's own variable names (CANCEL_QUEUE_URL,
DEAD_LETTER_QUEUE_URL, RESULTS_TABLE_NAME, ALIPAY_DEFAULT_APP_ID); trades by parts: ops.trade_parts.
AWS endpoint: --endpoint-url or AWS_ENDPOINT_URL (the local stack, e.g. http://127.0.0.1:4566);
region: --region or AWS_REGION / AWS_DEFAULT_REGION.
Tokens are never printed: bodies are shown with app_auth_token masked.

Exit status: 0 done, 1 nothing found or an operation failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from alipay_cancel.pipeline.messages import BadMessage, parse_message
from ops.cli_support import UsageError, client, need
from ops.queues import (
    OUTCOME_CLASSES,
    DeadLetterView,
    Filters,
    browse_dead_letters,
    build_body,
    enqueue,
    mask_token,
)
from ops.redrive_command import cmd_redrive
from ops.results import get_result, render_result
from ops.schedule_command import add_schedule_commands
from ops.trade_parts import add_scope_options, add_trade_options, result_key


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = _parser()
    args = parser.parse_args(argv)
    args.stdin, args.err = stdin, err  # where a large redrive asks for a yes (default: sys.stdin)
    try:
        return int(args.run(args, out))
    except UsageError as exc:
        print(f"error: {exc}", file=err)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"error: AWS call failed: {exc}", file=err)
        return 1


# ------------------------------------------------------------------------------------------ commands


def _cmd_enqueue(args: argparse.Namespace, out: TextIO) -> int:
    queue_url = need(args.queue_url, "--queue-url", "CANCEL_QUEUE_URL")
    token = args.app_auth_token
    if args.app_auth_token_file is not None:
        if token is not None:
            raise UsageError("give --app-auth-token or --app-auth-token-file, not both")
        token = _read_token(args.app_auth_token_file)
    body: dict[str, Any] = {
        "out_trade_no": args.out_trade_no,
        "trade_no": args.trade_no,
        "app_id": args.app_id,
        "merchant_id": args.merchant_id,
    }
    if token is not None:
        body["app_auth_token"] = token
    try:  # the Lambda's own rules: never enqueue what it would dead-letter
        request = parse_message(
            json.dumps({k: v for k, v in body.items() if v is not None}), default_app_id=args.default_app_id
        )
    except BadMessage as exc:
        raise UsageError(f"not a valid cancel request: {exc.reason}") from None
    sqs = client("sqs", args)
    message_id = enqueue(sqs, queue_url, request)
    print(f"enqueued trade_key={request.trade_key} message_id={message_id}", file=out)
    print(f"body: {mask_token(build_body(request))}", file=out)
    return 0


def _cmd_result(args: argparse.Namespace, out: TextIO) -> int:
    table = need(args.table, "--table", "RESULTS_TABLE_NAME")
    key = result_key(args)
    item = get_result(client("dynamodb", args), table, key)
    if item is None:
        print(f"no record for trade_key {key!r} in {table}", file=out)
        return 1
    print(
        json.dumps(item, ensure_ascii=False, sort_keys=True) if args.json else render_result(item), file=out
    )
    return 0


def _cmd_dead_letters(args: argparse.Namespace, out: TextIO) -> int:
    queue_url = need(args.queue_url, "--queue-url", "DEAD_LETTER_QUEUE_URL")
    letters = browse_dead_letters(
        client("sqs", args),
        queue_url,
        _filters(args),
        limit=args.max,
        visibility_timeout=args.visibility_timeout,
        wait_seconds=args.wait_seconds,
    )
    if args.json:
        for letter in letters:
            print(json.dumps(letter.as_dict(), ensure_ascii=False, sort_keys=True), file=out)
    else:
        for letter in letters:
            print(_render_letter(letter), file=out)
            print("", file=out)
        print(f"{len(letters)} dead letter(s) shown; none were removed from the queue", file=out)
    return 0 if letters else 1


# ------------------------------------------------------------------------------------------ helpers


def _render_letter(letter: DeadLetterView) -> str:
    attrs = letter.attributes
    lines = [f"message_id      {letter.message_id}"]
    for label, value in (
        ("trade_key", letter.trade_key),
        ("outcome_class", attrs.get("outcome_class")),
        ("error_code", attrs.get("error_code")),
        ("error_sub_code", attrs.get("error_sub_code")),
        ("attempts", attrs.get("attempts")),
        ("source_message", attrs.get("source_message_id")),
        ("alipay_trace_id", attrs.get("alipay_trace_id")),
        ("sent_at", _sent_at(letter.sqs_attributes.get("SentTimestamp"))),
        ("reason", attrs.get("reason")),
        ("body", letter.masked_body()),
    ):
        if value:
            lines.append(f"{label.ljust(15)} {_printable(value)}")
    return "\n".join(lines)


def _sent_at(millis: str | None) -> str | None:
    if not millis or not millis.isdigit():
        return None
    moment = dt.datetime.fromtimestamp(int(millis) / 1000, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def _filters(args: argparse.Namespace) -> Filters:
    return Filters(
        trade_keys=frozenset(args.trade_key or ()),
        outcome_classes=frozenset(args.outcome_class or ()),
    )


def _read_token(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.readline().strip()
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read --app-auth-token-file: {exc.strerror}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _visibility(text: str) -> int:
    value = _positive(text)
    if value > 43200:
        raise argparse.ArgumentTypeError("SQS allows at most 43200 seconds")
    return value


def _wait(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 20:
        raise argparse.ArgumentTypeError("SQS long polling is 0..20 seconds")
    return value


def _parser() -> argparse.ArgumentParser:
    # AWS options work before or after the command; SUPPRESS keeps the subcommand's copy from
    # overwriting a value given before it.
    def aws_options(parser: argparse.ArgumentParser, default: Any) -> None:
        parser.add_argument(
            "--endpoint-url",
            default=default,
            help="AWS endpoint, e.g. http://127.0.0.1:4566 (default: AWS_ENDPOINT_URL, else AWS)",
        )
        parser.add_argument("--region", default=default, help="AWS region (default: AWS_REGION)")

    parser = argparse.ArgumentParser(
        prog="python -m ops.cli",
        description="Operate the Alipay cancel pipeline: enqueue, look up results, inspect and redrive "
        "dead letters.",
    )
    aws_options(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    enqueue_cmd = commands.add_parser("enqueue", help="put a timed-out payment on the cancel queue")
    aws_options(enqueue_cmd, argparse.SUPPRESS)
    enqueue_cmd.add_argument("--queue-url", default=os.environ.get("CANCEL_QUEUE_URL"))
    enqueue_cmd.add_argument("--out-trade-no", help="merchant order number")
    enqueue_cmd.add_argument("--trade-no", help="Alipay trade number")
    enqueue_cmd.add_argument(
        "--app-auth-token",
        help="ISV calls only; visible in shell history and ps: prefer --app-auth-token-file",
    )
    enqueue_cmd.add_argument("--app-auth-token-file", help="read the token from a file ('-' for stdin)")
    add_scope_options(enqueue_cmd)
    enqueue_cmd.set_defaults(run=_cmd_enqueue)

    result_cmd = commands.add_parser("result", help="show a trade's record from the results table")
    aws_options(result_cmd, argparse.SUPPRESS)
    add_trade_options(result_cmd)
    result_cmd.add_argument("--table", default=os.environ.get("RESULTS_TABLE_NAME"))
    result_cmd.add_argument("--json", action="store_true", help="print the item as one JSON object")
    result_cmd.set_defaults(run=_cmd_result)

    for name, helptext in (
        ("dead-letters", "list dead letters with their reasons, leaving them in the queue"),
        ("redrive", "move dead letters back to the cancel queue, body unchanged"),
    ):
        sub = commands.add_parser(name, help=helptext)
        aws_options(sub, argparse.SUPPRESS)
        sub.add_argument(
            "--queue-url", default=os.environ.get("DEAD_LETTER_QUEUE_URL"), help="the dead-letter queue"
        )
        sub.add_argument("--trade-key", action="append", help="only this trade (repeatable)")
        sub.add_argument(
            "--outcome-class", action="append", choices=OUTCOME_CLASSES, help="only this class (repeatable)"
        )
        sub.add_argument("--max", type=_positive, default=100, help="look at no more than this many")
        sub.add_argument("--wait-seconds", type=_wait, default=1, help="SQS long poll per receive (0..20)")
        if name == "dead-letters":
            sub.add_argument(
                "--visibility-timeout",
                type=_visibility,
                default=30,
                help="seconds a listed dead letter is hidden from others while the list is read",
            )
            sub.add_argument("--json", action="store_true", help="one JSON object per dead letter")
            sub.set_defaults(run=_cmd_dead_letters)
        else:
            sub.add_argument("--to-queue-url", default=os.environ.get("CANCEL_QUEUE_URL"))
            sub.add_argument("--dry-run", action="store_true", help="show what would move, move nothing")
            sub.add_argument(
                "--include-unredrivable",
                action="store_true",
                help="also move dead letters whose reason says a redrive cannot succeed (bad messages, "
                "final Alipay answers); naming their --outcome-class does the same for that class",
            )
            sub.add_argument(
                "--yes", action="store_true", help="do not ask before a large redrive (for scripts)"
            )
            sub.add_argument(
                "--ask-above",
                type=_positive,
                default=10,
                help="ask for a yes before moving more than this many (default 10)",
            )
            sub.add_argument("--visibility-timeout", type=_visibility, default=60)
            sub.set_defaults(run=cmd_redrive)
    add_schedule_commands(commands, aws_options)
    return parser


if __name__ == "__main__":
    sys.exit(main())
