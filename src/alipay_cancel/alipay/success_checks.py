"""Is a correctly signed success an answer to *this* request, and is every field we store sane?

A valid signature proves Alipay wrote the body, not that it answers our call: a signed success can be
replayed for another trade, or years later. So, after verification (``response_parsing``):

* **Fresh.** ``alipay-timestamp`` (epoch milliseconds, covered by the signature) is within
  ``max_age_seconds`` of our clock, either way.
* **Ours.** Every id the success names that we also sent is equal to ours, and it names at least one
  of the ids we sent. A success naming no id at all (``{}``, ``{"": {}}``, a query-style body without
  our id) is therefore never a success, even with no ``action``: Alipay documents ``out_trade_no`` as
  always returned, and "no such trade" (no ``action``) is recorded only when Alipay echoes the id we
  asked about. An id we did not send (Alipay's ``trade_no`` when we gave only ``out_trade_no``) cannot
  be compared and is stored as received, once validated.
* **Sane fields.** ``action`` is ``close``, ``refund`` or absent; every stored field is a string of
  printable ASCII within a length cap (ids and settlement ids 64, times 32, ``retry_flag`` 8); control,
  invisible and non-ASCII characters are refused.

Failing "fresh" or "ours" is ``NOT_OUR_ANSWER``; failing "sane" is ``MALFORMED``: both are retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUCCESS_FIELDS = (
    "action",
    "gmt_refund_pay",
    "out_trade_no",
    "refund_settlement_id",
    "retry_flag",
    "trade_no",
)
ACTIONS = frozenset({"close", "refund"})
# Alipay: ids are string(64), gmt_refund_pay "2016-11-27 15:45:57", retry_flag "Y"/"N".
FIELD_LIMITS = {
    "action": 8,
    "gmt_refund_pay": 32,
    "out_trade_no": 64,
    "refund_settlement_id": 64,
    "retry_flag": 8,
    "trade_no": 64,
}
_SPACE_ALLOWED = frozenset({"gmt_refund_pay"})  # a date and a time


def field_problem(payload: Mapping[str, Any]) -> tuple[str | None, dict[str, str | None]]:
    """(problem, values): the first invalid stored field described without quoting it, or None."""
    values: dict[str, str | None] = {}
    for name in SUCCESS_FIELDS:
        value = payload.get(name)
        if value is None or value == "":
            values[name] = None
            continue
        if not isinstance(value, str):
            return f"success field {name} is not a string", values
        if len(value) > FIELD_LIMITS[name]:
            return f"success field {name} is {len(value)} characters; at most {FIELD_LIMITS[name]}", values
        lowest = " " if name in _SPACE_ALLOWED else "!"
        for position, char in enumerate(value, start=1):
            if not lowest <= char <= "~":
                return (
                    f"success field {name} has U+{ord(char):04X} at character {position}; only printable "
                    "ASCII is accepted",
                    values,
                )
        values[name] = value
    action = values["action"]
    if action is not None and action not in ACTIONS:
        return "success field action is neither close nor refund", values
    return None, values


def binding_problem(
    values: Mapping[str, str | None], sent_trade_no: str | None, sent_out_trade_no: str | None
) -> str | None:
    """Why this success does not answer the request that sent these ids, or None."""
    sent = {"trade_no": sent_trade_no, "out_trade_no": sent_out_trade_no}
    matched = False
    for name, ours in sent.items():
        theirs = values.get(name)
        if ours is None or theirs is None:
            continue
        if theirs != ours:
            return f"signed success names a different {name} than the one cancelled (another trade's answer?)"
        matched = True
    if not matched:
        asked = " or ".join(name for name, ours in sent.items() if ours is not None) or "an id"
        return f"signed success does not name the {asked} we cancelled, so it cannot be this trade's answer"
    return None


def freshness_problem(timestamp: str | None, now_ms: int, max_age_seconds: float) -> str | None:
    """Why ``alipay-timestamp`` is not within ``max_age_seconds`` of now, or None."""
    text = (timestamp or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 15):
        return "signed answer's alipay-timestamp is not epoch milliseconds"
    age_seconds = (now_ms - int(text)) / 1000
    if abs(age_seconds) > max_age_seconds:
        direction = "old" if age_seconds > 0 else "in the future"
        return (
            f"signed answer's alipay-timestamp is {abs(age_seconds):.0f} s {direction}, outside the "
            f"{max_age_seconds:.0f} s freshness window (replayed, or a clock is wrong)"
        )
    return None
