"""What an answer must be before it is believed: the unsigned codes we trust, the actions and fields
a signed success may carry, what a signed error says. Exact sets: adding or removing one is a
decision, made here on purpose. Answers are signed with Alipay's test key (tests/fixtures/keys.py)."""

from __future__ import annotations

import json
import string
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from local.keygen import KeyMaterial

from alipay_cancel.alipay.body_encryption import BodyCipher
from alipay_cancel.alipay.response_parsing import UNSIGNED_TRUSTED_V3_CODES, ResponseParser
from alipay_cancel.alipay.responses import (
    AlipayFailure,
    CancelOutcome,
    CancelSuccess,
    FailureKind,
    QuerySuccess,
)
from alipay_cancel.alipay.success_checks import (
    ACTIONS,
    CANCEL_FIELDS,
    SUCCESS_FIELDS,
    AnswerMeta,
    Problem,
    binding_problem,
    field_problem,
    freshness_problem,
)
from alipay_cancel.alipay.trade_answers import CancelReader, QueryReader, SentIds
from alipay_cancel.alipay.v3_signing import ResponseVerifier
from alipay_cancel.decisions.classification import classify
from alipay_cancel.shared.endings import Ending
from tests.test_response_parsing import AES_KEY, sign_headers

NOW_MS = 1_700_000_000_000


@pytest.fixture(scope="module")
def parser(key_material: KeyMaterial) -> ResponseParser:
    """Alipay's real test key; the clock stands still so that freshness is exact."""
    return ResponseParser(
        ResponseVerifier(key_material.alipay.private_key.public_key()), clock_ms=lambda: NOW_MS
    )


@pytest.fixture(scope="module")
def signed(parser: ResponseParser, key_material: KeyMaterial) -> Callable[..., CancelOutcome]:
    def parse(status: int, body: bytes, *, at_ms: int = NOW_MS, **sent: str) -> CancelOutcome:
        headers = sign_headers(key_material.alipay, body, ts=str(at_ms))
        return parser.parse(status, headers, body, **sent)

    return parse


def test_the_unsigned_codes_we_believe_are_exactly_these() -> None:
    """Each one's handling is a retry or a configuration alarm; never one that gives up a payment."""
    assert frozenset({
        "invalid-signature", "missing-signature", "missing-timestamp", "missing-nonce", "missing-app-id",
        "invalid-app-id", "invalid-timestamp", "nonce-reused", "insufficient-permissions", "rate-limited",
        "app-call-limited", "method-call-limited", "app-auth-invoke-limit", "exceed-api-balance",
    }) == UNSIGNED_TRUSTED_V3_CODES  # fmt: skip


@pytest.mark.parametrize("code", sorted(UNSIGNED_TRUSTED_V3_CODES))
@pytest.mark.parametrize("status", [400, 401, 403, 429])
def test_an_unsigned_trusted_code_is_kept_and_is_never_terminal(
    parser: ResponseParser, code: str, status: int
) -> None:
    outcome = parser.parse(status, {}, json.dumps({"code": code, "message": "m"}).encode())
    assert isinstance(outcome, AlipayFailure)
    assert (outcome.kind, outcome.code, outcome.verified) == (FailureKind.V3_ERROR, code, False)
    assert outcome.http_status == status and outcome.sub_msg == "m"
    assert outcome.message == f"HTTP {status} {code} (unsigned gateway error)"
    assert classify(outcome).outcome in (Ending.RETRY, Ending.CONFIG_ERROR)


@pytest.mark.parametrize(
    "code", ["invalid-app-auth-token", "app-auth-token-time-out", "ACQ.TRADE_HAS_FINISHED", "40004", "x"]
)
def test_any_other_unsigned_code_is_dropped(parser: ResponseParser, code: str) -> None:
    outcome = parser.parse(400, {}, json.dumps({"code": code, "sub_code": code}).encode())
    assert isinstance(outcome, AlipayFailure)
    assert (outcome.kind, outcome.code, outcome.sub_code) == (FailureKind.HTTP_ERROR, None, None)


