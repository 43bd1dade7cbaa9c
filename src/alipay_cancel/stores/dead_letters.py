"""Dead letters (README "Dead letters"): the original body byte for byte, attributes say why.

Send errors propagate: the caller must not acknowledge a message whose dead letter was not sent.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# SQS allows 10 message attributes and 256 KiB per message; a reason longer than this is cut.
MAX_REASON_CHARS = 2000


class DeadLetter(NamedTuple):
    body: str  # the original SQS body, unchanged, so that a redrive replays it as it was
    reason: str  # what happened and what to do; never key material or tokens
    source_message_id: str
    outcome_class: str | None = None
    error_code: str | None = None
    error_sub_code: str | None = None
    alipay_trace_id: str | None = None
    trade_key: str | None = None
    attempts: int | None = None


class DeadLetterSender:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, letter: DeadLetter) -> str:
        """Returns the dead letter's SQS message id."""
        strings = {
            "reason": letter.reason[:MAX_REASON_CHARS],
            "outcome_class": letter.outcome_class,
            "error_code": letter.error_code,
            "error_sub_code": letter.error_sub_code,
            "source_message_id": letter.source_message_id,
            "alipay_trace_id": letter.alipay_trace_id,
            "trade_key": letter.trade_key,
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
