"""``alipay-cancel``: the operator CLI of the cancel pipeline (``alipay-cancel <command> --help``).

Queues and table come from options or from the function's own variable names (CANCEL_QUEUE_URL,
DEAD_LETTER_QUEUE_URL, RESULTS_TABLE_NAME, ALIPAY_DEFAULT_APP_ID); the AWS endpoint from
--endpoint-url or AWS_ENDPOINT_URL (e.g. the local stack), the region from --region or AWS_REGION /
AWS_DEFAULT_REGION. Tokens are never printed. Exit codes: ``cli_support.ExitCode``.

A command is a module of ``alipay_cancel_ops.commands`` listed in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata
from types import ModuleType
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from alipay_cancel_ops.cli_support import Console, Declined, ExitCode, UsageError
from alipay_cancel_ops.commands import (
    dead_letters,
    discard,
    enqueue,
    redrive,
    result,
    schedule,
    unschedule,
)

PROG = "alipay-cancel"
DISTRIBUTION = "alipay-cancel"
COMMANDS: tuple[ModuleType, ...] = (
    enqueue,
    result,
    dead_letters,
    redrive,
    discard,
    schedule,
    unschedule,
)

EPILOG = """exit codes:
  0    done (an empty answer is success too: no dead letters, nothing to move, no record yet)
  1    an AWS call failed (for all or some of the work; what failed is printed)
  2    usage error: bad or missing options or values; nothing was done
  3    a large redrive or discard was not confirmed; nothing was changed
  130  interrupted (Ctrl-C)"""


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    console = Console(out or sys.stdout, err or sys.stderr, stdin or sys.stdin)
    args = parser().parse_args(argv)
    try:
        return int(args.run(args, console))
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=console.err)
        return ExitCode.USAGE
    except Declined as exc:
        print(f"{PROG}: not confirmed: {exc}", file=console.err)
        return ExitCode.DECLINED
    except (ClientError, BotoCoreError) as exc:
        print(f"{PROG}: error: AWS call failed: {exc}", file=console.err)
        return ExitCode.AWS_FAILURE
    except KeyboardInterrupt:
        # Dead letters received but not handled yet reappear when their visibility timeout ends.
        print(f"\n{PROG}: interrupted", file=console.err)
        return ExitCode.INTERRUPTED


def _shared_options(default: Any) -> argparse.ArgumentParser:
    """Options every command takes, before or after its name. ``default``: None on the main parser,
    SUPPRESS on a command's (so that its copy does not overwrite a value given before the command)."""
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--endpoint-url",
        default=default,
        metavar="URL",
        help="AWS endpoint, e.g. http://127.0.0.1:4566 for the local stack (default: $AWS_ENDPOINT_URL, "
        "else AWS)",
    )
    shared.add_argument(
        "--region", default=default, help="AWS region (default: $AWS_REGION, else $AWS_DEFAULT_REGION)"
    )
    shared.add_argument(
        "--json",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="machine-readable output: one JSON document (dead-letters: one per dead letter and line)",
    )
    return shared


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operate the Alipay cancel pipeline: enqueue a cancel, look up a trade's result, "
        "inspect, redrive and discard dead letters.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_shared_options(None)],
    )
    main_parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="command")
    for command in COMMANDS:
        sub = commands.add_parser(
            command.NAME,
            help=command.SUMMARY,
            description=(command.__doc__ or "").replace("``", ""),
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[_shared_options(argparse.SUPPRESS)],
        )
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return main_parser


if __name__ == "__main__":
    sys.exit(main())
