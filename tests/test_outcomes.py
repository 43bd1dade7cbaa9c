"""classify: every code named in the README and the v3 vocabulary, the signed/unsigned rule, and totality."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.decisions.classification import RetryDelay, classify
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.shared.endings import Ending

S = Ending.SUCCEEDED
R = Ending.RETRY
T = Ending.TERMINAL
C = Ending.CONFIG_ERROR
N = RetryDelay.NORMAL
SLOW = RetryDelay.SLOW


def success(retry_flag: str | None = "N", action: str | None = "close") -> CancelSuccess:
    return CancelSuccess(
        action=action,
        gmt_refund_pay=None,
        out_trade_no="o1",
        refund_settlement_id=None,
        retry_flag=retry_flag,
        trade_no="t1",
        trace_id="trace-1",
    )


def seed(code: str, sub_code: str | None = None, *, verified: bool = True) -> AlipayFailure:
    kind = FailureKind.SERVICE_UNAVAILABLE if code in ("20000", "20001") else FailureKind.BUSINESS
    return AlipayFailure(kind, "msg", http_status=200, code=code, sub_code=sub_code, verified=verified)


def v3(status: int, code: str, *, verified: bool = True) -> AlipayFailure:
    return AlipayFailure(FailureKind.V3_ERROR, "msg", http_status=status, code=code, verified=verified)


def http(status: int | None) -> AlipayFailure:
    return AlipayFailure(FailureKind.HTTP_ERROR, "msg", http_status=status)


def check(decision: Decision, outcome: Ending, delay: RetryDelay | None, refresh: bool) -> None:
    assert decision.outcome is outcome, decision
    assert decision.delay is delay, decision
    assert decision.refresh_secret is refresh, decision
    assert decision.reason
    if outcome in (T, C):
        assert decision.remedy, decision


# ------------------------------------------------------------------ successes


@pytest.mark.parametrize(
    ("retry_flag", "action", "expected", "fragment"),
    [
        ("N", "close", S, "closed the unpaid trade"),
        (None, "refund", S, "refunded"),
        ("N", None, S, "no such trade"),
        ("n", "close", S, "closed"),
        ("", "close", S, "closed"),
        ("Y", "close", R, "retry_flag=Y"),
        ("y", None, R, "retry_flag=Y"),
        ("maybe", "close", R, "unexpected retry_flag"),
    ],
)
def test_success(retry_flag: str | None, action: str | None, expected: Ending, fragment: str) -> None:
    decision = classify(success(retry_flag, action))
    check(decision, expected, N if expected is R else None, False)
    assert fragment in decision.reason


# ------------------------------------------------------------------ transport / protocol failures


@pytest.mark.parametrize(
    ("failure", "expected", "delay", "refresh"),
    [
        (AlipayFailure(FailureKind.TIMEOUT, "read timeout"), R, N, False),
        (AlipayFailure(FailureKind.CONNECTION, "refused"), R, N, False),
        (AlipayFailure(FailureKind.MALFORMED, "not json", http_status=200), R, N, False),
        (AlipayFailure(FailureKind.BAD_SIGNATURE, "unsigned", http_status=200), R, N, True),
        (AlipayFailure(FailureKind.BAD_SIGNATURE, "forged", http_status=200, verified=True), R, N, True),
        (http(500), R, N, False),
        (http(502), R, N, False),
        (http(503), R, N, False),
        (http(504), R, N, False),
        (http(429), R, SLOW, False),  # a rate limit: wait longer
        (http(408), R, N, False),
        (http(400), R, N, False),
        (http(None), R, N, False),
        (http(404), C, SLOW, False),
        (http(405), C, SLOW, False),
        (http(301), C, SLOW, False),
        (http(401), C, SLOW, False),
        (http(403), C, SLOW, False),
    ],
)
def test_transport(failure: AlipayFailure, expected: Ending, delay: RetryDelay, refresh: bool) -> None:
    check(classify(failure), expected, delay, refresh)


def test_wrong_endpoint_path_remedy_names_the_variable() -> None:
    decision = classify(http(404))
    assert decision.remedy is not None and "ALIPAY_ENDPOINT" in decision.remedy


# ------------------------------------------------------------------ business codes, both shapes

BUSINESS = [
    # sub_code, class, delay, remedy fragment
    ("ACQ.SYSTEM_ERROR", R, N, None),
    ("AQC.SYSTEM_ERROR", R, N, None),
    ("aop.ACQ.SYSTEM_ERROR", R, N, None),
    ("ACQ.SELLER_BALANCE_NOT_ENOUGH", R, SLOW, "top up"),
    # cancel cannot settle these four: a signed one makes the settle flow query the trade
    ("ACQ.TRADE_CANCEL_TIME_OUT", T, None, "queried and settled"),
    ("ACQ.TRADE_HAS_FINISHED", T, None, "refund period is over"),
    ("ACQ.CANCEL_NOT_ALLOWED", T, None, "queried and settled"),
    ("ACQ.REASON_TRADE_BEEN_FREEZEN", T, None, "Contact Alipay support"),
    ("ACQ.REASON_TRADE_REFUND_FEE_ERR", T, None, "queried and settled"),
    ("ACQ.TRADE_HAS_SUCCESS", T, None, "queried and settled"),
    ("ACQ.INVALID_PARAMETER", T, None, "ids"),
    ("ACQ.SOMETHING_NEW", T, None, "ACQ.SOMETHING_NEW"),
]


@pytest.mark.parametrize(("sub_code", "expected", "delay", "remedy"), BUSINESS)
def test_business_code_seed_envelope(
    sub_code: str, expected: Ending, delay: RetryDelay | None, remedy: str | None
) -> None:
    decision = classify(seed("40004", sub_code))
    check(decision, expected, delay, False)
    assert decision.code == "40004" and decision.sub_code == sub_code
    if remedy:
        assert decision.remedy is not None and remedy in decision.remedy


@pytest.mark.parametrize(("code", "expected", "delay", "remedy"), BUSINESS)
def test_business_code_v3_shape_classifies_the_same(
    code: str, expected: Ending, delay: RetryDelay | None, remedy: str | None
) -> None:
    v3_decision = classify(v3(400, code))
    seed_decision = classify(seed("40004", code))
    check(v3_decision, expected, delay, False)
    assert v3_decision.remedy == seed_decision.remedy
    assert v3_decision.code == code


def test_a_finished_trade_remedy_says_no_call_can_return_the_money_and_not_redrive() -> None:
    decision = classify(seed("40004", "ACQ.TRADE_HAS_FINISHED"))
    assert decision.remedy is not None
    assert "TRADE_FINISHED" in decision.reason
    assert "No API call can return this payment" in decision.remedy
    assert "cannot succeed" in decision.remedy
    assert "alipay.trade." not in decision.remedy  # no person is sent to call Alipay by hand


@pytest.mark.parametrize(
    ("failure", "fragment"),
    [
        (seed("40004", None), "without saying which"),
        (seed("40004", "isp.unknow-error"), "internal error"),
        (seed("40004", "ACQ.OTHER_SYSTEM_ERROR"), "internal error"),
        (seed("40099", "whatever"), "does not know"),
        (seed("", None), "does not know"),
        (v3(400, "no-such-common-code"), "does not know"),  # unknown, not business-shaped
        (v3(400, "acq.lowercase"), "does not know"),
        (v3(409, "conflict"), "does not know"),
        (v3(418, "ACQ.TRADE_HAS_SUCCESS_ISH"), "does not know"),  # business-shaped, not a 400
    ],
)
def test_unknown_non_business_errors_are_retried(failure: AlipayFailure, fragment: str) -> None:
    decision = classify(failure)
    check(decision, R, N, False)
    assert fragment in decision.reason


# ------------------------------------------------------------------ gateway / our configuration


@pytest.mark.parametrize(
    ("failure", "expected", "delay", "refresh"),
    [
        (seed("20000", "isp.unknow-error"), R, N, False),
        (seed("20000", "aop.unknow-error"), R, N, False),
        (seed("20000"), R, N, False),
        (seed("20001", "aop.invalid-app-auth-token"), T, None, False),
        (seed("20001", "aop.app-auth-token-time-out"), T, None, False),
        (seed("20001", "aop.invalid-app-auth-token-no-api"), T, None, False),
        (seed("20001", "aop.no-product-reg-by-partner"), C, SLOW, False),
        (seed("40001", "isv.missing-signature"), C, SLOW, False),
        (seed("40001", "isv.missing-app-id"), C, SLOW, False),
        (seed("40001"), C, SLOW, False),
        (seed("40002", "isv.invalid-signature"), C, SLOW, True),
        (seed("40002", "isv.invalid-app-id"), C, SLOW, False),
        (seed("40002", "isv.invalid-timestamp"), R, N, False),
        (seed("40002", "isv.invalid-format"), C, SLOW, False),
        (seed("40006", "isv.insufficient-isv-permissions"), C, SLOW, False),
        (seed("40006", "isv.insufficient-user-permissions"), C, SLOW, False),
        (seed("40006"), C, SLOW, False),
        (v3(401, "invalid-signature"), C, SLOW, True),
        (v3(401, "missing-signature"), C, SLOW, False),
        (v3(401, "missing-timestamp"), C, SLOW, False),
        (v3(401, "missing-nonce"), C, SLOW, False),
        (v3(401, "missing-app-id"), C, SLOW, False),
        (v3(401, "invalid-app-id"), C, SLOW, False),
        (v3(401, "invalid-timestamp"), R, N, False),
        (v3(401, "nonce-reused"), R, N, False),
        (v3(403, "insufficient-permissions"), C, SLOW, False),
        (v3(401, "invalid-app-auth-token"), T, None, False),
        (v3(429, "rate-limited"), R, SLOW, False),
        (v3(429, "app-call-limited"), R, SLOW, False),
        (v3(400, "method-call-limited"), R, SLOW, False),
        (v3(503, "exceed-api-balance"), R, SLOW, False),
        (seed("40004", "isv.app-call-limited"), R, SLOW, False),
        (v3(401, "app-auth-token-time-out"), T, None, False),
        (seed("20001", "isv.app-auth-token-time-out"), T, None, False),
        (v3(400, "invalid-parameter"), C, SLOW, False),
        (v3(403, "illegal-client-ip"), C, SLOW, False),
        (seed("40002", "isv.decryption-error"), C, SLOW, False),
        (v3(500, "internal-error"), R, N, False),
        (v3(503, "ACQ.TRADE_HAS_FINISHED"), R, N, False),  # 5xx means "later", whatever the body says
        (v3(404, "not-found"), C, SLOW, False),
        (v3(401, "something-else"), C, SLOW, False),
        (v3(403, "forbidden-by-policy"), C, SLOW, False),
    ],
)
def test_gateway_codes(failure: AlipayFailure, expected: Ending, delay: RetryDelay, refresh: bool) -> None:
    check(classify(failure), expected, delay, refresh)


def test_config_errors_are_not_the_message_fault_and_say_what_to_fix() -> None:
    signature = classify(v3(401, "invalid-signature"))
    assert signature.remedy is not None and "private_key" in signature.remedy
    permission = classify(v3(403, "insufficient-permissions"))
    assert permission.remedy is not None and "alipay.trade.cancel" in permission.remedy


def test_invalid_token_remedy_asks_for_a_new_token() -> None:
    decision = classify(v3(401, "invalid-app-auth-token"))
    assert decision.remedy is not None and "re-authorise" in decision.remedy


# ------------------------------------------------------------------ unsigned errors are never terminal

TERMINAL_LOOKING = [
    seed("40004", "ACQ.TRADE_CANCEL_TIME_OUT", verified=False),
    seed("40004", "ACQ.TRADE_HAS_FINISHED", verified=False),
    seed("40004", "ACQ.INVALID_PARAMETER", verified=False),
    seed("40004", "ACQ.UNKNOWN_THING", verified=False),
    seed("20001", "aop.invalid-app-auth-token", verified=False),
    v3(400, "ACQ.TRADE_HAS_SUCCESS", verified=False),
    v3(400, "ACQ.NEW_CODE", verified=False),
    v3(401, "invalid-app-auth-token", verified=False),
]


@pytest.mark.parametrize("failure", TERMINAL_LOOKING)
def test_unverified_terminal_looking_error_is_retried(failure: AlipayFailure) -> None:
    decision = classify(failure)
    check(decision, R, N, False)
    assert "not signed" in decision.reason
    assert decision.remedy is not None
    # the genuine remedy is still there in case Alipay really said it
    verified = classify(AlipayFailure(**{**failure.__dict__, "verified": True}))
    assert verified.outcome is T
    assert verified.remedy is not None and verified.remedy in decision.remedy


def test_unverified_config_and_retry_decisions_are_unchanged() -> None:
    assert classify(v3(401, "invalid-signature", verified=False)).outcome is C
    assert classify(seed("40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH", verified=False)).delay is SLOW


def test_default_failure_is_unverified() -> None:
    assert AlipayFailure(FailureKind.BUSINESS, "m").verified is False


# ------------------------------------------------------------------ hygiene


def test_reason_never_contains_alipay_free_text() -> None:
    leaked = "app_auth_token=202510BBzq7Xw"
    failure = AlipayFailure(
        FailureKind.BUSINESS, leaked, 200, "40002", "isv.invalid-signature", sub_msg=leaked, verified=True
    )
    decision = classify(failure)
    assert "zq7Xw" not in decision.reason and "zq7Xw" not in (decision.remedy or "")


def test_hostile_codes_are_sanitised() -> None:
    failure = v3(400, "ACQ.X\n\x1b[31m<script>" + "A" * 200)
    decision = classify(failure)
    assert decision.code is not None and len(decision.code) <= 64
    assert "\n" not in decision.reason and "\x1b" not in decision.reason and "<" not in decision.reason


def test_enum_values_are_the_data_contract_strings() -> None:
    verdicts = [Ending.SUCCEEDED, Ending.RETRY, Ending.TERMINAL, Ending.CONFIG_ERROR]
    assert [c.value for c in verdicts] == ["succeeded", "retry", "terminal", "config_error"]
    assert f"{Ending.CONFIG_ERROR}" == "config_error"


# ------------------------------------------------------------------ properties

codes = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(
        ["10000", "20000", "20001", "40001", "40002", "40004", "40006", "invalid-signature", "rate-limited"]
        + [b[0] for b in BUSINESS]
    ),
)
failures = st.builds(
    AlipayFailure,
    kind=st.sampled_from(FailureKind),
    message=st.text(max_size=30),
    http_status=st.one_of(st.none(), st.integers(min_value=-5, max_value=999)),
    code=codes,
    sub_code=codes,
    sub_msg=st.one_of(st.none(), st.text(max_size=30)),
    trace_id=st.one_of(st.none(), st.text(max_size=10)),
    verified=st.booleans(),
)
successes = st.builds(
    CancelSuccess,
    action=st.one_of(st.none(), st.sampled_from(["close", "refund"]), st.text(max_size=8)),
    gmt_refund_pay=st.none(),
    out_trade_no=st.one_of(st.none(), st.text(max_size=8)),
    refund_settlement_id=st.none(),
    retry_flag=st.one_of(st.none(), st.sampled_from(["Y", "N"]), st.text(max_size=3)),
    trade_no=st.none(),
    trace_id=st.none(),
)


@settings(max_examples=600, deadline=None)
@given(failures)
def test_failures_never_succeed_never_raise(failure: AlipayFailure) -> None:
    decision = classify(failure)
    assert decision.outcome is not S
    assert decision.reason
    if decision.outcome is T:
        assert failure.verified
        assert decision.delay is None and decision.remedy
    else:
        assert decision.delay is not None
    if decision.outcome is C:
        assert decision.remedy
    if decision.refresh_secret:
        assert decision.outcome in (R, C)


@settings(max_examples=300, deadline=None)
@given(successes)
def test_successes_succeed_or_retry(outcome: CancelSuccess) -> None:
    decision = classify(outcome)
    flag = (outcome.retry_flag or "").strip().upper()
    assert decision.outcome is (S if flag in ("", "N") else R)


# ------------------------------------------------------------------ alipay-sn names another certificate


def test_unexpected_signer_refreshes_the_secret_then_is_a_config_error() -> None:
    failure = AlipayFailure(FailureKind.UNEXPECTED_SIGNER, "alipay-sn", http_status=200)
    first = classify(failure)
    check(first, R, N, True)
    persisting = classify(failure, after_secret_refresh=True)
    check(persisting, C, SLOW, False)
    assert persisting.remedy is not None
    assert "certificate changed" in persisting.remedy and "alipay_cert" in persisting.remedy


def test_after_a_refresh_other_failures_classify_as_before() -> None:
    for failure in (
        AlipayFailure(FailureKind.BAD_SIGNATURE, "forged", http_status=200),
        AlipayFailure(FailureKind.TIMEOUT, "t"),
        v3(401, "invalid-signature"),
    ):
        assert classify(failure, after_secret_refresh=True) == classify(failure)


@pytest.mark.parametrize(
    ("kind", "message", "fragment"),
    [
        (
            FailureKind.NOT_OUR_ANSWER,
            "HTTP 200: signed success names a different trade_no",
            "different trade_no",
        ),
        (
            FailureKind.MALFORMED,
            "HTTP 200: success field action is neither close nor refund",
            "neither close",
        ),
        (FailureKind.REFUSED_BODY, "HTTP 200 answer is larger than 65536 bytes", "65536 bytes"),
    ],
)
def test_answers_that_are_not_ours_or_not_sane_are_retried_with_the_reason(
    kind: FailureKind, message: str, fragment: str
) -> None:
    decision = classify(AlipayFailure(kind, message, http_status=200, verified=True))
    check(decision, R, N, False)
    assert fragment in decision.reason and "HTTP 200: signed" not in decision.reason
