"""``alipay-cancel result``: a trade's ledger item in the results table (strongly consistent read): its
state, Alipay's facts, the lease, the pending call and the history (docs/ledger.md)."""

from __future__ import annotations

import argparse

from alipay_cancel_ops.cli_support import Console, ExitCode, client, env_option, need, print_json
from alipay_cancel_ops.results import get_result, render_result
from alipay_cancel_ops.trade_parts import add_trade_options, result_key

NAME = "result"
SUMMARY = "show a trade's ledger item (state, calls, history) from the results table"


def configure(parser: argparse.ArgumentParser) -> None:
    add_trade_options(parser)
    env_option(parser, "--table", "RESULTS_TABLE_NAME", "the results table", metavar="NAME")


def run(args: argparse.Namespace, console: Console) -> ExitCode:
    table = need(args.table, "--table", "RESULTS_TABLE_NAME")
    key = result_key(args)
    item = get_result(client("dynamodb", args), table, key)
    if args.json:
        print_json(item, console.out)  # null when there is no record
    elif item is None:
        print(f"no record for trade_key {key!r} in {table} (not yet, or never)", file=console.out)
    else:
        print(render_result(item), file=console.out)
    return ExitCode.OK
