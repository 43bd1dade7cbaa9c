"""The reasons a bad message's dead letter gives, word for word, and the field checks' contract: a
value that has a problem is never handed on (a token with a problem must not travel anywhere)."""

from __future__ import annotations

import json

import pytest

from alipay_cancel.pipeline.message_fields import JsonObject, check_scope, check_token, json_type
from alipay_cancel.pipeline.messages import BadMessage, parse_message


def reason(body: str) -> str:
    with pytest.raises(BadMessage) as info:
        parse_message(body)
    return str(info.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '{"out_trade_no": 123}',
            "out_trade_no must be a string, got a number (ids must be JSON strings: numbers lose leading "
            "zeros and precision)",
        ),
        (
            '{"out_trade_no": ""}',
            "out_trade_no is empty; expected 1 to 64 characters, or leave the field out",
        ),
        (
            '{"out_trade_no": "x", "merchant_id": "m", "app_auth_token": ""}',
            "app_auth_token is empty; leave the field out for calls that are not on behalf of a merchant",
        ),
        ('{"out_trade_no": "x", "app_id": 5}', "app_id must be a string, got a number"),
        ('{"out_trade_no": "x", "app_id": [1]}', "app_id must be a string, got an array"),
        (
            '{"out_trade_no": "a\\u0410"}',
            "out_trade_no contains U+0410 (cyrillic capital letter a) at character 2; ids are "
            "printable ASCII (letters, digits, punctuation): no whitespace, control, non-ASCII or "
            "look-alike characters",
        ),
    ],
)
def test_a_bad_field_is_explained_word_for_word(body: str, expected: str) -> None:
    assert reason(body) == expected


@pytest.mark.parametrize("token", ["", "a b", "x" * 257, "tok\u00e9n"])
def test_a_token_with_a_problem_is_never_handed_on(token: str) -> None:
    problem, value = check_token(JsonObject(app_auth_token=token))
    assert problem is not None and problem.startswith("app_auth_token ")
    assert value is None
    assert not token or token not in problem.removeprefix("app_auth_token")


def test_a_scope_value_with_a_problem_is_never_handed_on() -> None:
    problems, app_id, merchant_id = check_scope(
        JsonObject(app_id="bad app", merchant_id="m\u00e9"), token_given=True
    )
    assert (app_id, merchant_id) == (None, None)
    assert [p.split(" ")[0] for p in problems] == ["app_id", "merchant_id"]
    problems, app_id, merchant_id = check_scope(
        JsonObject(app_id="app-1", merchant_id="m-1"), token_given=True
    )
    assert (problems, app_id, merchant_id) == ([], "app-1", "m-1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "null"), (True, "a boolean"), (1, "a number"), (1.5, "a number"), ("s", "a string"),
     ([], "an array"), ({}, "an object"), ((), "tuple"), (b"x", "bytes")],
)  # fmt: skip
def test_json_type_names_json_types_and_anything_else_by_its_python_type(
    value: object, expected: str
) -> None:
    assert json_type(value) == expected


@pytest.mark.parametrize(
    ("char", "described"),
    [
        ("\u0378", "U+0378 (unassigned code point)"),
        ("\ue000", "U+E000 (private-use character)"),
        ("\x07", "U+0007 (control character)"),
        ("\u200b", "U+200B (zero width space)"),
    ],
)
def test_a_character_without_a_name_is_described_by_its_category(char: str, described: str) -> None:
    body = json.dumps({"out_trade_no": "a" + char})
    assert reason(body).startswith(f"out_trade_no contains {described} at character 2;")