@pytest.mark.parametrize("status", [199, 200, 299, 300, 302, 399, 500, 503])
def test_an_unsigned_trusted_code_outside_4xx_is_not_read(parser: ResponseParser, status: int) -> None:
    outcome = parser.parse(status, {}, b'{"code": "invalid-signature"}')
    assert isinstance(outcome, AlipayFailure) and outcome.code is None
    expected = FailureKind.BAD_SIGNATURE if 200 <= status < 300 else FailureKind.HTTP_ERROR
    assert outcome.kind is expected


def test_the_documented_actions_and_stored_fields_are_exactly_these() -> None:
    assert frozenset({"close", "refund"}) == ACTIONS
    assert SUCCESS_FIELDS == (
        "action", "gmt_refund_pay", "out_trade_no", "refund_settlement_id", "retry_flag", "trade_no",
    )  # fmt: skip
    # (cap, a space allowed): only a date and time has a space ("2016-11-27 15:45:57")
    assert {name: tuple(spec) for name, spec in CANCEL_FIELDS.items()} == {
        "action": (8, False), "gmt_refund_pay": (32, True), "out_trade_no": (64, False),
        "refund_settlement_id": (64, False), "retry_flag": (8, False), "trade_no": (64, False),
    }  # fmt: skip


def _success_body(action: str | None) -> bytes:
    return json.dumps({"out_trade_no": "T-1", "action": action, "retry_flag": "N"}).encode()


@pytest.mark.parametrize("action", ["close", "refund", None, ""])
def test_a_signed_success_with_a_documented_action_or_none_is_a_success(
    signed: Callable[..., CancelOutcome], action: str | None
) -> None:
    outcome = signed(200, _success_body(action), sent_out_trade_no="T-1")
    assert isinstance(outcome, CancelSuccess)
    assert outcome.action == (action or None)


OTHER_ACTIONS = ["Close", "REFUND", "cancel", "closed", "refunds", "none", "close;r", "void"]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=string.ascii_letters + string.punctuation, min_size=1, max_size=8),
        st.sampled_from(OTHER_ACTIONS),
    ).filter(lambda a: a not in ("close", "refund"))
)
def test_any_other_action_is_malformed(action: str) -> None:
    """An action we do not know is never recorded as a success (Alipay documents close and refund)."""
    problem, _ = field_problem({"out_trade_no": "T-1", "action": action})
    assert problem == "success field action is neither close nor refund"
    meta = AnswerMeta("trace-1", 200, "req-1")
    read = CancelReader(SentIds(None, "T-1")).read({"out_trade_no": "T-1", "action": action}, meta)
    expected = "HTTP 200: success field action is neither close nor refund"
    assert read == Problem(FailureKind.MALFORMED, expected)


@pytest.mark.parametrize("action", OTHER_ACTIONS)
def test_a_signed_success_with_another_action_is_malformed_and_retried(
    signed: Callable[..., CancelOutcome], action: str
) -> None:
    outcome = signed(200, _success_body(action), sent_out_trade_no="T-1")
    assert isinstance(outcome, AlipayFailure)
    assert (outcome.kind, outcome.verified) == (FailureKind.MALFORMED, True)
    assert outcome.message == "HTTP 200: success field action is neither close nor refund"
    assert classify(outcome).outcome is Ending.RETRY


# ------------------------------------------------------------------ the checks one by one, word for word


ASCII_ONLY = "only printable ASCII is accepted"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"action": 1}, "success field action is not a string"),
        ({"trade_no": "9" * 65}, "success field trade_no is 65 characters; at most 64"),
        ({"out_trade_no": "ab\tc"}, f"success field out_trade_no has U+0009 at character 3; {ASCII_ONLY}"),
        ({"out_trade_no": "a b"}, f"success field out_trade_no has U+0020 at character 2; {ASCII_ONLY}"),
        ({"retry_flag": "N\x7f"}, f"success field retry_flag has U+007F at character 2; {ASCII_ONLY}"),
        (
            {"gmt_refund_pay": "2016-11-27\n"},
            f"success field gmt_refund_pay has U+000A at character 11; {ASCII_ONLY}",
        ),
        (
            {"trade_no": "9" * 64, "retry_flag": "toolongyes"},
            "success field retry_flag is 10 characters; at most 8",
        ),
    ],
)
def test_a_stored_field_that_is_not_sane_is_named_without_quoting_it(
    payload: dict[str, object], problem: str
) -> None:
    assert field_problem(payload)[0] == problem


