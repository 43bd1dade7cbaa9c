"""``alipay-cancel dead-letters``: list dead letters with their reasons, leaving them in the queue.

Bodies are shown with every app_auth_token masked; a body that is not JSON is not shown at all (its
size and SHA-256 instead) unless ``--show-unparseable-bodies`` asks for it, masked as well as raw text
allows (``alipay_cancel_ops.masking``)."""

from __future__ import annotations

import argparse
import datetime as dt

from alipay_cancel_ops.cli_support import Console, ExitCode, client, need, print_json, printable
from alipay_cancel_ops.queues import DeadLetterView, browse_dead_letters
from alipay_cancel_ops.selection import add_selection_options, filters_from, visibility

NAME = "dead-letters"
SUMMARY = "list dead letters with their reasons, leaving them in the queue"


def configure(parser: argparse.ArgumentParser) -> None:
    add_selection_options(parser, ages=True)
    parser.add_argument(
        "--visibility-timeout",
        type=visibility,
        default=30,
        metavar="S",
        help="seconds a listed dead letter is hidden from others while the list is read (default 30)",
    )
    parser.add_argument(
        "--show-unparseable-bodies",
        action="store_true",
        help="also show bodies that are not JSON (app_auth_token values masked as raw text allows); "
        "by default only their size and SHA-256 are shown",
    )


def run(args: argparse.Namespace, console: Console) -> ExitCode:
    queue_url = need(args.queue_url, "--queue-url", "DEAD_LETTER_QUEUE_URL")
    letters = browse_dead_letters(
        client("sqs", args),
        queue_url,
        filters_from(args),
        limit=args.max,
        visibility_timeout=args.visibility_timeout,
        wait_seconds=args.wait_seconds,
    )
    if args.json:  # one JSON object per line (none for an empty queue)
        for letter in letters:
            print_json(letter.as_dict(show_unparseable=args.show_unparseable_bodies), console.out)
        return ExitCode.OK
    for letter in letters:
        print(render_letter(letter, show_unparseable=args.show_unparseable_bodies), file=console.out)
        print("", file=console.out)
    print(f"{len(letters)} dead letter(s) shown; none were removed from the queue", file=console.out)
    return ExitCode.OK


def render_letter(letter: DeadLetterView, *, show_unparseable: bool = False) -> str:
    attrs = letter.attributes
    lines = [f"message_id      {letter.message_id}"]
    for label, value in (
        ("trade_key", letter.trade_key),
        ("outcome_class", letter.outcome_class),
        ("error_code", attrs.get("error_code")),
        ("error_sub_code", attrs.get("error_sub_code")),
        ("attempts", attrs.get("attempts")),
        ("source_message", attrs.get("source_message_id")),
        ("alipay_trace_id", attrs.get("alipay_trace_id")),
        ("sent_at", iso_time(letter.sent_ms)),
        ("reason", attrs.get("reason")),
        ("body", letter.shown(show_unparseable=show_unparseable).describe()),
    ):
        if value:
            lines.append(f"{label.ljust(15)} {printable(value)}")
    return "\n".join(lines)


def iso_time(millis: int | None) -> str | None:
    if millis is None:
        return None
    moment = dt.datetime.fromtimestamp(millis / 1000, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
