"""Sending dead letters (``shared.dead_letter``) to the dead-letter queue: attributes say why.

Send errors propagate: the caller must not acknowledge a message whose dead letter was not sent.
"""

from __future__ import annotations

from typing import Any

from alipay_cancel.shared.dead_letter import DeadLetter

# SQS allows 10 message attributes and 256 KiB per message; a reason longer than this is cut.
MAX_REASON_CHARS = 2000


class DeadLetterSender:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, letter: DeadLetter) -> str:
        """Returns the dead letter's SQS message id."""
        strings = {
            "reason": letter.reason[:MAX_REASON_CHARS],
            "outcome_class": letter.outcome_class.value if letter.outcome_class else None,
            "error_code": letter.error_code,
            "error_sub_code": letter.error_sub_code,
            "source_message_id": letter.source_message_id,
            "alipay_trace_id": letter.alipay_trace_id,
            "trade_key": letter.trade_key,
            "alipay_facts": letter.alipay_facts,
        }
        attributes: dict[str, dict[str, str]] = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in strings.items()
            if value  # SQS refuses empty attribute values
        }
        if letter.attempts is not None:
            attributes["attempts"] = {"DataType": "Number", "StringValue": str(letter.attempts)}
        response = self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=letter.body, MessageAttributes=attributes
        )
        return str(response["MessageId"])