def test_sane_fields_are_kept_as_sent_and_empty_ones_are_absent() -> None:
    longest = "!~" + "a" * 62
    payload = {"action": "refund", "gmt_refund_pay": "2016-11-27 15:45:57", "out_trade_no": longest,
               "refund_settlement_id": "", "retry_flag": "N", "trade_no": None, "other": "\x00"}  # fmt: skip
    problem, values = field_problem(payload)
    assert problem is None
    assert values == {"action": "refund", "gmt_refund_pay": "2016-11-27 15:45:57", "out_trade_no": longest,
                      "refund_settlement_id": None, "retry_flag": "N", "trade_no": None}  # fmt: skip


DIFFERENT = "signed success names a different"
THAN = "than the one cancelled (another trade's answer?)"
NOT_NAMED = "signed success does not name the"
CANNOT = "we cancelled, so it cannot be this trade's answer"


@pytest.mark.parametrize(
    ("values", "sent", "problem"),
    [
        ({"out_trade_no": "T-1"}, ("2088", "T-1"), None),
        ({"trade_no": "2088"}, ("2088", None), None),
        ({"trade_no": "2088", "out_trade_no": "T-1"}, (None, "T-1"), None),  # Alipay's trade_no: unchecked
        ({"out_trade_no": "T-2"}, (None, "T-1"), f"{DIFFERENT} out_trade_no {THAN}"),
        ({"trade_no": "2089", "out_trade_no": "T-1"}, ("2088", "T-1"), f"{DIFFERENT} trade_no {THAN}"),
        ({}, ("2088", "T-1"), f"{NOT_NAMED} trade_no or out_trade_no {CANNOT}"),
        ({"trade_no": "2088"}, (None, "T-1"), f"{NOT_NAMED} out_trade_no {CANNOT}"),
        ({"out_trade_no": "T-1"}, (None, None), f"{NOT_NAMED} an id {CANNOT}"),
    ],
)  # fmt: skip
def test_a_success_must_name_our_trade(
    values: dict[str, str], sent: tuple[str | None, str | None], problem: str | None
) -> None:
    assert binding_problem(values, *sent) == problem


STAMP = "signed answer's alipay-timestamp"
WINDOW = "outside the 300 s freshness window (replayed, or a clock is wrong)"


@pytest.mark.parametrize(
    ("timestamp", "problem"),
    [
        (str(NOW_MS - 300_000), None),
        (str(NOW_MS + 300_000), None),
        (f" {NOW_MS} ", None),
        (str(NOW_MS - 300_600), f"{STAMP} is 301 s old, {WINDOW}"),
        (str(NOW_MS + 301_000), f"{STAMP} is 301 s in the future, {WINDOW}"),
        ("1" * 15, f"{STAMP} is 109411111111 s in the future, {WINDOW}"),
        ("1" * 16, f"{STAMP} is not epoch milliseconds"),
        ("", f"{STAMP} is not epoch milliseconds"),
        (None, f"{STAMP} is not epoch milliseconds"),
        ("-5", f"{STAMP} is not epoch milliseconds"),
        ("١٢٣", f"{STAMP} is not epoch milliseconds"),  # Arabic-Indic digits
    ],
)  # fmt: skip
def test_a_signed_answer_is_fresh_within_the_window_either_way(
    timestamp: str | None, problem: str | None
) -> None:
    assert freshness_problem(timestamp, NOW_MS, 300.0) == problem


def test_a_window_under_a_second_still_says_which_way_the_answer_is_off() -> None:
    assert freshness_problem(str(NOW_MS - 800), NOW_MS, 0.5) == (
        f"{STAMP} is 1 s old, outside the 0 s freshness window (replayed, or a clock is wrong)"
    )
    assert freshness_problem(str(NOW_MS + 800), NOW_MS, 0.5) == (
        f"{STAMP} is 1 s in the future, outside the 0 s freshness window (replayed, or a clock is wrong)"
    )


# ------------------------------------------------------------------ what a signed answer says, word for word


def _failure(outcome: CancelOutcome) -> AlipayFailure:
    assert isinstance(outcome, AlipayFailure), outcome
    return outcome


