"""The ledger in DynamoDB (docs/ledger.md): the trade's item in the results table, written only by
conditional UpdateItems.

- ``claim``: before any Alipay call. Condition: no item, or a claimable state (RETRYING, FAILED) with no
  live lease and no pending call. It takes the lease, sets the first call pending and counts it
  (``attempts``), and removes ``event_id``. Refused, DynamoDB returns the item with the failure
  (``ReturnValuesOnConditionCheckFailure``), so a duplicate of a settled trade costs this one call.
- ``claim`` with ``resuming``: the same, over a dead holder's pending call (matched exactly), which it
  records in the history as ``unknown``.
- ``step``: before a further call under the lease: the history so far, the next pending call, counted.
- ``repoint``: the claim's pending call replaced, before it is sent, by the one the item called for
  (a refund of ours to confirm first), not counted again.
- ``write``: under the lease (condition: still its holder) it sets the state, Alipay's facts and the
  history, and removes the lease and the pending call; a final state also gets ``event_id`` and
  ``finished_at``. Without a lease (a note) it never touches a settled item, a live lease or the calls.

Every write names its attributes through placeholders (``status``, ``action`` are reserved words).
DynamoDB errors propagate: the caller must not acknowledge the message.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from alipay_cancel.shared.ledger_item import (
    ALIPAY_FIELDS,
    OUTCOME_FIELDS,
    HistoryEntry,
    LedgerItem,
    LedgerWrite,
    Pending,
    Status,
    event_id,
)
from alipay_cancel.shared.trade import CancelRequest

_HISTORY_KEYS = HistoryEntry._fields
_CLAIMABLE = "(#status = :retrying OR #status = :failed)"
_NO_LIVE_LEASE = "(attribute_not_exists(#lease_until) OR #lease_until < :now_ms)"


class Lease(NamedTuple):
    holder: str  # "<request id>:<message id>"
    until_ms: int  # epoch ms: the holder's invocation deadline


class Claimed(NamedTuple):
    """The lease is this delivery's; ``prior``: the item as it was before (None: a new trade)."""

    prior: LedgerItem | None


class Refused(NamedTuple):
    """The claim's condition failed; ``item``: the trade's item as it is."""

    item: LedgerItem


class NotLeaseHolder(Exception):
    """A write under the lease found another holder (or none): it was not made."""


