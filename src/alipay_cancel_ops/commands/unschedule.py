"""``alipay-cancel unschedule``: delete a trade's scheduled cancel (the payment succeeded first)."""

from __future__ import annotations

import argparse

from alipay_cancel_ops.cli_support import Console, ExitCode, client, need, print_json
from alipay_cancel_ops.commands.schedule import add_group_option
from alipay_cancel_ops.scheduling import unschedule_cancel
from alipay_cancel_ops.trade_parts import add_trade_options, result_key

NAME = "unschedule"
SUMMARY = "delete a trade's scheduled cancel (the payment succeeded first)"


def configure(parser: argparse.ArgumentParser) -> None:
    add_trade_options(parser)
    add_group_option(parser)


def run(args: argparse.Namespace, console: Console) -> ExitCode:
    """Nothing to delete is success too (it already ran, or never existed): the exit codes' rule."""
    key = result_key(args)
    group = need(args.group, "--group", "CANCEL_SCHEDULE_GROUP")
    deleted = unschedule_cancel(client("scheduler", args), trade_key=key, group=group)
    if args.json:
        print_json({"trade_key": key, "group": group, "deleted": deleted}, console.out)
    elif deleted:
        print(f"deleted the scheduled cancel of trade_key={key}", file=console.out)
    else:
        print(
            f"no scheduled cancel for trade_key={key} in {group} (it already ran, or never existed)",
            file=console.out,
        )
    return ExitCode.OK
