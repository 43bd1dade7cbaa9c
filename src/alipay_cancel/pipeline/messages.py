"""Parse one SQS message body into a cancel request (README "Contracts: Input").

Accepted: a JSON object with ``out_trade_no`` and/or ``trade_no``, an optional ``app_id`` (which of
our Alipay apps; absent or the default app's id: the default app) and an optional ``app_auth_token``
with the ``merchant_id`` it belongs to (both or neither), and an optional ``if_paid`` (``refund`` or
``keep``: the paid-trade policy for this trade); unknown fields are ignored (producers evolve). The
object may arrive wrapped in one SNS notification envelope
(``{"Type": "Notification", "Message": "<the JSON object>"}``, SNS to SQS with raw delivery off);
exactly one level is unwrapped. The SNS signature is not checked: who may send to the queue is
decided by the queue policy.

Everything else raises ``BadMessage``, and nothing else is ever raised. Reasons say which field is
wrong, what is wrong and what was expected; they never quote the ``app_auth_token`` and never quote
raw field values (they may hold control characters), only lengths, positions and code points.
"""

from __future__ import annotations

import json
import math
from typing import Any

from alipay_cancel.pipeline.message_fields import (
    JsonObject,
    check_id,
    check_if_paid,
    check_scope,
    check_token,
    json_type,
)
from alipay_cancel.shared.trade import CancelRequest, TradeIdentity

# A real cancel message is well under 1 KiB; 256 KiB (the classic SQS limit) leaves room for an SNS
# envelope and extra producer fields while bounding the work a hostile body can cause.
MAX_BODY_CHARS = 256 * 1024
_ID_FIELDS = ("out_trade_no", "trade_no")
_SNS_FIELDS = ("Type", "Message")


