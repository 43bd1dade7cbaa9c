"""Operator CLI for the cancel pipeline: ``python -m ops.cli <command> --help``.

Commands:
  enqueue       put one timed-out payment on the cancel queue
  result        show a trade's record from the results table
  dead-letters  list dead letters with their reasons (they stay in the queue)
  redrive       move dead letters back to the cancel queue (body unchanged), optionally filtered

Queues and table come from flags or from the Lambda's own variable names (CANCEL_QUEUE_URL,
DEAD_LETTER_QUEUE_URL, RESULTS_TABLE_NAME; ALIPAY_DEFAULT_APP_ID for --default-app-id). A trade is
named by its parts (--out-trade-no or --trade-no, --app-id, --merchant-id) and its trade_key is built
with the function's own code, so a message naming the default app finds the same record as one
naming none. AWS endpoint: --endpoint-url or AWS_ENDPOINT_URL (the
local stack, e.g. http://127.0.0.1:4566); region: --region or AWS_REGION / AWS_DEFAULT_REGION.
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

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from alipay_cancel.pipeline.messages import BadMessage, parse_message
from alipay_cancel.pipeline.trade_identity import app_id_problem, merchant_id_problem, trade_key
from ops.queues import (
    OUTCOME_CLASSES,
    DeadLetterView,
    Filters,
    browse_dead_letters,
    build_body,
    enqueue,
    mask_token,
    redrive,
)
from ops.results import get_result, render_result


class UsageError(Exception):
    """Bad or missing input: exit status 2."""


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = _parser()
    args = parser.parse_args(argv)
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
    queue_url = _need(args.queue_url, "--queue-url", "CANCEL_QUEUE_URL")
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
    sqs = _client("sqs", args)
    message_id = enqueue(sqs, queue_url, request)
    print(f"enqueued trade_key={request.trade_key} message_id={message_id}", file=out)
    print(f"body: {mask_token(build_body(request))}", file=out)
    return 0


def _cmd_result(args: argparse.Namespace, out: TextIO) -> int:
    table = _need(args.table, "--table", "RESULTS_TABLE_NAME")
    key = _result_key(args)
    item = get_result(_client("dynamodb", args), table, key)
    if item is None:
        print(f"no record for trade_key {key!r} in {table}", file=out)
        return 1
    print(
        json.dumps(item, ensure_ascii=False, sort_keys=True) if args.json else render_result(item), file=out
    )
    return 0


def _cmd_dead_letters(args: argparse.Namespace, out: TextIO) -> int:
    queue_url = _need(args.queue_url, "--queue-url", "DEAD_LETTER_QUEUE_URL")
    letters = browse_dead_letters(
        _client("sqs", args),
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


def _cmd_redrive(args: argparse.Namespace, out: TextIO) -> int:
    dlq = _need(args.queue_url, "--queue-url", "DEAD_LETTER_QUEUE_URL")
    target = _need(args.to_queue_url, "--to-queue-url", "CANCEL_QUEUE_URL")
    if dlq == target:
        raise UsageError("the dead-letter queue and the cancel queue are the same URL")
    verb = "would move" if args.dry_run else "moved"
    report = redrive(
        _client("sqs", args),
        dlq,
        target,
        _filters(args),
        limit=args.max,
        dry_run=args.dry_run,
        visibility_timeout=args.visibility_timeout,
        wait_seconds=args.wait_seconds,
    )
    for letter in report.moved:
        print(
            f"{verb} {letter.message_id} trade_key={letter.trade_key or '-'} "
            f"outcome_class={letter.outcome_class or '-'}",
            file=out,
        )
    for letter, problem in report.send_failed:
        print(f"NOT moved {letter.message_id}: sending failed ({problem}); it stays in the DLQ", file=out)
    for letter, problem in report.delete_failed:
        print(
            f"sent {letter.message_id} but could not delete it from the DLQ ({problem}); "
            "it will show up there again: do not redrive it twice",
            file=out,
        )
    print(
        f"{len(report.moved)} {verb}, {report.skipped} left (did not match), "
        f"{len(report.send_failed)} failed",
        file=out,
    )
    if report.send_failed or report.delete_failed:
        return 1
    return 0 if report.moved else 1


# ------------------------------------------------------------------------------------------ helpers


def _result_key(args: argparse.Namespace) -> str:
    """The trade_key from the positional key, or from the trade's parts (the function's own rules)."""
    parts = (args.out_trade_no, args.trade_no, args.app_id, args.merchant_id)
    if args.trade_key is not None:
        if any(p is not None for p in parts):
            raise UsageError(
                "give a trade_key or its parts (--out-trade-no/--trade-no, --app-id, --merchant-id)"
            )
        return str(args.trade_key)
    trade_id = args.out_trade_no or args.trade_no
    if not trade_id:
        raise UsageError("give a trade_key, or --out-trade-no (or --trade-no) with --app-id / --merchant-id")
    if args.app_id is not None and (problem := app_id_problem(args.app_id)):
        raise UsageError(f"--app-id {problem}")
    if args.merchant_id is not None and (problem := merchant_id_problem(args.merchant_id)):
        raise UsageError(f"--merchant-id {problem}")
    app_id = None if args.app_id == args.default_app_id else args.app_id
    try:
        return trade_key(trade_id, app_id=app_id, merchant_id=args.merchant_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


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


def _need(value: str | None, flag: str, env: str) -> str:
    if value:
        return value
    raise UsageError(f"{flag} is required (or set {env})")


def _read_token(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.readline().strip()
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read --app-auth-token-file: {exc.strerror}") from None


def _client(service: str, args: argparse.Namespace) -> Any:
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    session = boto3.session.Session(region_name=region)
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    return session.client(service, endpoint_url=endpoint)


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

    def default_app_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--default-app-id",
            default=os.environ.get("ALIPAY_DEFAULT_APP_ID"),
            help="the deployment's DefaultAppId: --app-id naming it is the default app "
            "(default: ALIPAY_DEFAULT_APP_ID)",
        )

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
    enqueue_cmd.add_argument("--app-id", help="which of our Alipay apps (default: the default app)")
    enqueue_cmd.add_argument(
        "--merchant-id", help="ISV calls: the merchant the token belongs to (required with it)"
    )
    enqueue_cmd.add_argument("--app-auth-token-file", help="read the token from a file ('-' for stdin)")
    default_app_option(enqueue_cmd)
    enqueue_cmd.set_defaults(run=_cmd_enqueue)

    result_cmd = commands.add_parser("result", help="show a trade's record from the results table")
    aws_options(result_cmd, argparse.SUPPRESS)
    result_cmd.add_argument(
        "trade_key",
        nargs="?",
        help="the trade_key as in a dead letter's attribute; or give the trade's parts instead",
    )
    result_cmd.add_argument("--out-trade-no", help="the trade's out_trade_no")
    result_cmd.add_argument("--trade-no", help="the trade's trade_no (when its message had no out_trade_no)")
    result_cmd.add_argument("--app-id", help="the app the message named (default: the default app)")
    result_cmd.add_argument("--merchant-id", help="the ISV merchant the message named")
    default_app_option(result_cmd)
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
            sub.add_argument("--visibility-timeout", type=_visibility, default=60)
            sub.set_defaults(run=_cmd_redrive)
    return parser


if __name__ == "__main__":
    sys.exit(main())
