"""``alipay-cancel enqueue``: put one timed-out payment on the cancel queue, checked by the function's own
rules first (never enqueue what it would dead-letter)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from alipay_cancel.pipeline.messages import BadMessage, parse_message
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
from alipay_cancel_ops.masking import mask_token
from alipay_cancel_ops.queues import build_body, enqueue
from alipay_cancel_ops.trade_parts import add_scope_options

NAME = "enqueue"
SUMMARY = "put a timed-out payment on the cancel queue"


def configure(parser: argparse.ArgumentParser) -> None:
    env_option(parser, "--queue-url", "CANCEL_QUEUE_URL", "the cancel queue")
    parser.add_argument("--out-trade-no", metavar="ID", help="the merchant's order number")
    parser.add_argument("--trade-no", metavar="ID", help="Alipay's trade number")
    parser.add_argument(
        "--app-auth-token",
        metavar="TOKEN",
        help="ISV calls only; visible in shell history and ps: prefer --app-auth-token-file",
    )
    parser.add_argument(
        "--app-auth-token-file", metavar="PATH", help="read the ISV app_auth_token from a file ('-': stdin)"
    )
    add_scope_options(parser)


def run(args: argparse.Namespace, console: Console) -> ExitCode:
    queue_url = need(args.queue_url, "--queue-url", "CANCEL_QUEUE_URL")
    token = args.app_auth_token
    if args.app_auth_token_file is not None:
        if token is not None:
            raise UsageError("give --app-auth-token or --app-auth-token-file, not both")
        token = read_token(args.app_auth_token_file, console)
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
    message_id = enqueue(client("sqs", args), queue_url, request)
    shown = mask_token(build_body(request))
    if args.json:
        print_json(
            {"trade_key": request.trade_key, "message_id": message_id, "queue_url": queue_url, "body": shown},
            console.out,
        )
    else:
        print(f"enqueued trade_key={request.trade_key} message_id={message_id}", file=console.out)
        print(f"body: {shown}", file=console.out)
    return ExitCode.OK
