"""Parse one SQS message body into a cancel request (README "Contracts: Input").

Accepted: a JSON object with ``out_trade_no`` and/or ``trade_no``, an optional ``app_id`` (which of
our Alipay apps; absent or the default app's id: the default app) and an optional ``app_auth_token``
with the ``merchant_id`` it belongs to (both or neither); unknown fields are ignored (producers
evolve). The object may arrive wrapped in one SNS notification envelope
(``{"Type": "Notification", "Message": "<the JSON object>"}``, SNS to SQS with raw delivery off);
exactly one level is unwrapped. The SNS signature is not checked: who may send to the queue is
decided by the queue policy.

Everything else raises ``BadMessage``, and nothing else is ever raised. Reasons say which field is
wrong, what is wrong and what was expected; they never quote the ``app_auth_token`` and never quote
raw field values (they may hold control characters), only lengths, positions and code points.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from alipay_cancel.pipeline.trade_identity import TradeIdentity, app_id_problem, merchant_id_problem

# A real cancel message is well under 1 KiB; 256 KiB (the classic SQS limit) leaves room for an SNS
# envelope and extra producer fields while bounding the work a hostile body can cause.
MAX_BODY_CHARS = 256 * 1024
MAX_ID_CHARS = 64  # Alipay: out_trade_no / trade_no are string[1,64]
MAX_TOKEN_CHARS = 256  # real app_auth_tokens are ~40 ASCII characters; a bound keeps records small

_ID_FIELDS = ("out_trade_no", "trade_no")
_SNS_FIELDS = ("Type", "Message")
# Ids are printable ASCII without space ("!" to "~"): Alipay's out_trade_no is letters, digits and
# underscore, its trade_no digits. Anything else (Cyrillic U+0410, fullwidth U+FF11, a combining accent)
# looks like a real id to a person but names no trade at Alipay, which then answers "no such trade"
# while the real one stays paid: such a message is refused with the character it contains.
_FIRST_ID_CHAR, _LAST_ID_CHAR = "!", "~"


@dataclass(frozen=True)
class CancelRequest:
    out_trade_no: str | None
    trade_no: str | None
    app_auth_token: str | None = field(default=None, repr=False)  # secret-ish: never printed
    app_id: str | None = None  # None: the default app (a message naming the default app included)
    merchant_id: str | None = None  # set exactly when app_auth_token is: whose token it is

    @property
    def identity(self) -> TradeIdentity:
        trade_id = self.out_trade_no or self.trade_no
        assert trade_id is not None
        return TradeIdentity(trade_id=trade_id, app_id=self.app_id, merchant_id=self.merchant_id)

    @property
    def trade_key(self) -> str:
        """Partition key of the results table and idempotency key (see ``trade_identity``): the plain
        out_trade_no (else trade_no) for the default app's own trades, scoped by app and merchant
        otherwise."""
        return self.identity.trade_key


class BadMessage(ValueError):
    """The body can never become a cancel: dead-letter it on first receipt.

    ``reason`` is readable by a person; ``trade_key`` is set when a usable id could still be read
    (so the bad message can be recorded too).
    """

    def __init__(self, reason: str, trade_key: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.trade_key = trade_key


class _JsonObject(dict[str, Any]):
    """A decoded JSON object that remembers which keys appeared more than once."""

    duplicates: frozenset[str] = frozenset()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    seen_twice: set[str] = set()
    for key, value in pairs:
        if key in obj:
            seen_twice.add(key)
        obj[key] = value
    obj.duplicates = frozenset(seen_twice)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON (not a valid JSON number)")


_decoder = json.JSONDecoder(object_pairs_hook=_object_pairs, parse_constant=_reject_constant)


def parse_message(body: str | bytes, *, default_app_id: str | None = None) -> CancelRequest:
    """Parse a body; raise ``BadMessage`` for anything the input contract (README) calls a bad message.

    ``default_app_id``: the default app's id; a message naming it is read as naming no app (the same
    trade). ``bytes`` are accepted too and must be UTF-8. Rules beyond the contract: the body is at most
    ``MAX_BODY_CHARS``; NaN/Infinity and keys we read that appear twice are rejected (which value
    did the producer mean?); ``null`` counts as absent; ``app_auth_token`` must be 1..256 visible
    ASCII characters (it travels in an HTTP header).
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
                f"got {_json_type(inner_text)}"
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


def _load_object(text: str, what: str) -> _JsonObject:
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
    if not isinstance(value, _JsonObject):
        raise BadMessage(
            f"{what} must be a JSON object with out_trade_no and/or trade_no, got {_json_type(value)}"
        )
    return value


def _is_sns_envelope(obj: _JsonObject) -> bool:
    return obj.get("Type") == "Notification" and "Message" in obj


