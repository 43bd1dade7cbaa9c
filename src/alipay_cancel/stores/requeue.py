"""Re-enqueue a message's body unchanged on the source queue, with a delay (SQS DelaySeconds).

Used to keep a message past its last allowed receive while our own configuration is broken: the new
copy starts with a fresh receive count, and carries when the original was first sent (so the pipeline
can stop once the message would have outlived the queue's retention) and how often it was re-enqueued.
"""

from __future__ import annotations

from typing import Any

from alipay_cancel.shared.sqs_limits import SQS_MAX_DELAY_SECONDS, SQS_MAX_MESSAGE_ATTRIBUTES

FIRST_SENT_ATTRIBUTE = "alipay_cancel_first_sent_ms"
REQUEUES_ATTRIBUTE = "alipay_cancel_requeues"


class Requeuer:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def requeue(
        self,
        body: str,
        delay_seconds: int,
        *,
        first_sent_ms: int,
        requeues: int,
        attributes: dict[str, Any],
    ) -> str:
        """Sends the copy (errors propagate: the original must then stay on the queue)."""
        copied: dict[str, dict[str, str]] = {}
        for name, value in attributes.items():  # the producer's attributes, as an SQS event holds them
            if name in (FIRST_SENT_ATTRIBUTE, REQUEUES_ATTRIBUTE) or not isinstance(value, dict):
                continue
            kind, text = value.get("dataType"), value.get("stringValue")
            if (
                isinstance(kind, str)
                and isinstance(text, str)
                and len(copied) < SQS_MAX_MESSAGE_ATTRIBUTES - 2
            ):
                copied[name] = {"DataType": kind, "StringValue": text}
        copied[FIRST_SENT_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(first_sent_ms)}
        copied[REQUEUES_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(requeues)}
        response = self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            DelaySeconds=max(0, min(int(delay_seconds), SQS_MAX_DELAY_SECONDS)),
            MessageAttributes=copied,
        )
        return str(response["MessageId"])
