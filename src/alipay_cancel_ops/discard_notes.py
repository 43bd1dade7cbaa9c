"""What ``alipay-cancel discard`` leaves in the trade's results item: one entry in its ``discarded`` list
per dead letter it removed (when, which dead letter, its class, a summary and digest of its reason, the
operator's note), never the body or a token. Only ``discarded`` is written: the trade's state
(``status``), its ``event_id`` and everything else stay as they are, and no item is ever created (a
trade with no item gets no note: an item without a state would read as a trade in flight)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from botocore.exceptions import ClientError

from alipay_cancel_ops.cli_support import printable
from alipay_cancel_ops.masking import mask_text
from alipay_cancel_ops.queues import DeadLetterView

ATTRIBUTE = "discarded"
REASON_SUMMARY_CHARS = 200
NOTE_CHARS = 500


def discard_entry(letter: DeadLetterView, *, at: dt.datetime, note: str | None) -> dict[str, str]:
    """The entry as plain strings (the DynamoDB map is built from it)."""
    reason = letter.attributes.get("reason") or ""
    entry = {
        "at": at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "dead_letter_message_id": letter.message_id,
        "outcome_class": letter.outcome_class,
    }
    if letter.attributes.get("source_message_id"):
        entry["source_message_id"] = letter.attributes["source_message_id"]
    if reason:
        summary = printable(" ".join(reason.split()))
        entry["reason"] = (
            summary if len(summary) <= REASON_SUMMARY_CHARS else summary[: REASON_SUMMARY_CHARS - 1] + "…"
        )
        entry["reason_sha256"] = hashlib.sha256(reason.encode("utf-8")).hexdigest()
    if note:
        entry["note"] = mask_text(printable(note))[:NOTE_CHARS]
    return entry


def note_discarded(dynamodb: Any, table: str, trade_key: str, entry: dict[str, str]) -> bool:
    """Append ``entry`` to the item's ``discarded`` list; False when the trade has no item."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"trade_key": {"S": trade_key}},
            UpdateExpression="SET #discarded = list_append(if_not_exists(#discarded, :none), :entry)",
            ConditionExpression="attribute_exists(trade_key)",
            ExpressionAttributeNames={"#discarded": ATTRIBUTE},
            ExpressionAttributeValues={
                ":none": {"L": []},
                ":entry": {"L": [{"M": {name: {"S": value} for name, value in entry.items()}}]},
            },
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
