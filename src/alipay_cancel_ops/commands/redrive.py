"""``alipay-cancel redrive``: show the plan by outcome class, leave what cannot succeed, ask before a large
redrive, then move exactly the dead letters shown (body unchanged) back to the cancel queue."""

from __future__ import annotations

import argparse
from typing import Any

from alipay_cancel_ops.cli_support import (
    Console,
    ExitCode,
    UsageError,
    client,
    confirm,
    env_option,
    need,
    print_json,
)
from alipay_cancel_ops.queues import (
    DeadLetterView,
    Filters,
    TakeReport,
    browse_dead_letters,
    resend,
    take_dead_letters,
)
from alipay_cancel_ops.redrive_plan import RedrivePlan, plan_redrive, render_plan
from alipay_cancel_ops.selection import add_selection_options, add_taking_options

NAME = "redrive"
SUMMARY = "move dead letters back to the cancel queue, body unchanged"


def configure(parser: argparse.ArgumentParser) -> None:
    add_selection_options(parser)
    env_option(parser, "--to-queue-url", "CANCEL_QUEUE_URL", "the cancel queue to move them to")
    parser.add_argument(
        "--include-unredrivable",
        action="store_true",
        help="also move dead letters whose reason says a redrive cannot succeed (bad messages, final "
        "Alipay answers); naming their --outcome-class does the same for that class",
    )
    add_taking_options(parser, noun="redrive", verb="moved")


def run(args: argparse.Namespace, console: Console) -> ExitCode:
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
    out = console.out
    if not args.json:
        for line in render_plan(plan, dlq, verb="would redrive" if args.dry_run else "redrive"):
            print(line, file=out)
    if args.dry_run or not plan.selected:
        if args.json:
            print_json(_as_json(plan, None, dry_run=args.dry_run), out)
        else:
            print(f"{len(plan.selected)} would move; nothing was moved", file=out)
        return ExitCode.OK
    if len(plan.selected) > args.ask_above and not args.yes:
        confirm(f"Redrive {len(plan.selected)} dead letters to {target}", console)
    report = take_dead_letters(
        sqs,
        dlq,
        Filters(message_ids=plan.selected_ids),
        resend(sqs, target),
        limit=args.max,
        visibility_timeout=args.visibility_timeout,
        wait_seconds=args.wait_seconds,
    )
    if args.json:
        print_json(_as_json(plan, report, dry_run=False), out)
    else:
        _print_report(plan, report, out)
    return ExitCode.AWS_FAILURE if report.failed or report.delete_failed else ExitCode.OK


def _print_report(plan: RedrivePlan, report: TakeReport, out: Any) -> None:
    for letter in report.done:
        print(
            f"moved {letter.message_id} trade_key={letter.trade_key or '-'} "
            f"outcome_class={letter.outcome_class}",
            file=out,
        )
    for letter, problem in report.failed:
        print(f"NOT moved {letter.message_id}: sending failed ({problem}); it stays in the DLQ", file=out)
    for letter, problem in report.delete_failed:
        print(
            f"sent {letter.message_id} but could not delete it from the DLQ ({problem}); "
            "it will show up there again: do not redrive it twice",
            file=out,
        )
    gone = len(plan.selected) - len(report.done) - len(report.failed)
    print(
        f"{len(report.done)} moved, {len(plan.unredrivable)} left (cannot succeed), "
        f"{plan.not_matching} left (did not match), {len(report.failed)} failed"
        + (f", {gone} no longer there (taken by someone else meanwhile)" if gone > 0 else ""),
        file=out,
    )


def _letter(letter: DeadLetterView, **extra: str) -> dict[str, Any]:
    return {
        "message_id": letter.message_id,
        "trade_key": letter.trade_key,
        "outcome_class": letter.outcome_class,
        **extra,
    }


def _as_json(plan: RedrivePlan, report: TakeReport | None, *, dry_run: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "dry_run": dry_run,
        "looked_at": plan.looked_at,
        "not_matching": plan.not_matching,
        "selected": [_letter(letter) for letter in plan.selected],
        "left_cannot_succeed": [_letter(letter, why=why) for letter, why in plan.unredrivable],
        "moved": [],
        "failed": [],
        "delete_failed": [],
    }
    if report is not None:
        document["moved"] = [_letter(letter) for letter in report.done]
        document["failed"] = [_letter(letter, error=problem) for letter, problem in report.failed]
        document["delete_failed"] = [
            _letter(letter, error=problem) for letter, problem in report.delete_failed
        ]
    return document
