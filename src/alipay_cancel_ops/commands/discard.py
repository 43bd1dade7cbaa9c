"""``alipay-cancel discard``: remove dead letters that need nothing more (handled by hand, a final answer
already acted on, a bad message the producer has fixed), noting each in its trade's results item.

Shows what it would remove first (by outcome class, each dead letter with its age and reason), asks
before removing more than ``--ask-above``, then removes exactly the dead letters it showed. Each one
is noted in the trade's results item (``discarded``, see ``discard_notes``) before it is deleted: a
note that cannot be written (an AWS failure) keeps the dead letter. A dead letter without a trade, or
whose trade has no results item, is removed without a note (said per dead letter)."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import Counter
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
    printable,
    table_lines,
)
from alipay_cancel_ops.discard_notes import discard_entry, note_discarded
from alipay_cancel_ops.queues import DeadLetterView, Filters, browse_dead_letters, take_dead_letters
from alipay_cancel_ops.selection import add_selection_options, add_taking_options, filters_from

NAME = "discard"
SUMMARY = "remove dead letters by trade, outcome class or age, noting each in its trade's record"
NO_NOTE_NO_TRADE = "no trade key: nothing to note"
NO_NOTE_NO_RECORD = "the trade has no results record: nothing to note"


def configure(parser: argparse.ArgumentParser) -> None:
    add_selection_options(parser, ages=True)
    parser.add_argument(
        "--all", action="store_true", help="every dead letter looked at (instead of a filter)"
    )
    env_option(parser, "--table", "RESULTS_TABLE_NAME", "the results table the notes go to", metavar="NAME")
    parser.add_argument(
        "--note",
        metavar="TEXT",
        help="why they are discarded, kept in each trade's note (e.g. a ticket number)",
    )
    add_taking_options(parser, noun="discard", verb="removed")


def run(args: argparse.Namespace, console: Console) -> ExitCode:
    dlq = need(args.queue_url, "--queue-url", "DEAD_LETTER_QUEUE_URL")
    table = need(args.table, "--table", "RESULTS_TABLE_NAME")
    if not (args.all or args.trade_key or args.outcome_class or args.older_than is not None):
        raise UsageError(
            "say which dead letters to discard: --trade-key, --outcome-class, --older-than, or --all"
        )
    now_ms = int(time.time() * 1000)
    sqs = client("sqs", args)
    looked_at = browse_dead_letters(
        sqs, dlq, Filters(), limit=args.max, visibility_timeout=30, wait_seconds=args.wait_seconds
    )
    wanted = filters_from(args, now_ms=now_ms)
    selected = [letter for letter in looked_at if wanted.match(letter)]
    out = console.out
    if not args.json:
        for line in _render_plan(looked_at, selected, dlq, now_ms, dry_run=args.dry_run):
            print(line, file=out)
    if args.dry_run or not selected:
        if args.json:
            print_json(_as_json(looked_at, selected, dry_run=args.dry_run), out)
        else:
            print(f"{len(selected)} would be discarded; nothing was discarded", file=out)
        return ExitCode.OK
    if len(selected) > args.ask_above and not args.yes:
        confirm(f"Discard {len(selected)} dead letters from {dlq} (they cannot be recovered)", console)
    dynamodb = client("dynamodb", args)
    unnoted: dict[str, str] = {}
    at = dt.datetime.now(dt.UTC)

    def note(letter: DeadLetterView) -> None:
        key = letter.trade_key
        if key is None:
            unnoted[letter.message_id] = NO_NOTE_NO_TRADE
        elif not note_discarded(dynamodb, table, key, discard_entry(letter, at=at, note=args.note)):
            unnoted[letter.message_id] = NO_NOTE_NO_RECORD

    report = take_dead_letters(
        sqs,
        dlq,
        Filters(message_ids=frozenset(letter.message_id for letter in selected)),
        note,
        limit=args.max,
        visibility_timeout=args.visibility_timeout,
        wait_seconds=args.wait_seconds,
    )
    if args.json:
        document = _as_json(looked_at, selected, dry_run=False)
        document["discarded"] = [
            _letter(letter, now_ms, noted=letter.message_id not in unnoted) for letter in report.done
        ]
        document["failed"] = [_letter(letter, now_ms, error=problem) for letter, problem in report.failed]
        document["delete_failed"] = [
            _letter(letter, now_ms, error=problem) for letter, problem in report.delete_failed
        ]
        print_json(document, out)
    else:
        for letter in report.done:
            why = unnoted.get(letter.message_id)
            print(
                f"discarded {letter.message_id} trade_key={letter.trade_key or '-'} "
                f"outcome_class={letter.outcome_class}; " + (why or "noted in its results record"),
                file=out,
            )
        for letter, problem in report.failed:
            print(f"NOT discarded {letter.message_id}: noting it failed ({problem}); it stays", file=out)
        for letter, problem in report.delete_failed:
            print(
                f"noted {letter.message_id} but could not delete it ({problem}); it will show up again",
                file=out,
            )
        print(
            f"{len(report.done)} discarded, {len(looked_at) - len(selected)} left (did not match), "
            f"{len(report.failed)} failed",
            file=out,
        )
    return ExitCode.AWS_FAILURE if report.failed or report.delete_failed else ExitCode.OK


def _age(letter: DeadLetterView, now_ms: int) -> str:
    if letter.sent_ms is None:
        return "?"
    seconds = max(0, (now_ms - letter.sent_ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _render_plan(
    looked_at: list[DeadLetterView], selected: list[DeadLetterView], dlq: str, now_ms: int, *, dry_run: bool
) -> list[str]:
    found = Counter(letter.outcome_class for letter in looked_at)
    chosen = Counter(letter.outcome_class for letter in selected)
    verb = "would discard" if dry_run else "discard"
    outside = len(looked_at) - len(selected)
    lines = [f"Dead letters in {dlq}: looked at {len(looked_at)}, {outside} outside the filters"]
    rows = [("outcome_class", "looked at", verb)]
    rows += [(name, str(found[name]), str(chosen[name])) for name in sorted(found)]
    rows.append(("total", str(len(looked_at)), str(len(selected))))
    lines += table_lines(rows)
    for letter in selected:
        reason = printable(" ".join((letter.attributes.get("reason") or "-").split()))
        lines.append(
            f"  - {letter.message_id} trade_key={letter.trade_key or '-'} {letter.outcome_class}, "
            f"waited {_age(letter, now_ms)}: {reason[:100]}"
        )
    return lines


def _letter(letter: DeadLetterView, now_ms: int, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": letter.message_id,
        "trade_key": letter.trade_key,
        "outcome_class": letter.outcome_class,
        "sent_timestamp": letter.sent_ms,
        "age_seconds": None if letter.sent_ms is None else max(0, (now_ms - letter.sent_ms) // 1000),
        **extra,
    }


def _as_json(
    looked_at: list[DeadLetterView], selected: list[DeadLetterView], *, dry_run: bool
) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {
        "dry_run": dry_run,
        "looked_at": len(looked_at),
        "not_matching": len(looked_at) - len(selected),
        "selected": [_letter(letter, now_ms) for letter in selected],
        "discarded": [],
        "failed": [],
        "delete_failed": [],
    }
