"""What an answer must be before it is believed: the unsigned codes we trust, the actions and fields
a signed success may carry. Exact sets: adding or removing one is a decision, made here on purpose."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alipay_cancel.alipay.response_parsing import UNSIGNED_TRUSTED_V3_CODES, ResponseParser
from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.alipay.success_checks import (
    ACTIONS,
    FIELD_LIMITS,
    SUCCESS_FIELDS,
    binding_problem,
    field_problem,
    freshness_problem,
)
from alipay_cancel.alipay.v3_signing import Verdict, Verification
from alipay_cancel.decisions.classification import OutcomeClass, classify


class _Signed:
    """A verifier that finds every answer validly signed (the signature checks have tests of their
    own): these tests are about what a signed or an unsigned answer may say."""

    def __init__(self, verdict: Verdict = Verdict.VALID) -> None:
        self._verdict = verdict

    def check(self, headers: object, body: bytes) -> Verification:
        return Verification(self._verdict, "")


NOW_MS = 1_700_000_000_000
SIGNED = ResponseParser(_Signed(), clock_ms=lambda: NOW_MS)  # type: ignore[arg-type]
UNSIGNED = ResponseParser(_Signed(Verdict.UNSIGNED), clock_ms=lambda: NOW_MS)  # type: ignore[arg-type]
HEADERS = {"alipay-timestamp": str(NOW_MS), "alipay-trace-id": "trace-1"}


def test_the_unsigned_codes_we_believe_are_exactly_these() -> None:
    """Each one's handling is a retry or a configuration alarm; never one that gives up a payment."""
    assert frozenset({
        "invalid-signature", "missing-signature", "missing-timestamp", "missing-nonce", "missing-app-id",
        "invalid-app-id", "invalid-timestamp", "nonce-reused", "insufficient-permissions", "rate-limited",
        "app-call-limited", "method-call-limited", "app-auth-invoke-limit", "exceed-api-balance",
    }) == UNSIGNED_TRUSTED_V3_CODES  # fmt: skip


@pytest.mark.parametrize("code", sorted(UNSIGNED_TRUSTED_V3_CODES))
@pytest.mark.parametrize("status", [400, 401, 403, 429])
def test_an_unsigned_trusted_code_is_kept_and_is_never_terminal(code: str, status: int) -> None:
    outcome = UNSIGNED.parse(status, {}, json.dumps({"code": code, "message": "m"}).encode())
    assert isinstance(outcome, AlipayFailure)
    assert (outcome.kind, outcome.code, outcome.verified) == (FailureKind.V3_ERROR, code, False)
    assert outcome.http_status == status and outcome.sub_msg == "m"
    assert classify(outcome).outcome in (OutcomeClass.RETRY, OutcomeClass.CONFIG_ERROR)


@pytest.mark.parametrize(
    "code", ["invalid-app-auth-token", "app-auth-token-time-out", "ACQ.TRADE_HAS_FINISHED", "40004", "x"]
)
def test_any_other_unsigned_code_is_dropped(code: str) -> None:
    outcome = UNSIGNED.parse(400, {}, json.dumps({"code": code, "sub_code": code}).encode())
    assert isinstance(outcome, AlipayFailure)
    assert (outcome.kind, outcome.code, outcome.sub_code) == (FailureKind.HTTP_ERROR, None, None)


@pytest.mark.parametrize("status", [200, 302, 500, 503])
def test_an_unsigned_trusted_code_outside_4xx_is_not_read(status: int) -> None:
    outcome = UNSIGNED.parse(status, {}, b'{"code": "invalid-signature"}')
    assert isinstance(outcome, AlipayFailure) and outcome.code is None
    expected = FailureKind.BAD_SIGNATURE if status == 200 else FailureKind.HTTP_ERROR
    assert outcome.kind is expected


def test_the_documented_actions_and_stored_fields_are_exactly_these() -> None:
    assert frozenset({"close", "refund"}) == ACTIONS
    assert SUCCESS_FIELDS == (
        "action", "gmt_refund_pay", "out_trade_no", "refund_settlement_id", "retry_flag", "trade_no",
    )  # fmt: skip
    assert FIELD_LIMITS == {
        "action": 8, "gmt_refund_pay": 32, "out_trade_no": 64, "refund_settlement_id": 64,
        "retry_flag": 8, "trade_no": 64,
    }  # fmt: skip


def _success_body(action: str | None) -> bytes:
    return json.dumps({"out_trade_no": "T-1", "action": action, "retry_flag": "N"}).encode()


@pytest.mark.parametrize("action", ["close", "refund", None, ""])
def test_a_signed_success_with_a_documented_action_or_none_is_a_success(action: str | None) -> None:
    outcome = SIGNED.parse(200, HEADERS, _success_body(action), sent_out_trade_no="T-1")
    assert isinstance(outcome, CancelSuccess)
    assert outcome.action == (action or None)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=string.ascii_letters, min_size=1, max_size=8),
        st.sampled_from(["Close", "REFUND", "cancel", "closed", "refunds", "none", "close;r", "void"]),
    ).filter(lambda a: a not in ("close", "refund"))
)
def test_any_other_action_in_a_signed_success_is_malformed(action: str) -> None:
    """An action we do not know is never recorded as a success (Alipay documents close and refund)."""
    problem, _ = field_problem({"out_trade_no": "T-1", "action": action})
    assert problem == "success field action is neither close nor refund"
    outcome = SIGNED.parse(200, HEADERS, _success_body(action), sent_out_trade_no="T-1")
    assert isinstance(outcome, AlipayFailure)
    assert (outcome.kind, outcome.verified) == (FailureKind.MALFORMED, True)
    assert classify(outcome).outcome is OutcomeClass.RETRY


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
