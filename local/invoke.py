"""``make invoke EVENT=events/<file>.json``: one event through the function as Lambda runs it, no Docker.

The counterpart of ``sam local invoke`` for machines without a container runtime (or an x86 host,
which cannot import the arm64 build): a fresh local stack (moto server + Alipay gateway emulator on
free loopback ports, resources from template.yaml, the events' trades seeded), then the event is
given to one execution environment (an ``awslambdaric`` process against the local Runtime API,
``local.lambda_environment``) with the template's environment and timeout. Prints the function's log,
its response, and the results records and dead letters it left; the exit code is 0 when the function
answered (whatever the batch item failures), 1 when it raised, timed out or crashed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from local.accounting import scan_table
from local.lambda_environment import InvokeResult
from local.seed_trades import seed
from local.stack import LocalStack


def invoke_event(event: dict[str, Any], out: TextIO, *, timeout: float | None = None) -> InvokeResult:
    lines: list[str] = []
    with LocalStack() as stack:
        seed(stack.gateway_url, examples=False)
        with stack.environments(log_sink=lines.append, max_environments=1, timeout=timeout) as pool:
            result = pool.invoke(event)
        res = stack.resources
        records = scan_table(stack.client("dynamodb"), res.results_table)
        sqs = stack.client("sqs")
        letters = sqs.receive_message(
            QueueUrl=res.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
    out.write("--- function log ---\n" + "\n".join(lines) + "\n")
    out.write(f"--- {result.kind} after {result.duration:.2f}s (cold start: {result.cold}) ---\n")
    out.write(json.dumps(result.payload, indent=2) if result.kind == "response" else result.detail)
    out.write("\n--- results records ---\n")
    for item in records:
        out.write(json.dumps(item, default=str, sort_keys=True) + "\n")
    out.write(f"--- dead letters: {len(letters)} ---\n")
    for letter in letters:
        reason = letter.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
        out.write(f"{letter['Body'][:200]}  reason: {reason}\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke the function once with an event file (no Docker).")
    parser.add_argument("event", type=Path, help="an SQS event, e.g. events/cancel-by-out-trade-no.json")
    parser.add_argument("--timeout", type=float, help="function timeout in seconds (default: the template's)")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        parser.error(f"cannot read the event {args.event}: {error}")
    if not isinstance(event, dict):
        parser.error(f"{args.event} is not a JSON object")
    result = invoke_event(event, sys.stdout, timeout=args.timeout)
    return 0 if result.kind == "response" else 1


if __name__ == "__main__":
    sys.exit(main())
