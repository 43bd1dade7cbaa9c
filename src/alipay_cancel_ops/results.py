"""Read one trade's record from the results table and render it for a person (README "Results")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

# The contract's fields, in the order an on-call engineer reads them; anything else follows.
FIELD_ORDER = (
    "trade_key",
    "status",
    "outcome_class",
    "out_trade_no",
    "trade_no",
    "action",
    "retry_flag",
    "gmt_refund_pay",
    "refund_settlement_id",
    "error_code",
    "error_sub_code",
    "error_message",
    "remedy",
    "attempts",
    "message_id",
    "alipay_trace_id",
    "created_at",
    "updated_at",
    "finished_at",
)

_deserializer = TypeDeserializer()


def get_result(dynamodb: Any, table: str, trade_key: str) -> dict[str, Any] | None:
    """The item as plain Python values (numbers as int/float), or None when there is none."""
    response = dynamodb.get_item(TableName=table, Key={"trade_key": {"S": trade_key}}, ConsistentRead=True)
    item = response.get("Item")
    if not item:
        return None
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def render_result(item: dict[str, Any]) -> str:
    names = [n for n in FIELD_ORDER if n in item] + sorted(n for n in item if n not in FIELD_ORDER)
    width = max(len(n) for n in names)
    return "\n".join(f"{name.ljust(width)}  {_text(item[name])}" for name in names)


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
