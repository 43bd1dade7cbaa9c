"""Retry scheduling on the source queue itself: ChangeMessageVisibility on a message left unacknowledged."""

from __future__ import annotations

from typing import Any

from alipay_cancel.shared.sqs_limits import SQS_MAX_VISIBILITY_SECONDS


class VisibilityScheduler:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Errors propagate; callers treat a failure as 'the queue's own visibility timeout applies'."""
        self._client.change_message_visibility(
            QueueUrl=self._queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(int(seconds), SQS_MAX_VISIBILITY_SECONDS)),
        )
