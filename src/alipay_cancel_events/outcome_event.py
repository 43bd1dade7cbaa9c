"""A results-table stream record -> the outcome event it announces. Pure: no AWS, no clock.

A record announces an outcome exactly when its new image has an ``event_id`` and its old image has
none: the ledger writes ``event_id`` only with a final state and removes it when a later delivery
claims the trade again, so a note added to a final item (``discarded``) or any other later edit
announces nothing. The event source mapping filters on the same rule (template.yaml); the function
checks it again so that a mapping without the filter still publishes each outcome once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alipay_cancel_events.contract import BOOLEAN_FIELDS, DETAIL_FIELDS, DETAIL_VERSION, SOURCE, FinalState

# A DynamoDB attribute value as a stream record carries it: {"S": "..."}, {"BOOL": true}, ...
AttributeValue = Mapping[str, Any]
Image = Mapping[str, AttributeValue]
DetailValue = str | bool | None


class NotAnOutcome(ValueError):
    """The record has an event id but is not a final state the contract knows: a ledger defect,
    never retried (the same record fails the same way). The message names no attribute value."""


@dataclass(frozen=True)
class OutcomeEvent:
    detail_type: str
    detail: Mapping[str, DetailValue]
    time: dt.datetime | None  # when the trade ended (finished_at), if it parses

    @property
    def event_id(self) -> str:
        return str(self.detail["event_id"])

    @property
    def trade_key(self) -> str:
        return str(self.detail["trade_key"])

    def put_events_entry(self, bus: str) -> dict[str, Any]:
        """The PutEvents entry for ``bus`` (a name or an ARN)."""
        entry: dict[str, Any] = {
            "Source": SOURCE,
            "DetailType": self.detail_type,
            "Detail": json.dumps(dict(self.detail), ensure_ascii=False, separators=(",", ":")),
            "EventBusName": bus,
        }
        if self.time is not None:
            entry["Time"] = self.time
        return entry


def _string(value: AttributeValue | None) -> str | None:
    if value is None:
        return None
    if "S" in value:
        return str(value["S"])
    if "N" in value:  # amounts are written as strings; a number keeps its exact text, never a float
        return str(value["N"])
    return None


def _boolean(value: AttributeValue | None) -> bool | None:
    if value is None or "BOOL" not in value:
        return None
    return bool(value["BOOL"])


def announces_outcome(record: Mapping[str, Any]) -> bool:
    """True when the record is the write of a final state (see the module docstring)."""
    change = record.get("dynamodb") or {}
    new, old = change.get("NewImage") or {}, change.get("OldImage") or {}
    return _string(new.get("event_id")) is not None and _string(old.get("event_id")) is None


def _finished_at(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def outcome_event(image: Image) -> OutcomeEvent:
    """The event for a final item's new image; ``NotAnOutcome`` if it cannot be one."""
    event_id, trade_key = _string(image.get("event_id")), _string(image.get("trade_key"))
    if not event_id or not trade_key:
        raise NotAnOutcome("the item has no event_id or no trade_key")
    status = _string(image.get("status"))
    try:
        state = FinalState(status or "")
    except ValueError:
        raise NotAnOutcome("the item has an event_id but its status is not a final state") from None
    detail: dict[str, DetailValue] = {}
    for field in DETAIL_FIELDS:
        if field == "version":
            detail[field] = DETAIL_VERSION
        elif field == "state":
            detail[field] = state.value
        elif field in BOOLEAN_FIELDS:
            detail[field] = _boolean(image.get(field))
        else:
            detail[field] = _string(image.get(field))
    return OutcomeEvent(state.detail_type, detail, _finished_at(_string(image.get("finished_at"))))
