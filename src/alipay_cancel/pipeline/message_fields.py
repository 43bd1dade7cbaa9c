"""The fields of a cancel message, one by one: trade ids, the app_auth_token, app and merchant scope,
the paid-trade policy.

Each check returns ``(problem, usable value)``. Problems say which field is wrong, what is wrong
and what was expected; they never quote a value (it may hold control characters, or be the token),
only lengths, positions and code points.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from alipay_cancel.shared.trade import PaidTradePolicy, app_id_problem, merchant_id_problem

MAX_ID_CHARS = 64  # Alipay: out_trade_no / trade_no are string[1,64]
MAX_TOKEN_CHARS = 256  # real app_auth_tokens are ~40 ASCII characters; a bound keeps records small

# Ids and tokens are printable ASCII without space ("!" to "~"): Alipay's out_trade_no is letters,
# digits and underscore, its trade_no digits. Anything else (Cyrillic U+0410, fullwidth U+FF11, a
# combining accent) looks like a real id to a person but names no trade at Alipay, which then answers
# "no such trade" while the real one stays paid: such a message is refused with the character it
# contains. A token travels in an HTTP header, where the same range is what is safe.
_FIRST_CHAR, _LAST_CHAR = "!", "~"


class JsonObject(dict[str, Any]):
    """A decoded JSON object that remembers which keys appeared more than once."""

    duplicates: frozenset[str] = frozenset()


def check_id(obj: JsonObject, name: str) -> tuple[str | None, str | None]:
    """(problem, usable value) of out_trade_no or trade_no."""
    hint = " (ids must be JSON strings: numbers lose leading zeros and precision)"
    problem, value = _string_once(obj, name, type_hint=hint)
    if value is None:
        return problem, None
    problem = _length_problem(
        name, value, MAX_ID_CHARS, f"expected 1 to {MAX_ID_CHARS} characters, or leave the field out"
    )
    if problem is None and (bad := _first_outside_range(value)) is not None:
        position, char = bad
        problem = (
            f"{name} contains {_describe_char(char)} at character {position}; ids are printable "
            "ASCII (letters, digits, punctuation): no whitespace, control, non-ASCII or look-alike "
            "characters"
        )
    return problem, value if problem is None else None


def check_token(obj: JsonObject) -> tuple[str | None, str | None]:
    """(problem, token). Problems describe the token without ever quoting it."""
    name = "app_auth_token"
    problem, value = _string_once(obj, name)
    if value is None:
        return problem, None
    problem = _length_problem(
        name, value, MAX_TOKEN_CHARS, "leave the field out for calls that are not on behalf of a merchant"
    )
    if problem is None and (bad := _first_outside_range(value)) is not None:
        problem = (
            f"{name} has a character that is not visible ASCII at character {bad[0]} "
            "(value not shown); tokens are sent in an HTTP header"
        )
    return problem, value if problem is None else None


def check_scope(obj: JsonObject, *, token_given: bool) -> tuple[list[str], str | None, str | None]:
    """(problems, app_id, merchant_id): which app and merchant the trade belongs to."""
    problems: list[str] = []
    values: dict[str, str | None] = {}
    for name, check in (("app_id", app_id_problem), ("merchant_id", merchant_id_problem)):
        problem, value = _string_once(obj, name)
        if value is not None and problem is None and (problem := check(value)) is not None:
            problem = f"{name} {problem}"
        if problem is not None:
            problems.append(problem)
        values[name] = value if problem is None else None
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


def check_if_paid(obj: JsonObject) -> tuple[str | None, PaidTradePolicy | None]:
    """(problem, policy): ``if_paid`` overrides the deployment's PaidTradePolicy for this trade."""
    problem, value = _string_once(obj, "if_paid")
    if value is None or problem is not None:
        return problem, None
    if value not in PaidTradePolicy.__members__.values():
        return (
            "if_paid must be refund or keep (what to do if the buyer paid), or left out for the "
            "deployment's PaidTradePolicy",
            None,
        )
    return None, PaidTradePolicy(value)


def _string_once(obj: JsonObject, name: str, *, type_hint: str = "") -> tuple[str | None, str | None]:
    """(problem, value) of an optional string field: given at most once; ``null`` counts as absent."""
    if name in obj.duplicates:
        return f"{name} appears more than once; give it once", None
    value = obj.get(name)
    if value is None or isinstance(value, str):
        return None, value
    return f"{name} must be a string, got {json_type(value)}{type_hint}", None


def _length_problem(name: str, value: str, max_chars: int, if_empty: str) -> str | None:
    if value == "":
        return f"{name} is empty; {if_empty}"
    if len(value) > max_chars:
        return f"{name} is {len(value)} characters long; at most {max_chars} are allowed"
    return None


def _first_outside_range(value: str) -> tuple[int, str] | None:
    """(1-based position, character) of the first character outside "!".."~", if any."""
    for position, char in enumerate(value, start=1):
        if not _FIRST_CHAR <= char <= _LAST_CHAR:
            return position, char
    return None


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


def json_type(value: object) -> str:
    """How a JSON value's type reads in a problem ("a number", "an array", "null")."""
    if value is None:
        return "null"
    for kind, label in _JSON_TYPES:
        if isinstance(value, kind):
            return label
    return type(value).__name__