class BadMessage(ValueError):
    """The body can never become a cancel: dead-letter it on first receipt.

    ``reason`` is readable by a person; ``trade_key`` is set when a usable id could still be read
    (so the bad message can be recorded too).
    """

    def __init__(self, reason: str, trade_key: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.trade_key = trade_key


def _object_pairs(pairs: list[tuple[str, Any]]) -> JsonObject:
    obj = JsonObject()
    seen_twice: set[str] = set()
    for key, value in pairs:
        if key in obj:
            seen_twice.add(key)
        obj[key] = value
    obj.duplicates = frozenset(seen_twice)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON (not a valid JSON number)")


def _finite_float(text: str) -> float:
    # 1e999 would become infinity: refused like the Infinity constant (the text is not quoted).
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number too large to be finite, like 1e999, is not allowed")
    return value


_decoder = json.JSONDecoder(
    object_pairs_hook=_object_pairs, parse_constant=_reject_constant, parse_float=_finite_float
)


def parse_message(body: str | bytes, *, default_app_id: str | None = None) -> CancelRequest:
    """Parse a body; raise ``BadMessage`` for anything the input contract (README) calls a bad message.

    ``default_app_id``: the default app's id; a message naming it is read as naming no app (the same
    trade). ``bytes`` are accepted too and must be UTF-8. Rules beyond the contract: the body is at most
    ``MAX_BODY_CHARS``; NaN/Infinity and numbers too large to be finite (1e999), anywhere, are
    rejected, and so are keys we read that appear twice (which value did the producer mean?); ``null``
    counts as absent; ``app_auth_token`` must be 1..256 visible ASCII characters (it travels in an
    HTTP header).
    """
    try:
        return _parse(body, default_app_id)
    except BadMessage:
        raise
    except Exception as exc:  # noqa: BLE001 - contract: BadMessage is the only exception that escapes
        raise BadMessage(f"message could not be parsed ({type(exc).__name__})") from None


def _parse(body: str | bytes, default_app_id: str | None) -> CancelRequest:
    if isinstance(body, bytes | bytearray):
        if len(body) > MAX_BODY_CHARS * 4:
            raise BadMessage(_too_big(len(body), "bytes"))
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadMessage(
                f"body is not valid UTF-8 (bad byte at offset {exc.start}); expected a UTF-8 JSON object"
            ) from None
    elif isinstance(body, str):
        text = body
    else:
        raise BadMessage(f"body must be text, got {type(body).__name__}")
    if len(text) > MAX_BODY_CHARS:
        raise BadMessage(_too_big(len(text), "characters"))

    outer = _load_object(text, "body")
    if _is_sns_envelope(outer):
        _check_duplicates(outer, _SNS_FIELDS, "SNS notification")
        inner_text = outer["Message"]
        if not isinstance(inner_text, str):
            raise BadMessage(
                "SNS notification's Message must be a string holding the JSON cancel request, "
                f"got {json_type(inner_text)}"
            )
        inner = _load_object(inner_text, "SNS notification's Message")
        if _is_sns_envelope(inner):
            raise BadMessage(
                "SNS notification wraps another SNS notification; only one level is unwrapped: "
                "publish the cancel request itself as the SNS Message"
            )
        return _request_from(inner, default_app_id, where="SNS notification's Message: ")
    if outer.get("Type") in ("SubscriptionConfirmation", "UnsubscribeConfirmation") and not any(
        k in outer for k in _ID_FIELDS
    ):
        raise BadMessage(
            f"this is an SNS {outer['Type']}, not a cancel request: confirm or ignore the "
            "subscription in SNS; nothing to cancel"
        )
    return _request_from(outer, default_app_id, where="")


def _too_big(size: int, unit: str) -> str:
    return (
        f"body is {size} {unit}, larger than the {MAX_BODY_CHARS}-character limit; a cancel request "
        "is a small JSON object"
    )


def _load_object(text: str, what: str) -> JsonObject:
    try:
        value = _decoder.decode(text)
    except RecursionError:
        raise BadMessage(f"{what} is JSON nested too deeply to parse; expected a flat JSON object") from None
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: the document itself may hold the app_auth_token.
        raise BadMessage(
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            'expected a JSON object like {"out_trade_no": "...", "trade_no": "..."}'
        ) from None
    except ValueError as exc:  # NaN/Infinity, integers too long to convert
        raise BadMessage(f"{what} is not acceptable JSON ({exc}); expected plain strings") from None
    if not isinstance(value, JsonObject):
        raise BadMessage(
            f"{what} must be a JSON object with out_trade_no and/or trade_no, got {json_type(value)}"
        )
    return value


def _is_sns_envelope(obj: JsonObject) -> bool:
    return obj.get("Type") == "Notification" and "Message" in obj


def _check_duplicates(obj: JsonObject, names: tuple[str, ...], where: str) -> None:
    dup = [n for n in names if n in obj.duplicates]
    if dup:
        raise BadMessage(
            f"{where} has {', '.join(dup)} more than once; each field may appear only once "
            "(which value was meant is ambiguous)"
        )


def _request_from(obj: JsonObject, default_app_id: str | None, where: str) -> CancelRequest:
    problems: list[str] = []
    ids: dict[str, str | None] = {}
    for name in _ID_FIELDS:
        problem, value = check_id(obj, name)
        ids[name] = value
        if problem:
            problems.append(problem)
    token_problem, token = check_token(obj)
    if token_problem:
        problems.append(token_problem)
    scope_problems, app_id, merchant_id = check_scope(obj, token_given=obj.get("app_auth_token") is not None)
    problems += scope_problems
    policy_problem, if_paid = check_if_paid(obj)
    if policy_problem:
        problems.append(policy_problem)
    if app_id is not None and app_id == default_app_id:
        app_id = None  # the default app named explicitly: the same trade as one naming no app

    trade_id = ids["out_trade_no"] or ids["trade_no"]
    if not problems and trade_id is None:
        problems.append(
            "neither out_trade_no nor trade_no is given; at least one is required "
            "(a non-empty string of at most 64 characters)"
        )
    if problems:
        # A key only when the whole identity is known: a guessed scope could name another trade.
        usable_key = None
        if trade_id is not None and not scope_problems:
            usable_key = TradeIdentity(trade_id, app_id=app_id, merchant_id=merchant_id).trade_key
        raise BadMessage(where + "; ".join(problems), trade_key=usable_key)
    return CancelRequest(
        out_trade_no=ids["out_trade_no"],
        trade_no=ids["trade_no"],
        app_auth_token=token,
        app_id=app_id,
        merchant_id=merchant_id,
        if_paid=if_paid,
    )
