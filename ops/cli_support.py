"""What the operator CLI's commands share: the usage error, required values, AWS clients."""

from __future__ import annotations

import argparse
import os
from typing import Any

import boto3


class UsageError(Exception):
    """Bad or missing input: exit status 2."""


def need(value: str | None, flag: str, env: str) -> str:
    if value:
        return value
    raise UsageError(f"{flag} is required (or set {env})")


def client(service: str, args: argparse.Namespace) -> Any:
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    session = boto3.session.Session(region_name=region)
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    return session.client(service, endpoint_url=endpoint)
