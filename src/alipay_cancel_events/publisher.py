"""Puts outcome events on the bus, and events that cannot be published on the dead-letter queue.

Dead letters come in two kinds (message attribute ``kind``):

- ``unpublished_event``: the body is the PutEvents entry itself (``Time`` as ISO 8601 text), so a
  replay is ``aws events put-events --entries "[<body>]"``; ``error_code`` says what the bus answered;
- ``not_an_outcome``: a record with an event id whose item is not a final state (a ledger defect);
  the body names the trade, the event id and the stream position, never the item's other values.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from alipay_cancel_events.outcome_event import OutcomeEvent

UNPUBLISHED_EVENT = "unpublished_event"
NOT_AN_OUTCOME = "not_an_outcome"


class PublishFailed(Exception):
    """The bus did not take the event; ``code`` is its error code (never a value from the event)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"PutEvents failed: {code}")
        self.code = code


class DeadLetterFailed(Exception):
    """The dead-letter queue did not take the message either: the stream must retry the record."""


def _error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def _attributes(values: Mapping[str, str | None]) -> dict[str, dict[str, str]]:
    return {
        name: {"DataType": "String", "StringValue": value[:1024]} for name, value in values.items() if value
    }


def _json_default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class Publisher:
    def __init__(self, events: Any, sqs: Any, *, bus: str, dead_letter_queue_url: str) -> None:
        self.events_client = events
        self.sqs_client = sqs
        self.bus = bus
        self.dead_letter_queue_url = dead_letter_queue_url

    def publish(self, event: OutcomeEvent) -> None:
        try:
            response = self.events_client.put_events(Entries=[event.put_events_entry(self.bus)])
        except (ClientError, BotoCoreError) as error:
            raise PublishFailed(_error_code(error)) from None
        if response.get("FailedEntryCount"):
            (entry,) = response["Entries"]
            raise PublishFailed(str(entry.get("ErrorCode") or "FailedEntry"))

    def dead_letter_event(self, event: OutcomeEvent, *, reason: str, error_code: str) -> None:
        body = json.dumps(event.put_events_entry(self.bus), ensure_ascii=False, default=_json_default)
        self._send(
            body,
            kind=UNPUBLISHED_EVENT,
            reason=reason,
            error_code=error_code,
            trade_key=event.trade_key,
            event_id=event.event_id,
        )

    def dead_letter_record(
        self, *, trade_key: str | None, event_id: str | None, sequence_number: str, reason: str
    ) -> None:
        body = json.dumps(
            {"trade_key": trade_key, "event_id": event_id, "sequence_number": sequence_number},
            ensure_ascii=False,
        )
        self._send(body, kind=NOT_AN_OUTCOME, reason=reason, trade_key=trade_key, event_id=event_id)

    def _send(self, body: str, **attributes: str | None) -> None:
        try:
            self.sqs_client.send_message(
                QueueUrl=self.dead_letter_queue_url,
                MessageBody=body,
                MessageAttributes=_attributes(attributes),
            )
        except (ClientError, BotoCoreError) as error:
            raise DeadLetterFailed(_error_code(error)) from None
