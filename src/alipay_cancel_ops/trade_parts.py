"""A trade named by its parts on the command line: (app, merchant, id) -> trade_key, built with the
function's own code (``alipay_cancel.shared.trade``), so the key is the one the function
wrote and a message naming the default app finds the same record as one naming none."""

from __future__ import annotations

import argparse

from alipay_cancel.shared.trade import app_id_problem, merchant_id_problem, trade_key
from alipay_cancel_ops.cli_support import UsageError, env_option


def add_scope_options(parser: argparse.ArgumentParser) -> None:
    """--app-id, --merchant-id and --default-app-id (which app id is the default app)."""
    parser.add_argument(
        "--app-id", metavar="APP_ID", help="which of our Alipay apps (default: the default app)"
    )
    parser.add_argument(
        "--merchant-id",
        metavar="ID",
        help="ISV calls: the merchant the app_auth_token belongs to (required with it)",
    )
    env_option(
        parser,
        "--default-app-id",
        "ALIPAY_DEFAULT_APP_ID",
        "the deployment's DefaultAppId: --app-id naming it is the default app",
        metavar="APP_ID",
    )


def add_trade_options(parser: argparse.ArgumentParser) -> None:
    """A trade_key, or the trade's parts."""
    parser.add_argument(
        "trade_key",
        nargs="?",
        help="the trade_key as in a dead letter's attribute; or give the trade's parts instead",
    )
    parser.add_argument("--out-trade-no", metavar="ID", help="the trade's out_trade_no")
    parser.add_argument(
        "--trade-no", metavar="ID", help="the trade's trade_no (when its message had no out_trade_no)"
    )
    add_scope_options(parser)


def result_key(args: argparse.Namespace) -> str:
    """The trade_key given, or the one built from the trade's parts; ``UsageError`` otherwise."""
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
