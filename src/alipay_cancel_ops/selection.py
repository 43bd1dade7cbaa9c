"""Which dead letters a command looks at: the options ``dead-letters``, ``redrive`` and ``discard`` share,
and the filters they make."""

from __future__ import annotations

import argparse
import re
import time

from alipay_cancel_ops.cli_support import env_option
from alipay_cancel_ops.queues import DEAD_LETTER_CLASSES, UNCLASSIFIED, Filters

SQS_MAX_VISIBILITY_SECONDS = 43200
SQS_MAX_WAIT_SECONDS = 20
_DURATION = re.compile(r"(\d+)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def add_selection_options(parser: argparse.ArgumentParser, *, ages: bool = False) -> None:
    env_option(parser, "--queue-url", "DEAD_LETTER_QUEUE_URL", "the dead-letter queue")
    parser.add_argument(
        "--trade-key",
        action="append",
        metavar="KEY",
        help="only this trade (repeatable; as `result` shows it)",
    )
    parser.add_argument(
        "--outcome-class",
        action="append",
        choices=DEAD_LETTER_CLASSES,
        help=f"only this class (repeatable); {UNCLASSIFIED}: moved by the queue itself, without a reason "
        "(the function crashed or timed out on every receive)",
    )
    if ages:
        parser.add_argument(
            "--older-than",
            type=duration,
            metavar="AGE",
            help="only dead letters that have waited longer than this, e.g. 90m, 12h, 7d (seconds without "
            "a unit), counted from when they reached the dead-letter queue",
        )
    parser.add_argument(
        "--max",
        type=positive,
        default=100,
        metavar="N",
        help="look at no more than N dead letters (default 100)",
    )
    parser.add_argument(
        "--wait-seconds",
        type=wait_seconds,
        default=1,
        metavar="S",
        help="SQS long poll per receive, 0..20 (default 1)",
    )


def add_taking_options(parser: argparse.ArgumentParser, *, noun: str, verb: str) -> None:
    """The options of a command that takes dead letters off the queue (redrive, discard): a dry run,
    the question before a large one, and how long each is hidden while it is taken."""
    parser.add_argument("--dry-run", action="store_true", help=f"show what would be {verb}, change nothing")
    parser.add_argument("--yes", action="store_true", help=f"do not ask before a large {noun} (for scripts)")
    parser.add_argument(
        "--ask-above",
        type=positive,
        default=10,
        metavar="N",
        help=f"ask for a yes before more than N are {verb} (default 10)",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=visibility,
        default=60,
        metavar="S",
        help=f"seconds each dead letter is hidden from others while it is {verb} (default 60)",
    )


def filters_from(args: argparse.Namespace, *, now_ms: int | None = None) -> Filters:
    older_than = getattr(args, "older_than", None)
    before = None
    if older_than is not None:
        before = (now_ms if now_ms is not None else int(time.time() * 1000)) - older_than * 1000
    return Filters(
        trade_keys=frozenset(args.trade_key or ()),
        outcome_classes=frozenset(args.outcome_class or ()),
        sent_before_ms=before,
    )


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def visibility(text: str) -> int:
    value = positive(text)
    if value > SQS_MAX_VISIBILITY_SECONDS:
        raise argparse.ArgumentTypeError(f"SQS allows at most {SQS_MAX_VISIBILITY_SECONDS} seconds")
    return value


def wait_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= SQS_MAX_WAIT_SECONDS:
        raise argparse.ArgumentTypeError(f"SQS long polling is 0..{SQS_MAX_WAIT_SECONDS} seconds")
    return value


def duration(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``12h``, ``7d`` -> seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 90m, 12h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
