"""Read one trade's ledger item (strongly consistent) and render it for a person: its state, Alipay's
facts, the calls made (attempts, the lease and the call pending under it, the history), the last error
(docs/ledger.md)."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

# The contract's fields, in the order an on-call engineer reads them; anything else follows, then the
# lease, the pending call and the history (rendered on their own lines).
FIELD_ORDER = (
    "trade_key",
    "status",
    "outcome_class",
    "app_id",
    "merchant_id",
    "if_paid",
    "out_trade_no",
    "trade_no",
    "trade_status",
    "total_amount",
    "action",
    "retry_flag",
    "money_moved",
    "refund_amount",
    "refund_fee",
    "out_request_no",
    "refund_request_amount",
    "gmt_refund_pay",
    "refund_settlement_id",
    "error_code",
    "error_sub_code",
    "error_message",
    "remedy",
    "attempts",
    "message_id",
    "settled_by",
    "settled_reason",
    "alipay_trace_id",
    "created_at",
    "updated_at",
    "finished_at",
    "event_id",
)
_CALLS = ("lease_holder", "lease_until", "pending", "history", "history_dropped")

_deserializer = TypeDeserializer()


def get_result(dynamodb: Any, table: str, trade_key: str) -> dict[str, Any] | None:
    """The item as plain Python values (numbers as int/float), or None when there is none."""
    response = dynamodb.get_item(TableName=table, Key={"trade_key": {"S": trade_key}}, ConsistentRead=True)
    item = response.get("Item")
    if not item:
        return None
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def render_result(item: dict[str, Any], now: float | None = None) -> str:
    names = [n for n in FIELD_ORDER if n in item]
    names += sorted(n for n in item if n not in FIELD_ORDER and n not in _CALLS)
    width = max(len(n) for n in (*names, "history"))
    lines = [f"{name.ljust(width)}  {_text(item[name])}" for name in names]
    lines += _calls(item, width, time.time() if now is None else now)
    return "\n".join(lines)


def _calls(item: dict[str, Any], width: int, now: float) -> list[str]:
    """The lease, the call pending under it, and the history, one line each."""
    lines = []
    holder, until = item.get("lease_holder"), item.get("lease_until")
    if holder is not None:
        expired = isinstance(until, int) and until < now * 1000
        state = "expired: its holder is gone" if expired else "live"
        lines.append(f"{'lease'.ljust(width)}  held by {_text(holder)} until {_when(until)} ({state})")
    pending = item.get("pending")
    if isinstance(pending, dict):
        meaning = "sent or about to be; its answer is not recorded yet"
        if holder is None or (isinstance(until, int) and until < now * 1000):
            meaning = "sent, answer unknown: the next delivery records it so and resumes"
        refund = ""
        if pending.get("out_request_no"):
            request, amount = _text(pending.get("out_request_no")), _text(pending.get("refund_amount"))
            refund = f" (refund {request} of {amount})"
        lines.append(
            f"{'pending'.ljust(width)}  {_text(pending.get('op'))}{refund} at {_text(pending.get('at'))} by "
            f"delivery {_text(pending.get('delivery'))} ({meaning})"
        )
    history = item.get("history")
    if isinstance(history, list):
        dropped = item.get("history_dropped") or 0
        earlier = f", {dropped} earlier ones dropped" if dropped else ""
        lines.append(f"{'history'.ljust(width)}  {len(history)} calls{earlier}")
        for number, entry in enumerate(history, start=1 + int(dropped)):
            if not isinstance(entry, dict):
                continue
            codes = "/".join(_text(entry[k]) for k in ("code", "sub_code") if entry.get(k))
            trace = f"  trace {_text(entry['trace_id'])}" if entry.get("trace_id") else ""
            lines.append(
                f"  {number:>3}. {_text(entry.get('at'))}  {_text(entry.get('op'))}  "
                f"{_text(entry.get('result')):<7}  delivery {_text(entry.get('delivery'))}"
                + (f"  {codes}" if codes else "")
                + trace
            )
    return lines


def _when(epoch_ms: Any) -> str:
    if not isinstance(epoch_ms, int):
        return _text(epoch_ms)
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def _text(value: Any) -> str:
    text = str(value)
    # one line per field, and no terminal escape sequences from stored text
    return "".join(c if c.isprintable() else " " for c in text)