def _check_duplicates(obj: _JsonObject, names: tuple[str, ...], where: str) -> None:
    dup = [n for n in names if n in obj.duplicates]
    if dup:
        raise BadMessage(
            f"{where} has {', '.join(dup)} more than once; each field may appear only once "
            "(which value was meant is ambiguous)"
        )


def _request_from(obj: _JsonObject, default_app_id: str | None, where: str) -> CancelRequest:
    problems: list[str] = []
    ids: dict[str, str | None] = {}
    for name in _ID_FIELDS:
        problem, value = _check_id(obj, name)
        ids[name] = value
        if problem:
            problems.append(problem)
    token_problem, token = _check_token(obj)
    if token_problem:
        problems.append(token_problem)
    scope_problems, app_id, merchant_id = _check_scope(obj, token_given=obj.get("app_auth_token") is not None)
    problems += scope_problems
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
    )


def _check_scope(obj: _JsonObject, *, token_given: bool) -> tuple[list[str], str | None, str | None]:
    """(problems, app_id, merchant_id): which app and merchant the trade belongs to."""
    problems: list[str] = []
    values: dict[str, str | None] = {}
    for name, check in (("app_id", app_id_problem), ("merchant_id", merchant_id_problem)):
        value = obj.get(name)
        values[name] = None
        if name in obj.duplicates:
            problems.append(f"{name} appears more than once; give it once")
        elif value is None:
            pass
        elif not isinstance(value, str):
            problems.append(f"{name} must be a string, got {_json_type(value)}")
        elif (problem := check(value)) is not None:
            problems.append(f"{name} {problem}")
        else:
            values[name] = value
    merchant_given = obj.get("merchant_id") is not None
    if token_given and not merchant_given:
        problems.append(
            "app_auth_token is given without merchant_id; an ISV call must say which merchant the "
            "token belongs to (out_trade_no is unique per merchant only)"
        )
    elif merchant_given and not token_given:
        problems.append(
            "merchant_id is given without app_auth_token; give both for a call on behalf of a merchant, "
            "or neither for the app's own trades"
        )
    return problems, values["app_id"], values["merchant_id"]


def _check_id(obj: _JsonObject, name: str) -> tuple[str | None, str | None]:
    """(problem, usable value)."""
    if name in obj.duplicates:
        return f"{name} appears more than once; give it once", None
    value = obj.get(name)
    if value is None:
        return None, None
    if not isinstance(value, str):
        hint = " (ids must be JSON strings: numbers lose leading zeros and precision)"
        return f"{name} must be a string, got {_json_type(value)}{hint}", None
    if value == "":
        return f"{name} is empty; expected 1 to {MAX_ID_CHARS} characters, or leave the field out", None
    if len(value) > MAX_ID_CHARS:
        return f"{name} is {len(value)} characters long; at most {MAX_ID_CHARS} are allowed", None
    for position, char in enumerate(value, start=1):
        if not _FIRST_ID_CHAR <= char <= _LAST_ID_CHAR:
            return (
                f"{name} contains {_describe_char(char)} at character {position}; ids are printable "
                "ASCII (letters, digits, punctuation): no whitespace, control, non-ASCII or look-alike "
                "characters",
                None,
            )
    return None, value


def _check_token(obj: _JsonObject) -> tuple[str | None, str | None]:
    """(problem, token). Problems describe the token without ever quoting it."""
    name = "app_auth_token"
    if name in obj.duplicates:
        return f"{name} appears more than once; give it once", None
    value = obj.get(name)
    if value is None:
        return None, None
    if not isinstance(value, str):
        return f"{name} must be a string, got {_json_type(value)}", None
    if value == "":
        return f"{name} is empty; leave the field out for calls that are not on behalf of a merchant", None
    if len(value) > MAX_TOKEN_CHARS:
        return f"{name} is {len(value)} characters long; at most {MAX_TOKEN_CHARS} are allowed", None
    for position, char in enumerate(value, start=1):
        if not ("!" <= char <= "~"):
            return (
                f"{name} has a character that is not visible ASCII at character {position} "
                "(value not shown); tokens are sent in an HTTP header",
                None,
            )
    return None, value


def _describe_char(char: str) -> str:
    code = f"U+{ord(char):04X}"
    try:
        return f"{code} ({unicodedata.name(char).lower()})"
    except ValueError:  # unnamed: controls, surrogates, unassigned
        return f"{code} ({_category_names.get(unicodedata.category(char), 'invalid character')})"


_category_names = {
    "Cc": "control character",
    "Cf": "format character",
    "Cs": "lone surrogate",
    "Co": "private-use character",
    "Cn": "unassigned code point",
}

_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "a number"),
    (float, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    for kind, label in _JSON_TYPES:
        if isinstance(value, kind):
            return label
    return type(value).__name__
