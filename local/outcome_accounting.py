"""Checks, after a run, that every final state in the ledger reached the order system's queue as an
event, and nothing else did (pure: items and received events in, findings out).

- each item with an ``event_id`` (a final state) must have at least one event with that id, of its
  detail-type, naming its trade and state;
- an event whose id is not the item's current one is either an earlier ``Trade Failed`` of a trade
  redriven since (``superseded``: legitimate) or ``unexpected``;
- the same id received more than once is a ``duplicate``: allowed (delivery is at least once) and
  identifiable by its id, which consumers use to drop it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alipay_cancel_events.contract import SOURCE, FinalState


@dataclass
class EventAccount:
    final_items: int = 0
    events: int = 0
    missing: list[str] = field(default_factory=list)  # trade keys whose final state has no event
    mismatched: list[str] = field(default_factory=list)  # an event with the id but other contents
    unexpected: list[str] = field(default_factory=list)  # event ids no final state explains
    superseded: list[str] = field(default_factory=list)  # Trade Failed of a trade redriven since
    duplicates: dict[str, int] = field(default_factory=dict)  # event id -> times received (> 1)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.unexpected)

    def summary(self) -> str:
        return (
            f"{self.final_items} final states, {self.events} events received: {len(self.missing)} missing, "
            f"{len(self.mismatched)} mismatched, {len(self.unexpected)} unexpected, "
            f"{len(self.superseded)} superseded, {sum(n - 1 for n in self.duplicates.values())} duplicates "
            f"(of {len(self.duplicates)} events)"
        )


def account_events(
    items: Iterable[Mapping[str, Any]], envelopes: Iterable[Mapping[str, Any]]
) -> EventAccount:
    """``items``: the results table's items as plain values (``status``, ``event_id``, ...);
    ``envelopes``: the EventBridge events as the consumer queue received them (parsed JSON)."""
    account = EventAccount()
    by_trade = {str(item["trade_key"]): item for item in items}
    received = [dict(e) for e in envelopes if e.get("source") == SOURCE]
    account.events = len(received)
    counts = Counter(str(e["detail"].get("event_id")) for e in received)
    account.duplicates = {event_id: n for event_id, n in counts.items() if n > 1}
    by_id = {str(e["detail"].get("event_id")): e for e in received}
    for trade_key, item in by_trade.items():
        event_id = item.get("event_id")
        if not event_id:
            continue
        account.final_items += 1
        event = by_id.get(str(event_id))
        if event is None:
            account.missing.append(trade_key)
            continue
        state = FinalState(str(item["status"]))
        detail = event["detail"]
        if (event["detail-type"], detail.get("trade_key"), detail.get("state")) != (
            state.detail_type,
            trade_key,
            state.value,
        ):
            account.mismatched.append(trade_key)
    for event_id, event in by_id.items():
        item = by_trade.get(str(event["detail"].get("trade_key")))
        if item is not None and item.get("event_id") == event_id:
            continue
        if item is not None and event["detail"].get("state") == FinalState.FAILED.value:
            account.superseded.append(event_id)
        else:
            account.unexpected.append(event_id)
    return account


def parse_envelopes(bodies: Iterable[str]) -> list[dict[str, Any]]:
    """SQS bodies the example rule delivered (the whole event, JSON) -> events."""
    return [json.loads(body) for body in bodies]