def iso_utc(epoch_seconds: float) -> str:
    return (
        dt.datetime.fromtimestamp(epoch_seconds, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class Ledger:
    def __init__(
        self, client: Any, table_name: str, default_app_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._client, self._table = client, table_name
        self._default_app_id = default_app_id  # the app a trade naming none is signed by
        self._clock = clock

    def claim(
        self,
        request: CancelRequest,
        lease: Lease,
        call: Pending,
        message_id: str,
        *,
        resuming: Pending | None = None,
        history: tuple[HistoryEntry, ...] = (),
        history_dropped: int = 0,
    ) -> Claimed | Refused:
        """``resuming``: the dead holder's pending call this claim replaces (then ``history`` is the
        item's history with it recorded, ``history_dropped`` what that dropped)."""
        u = _Update(self._clock())
        u.set("status", Status.RETRYING.value)
        u.set("lease_holder", lease.holder)
        u.set_number("lease_until", lease.until_ms)
        u.set_map("pending", _pending(call))
        u.set("message_id", message_id)
        u.set("app_id", request.app_id or self._default_app_id)
        if request.merchant_id:
            u.set("merchant_id", request.merchant_id)
        for name in ("out_trade_no", "trade_no"):
            value = getattr(request, name)
            if value:
                u.set_if_absent(name, value)
        u.add("attempts", 1)
        u.remove("event_id", "finished_at", "settled_by")
        u.value(":retrying", Status.RETRYING.value)
        u.value(":failed", Status.FAILED.value)
        u.value_number(":now_ms", int(u.now * 1000))
        u.name("lease_until")
        if resuming is None:
            u.name("trade_key")
            condition = (
                f"attribute_not_exists(#trade_key) OR ({_CLAIMABLE} AND {_NO_LIVE_LEASE} "
                "AND attribute_not_exists(#pending))"
            )
        else:
            u.set_list("history", [_entry(e) for e in history])
            if history_dropped:
                u.add("history_dropped", history_dropped)
            u.name("at")
            u.name("delivery")
            u.value(":seen_at", resuming.at)
            u.value(":seen_delivery", resuming.delivery)
            condition = (
                f"{_CLAIMABLE} AND {_NO_LIVE_LEASE} AND #pending.#at = :seen_at "
                "AND #pending.#delivery = :seen_delivery"
            )
        try:
            response = self._client.update_item(
                **u.request(self._table, request.trade_key, condition),
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            return Refused(read_item(error.response.get("Item") or {}))
        old = response.get("Attributes")
        return Claimed(read_item(old) if old else None)

    def step(
        self,
        trade_key: str,
        lease: Lease,
        history: tuple[HistoryEntry, ...],
        history_dropped: int,
        previous: Pending,
        call: Pending,
    ) -> None:
        """Before a further call under the lease: the answers so far in the history, the next call
        pending (in place of ``previous``) and counted. ``NotLeaseHolder`` when the lease is no longer this
        delivery's."""
        u = _Update(self._clock())
        u.set_list("history", [_entry(e) for e in history])
        if history_dropped:
            u.add("history_dropped", history_dropped)
        u.add("attempts", 1)
        self._pending_in_place(trade_key, lease, u, previous, call, ":previous_at")

    def repoint(self, trade_key: str, lease: Lease, claimed: Pending, call: Pending) -> None:
        """Before the first call is sent: ``call`` pending in place of the ``claimed`` one the claim set
        (counted once, by the claim). ``NotLeaseHolder`` when the lease is no longer this delivery's."""
        self._pending_in_place(trade_key, lease, _Update(self._clock()), claimed, call, ":claimed_at")

    def _pending_in_place(
        self, trade_key: str, lease: Lease, u: _Update, previous: Pending, call: Pending, placeholder: str
    ) -> None:
        """``u`` and ``call`` pending in place of ``previous``, under the lease; done once even if the SDK
        retries it (``placeholder``: the condition's name for the previous call's time)."""
        u.set_map("pending", _pending(call))
        u.value(":holder", lease.holder)
        u.value(placeholder, previous.at)
        u.name("lease_holder")
        u.name("at")
        condition = f"#lease_holder = :holder AND #pending.#at = {placeholder}"
        try:
            self._client.update_item(
                **u.request(self._table, trade_key, condition), ReturnValuesOnConditionCheckFailure="ALL_OLD"
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            item = read_item(error.response.get("Item") or {})
            if item.lease_holder == lease.holder and item.pending == call:
                return  # this very write, retried by the SDK after it went through
            raise NotLeaseHolder(trade_key) from None

    def write(self, w: LedgerWrite) -> bool:
        """Under the lease: True, or ``NotLeaseHolder``. A note: False when the item is settled or leased
        (left as it is)."""
        record = w.record
        u = _Update(self._clock())
        u.set("status", record.status.value)
        u.set("outcome_class", record.outcome_class.value)
        u.set("message_id", w.message_id)
        if w.lease_holder is None:
            for name in ("out_trade_no", "trade_no"):  # Alipay's, if a call learnt them, stay
                value = getattr(record, name)
                if value is not None:
                    u.set_if_absent(name, value)
            u.set("app_id", w.app_id or self._default_app_id)
            if w.merchant_id:
                u.set("merchant_id", w.merchant_id)
            u.add("attempts", 0)  # present on every item, 0 when Alipay was never called
        else:
            for name in (*ALIPAY_FIELDS, "alipay_trace_id", "if_paid"):  # accumulate: a later answer
                value = getattr(record, name)  # without one keeps the value learnt earlier
                if value is not None:
                    u.set(name, value)
            if record.money_moved is not None:
                u.set_bool("money_moved", record.money_moved)
            u.set_list("history", [_entry(e) for e in w.history])
            if w.history_dropped:
                u.add("history_dropped", w.history_dropped)
            u.remove("lease_holder", "lease_until", "pending")
        for name in OUTCOME_FIELDS:
            value = getattr(record, name)
            if value is not None:
                u.set(name, value)
            else:
                u.remove(name)
        if record.final:
            u.set("finished_at", u.iso)
            u.set("event_id", event_id(w.trade_key, record.status.value))
            if w.lease_holder is not None:
                u.set("settled_by", w.message_id)
        else:
            u.remove("finished_at", "event_id", "settled_by")
        if w.lease_holder is None:
            u.name("trade_key")
            u.name("lease_until")
            u.value(":retrying", Status.RETRYING.value)
            u.value(":failed", Status.FAILED.value)
            u.value_number(":now_ms", int(u.now * 1000))
            condition = f"attribute_not_exists(#trade_key) OR ({_CLAIMABLE} AND {_NO_LIVE_LEASE})"
        else:
            u.name("lease_holder")
            u.value(":holder", w.lease_holder)
            condition = "#lease_holder = :holder"
        try:
            self._client.update_item(
                **u.request(self._table, w.trade_key, condition),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            if w.lease_holder is None:
                return False
            item = read_item(error.response.get("Item") or {})
            if item.lease_holder is None and item.message_id == w.message_id and item.status == record.status:
                return True  # this very write, retried by the SDK after it went through
            raise NotLeaseHolder(w.trade_key) from None
        return True


class _Update:
    """One UpdateItem's expression, names and values."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.iso = iso_utc(now)
        self._names: dict[str, str] = {}
        self._values: dict[str, dict[str, Any]] = {":now": {"S": self.iso}}
        self._sets = ["#updated_at = :now", "#created_at = if_not_exists(#created_at, :now)"]
        self._adds: list[str] = []
        self._removes: list[str] = []
        self.name("updated_at")
        self.name("created_at")

    def name(self, attribute: str) -> None:
        self._names[f"#{attribute}"] = attribute

    def value(self, placeholder: str, text: str) -> None:
        self._values[placeholder] = {"S": text}

    def value_number(self, placeholder: str, number: int) -> None:
        self._values[placeholder] = {"N": str(number)}

    def _put(self, attribute: str, value: dict[str, Any], expression: str = "") -> None:
        self.name(attribute)
        self._values[f":{attribute}"] = value
        self._sets.append(expression or f"#{attribute} = :{attribute}")

    def set(self, attribute: str, text: str) -> None:
        self._put(attribute, {"S": text})

    def set_if_absent(self, attribute: str, text: str) -> None:
        self._put(attribute, {"S": text}, f"#{attribute} = if_not_exists(#{attribute}, :{attribute})")

    def set_bool(self, attribute: str, flag: bool) -> None:
        self._put(attribute, {"BOOL": flag})

    def set_number(self, attribute: str, number: int) -> None:
        self._put(attribute, {"N": str(number)})

    def set_map(self, attribute: str, value: Mapping[str, str]) -> None:
        self._put(attribute, {"M": {k: {"S": v} for k, v in value.items()}})

    def set_list(self, attribute: str, maps: list[Mapping[str, str]]) -> None:
        self._put(attribute, {"L": [{"M": {k: {"S": v} for k, v in m.items()}} for m in maps]})

    def add(self, attribute: str, number: int) -> None:
        self.name(attribute)
        self._values[f":add_{attribute}"] = {"N": str(number)}
        self._adds.append(f"#{attribute} :add_{attribute}")

    def remove(self, *attributes: str) -> None:
        for attribute in attributes:
            self.name(attribute)
            self._removes.append(f"#{attribute}")

    def request(self, table: str, trade_key: str, condition: str) -> dict[str, Any]:
        expression = "SET " + ", ".join(self._sets)
        if self._adds:
            expression += " ADD " + ", ".join(self._adds)
        if self._removes:
            expression += " REMOVE " + ", ".join(self._removes)
        return {
            "TableName": table,
            "Key": {"trade_key": {"S": trade_key}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": self._names,
            "ExpressionAttributeValues": self._values,
        }


def _condition_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _pending(call: Pending) -> dict[str, str]:
    return {k: v for k, v in call._asdict().items() if v is not None}


def _entry(entry: HistoryEntry) -> dict[str, str]:
    return {k: v for k, v in entry._asdict().items() if v is not None}


def read_item(raw: Mapping[str, Any]) -> LedgerItem:
    """A ledger item from DynamoDB's attribute values (what decisions read of it)."""

    def text(name: str, source: Mapping[str, Any] = raw) -> str | None:
        value = source.get(name)
        return value.get("S") if isinstance(value, dict) else None

    def number(name: str) -> int | None:
        value = raw.get(name)
        try:
            return int(value["N"]) if isinstance(value, dict) else None
        except (KeyError, ValueError):
            return None

    pending_map = (raw.get("pending") or {}).get("M")
    pending = None
    if isinstance(pending_map, dict):
        pending = Pending(
            op=text("op", pending_map) or "",
            at=text("at", pending_map) or "",
            delivery=text("delivery", pending_map) or "",
            out_request_no=text("out_request_no", pending_map),
            refund_amount=text("refund_amount", pending_map),
        )
    history = []
    for element in (raw.get("history") or {}).get("L") or ():
        fields = element.get("M") if isinstance(element, dict) else None
        if isinstance(fields, dict):
            values = {k: text(k, fields) for k in _HISTORY_KEYS}
            history.append(
                HistoryEntry(
                    op=values["op"] or "",
                    at=values["at"] or "",
                    delivery=values["delivery"] or "",
                    result=values["result"] or "",
                    code=values["code"],
                    sub_code=values["sub_code"],
                    trace_id=values["trace_id"],
                )
            )
    return LedgerItem(
        status=text("status"),
        lease_holder=text("lease_holder"),
        lease_until=number("lease_until"),
        pending=pending,
        attempts=number("attempts") or 0,
        history=tuple(history),
        history_dropped=number("history_dropped") or 0,
        message_id=text("message_id"),
        out_request_no=text("out_request_no"),
        refund_request_amount=text("refund_request_amount"),
    )
