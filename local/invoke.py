"""``make invoke EVENT=events/<file>.json``: one event through the function as Lambda runs it, no Docker.

The counterpart of ``sam local invoke`` for machines without a container runtime (or an x86 host,
which cannot import the arm64 build): a fresh local stack (moto server + Alipay gateway emulator on
free loopback ports, resources from template.yaml, the apps and merchants of the demo, the events'
trades seeded), then the event is given to one execution environment (an ``awslambdaric`` process
against the local Runtime API, ``local.lambda_runtime.lambda_environment``) with the template's
environment and timeout. Each record's body is first put on the local queue and received, so its
receipt handle is a real one (the function changes a retried record's visibility with it, as in
Lambda); the rest of the record (message id, attributes such as the receive count) is the event's.

Prints the function's log, how each record ended (a record handed back untried because too little
of a short ``--timeout`` was left is said plainly, with the time it needs), the response, and the
ledger items and dead letters it left. Exit code: 0 every record ended for good (a final state or a
dead letter); 1 the function raised, timed out or crashed; 2 the file is not an SQS event; 3 the
function handed records back for a later delivery (a retry, or too little time).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from alipay_cancel.pipeline.service import SAFETY_MARGIN_MS
from alipay_cancel_ops.masking import shown_body
from local.accounting.messages import scan_table
from local.lambda_runtime.function_log import DEFERRED, HANDED_BACK, RecordEnd, record_end
from local.seed_trades import seed
from local.showcase import MERCHANTS, second_app_keys
from local.stack.local_stack import LocalStack

OK, FUNCTION_FAILED, NOT_AN_EVENT, HANDED_BACK_EXIT = 0, 1, 2, 3
MAX_RECORDS = 10  # the event source's largest batch without a batching window


def event_problem(event: Any) -> str | None:
    """Why ``event`` is not an SQS event the function can be given, or None."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return 'it has no "Records" list'
    records = event["Records"]
    if not 1 <= len(records) <= MAX_RECORDS:
        return f"it has {len(records)} records (an SQS batch holds 1 to {MAX_RECORDS})"
    for i, record in enumerate(records):
        if not isinstance(record, dict) or record.get("eventSource") != "aws:sqs":
            return f'record {i} is not from SQS (eventSource "aws:sqs")'
        if not isinstance(record.get("body"), str) or not isinstance(record.get("messageId"), str):
            return f"record {i} has no body or messageId"
    return None


def _with_real_receipt_handles(stack: LocalStack, event: dict[str, Any]) -> dict[str, Any]:
    sqs = stack.client("sqs")
    queue = stack.resources.queue_url
    records = []
    for record in event["Records"]:
        sqs.send_message(QueueUrl=queue, MessageBody=record["body"])
        (received,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1)[
            "Messages"
        ]
        records.append({**record, "receiptHandle": received["ReceiptHandle"]})
    return {**event, "Records": records}


class Invoked(NamedTuple):
    exit_code: int
    ended: dict[str, RecordEnd]  # by the event's messageId


def invoke_event(event: dict[str, Any], out: TextIO, *, timeout: float | None = None) -> Invoked:
    lines: list[str] = []
    with LocalStack(extra_apps=[second_app_keys()], merchants=MERCHANTS) as stack:
        seed(stack.gateway_url, examples=False)
        given = _with_real_receipt_handles(stack, event)
        with stack.environments(log_sink=lines.append, max_environments=1, timeout=timeout) as pool:
            result = pool.invoke(given)
        res = stack.resources
        records = scan_table(stack.client("dynamodb"), res.results_table)
        letters = (
            stack.client("sqs")
            .receive_message(QueueUrl=res.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            .get("Messages", [])
        )
        env = stack.lambda_env
    needed = (
        float(env["ALIPAY_CONNECT_TIMEOUT_SECONDS"])
        + float(env["ALIPAY_READ_TIMEOUT_SECONDS"])
        + SAFETY_MARGIN_MS / 1000
    )
    out.write("--- function log ---\n" + "\n".join(lines) + "\n")
    out.write(f"--- {result.kind} after {result.duration:.2f}s (cold start: {result.cold}) ---\n")
    out.write(json.dumps(result.payload, indent=2) if result.kind == "response" else result.detail)
    out.write("\n--- how each record ended ---\n")
    ended = {end.message_id: end for end in filter(None, map(record_end, lines))}
    handed_back = _explain(event, ended, out, needed)
    out.write("--- ledger items ---\n")
    for item in records:
        out.write(json.dumps(item, default=str, sort_keys=True) + "\n")
    out.write(f"--- dead letters: {len(letters)} ---\n")
    for letter in letters:
        reason = letter.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
        out.write(f"{shown_body(letter['Body']).describe(hint=False)[:200]}  reason: {reason}\n")
    if result.kind != "response":
        return Invoked(FUNCTION_FAILED, ended)
    return Invoked(HANDED_BACK_EXIT if handed_back else OK, ended)


def _explain(event: dict[str, Any], ended: dict[str, RecordEnd], out: TextIO, needed: float) -> int:
    """One line per record, then why untried ones were not tried; returns how many were handed back
    for a later delivery."""
    handed_back = deferred = 0
    for record in event["Records"]:
        end = ended.get(record["messageId"])
        if end is None:
            out.write(f"{record['messageId']}: no ending logged (the invocation did not finish it)\n")
            continue
        out.write(f"{record['messageId']}: {end.line()}\n")
        handed_back += end.ending in HANDED_BACK
        deferred += end.ending == DEFERRED
    if deferred:
        out.write(
            f"{deferred} record(s) not tried: the function starts an Alipay call only with at least "
            f"{needed:g} s of the invocation left (connect + read timeout + {SAFETY_MARGIN_MS // 1000} s), "
            f"and this timeout left less. In Lambda they would come back in a few seconds; give "
            f"--timeout {int(needed) + 1} or more to see them tried.\n"
        )
    return handed_back


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke the function once with an event file (no Docker).")
    parser.add_argument("event", type=Path, help="an SQS event, e.g. events/cancel-by-out-trade-no.json")
    parser.add_argument("--timeout", type=float, help="function timeout in seconds (default: the template's)")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
    except OSError as error:
        print(f"make invoke: cannot read {args.event}: {error.strerror}", file=sys.stderr)
        return NOT_AN_EVENT
    except ValueError as error:
        event, problem = None, f"not JSON: {error}"
    else:
        problem = event_problem(event)
    if problem is not None or event is None:
        print(
            f"make invoke: {args.event} is not an SQS event ({problem}); give one like "
            "events/cancel-by-out-trade-no.json",
            file=sys.stderr,
        )
        return NOT_AN_EVENT
    try:
        return invoke_event(event, sys.stdout, timeout=args.timeout).exit_code
    except KeyboardInterrupt:
        print("\nmake invoke: interrupted; the local stack is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
