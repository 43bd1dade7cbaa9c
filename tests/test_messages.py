"""parse_message: the input contract (README) — what becomes a cancel, what is a bad message and why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alipay_cancel.pipeline.messages import (
    MAX_BODY_CHARS,
    BadMessage,
    CancelRequest,
    parse_message,
)
from alipay_cancel.shared.trade import APP_PREFIX, MERCHANT_PREFIX, SEPARATOR, TradeIdentity, trade_key

TOKEN = "202510BB5f3c9a1e0d7b4c2a8e6f1d3b9c7a5e2f"
MERCHANT = "2088000000000001"


def parse_trade_key(key: str) -> TradeIdentity:
    """The identity a ``trade_key`` was built from: a key splits back into exactly one identity, so two
    identities never share a key (the tests below build keys and split them again)."""
    parts = key.split(SEPARATOR)
    app_id = merchant_id = None
    if len(parts) > 1 and parts[0].startswith(APP_PREFIX):
        app_id = parts.pop(0)[len(APP_PREFIX) :]
    if len(parts) > 1 and parts[0].startswith(MERCHANT_PREFIX):
        merchant_id = parts.pop(0)[len(MERCHANT_PREFIX) :]
    if len(parts) != 1 or not parts[0] or app_id == "" or merchant_id == "":
        raise ValueError("not a trade key: expected [app:<app_id> ][merchant:<merchant_id> ]<id>")
    return TradeIdentity(trade_id=parts[0], app_id=app_id, merchant_id=merchant_id)


def sns(message: str, **extra: Any) -> str:
    envelope = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:payments-timed-out",
        "Message": message,
        "Timestamp": "2024-05-01T12:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    envelope.update(extra)
    return json.dumps(envelope)


def bad(body: str | bytes) -> BadMessage:
    with pytest.raises(BadMessage) as info:
        parse_message(body)
    return info.value


# ---------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"out_trade_no": "20150320010101001"}', CancelRequest("20150320010101001", None)),
        (
            '{"trade_no": "2014112611001004680073956707"}',
            CancelRequest(None, "2014112611001004680073956707"),
        ),
        (
            '{"out_trade_no": "A-1", "trade_no": "2014112611001004680073956707"}',
            CancelRequest("A-1", "2014112611001004680073956707"),
        ),
        ('{"out_trade_no": "x", "trade_no": null}', CancelRequest("x", None)),
        ('{"out_trade_no": "O_2024-05-01#7"}', CancelRequest("O_2024-05-01#7", None)),
        ('{"out_trade_no": "' + "9" * 64 + '"}', CancelRequest("9" * 64, None)),
        # unknown fields are ignored, including odd ones and their duplicates
        (
            '{"out_trade_no": "o1", "amount": 12.5, "meta": {"a": [1, 2]}, "x": 1, "x": 2}',
            CancelRequest("o1", None),
        ),
        ('  \n{"out_trade_no": "o1"}\n  ', CancelRequest("o1", None)),
    ],
)
def test_accepts_valid_requests(body: str, expected: CancelRequest) -> None:
    assert parse_message(body) == expected


def test_app_auth_token_is_kept_and_never_printed() -> None:
    request = parse_message(json.dumps({"trade_no": "t1", "app_auth_token": TOKEN, "merchant_id": MERCHANT}))
    assert request.app_auth_token == TOKEN
    assert TOKEN not in repr(request)
    assert request.merchant_id == MERCHANT
    assert request.trade_key == f"merchant:{MERCHANT} t1"


def test_trade_key_prefers_out_trade_no() -> None:
    assert parse_message('{"out_trade_no": "o", "trade_no": "t"}').trade_key == "o"
    assert parse_message('{"trade_no": "t"}').trade_key == "t"


def test_bytes_body_must_be_utf8() -> None:
    assert parse_message('{"out_trade_no": "o1", "note": "单号"}'.encode()) == CancelRequest("o1", None)
    refused = bad('{"trade_no": "单号1"}'.encode())
    assert "U+5355 (cjk unified ideograph-5355) at character 1" in refused.reason
    error = bad(b'{"out_trade_no": "\xff\xfe"}')
    assert "UTF-8" in error.reason


def test_sns_envelope_is_unwrapped() -> None:
    inner = json.dumps({"out_trade_no": "o1", "trade_no": "t1", "app_auth_token": TOKEN, "merchant_id": "m"})
    assert parse_message(sns(inner)) == CancelRequest("o1", "t1", TOKEN, merchant_id="m")


def test_minimal_sns_envelope_is_unwrapped() -> None:
    body = json.dumps({"Type": "Notification", "Message": '{"trade_no": "t9"}'})
    assert parse_message(body) == CancelRequest(None, "t9")


def test_only_one_sns_level_is_unwrapped() -> None:
    error = bad(sns(sns('{"out_trade_no": "o1"}')))
    assert "only one level" in error.reason


def test_bad_message_inside_sns_says_so_and_keeps_trade_key() -> None:
    error = bad(sns('{"out_trade_no": "o1", "trade_no": 42}'))
    assert error.reason.startswith("SNS notification's Message:")
    assert "trade_no must be a string, got a number" in error.reason
    assert error.trade_key == "o1"


@pytest.mark.parametrize("message", [None, 7, {"out_trade_no": "o1"}, ["x"]])
def test_sns_message_must_be_a_string(message: Any) -> None:
    body = json.dumps({"Type": "Notification", "Message": message})
    assert "Message must be a string" in bad(body).reason


def test_sns_inner_not_json() -> None:
    error = bad(sns("cancel o1 please"))
    assert "SNS notification's Message is not valid JSON" in error.reason


def test_sns_subscription_confirmation_is_explained() -> None:
    body = json.dumps(
        {
            "Type": "SubscriptionConfirmation",
            "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": "You have chosen to subscribe...",
        }
    )
    assert "SubscriptionConfirmation" in bad(body).reason


# ---------------------------------------------------------------- rejected, with readable reasons


@pytest.mark.parametrize(
    ("body", "fragment", "trade_key"),
    [
        ("", "not valid JSON", None),
        ("cancel 123", "not valid JSON", None),
        ('{"out_trade_no": "o1"', "not valid JSON", None),
        ("[]", "must be a JSON object", None),
        ('"o1"', "must be a JSON object with out_trade_no and/or trade_no, got a string", None),
        ("null", "got null", None),
        ("17", "got a number", None),
        ("{}", "neither out_trade_no nor trade_no", None),
        ('{"amount": 1}', "neither out_trade_no nor trade_no", None),
        ('{"out_trade_no": null, "trade_no": null}', "neither", None),
        ('{"out_trade_no": 20150320010101001}', "out_trade_no must be a string, got a number", None),
        ('{"out_trade_no": 1.5}', "got a number", None),
        ('{"trade_no": true}', "trade_no must be a string, got a boolean", None),
        ('{"trade_no": ["t"]}', "got an array", None),
        ('{"trade_no": {"id": "t"}}', "got an object", None),
        ('{"out_trade_no": ""}', "out_trade_no is empty", None),
        ('{"out_trade_no": "", "trade_no": "t1"}', "out_trade_no is empty", "t1"),
        ('{"out_trade_no": "' + "9" * 65 + '"}', "65 characters long; at most 64", None),
        ('{"out_trade_no": "' + "9" * 65 + '", "trade_no": "t1"}', "at most 64", "t1"),
        ('{"out_trade_no": "a b"}', "U+0020 (space) at character 2", None),
        ('{"out_trade_no": "ab\\t"}', "U+0009 (control character) at character 3", None),
        ('{"out_trade_no": "ab\\n"}', "U+000A", None),
        ('{"out_trade_no": "ab\\u0000"}', "U+0000", None),
        ('{"out_trade_no": "ab\\u007f"}', "U+007F", None),
        ('{"out_trade_no": "ab\\u0085"}', "U+0085", None),  # NEL: a C1 control that is also whitespace
        ('{"out_trade_no": "a\\u00a0b"}', "U+00A0 (no-break space)", None),
        ('{"out_trade_no": "a\\u3000b"}', "U+3000 (ideographic space)", None),
        ('{"out_trade_no": "a\\u2028b"}', "U+2028 (line separator)", None),
        ('{"out_trade_no": "a\\u200bb"}', "U+200B (zero width space)", None),
        ('{"out_trade_no": "\\ufeffab"}', "U+FEFF", None),
        ('{"out_trade_no": "a\\u202eb"}', "U+202E (right-to-left override)", None),
        ('{"out_trade_no": "a\\ud800b"}', "U+D800 (lone surrogate)", None),
        ('{"out_trade_no": "a\\ue000b"}', "U+E000 (private-use character)", None),
        # look-alikes: each names no trade at Alipay, which would answer "no such trade"
        ('{"out_trade_no": "20\\u0410B"}', "U+0410 (cyrillic capital letter a) at character 3", None),
        ('{"out_trade_no": "20\\uff11"}', "U+FF11 (fullwidth digit one) at character 3", None),
        ('{"out_trade_no": "e\\u0301"}', "U+0301 (combining acute accent) at character 2", None),
        ('{"trade_no": "2014\\u00e9"}', "U+00E9 (latin small letter e with acute) at character 5", None),
        ('{"trade_no": "\\u0661\\u0662"}', "U+0661 (arabic-indic digit one) at character 1", None),
        ('{"trade_no": "t1", "out_trade_no": "a b"}', "out_trade_no contains", "t1"),
        ('{"out_trade_no": "o1", "trade_no": "t 1"}', "trade_no contains", "o1"),
        ('{"out_trade_no": "o1", "out_trade_no": "o2"}', "out_trade_no appears more than once", None),
        ('{"trade_no": "t1", "out_trade_no": "o1", "out_trade_no": "o2"}', "more than once", "t1"),
        ('{"out_trade_no": NaN}', "NaN is not allowed", None),
        ('{"out_trade_no": "o1", "x": Infinity}', "Infinity is not allowed", None),
        ('{"out_trade_no": "o1", "x": -Infinity}', "not allowed", None),
        # numbers too large to be finite are infinity to a JSON parser: refused like Infinity
        (
            '{"out_trade_no": "o1", "x": 1e999}',
            "a number too large to be finite, like 1e999, is not allowed",
            None,
        ),
        ('{"out_trade_no": "o1", "x": -1e999}', "too large to be finite", None),
        (
            '{"out_trade_no": "o1", "x": {"y": [0.5, 1.7976931348623159E+309]}}',
            "too large to be finite",
            None,
        ),
        ('{"out_trade_no": "o1", "x": ' + "1" * 5000 + "}", "not acceptable JSON", None),
        (
            '{"out_trade_no": "o1", "merchant_id": "m", "app_auth_token": 5}',
            "must be a string",
            "merchant:m o1",
        ),
        (
            '{"out_trade_no": "o1", "merchant_id": "m", "app_auth_token": ""}',
            "token is empty",
            "merchant:m o1",
        ),
        (
            '{"out_trade_no": "o1", "merchant_id": "m", "app_auth_token": "' + "a" * 257 + '"}',
            "at most 256",
            "merchant:m o1",
        ),
        (
            '{"out_trade_no": "o1", "merchant_id": "m", "app_auth_token": "ab cd"}',
            "not visible ASCII",
            "merchant:m o1",
        ),
        (
            '{"out_trade_no": "o1", "merchant_id": "m", "app_auth_token": "tok\\u00e9n"}',
            "not visible ASCII",
            "merchant:m o1",
        ),
        (
            '{"out_trade_no": "o1", "merchant_id": "m", "app_auth_token": "a", "app_auth_token": "b"}',
            "more than once",
            "merchant:m o1",
        ),
        # the scope: app and merchant
        ('{"out_trade_no": "o1", "app_auth_token": "tok"}', "without merchant_id", None),
        ('{"out_trade_no": "o1", "merchant_id": "m"}', "without app_auth_token", None),
        (
            '{"out_trade_no": "o1", "merchant_id": "m m", "app_auth_token": "t"}',
            "merchant_id has a character",
            None,
        ),
        (
            '{"out_trade_no": "o1", "merchant_id": "' + "m" * 65 + '", "app_auth_token": "t"}',
            "merchant_id is 65",
            None,
        ),
        (
            '{"out_trade_no": "o1", "merchant_id": 2088, "app_auth_token": "t"}',
            "merchant_id must be a string",
            None,
        ),
        ('{"out_trade_no": "o1", "merchant_id": "", "app_auth_token": "t"}', "merchant_id is 0", None),
        ('{"out_trade_no": "o1", "app_id": "20 21"}', "app_id must be 1 to 32", None),
        ('{"out_trade_no": "o1", "app_id": "../x/y"}', "app_id must be 1 to 32", None),
        ('{"out_trade_no": "o1", "app_id": 2021}', "app_id must be a string", None),
        ('{"out_trade_no": "o1", "app_id": "a", "app_id": "b"}', "app_id appears more than once", None),
        ('{"out_trade_no": 7, "app_id": "2021"}', "out_trade_no must be a string", None),
        ('{"out_trade_no": "o1", "trade_no": 7, "app_id": "2021"}', "trade_no must be", "app:2021 o1"),
    ],
)
def test_rejects_with_reason(body: str, fragment: str, trade_key: str | None) -> None:
    error = bad(body)
    assert fragment in error.reason
    assert error.trade_key == trade_key
    assert str(error) == error.reason


def test_reports_every_field_problem_at_once() -> None:
    error = bad('{"out_trade_no": 1, "trade_no": "", "app_auth_token": false}')
    assert "out_trade_no must be a string" in error.reason
    assert "trade_no is empty" in error.reason
    assert "app_auth_token must be a string" in error.reason


@pytest.mark.parametrize(
    "token",
    [TOKEN + " ", TOKEN + "\n", "é" + TOKEN, TOKEN * 7],
)
def test_reason_never_echoes_the_token(token: str) -> None:
    error = bad(json.dumps({"out_trade_no": "o1", "app_auth_token": token, "merchant_id": "m"}))
    assert TOKEN not in error.reason
    assert token not in error.reason


def test_reason_never_echoes_a_token_in_broken_json() -> None:
    error = bad('{"out_trade_no": "o1", "app_auth_token": "' + TOKEN + '",')
    assert TOKEN not in error.reason


def test_reason_does_not_quote_raw_id_values() -> None:
    error = bad('{"out_trade_no": "evil\\u001b[31mred"}')
    assert "\x1b" not in error.reason
    assert "evil" not in error.reason


def test_huge_body_is_rejected_before_parsing() -> None:
    body = json.dumps({"out_trade_no": "o1", "pad": "x" * MAX_BODY_CHARS})
    assert "larger than" in bad(body).reason
    assert "larger than" in bad(body.encode() * 5).reason


def test_deep_nesting_is_a_bad_message_not_a_crash() -> None:
    body = '{"out_trade_no": "o1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert "nested too deeply" in bad(body).reason


def test_non_text_body_is_bad() -> None:
    assert "must be text" in bad(123).reason  # type: ignore[arg-type]


# ---------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4)
    ),
    max_leaves=12,
)
fields = st.sampled_from(
    ["out_trade_no", "trade_no", "app_auth_token", "app_id", "merchant_id", "Type", "Message", "other"]
)


def _assert_consistent(body: str | bytes) -> None:
    try:
        request = parse_message(body)
    except BadMessage as error:
        assert error.reason
        if error.trade_key is not None:
            assert 1 <= len(parse_trade_key(error.trade_key).trade_id) <= 64
        return
    key = request.trade_key
    identity = parse_trade_key(key)
    assert identity == request.identity  # the key splits back into the identity it was built from
    assert 1 <= len(identity.trade_id) <= 64
    assert (request.app_auth_token is None) == (request.merchant_id is None)
    for value in (request.out_trade_no, request.trade_no):
        assert value is None or (1 <= len(value) <= 64 and value.isprintable())


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_else(body: bytes) -> None:
    _assert_consistent(body)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises_anything_else(body: str) -> None:
    _assert_consistent(body)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(fields, json_values, max_size=5), st.booleans())
def test_arbitrary_objects_never_raise_anything_else(obj: dict[str, Any], wrap: bool) -> None:
    body = json.dumps(obj)
    _assert_consistent(sns(body) if wrap else body)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64))
def test_any_printable_ascii_id_round_trips(value: str) -> None:
    assert parse_message(json.dumps({"trade_no": value})) == CancelRequest(None, value)
    assert parse_message(sns(json.dumps({"out_trade_no": value}))).trade_key == value


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=20), st.characters(min_codepoint=0x7F), st.integers(0, 20))
def test_any_non_ascii_character_is_refused_and_named(prefix: str, char: str, at: int) -> None:
    value = (prefix[:at] + char + prefix[at:])[:64]
    error = bad(json.dumps({"out_trade_no": value}))
    first = next(i for i, c in enumerate(value, start=1) if not "!" <= c <= "~")
    assert f"U+{ord(value[first - 1]):04X}" in error.reason and f"at character {first};" in error.reason


# ---------------------------------------------------------------- trade identity (app, merchant, id)


def test_trade_key_scopes_by_app_and_merchant() -> None:
    def key(**fields: str) -> str:
        return parse_message(json.dumps({"out_trade_no": "ORDER-1", **fields})).trade_key

    isv = {"app_auth_token": TOKEN}
    assert key() == "ORDER-1"
    assert key(app_id="2021000000000002") == "app:2021000000000002 ORDER-1"
    assert key(merchant_id="2088A", **isv) == "merchant:2088A ORDER-1"
    assert key(merchant_id="2088B", **isv) == "merchant:2088B ORDER-1"
    assert key(app_id="2021000000000002", merchant_id="2088A", **isv) == (
        "app:2021000000000002 merchant:2088A ORDER-1"
    )


def test_naming_the_default_app_is_the_same_trade_as_naming_none() -> None:
    default = "2021000000000001"
    named = parse_message('{"out_trade_no": "o1", "app_id": "2021000000000001"}', default_app_id=default)
    assert named == parse_message('{"out_trade_no": "o1"}', default_app_id=default)
    assert named.app_id is None and named.trade_key == "o1"
    other = parse_message('{"out_trade_no": "o1", "app_id": "2021000000000002"}', default_app_id=default)
    assert other.app_id == "2021000000000002"


@pytest.mark.parametrize(
    ("trade_id", "app_id", "merchant_id"),
    [
        ("o1", None, None),
        ("app:1", None, None),  # ids may look like a scope: the plain form has no space, so no clash
        ("x", "1", None),
        ("merchant:m", "1", None),
        ("x", None, "app:1"),
        ("a/b:c", "A.b_c-1", "!~merchant:/x"),
    ],
)
def test_trade_key_round_trips_and_never_collides(
    trade_id: str, app_id: str | None, merchant_id: str | None
) -> None:
    key = trade_key(trade_id, app_id=app_id, merchant_id=merchant_id)
    identity = parse_trade_key(key)
    assert (identity.trade_id, identity.app_id, identity.merchant_id) == (trade_id, app_id, merchant_id)


printable_part = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12
)
app_part = st.text(alphabet="0123456789abcXYZ_.-", min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(printable_part, st.none() | app_part, st.none() | printable_part),
    st.tuples(printable_part, st.none() | app_part, st.none() | printable_part),
)
def test_distinct_identities_have_distinct_keys(
    a: tuple[str, str | None, str | None], b: tuple[str, str | None, str | None]
) -> None:
    key_a = trade_key(a[0], app_id=a[1], merchant_id=a[2])
    key_b = trade_key(b[0], app_id=b[1], merchant_id=b[2])
    assert (key_a == key_b) == (a == b)


@pytest.mark.parametrize(
    "number", ["0.5", "1e308", "-1.7976931348623157e308", "1e-999", "12345678901234567890"]
)
def test_finite_numbers_in_extra_fields_are_accepted(number: str) -> None:
    assert parse_message('{"out_trade_no": "o1", "amount": ' + number + "}") == CancelRequest("o1", None)


def test_a_number_too_large_to_be_finite_is_refused_inside_an_sns_envelope_too() -> None:
    with pytest.raises(BadMessage, match="too large to be finite"):
        parse_message(sns('{"out_trade_no": "o1", "x": 1e999}'))
