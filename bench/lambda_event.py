"""Lambda-shaped SQS events and context for driving the handler in-process (no heavy imports: the
memory worker uses this in a fresh interpreter)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:alipay-cancel-queue"


def sqs_event(size: int, run_id: str) -> dict[str, Any]:
    """``size`` records, each a fresh trade (not a duplicate the ledger answers without a call)."""
    now_ms = str(int(time.time() * 1000))
    records = []
    for i in range(size):
        body = json.dumps({"out_trade_no": f"BENCH-{run_id}-{i}-{uuid.uuid4().hex[:12]}"})
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench-" + uuid.uuid4().hex,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now_ms,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": now_ms,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


class BenchContext:
    """The attributes of the Lambda runtime's context object that Powertools reads."""

    def __init__(self, memory_mb: int = 512, timeout_seconds: int = 120) -> None:
        self.function_name = "alipay-cancel-CancelFunction"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "bench"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def failures(response: Any) -> int:
    """How many records the handler reported as failed (a benchmark of failures measures nothing)."""
    if not isinstance(response, dict):
        return -1
    return len(response.get("batchItemFailures") or [])
