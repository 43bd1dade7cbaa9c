"""Is a correctly signed success an answer to *this* request, and is every field we keep sane?

A valid signature proves Alipay wrote the body, not that it answers our call: a signed success can be
replayed for another trade, or years later. So, after verification (``response_parsing``):

* **Fresh.** ``alipay-timestamp`` (epoch milliseconds, covered by the signature) is within
  ``max_age_seconds`` of our clock, either way.
* **Ours.** Every id the success names that we also sent is equal to ours, and it names at least one
  of the ids we sent. A success naming no id at all (``{}``, ``{"": {}}``, a query-style body without
  our id) is therefore never a success, even with no ``action``: Alipay documents ``out_trade_no`` as
  always returned, and "no such trade" (no ``action``) is recorded only when Alipay echoes the id we
  asked about. An id we did not send (Alipay's ``trade_no`` when we gave only ``out_trade_no``) cannot
  be compared and is kept as received, once validated. Each operation applies this rule with its own
  verb (``trade_answers``); the refund query adds its own rule for ``out_request_no``.
* **Sane fields.** Every kept field is a string of printable ASCII within a length cap (ids and
  settlement ids 64, times 32, flags 8); control, invisible and non-ASCII characters are refused.
  Amounts are checked by ``amounts``. For cancel, ``action`` is ``close``, ``refund`` or absent.

Failing "fresh" or "ours" is ``NOT_OUR_ANSWER``; failing "sane" is ``MALFORMED``: both are retried.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Protocol, TypeVar

from alipay_cancel.alipay.amounts import read_amount
from alipay_cancel.alipay.responses import FailureKind

S_co = TypeVar("S_co", covariant=True)


class TextField(NamedTuple):
    limit: int
    spaces: bool = False  # a date and a time: "2016-11-27 15:45:57"


class Problem(NamedTuple):
    """Why a signed success is not one: MALFORMED or NOT_OUR_ANSWER, and a message that quotes no value."""

    kind: FailureKind
    message: str


class AnswerMeta(NamedTuple):
    """What every success carries besides its fields."""

    trace_id: str | None  # alipay-trace-id
    http_status: int
    request_id: str | None  # our alipay-request-id


class AnswerReader(Protocol[S_co]):
    """One operation's reading of a verified, fresh success payload: sane fields, bound to the request
    that was sent, as that operation's typed success."""

    @property
    def envelope_key(self) -> str:
        """The v2-style wrapper some answers come in, e.g. ``alipay_trade_query_response``."""
        ...

    def read(self, payload: Mapping[str, Any], meta: AnswerMeta) -> S_co | Problem: ...


ID = TextField(64)
TIME = TextField(32, spaces=True)
FLAG = TextField(8)
# Alipay: ids are string(64), gmt_refund_pay "2016-11-27 15:45:57", retry_flag "Y"/"N".
CANCEL_FIELDS = {
    "action": FLAG,
    "gmt_refund_pay": TIME,
    "out_trade_no": ID,
    "refund_settlement_id": ID,
    "retry_flag": FLAG,
    "trade_no": ID,
}
SUCCESS_FIELDS = tuple(CANCEL_FIELDS)
ACTIONS = frozenset({"close", "refund"})


def text_problem(
    payload: Mapping[str, Any], fields: Mapping[str, TextField]
) -> tuple[str | None, dict[str, str | None]]:
    """(problem, values): the first invalid field described without quoting it, or None. Absent and
    empty fields are None."""
    values: dict[str, str | None] = {}
    for name, spec in fields.items():
        value = payload.get(name)
        if value is None or value == "":
            values[name] = None
            continue
        if not isinstance(value, str):
            return f"success field {name} is not a string", values
        if len(value) > spec.limit:
            return f"success field {name} is {len(value)} characters; at most {spec.limit}", values
        lowest = " " if spec.spaces else "!"
        for position, char in enumerate(value, start=1):
            if not lowest <= char <= "~":
                return (
                    f"success field {name} has U+{ord(char):04X} at character {position}; only printable "
                    "ASCII is accepted",
                    values,
                )
        values[name] = value
    return None, values


def amount_problem(
    payload: Mapping[str, Any], names: Iterable[str]
) -> tuple[str | None, dict[str, str | None]]:
    """(problem, values) for amount fields: JSON strings or numbers, two-decimal strings out."""
    values: dict[str, str | None] = {}
    for name in names:
        value = payload.get(name)
        if value is None or value == "":
            values[name] = None
            continue
        amount, problem = read_amount(value)
        if problem is not None:
            return f"success field {name} {problem}", values
        values[name] = amount
    return None, values


def field_problem(payload: Mapping[str, Any]) -> tuple[str | None, dict[str, str | None]]:
    """Cancel's fields: (problem, values)."""
    problem, values = text_problem(payload, CANCEL_FIELDS)
    if problem is not None:
        return problem, values
    action = values["action"]
    if action is not None and action not in ACTIONS:
        return "success field action is neither close nor refund", values
    return None, values


def binding_problem(
    values: Mapping[str, str | None],
    sent_trade_no: str | None,
    sent_out_trade_no: str | None,
    verb: str = "cancelled",
) -> str | None:
    """Why this success does not answer the request that sent these ids, or None."""
    contradiction = contradiction_problem(values, sent_trade_no, sent_out_trade_no, verb)
    if contradiction is not None:
        return contradiction
    sent = {"trade_no": sent_trade_no, "out_trade_no": sent_out_trade_no}
    if not any(ours is not None and values.get(name) is not None for name, ours in sent.items()):
        asked = " or ".join(name for name, ours in sent.items() if ours is not None) or "an id"
        return f"signed success does not name the {asked} we {verb}, so it cannot be this trade's answer"
    return None


def contradiction_problem(
    values: Mapping[str, str | None], sent_trade_no: str | None, sent_out_trade_no: str | None, verb: str
) -> str | None:
    """Why an id the success names differs from the one we sent, or None (naming none is no contradiction)."""
    for name, ours in (("trade_no", sent_trade_no), ("out_trade_no", sent_out_trade_no)):
        theirs = values.get(name)
        if ours is not None and theirs is not None and theirs != ours:
            return f"signed success names a different {name} than the one {verb} (another trade's answer?)"
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
