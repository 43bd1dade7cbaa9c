"""Checks, after a run, that every final state the ledger wrote reached the order system's queue as an
event, and nothing else did (pure: items, received events and the stream's final writes in, findings
out).

- each item with an ``event_id`` (a final state) must have at least one event with that id, of its
  detail-type, naming its trade and state;
- ``written`` (when given: ``final_writes`` read from the results table's stream, a witness apart
  from the publisher) adds the final states the ledger wrote and later replaced: a trade that ended
  ``FAILED`` and was claimed again by a redrive or a late duplicate. Each of those needs its event
  too (``lost``), and its event is ``superseded``, not unexpected;
- an event whose id no final state explains is ``unexpected`` (without ``written``, an earlier
  ``Trade Failed`` of a trade that has another state now is taken as superseded);
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


@dataclass(frozen=True)
class FinalWrite:
    """A final state the ledger wrote, as the table's stream recorded it (the new item has an
    ``event_id`` and the old one had none)."""

    trade_key: str
    state: str
    event_id: str
    sequence: int


@dataclass(frozen=True)
class StateCount:
    """One final state's line: trades in it now, events received, distinct event ids among them."""

    trades: int = 0
    events: int = 0
    distinct: int = 0


@dataclass
class EventAccount:
    final_items: int = 0
    events: int = 0
    final_writes: int | None = None  # final states the stream recorded (None: not witnessed)
    distinct_written: int | None = None  # distinct (trade, state) among them: one event_id each
    distinct_received: int = 0  # distinct event ids received
    missing: list[str] = field(default_factory=list)  # trade keys whose final state has no event
    lost: list[str] = field(default_factory=list)  # "<trade_key> <STATE>": a replaced final state, no event
    mismatched: list[str] = field(default_factory=list)  # an event with the id but other contents
    unexpected: list[str] = field(default_factory=list)  # event ids no final state explains
    superseded: list[str] = field(default_factory=list)  # events of a final state replaced since
    duplicates: dict[str, int] = field(default_factory=dict)  # event id -> times received (> 1)
    duplicate_trades: dict[str, str] = field(default_factory=dict)  # event id -> its trade key
    by_state: dict[str, StateCount] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.lost or self.mismatched or self.unexpected)

    def summary(self) -> str:
        witnessed = "" if self.final_writes is None else f" ({self.final_writes} final writes on the stream)"
        return (
            f"{self.final_items} final states{witnessed}, {self.events} events received: "
            f"{len(self.missing) + len(self.lost)} missing, {len(self.mismatched)} mismatched, "
            f"{len(self.unexpected)} unexpected, {len(self.superseded)} superseded, "
            f"{sum(n - 1 for n in self.duplicates.values())} duplicates (of {len(self.duplicates)} events)"
        )


def account_events(
    items: Iterable[Mapping[str, Any]],
    envelopes: Iterable[Mapping[str, Any]],
    written: Iterable[FinalWrite] | None = None,
) -> EventAccount:
    """``items``: the results table's items as plain values (``status``, ``event_id``, ...);
    ``envelopes``: the EventBridge events as the consumer queue received them (parsed JSON);
    ``written``: every final write the table's stream recorded, if the run read them."""
    account = EventAccount()
    by_trade = {str(item["trade_key"]): item for item in items}
    received = [dict(e) for e in envelopes if e.get("source") == SOURCE]
    account.events = len(received)
    counts = Counter(str(e["detail"].get("event_id")) for e in received)
    account.duplicates = {event_id: n for event_id, n in counts.items() if n > 1}
    by_id = {str(e["detail"].get("event_id")): e for e in received}
    account.distinct_received = len(by_id)
    account.duplicate_trades = {i: str(by_id[i]["detail"].get("trade_key")) for i in account.duplicates}
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
    replaced: set[str] = set()
    if written is not None:
        writes = list(written)
        account.final_writes = len(writes)
        account.distinct_written = len({write.event_id for write in writes})
        current = {str(item.get("event_id")) for item in by_trade.values() if item.get("event_id")}
        for write in writes:
            if write.event_id in current or write.event_id in replaced:
                continue
            replaced.add(write.event_id)
            if write.event_id not in by_id:
                account.lost.append(f"{write.trade_key} {write.state}")
    for event_id, event in by_id.items():
        item = by_trade.get(str(event["detail"].get("trade_key")))
        if item is not None and item.get("event_id") == event_id:
            continue
        if event_id in replaced or (
            written is None and item is not None and event["detail"].get("state") == FinalState.FAILED.value
        ):
            account.superseded.append(event_id)
        else:
            account.unexpected.append(event_id)
    account.by_state = _by_state(by_trade.values(), received)
    return account


def _by_state(items: Iterable[Mapping[str, Any]], received: list[dict[str, Any]]) -> dict[str, StateCount]:
    trades = Counter(str(item["status"]) for item in items if item.get("event_id"))
    events = Counter(str(e["detail"].get("state")) for e in received)
    distinct = Counter(
        state
        for state, _ in {(str(e["detail"].get("state")), str(e["detail"].get("event_id"))) for e in received}
    )
    return {
        state.value: StateCount(trades[state.value], events[state.value], distinct[state.value])
        for state in FinalState
        if trades[state.value] or events[state.value]
    }


def final_writes(records: Iterable[Mapping[str, Any]]) -> list[FinalWrite]:
    """The final states written, from the table's stream records (GetRecords' shape): exactly the
    records whose new item has an ``event_id`` and whose old item had none."""
    writes = []
    for record in records:
        change = record.get("dynamodb") or {}
        new, old = change.get("NewImage") or {}, change.get("OldImage") or {}
        if "event_id" in new and "event_id" not in old:
            writes.append(
                FinalWrite(
                    trade_key=str(new["trade_key"]["S"]),
                    state=str(new["status"]["S"]),
                    event_id=str(new["event_id"]["S"]),
                    sequence=int(change["SequenceNumber"]),
                )
            )
    return writes


def parse_envelopes(bodies: Iterable[str]) -> list[dict[str, Any]]:
    """SQS bodies the example rule delivered (the whole event, JSON) -> events."""
    return [json.loads(body) for body in bodies]
