"""What the operator CLI's commands share: exit codes, errors, options read from the environment, AWS
clients, JSON output, tables and the question asked before a large change."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, NamedTuple, TextIO

import boto3


class ExitCode(IntEnum):
    """The command's exit status (docs/operations.md, "Exit codes")."""

    OK = 0  # done; an empty answer (no dead letters, nothing to move, no record yet) is success too
    AWS_FAILURE = 1  # an AWS call failed, for all or some of the work (what failed is printed)
    USAGE = 2  # bad or missing input: nothing was done (argparse uses 2 for its own usage errors)
    DECLINED = 3  # asked for a yes before a large change and did not get one: nothing was changed
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class UsageError(Exception):
    """Bad or missing input: ``ExitCode.USAGE``."""


class Declined(Exception):
    """The operator did not confirm: ``ExitCode.DECLINED``."""


class Console(NamedTuple):
    """Where a command writes and asks."""

    out: TextIO
    err: TextIO
    stdin: TextIO


def need(value: str | None, flag: str, env: str) -> str:
    if value:
        return value
    raise UsageError(f"{flag} is required (or set {env})")


def env_option(
    parser: argparse.ArgumentParser, flag: str, variable: str, help_text: str, *, metavar: str = "URL"
) -> None:
    """An option whose default is an environment variable (the function's own names), said in --help."""
    parser.add_argument(
        flag, default=os.environ.get(variable), metavar=metavar, help=f"{help_text} (default: ${variable})"
    )


def client(service: str, args: argparse.Namespace) -> Any:
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    session = boto3.session.Session(region_name=region)
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    return session.client(service, endpoint_url=endpoint)


def print_json(value: Any, out: TextIO) -> None:
    """One JSON document on one line (``--json``)."""
    print(json.dumps(value, ensure_ascii=False, sort_keys=True), file=out)


def printable(text: str) -> str:
    """One line, and no terminal escape sequences from stored text."""
    return "".join(c if c.isprintable() else " " for c in text)


def table_lines(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows (the first one the header) as aligned, indented text."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def confirm(question: str, console: Console) -> None:
    """A large change needs a yes: from --yes (the caller skips this), or typed at a terminal."""
    stdin = console.stdin
    if not stdin.isatty():
        raise UsageError(f"{question}: there is no terminal to ask, add --yes")
    print(f"{question}? Type 'yes' to go on: ", end="", file=console.err, flush=True)
    if stdin.readline().strip().lower() not in ("yes", "y"):
        raise Declined("nothing was changed")


def default_console() -> Console:
    return Console(sys.stdout, sys.stderr, sys.stdin)


def read_token(path: str, console: Console) -> str:
    """An app_auth_token from a file ('-': the first line of stdin); never echoed."""
    try:
        if path == "-":
            return console.stdin.readline().strip()
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read --app-auth-token-file: {exc.strerror}") from None