def test_the_default_freshness_window_is_five_minutes(key_material: KeyMaterial) -> None:
    parser = ResponseParser(ResponseVerifier(key_material.alipay.private_key.public_key()))
    body = _success_body("close")
    now = int(time.time() * 1000)
    fresh = parser.parse(200, sign_headers(key_material.alipay, body, ts=str(now - 295_000)), body,
                         sent_out_trade_no="T-1")  # fmt: skip
    assert isinstance(fresh, CancelSuccess)
    stale = parser.parse(200, sign_headers(key_material.alipay, body, ts=str(now - 300_900)), body,
                         sent_out_trade_no="T-1")  # fmt: skip
    assert (_failure(stale).kind, _failure(stale).verified) == (FailureKind.NOT_OUR_ANSWER, True)
    assert "outside the 300 s freshness window" in _failure(stale).message


@pytest.mark.parametrize("status", [200, 201, 202, 299])
def test_a_signed_2xx_success_keeps_its_status(signed: Callable[..., CancelOutcome], status: int) -> None:
    outcome = signed(status, _success_body("close"), sent_out_trade_no="T-1")
    assert isinstance(outcome, CancelSuccess) and outcome.http_status == status


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (502, b"<html>bad gateway</html>", FailureKind.HTTP_ERROR, "HTTP 502 with an unreadable body"),
        (400, b'{"message": "no code"}', FailureKind.HTTP_ERROR, "HTTP 400 error without a code"),
        (400, b'{"code": "invalid-parameter", "message": "bad"}', FailureKind.V3_ERROR,
         "HTTP 400 invalid-parameter: bad"),
        (400, b'{"code": "invalid-parameter"}', FailureKind.V3_ERROR, "HTTP 400 invalid-parameter"),
        (400, b'{"code": "40004", "msg": "Business Failed"}', FailureKind.BUSINESS,
         "Alipay answered 40004 Business Failed"),
        (400, b'{"code": "ACQ.X", "sub_code": "ACQ.TRADE_HAS_FINISHED"}', FailureKind.BUSINESS,
         "Alipay answered ACQ.X ACQ.TRADE_HAS_FINISHED"),
        (200, b'{"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_HAS_FINISHED", '
              b'"sub_msg": "finished"}', FailureKind.BUSINESS,
         "Alipay answered 40004 ACQ.TRADE_HAS_FINISHED finished"),
        (200, b'{"code": "20001", "msg": "Insufficient Token Permissions"}', FailureKind.SERVICE_UNAVAILABLE,
         "Alipay answered 20001 Insufficient Token Permissions"),
        (200, b'{"code": true}', FailureKind.MALFORMED, "HTTP 200: envelope code unreadable"),
        (200, b'{"code": [10000]}', FailureKind.MALFORMED, "HTTP 200: envelope code unreadable"),
    ],
)  # fmt: skip
def test_a_signed_error_is_read_as_alipay_wrote_it(
    signed: Callable[..., CancelOutcome], status: int, body: bytes, kind: FailureKind, message: str
) -> None:
    outcome = _failure(signed(status, body))
    assert (outcome.kind, outcome.message, outcome.verified, outcome.http_status) == (
        kind,
        message,
        True,
        status,
    )


@pytest.mark.parametrize(
    ("extra", "sub_msg"),
    [
        (b"", "Business Failed"),
        (b', "sub_msg": true', "Business Failed"),  # not text: the msg instead
        (b', "sub_msg": null', "Business Failed"),
        (b', "sub_msg": 12', "12"),
        (b', "sub_msg": 12.5', "12.5"),
        (b', "sub_msg": "x\\u0000y"', "xy"),
    ],
)
def test_a_seed_errors_text_is_its_sub_msg_else_its_msg(
    signed: Callable[..., CancelOutcome], extra: bytes, sub_msg: str
) -> None:
    body = b'{"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR"' + extra + b"}"
    outcome = _failure(signed(200, body))
    assert (outcome.code, outcome.sub_code, outcome.sub_msg) == ("40004", "ACQ.SYSTEM_ERROR", sub_msg)


def test_a_code_is_kept_to_64_characters(signed: Callable[..., CancelOutcome]) -> None:
    outcome = _failure(signed(400, json.dumps({"code": "x" * 70}).encode()))
    assert (outcome.kind, outcome.code) == (FailureKind.V3_ERROR, "x" * 64)


