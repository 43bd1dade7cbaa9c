"""``ops.cli redrive``: show the plan by outcome class, leave what cannot succeed, ask before a large
redrive, then move exactly the dead letters shown (body unchanged)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ops.cli_support import UsageError, client, need
from ops.queues import Filters, browse_dead_letters, redrive
from ops.redrive_plan import plan_redrive, render_plan


def cmd_redrive(args: argparse.Namespace, out: TextIO) -> int:
    dlq = need(args.queue_url, "--queue-url", "DEAD_LETTER_QUEUE_URL")
    target = need(args.to_queue_url, "--to-queue-url", "CANCEL_QUEUE_URL")
    if dlq == target:
        raise UsageError("the dead-letter queue and the cancel queue are the same URL")
    sqs = client("sqs", args)
    # First what would move, by outcome class, and what stays and why; nothing moves yet.
    looked_at = browse_dead_letters(
        sqs, dlq, Filters(), limit=args.max, visibility_timeout=30, wait_seconds=args.wait_seconds
    )
    plan = plan_redrive(
        looked_at,
        trade_keys=frozenset(args.trade_key or ()),
        outcome_classes=frozenset(args.outcome_class or ()),
        include_unredrivable=args.include_unredrivable,
    )
    for line in render_plan(plan, dlq, verb="would redrive" if args.dry_run else "redrive"):
        print(line, file=out)
    if args.dry_run or not plan.selected:
        print(f"{len(plan.selected)} would move; nothing was moved", file=out)
        return 0 if plan.selected else 1
    if len(plan.selected) > args.ask_above and not args.yes:
        _confirm(len(plan.selected), target, args.stdin, args.err)
    report = redrive(
        sqs,
        dlq,
        target,
        Filters(message_ids=plan.selected_ids),
        limit=args.max,
        visibility_timeout=args.visibility_timeout,
        wait_seconds=args.wait_seconds,
    )
    for letter in report.moved:
        print(
            f"moved {letter.message_id} trade_key={letter.trade_key or '-'} "
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
    gone = len(plan.selected) - len(report.moved) - len(report.send_failed)
    print(
        f"{len(report.moved)} moved, {len(plan.unredrivable)} left (cannot succeed), "
        f"{plan.not_matching} left (did not match), {len(report.send_failed)} failed"
        + (f", {gone} no longer there (taken by someone else meanwhile)" if gone > 0 else ""),
        file=out,
    )
    if report.send_failed or report.delete_failed:
        return 1
    return 0 if report.moved else 1


def _confirm(count: int, target: str, stdin: TextIO | None, err: TextIO) -> None:
    """A large redrive needs a yes: from --yes, or typed at a terminal."""
    stdin = sys.stdin if stdin is None else stdin
    if not stdin.isatty():
        raise UsageError(f"about to redrive {count} dead letters and there is no terminal to ask: add --yes")
    print(
        f"Redrive {count} dead letters to {target}? Type 'yes' to go on: ",
        end="",
        file=err,
        flush=True,
    )
    if stdin.readline().strip().lower() not in ("yes", "y"):
        raise UsageError("redrive cancelled; nothing was moved")