@pytest.fixture(scope="module")
def aes(key_material: KeyMaterial) -> Callable[..., CancelOutcome]:
    verifier = ResponseVerifier(key_material.alipay.private_key.public_key())
    parser = ResponseParser(verifier, BodyCipher(AES_KEY), clock_ms=lambda: NOW_MS)

    def parse(status: int, body: bytes, **sent: str) -> CancelOutcome:
        return parser.parse(status, sign_headers(key_material.alipay, body, ts=str(NOW_MS)), body, **sent)

    return parse


def test_aes_mode_reads_a_plain_json_body_as_it_is(aes: Callable[..., CancelOutcome]) -> None:
    assert isinstance(aes(200, _success_body("close"), sent_out_trade_no="T-1"), CancelSuccess)
    empty = _failure(aes(200, b""))
    assert (empty.kind, empty.message) == (
        FailureKind.MALFORMED,
        "HTTP 200: signed body is not a JSON object",
    )


def test_aes_mode_a_redirect_that_does_not_decrypt_is_read_as_it_is(
    aes: Callable[..., CancelOutcome],
) -> None:
    outcome = _failure(aes(300, b"not base64 at all!"))
    assert (outcome.kind, outcome.message) == (FailureKind.HTTP_ERROR, "unexpected HTTP 300")


@pytest.mark.parametrize("status", [200, 299])
def test_aes_mode_a_2xx_that_does_not_decrypt_says_why(
    aes: Callable[..., CancelOutcome], status: int
) -> None:
    outcome = _failure(aes(status, b"not base64 at all!"))
    assert (outcome.kind, outcome.message) == (
        FailureKind.MALFORMED,
        f"HTTP {status}: encrypted body is not base64",
    )


def test_alipays_text_is_kept_to_300_characters(signed: Callable[..., CancelOutcome]) -> None:
    body = json.dumps({"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR", "sub_msg": "m" * 400}).encode()
    assert _failure(signed(200, body)).sub_msg == "m" * 300
    v3 = _failure(signed(400, json.dumps({"code": "invalid-parameter", "message": "n" * 400}).encode()))
    assert v3.sub_msg == "n" * 300


def test_a_signed_error_inside_the_operations_envelope_is_read_with_its_codes(
    signed: Callable[..., CancelOutcome],
) -> None:
    """Alipay may wrap an error in the operation's own envelope: its codes are read from there, not
    lost as an error without a code."""
    body = json.dumps({
        "alipay_trade_cancel_response": {
            "code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_HAS_FINISHED",
        },
    }).encode()  # fmt: skip
    outcome = signed(400, body)
    assert isinstance(outcome, AlipayFailure)
    assert (outcome.kind, outcome.code, outcome.sub_code, outcome.verified) == (
        FailureKind.BUSINESS, "40004", "ACQ.TRADE_HAS_FINISHED", True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("number", "amount"), [("88.88", "88.88"), ("0.1", "0.10"), ("100000000.00", "100000000.00")]
)
def test_an_amount_alipay_writes_as_a_json_number_is_read_exactly(
    parser: ResponseParser, key_material: KeyMaterial, number: str, amount: str
) -> None:
    """Never through a float: the amount recorded and refunded is the one Alipay wrote."""
    body = (
        b'{"alipay_trade_query_response": {"out_trade_no": "T-1", "trade_status": "TRADE_SUCCESS", '
        b'"total_amount": ' + number.encode() + b"}}"
    )
    headers = sign_headers(key_material.alipay, body, ts=str(NOW_MS))
    outcome = parser.read(200, headers, body, QueryReader(SentIds(None, "T-1")))
    assert isinstance(outcome, QuerySuccess) and outcome.total_amount == amount


def test_an_amount_number_with_hidden_decimals_is_refused_not_rounded(
    parser: ResponseParser, key_material: KeyMaterial
) -> None:
    body = (
        b'{"alipay_trade_query_response": {"out_trade_no": "T-1", "trade_status": "TRADE_SUCCESS", '
        b'"total_amount": 88.880000000000001}}'
    )
    headers = sign_headers(key_material.alipay, body, ts=str(NOW_MS))
    outcome = parser.read(200, headers, body, QueryReader(SentIds(None, "T-1")))
    assert isinstance(outcome, AlipayFailure) and outcome.kind is FailureKind.MALFORMED
    assert "total_amount has more than two decimals" in outcome.message
