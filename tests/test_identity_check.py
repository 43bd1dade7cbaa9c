"""decisions.identity_check: the message's merchant against Alipay's answer about its token, exhaustively.

Every shape of answer: a valid token (the message's merchant or another), an invalid one, and every
kind of failure with the codes that matter (the token codes verified and not, our configuration,
limits, a trade API's business code that says nothing about a token)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alipay_cancel.alipay.responses import AlipayFailure, FailureKind, TokenInfo, TokenStatus
from alipay_cancel.decisions.alipay_codes import GATEWAY_RULES, TOKEN_RULE, RetryDelay
from alipay_cancel.decisions.classification import gateway_rule
from alipay_cancel.decisions.identity_check import (
    AUTHORISATION_ENDED,
    CHECKING,
    MerchantConfirmed,
    MerchantMismatch,
    TokenUnconfirmed,
    check_identity,
)
from alipay_cancel.shared.endings import Ending

MERCHANT_A, MERCHANT_B = "2088000000000001", "2088000000000002"
TOKEN_CODES = sorted(code for code, rule in GATEWAY_RULES.items() if rule is TOKEN_RULE)


def _info(
    status: TokenStatus = TokenStatus.VALID, user_id: str | None = MERCHANT_A, **extra: object
) -> TokenInfo:
    fields: dict[str, object] = {
        "status": status,
        "user_id": user_id,
        "auth_app_id": "2021000000000777",
        "expires_in": 3600,
        "auth_start": None,
        "auth_end": None,
        "auth_methods": ("alipay.trade.cancel",),
        "is_by_app_auth": False,
        "trace_id": "trace-1",
    }
    return TokenInfo(**{**fields, **extra})  # type: ignore[arg-type]


def _failure(kind: FailureKind, **fields: object) -> AlipayFailure:
    return AlipayFailure(kind=kind, message="HTTP 400: refused", **fields)  # type: ignore[arg-type]


def _decision(verdict: object) -> TokenUnconfirmed:
    assert isinstance(verdict, TokenUnconfirmed), verdict
    return verdict


def test_the_tokens_own_merchant_is_confirmed() -> None:
    assert check_identity(MERCHANT_A, _info(user_id=MERCHANT_A)) == MerchantConfirmed(MERCHANT_A)


def test_another_merchants_token_is_a_mismatch_naming_both_merchants() -> None:
    verdict = check_identity(MERCHANT_B, _info(user_id=MERCHANT_A))
    assert verdict == MerchantMismatch(claimed=MERCHANT_B, actual=MERCHANT_A)
    assert isinstance(verdict, MerchantMismatch)
    assert verdict.reason == (
        f"merchant_id {MERCHANT_B} is not the merchant the app_auth_token belongs to: Alipay says the "
        f"token is merchant {MERCHANT_A}'s. The message is mislabelled (nothing was cancelled or "
        "recorded for either merchant); send a new message whose merchant_id and app_auth_token are "
        "the same merchant's"
    )


@pytest.mark.parametrize("claimed", [MERCHANT_A + " ", "2088000000000001".lower() + "0", "2O88000000000001"])
def test_only_the_exact_merchant_id_is_confirmed(claimed: str) -> None:
    assert isinstance(check_identity(claimed, _info(user_id=MERCHANT_A)), MerchantMismatch)


def test_the_merchants_authorised_app_is_not_compared_with_ours() -> None:
    """auth_app_id is the merchant's app (Alipay's 授权商户的appid), never one of ours."""
    for auth_app_id in (None, "2021000000000001", "2021999999999999"):
        verdict = check_identity(MERCHANT_A, _info(auth_app_id=auth_app_id))
        assert verdict == MerchantConfirmed(MERCHANT_A)


@pytest.mark.parametrize("user_id", [MERCHANT_A, MERCHANT_B, None])
def test_an_invalid_token_is_the_token_ending_whoever_it_names(user_id: str | None) -> None:
    decision = _decision(check_identity(MERCHANT_A, _info(TokenStatus.INVALID, user_id=user_id))).decision
    assert decision.outcome is Ending.TERMINAL
    assert decision.reason == AUTHORISATION_ENDED
    assert decision.remedy == TOKEN_RULE.remedy
    assert not decision.refresh_secret


@pytest.mark.parametrize("kind", [FailureKind.TIMEOUT, FailureKind.CONNECTION])
def test_alipay_unreachable_is_retried(kind: FailureKind) -> None:
    decision = _decision(check_identity(MERCHANT_A, _failure(kind))).decision
    assert (decision.outcome, decision.delay) == (Ending.RETRY, RetryDelay.NORMAL)
    assert decision.reason.startswith(CHECKING + ": ")


def test_an_untrusted_answer_is_retried_after_re_reading_the_secret() -> None:
    decision = _decision(check_identity(MERCHANT_A, _failure(FailureKind.BAD_SIGNATURE))).decision
    assert decision.outcome is Ending.RETRY and decision.refresh_secret


def test_alipay_rejecting_our_signature_is_our_configuration() -> None:
    failure = _failure(FailureKind.V3_ERROR, http_status=401, code="invalid-signature", verified=True)
    decision = _decision(check_identity(MERCHANT_A, failure)).decision
    assert decision.outcome is Ending.CONFIG_ERROR and decision.refresh_secret
    assert decision.delay is RetryDelay.SLOW
    assert decision.reason.startswith(CHECKING + ": Alipay says our request signature is invalid")


def test_an_unexpected_signer_is_configuration_once_the_secret_was_re_read() -> None:
    failure = _failure(FailureKind.UNEXPECTED_SIGNER)
    assert _decision(check_identity(MERCHANT_A, failure)).decision.outcome is Ending.RETRY
    after = _decision(check_identity(MERCHANT_A, failure, after_secret_refresh=True)).decision
    assert after.outcome is Ending.CONFIG_ERROR


@pytest.mark.parametrize("code", TOKEN_CODES)
def test_a_verified_token_code_is_the_token_ending(code: str) -> None:
    failure = _failure(FailureKind.V3_ERROR, http_status=401, code=code, verified=True)
    decision = _decision(check_identity(MERCHANT_A, failure)).decision
    assert decision.outcome is Ending.TERMINAL
    assert decision.remedy == TOKEN_RULE.remedy
    assert decision.reason.startswith(f"{CHECKING}: {TOKEN_RULE.what}")


@pytest.mark.parametrize("code", ["isv.invalid-app-auth-token", "aop.app-auth-token-time-out"])
def test_a_token_code_in_the_envelope_is_the_token_ending(code: str) -> None:
    for envelope in ("40004", "20001"):
        failure = _failure(FailureKind.BUSINESS, code=envelope, sub_code=code, verified=True)
        assert _decision(check_identity(MERCHANT_A, failure)).decision.outcome is Ending.TERMINAL


def test_an_unsigned_token_code_is_not_trusted_enough_to_end_the_message() -> None:
    failure = _failure(FailureKind.V3_ERROR, http_status=401, code="invalid-app-auth-token", verified=False)
    decision = _decision(check_identity(MERCHANT_A, failure)).decision
    assert decision.outcome is Ending.RETRY


@pytest.mark.parametrize(
    "failure",
    [
        _failure(FailureKind.V3_ERROR, http_status=400, code="ACQ.TRADE_HAS_FINISHED", verified=True),
        _failure(FailureKind.V3_ERROR, http_status=400, code="ACQ.SOMETHING_NEW", verified=True),
        _failure(FailureKind.BUSINESS, code="40004", sub_code="ACQ.INVALID_PARAMETER", verified=True),
    ],
    ids=["cancel code", "unknown business code", "envelope business code"],
)
def test_a_business_code_that_says_nothing_about_the_token_is_retried(failure: AlipayFailure) -> None:
    decision = _decision(check_identity(MERCHANT_A, failure)).decision
    assert (decision.outcome, decision.delay) == (Ending.RETRY, RetryDelay.NORMAL)
    assert decision.reason.startswith(CHECKING + ": ")
    assert decision.reason.endswith(
        "; a code that says nothing about the token cannot end the message: retrying"
    )
    assert decision.code == failure.code and decision.sub_code == failure.sub_code


def test_a_rate_limit_waits_longer() -> None:
    failure = _failure(FailureKind.V3_ERROR, http_status=429, code="app-call-limited", verified=True)
    decision = _decision(check_identity(MERCHANT_A, failure)).decision
    assert (decision.outcome, decision.delay) == (Ending.RETRY, RetryDelay.SLOW)


_MERCHANTS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
_CODES = st.one_of(
    st.none(),
    st.sampled_from(sorted(GATEWAY_RULES)),
    st.sampled_from(["40004", "20000", "20001", "ACQ.TRADE_HAS_FINISHED", "ACQ.SYSTEM_ERROR", "X.Y"]),
    st.text(max_size=12),
)
_FAILURES = st.builds(
    AlipayFailure,
    kind=st.sampled_from(list(FailureKind)),
    message=st.just("HTTP 400: refused"),
    http_status=st.one_of(st.none(), st.sampled_from([200, 301, 400, 401, 403, 404, 429, 500, 503])),
    code=_CODES,
    sub_code=_CODES,
    verified=st.booleans(),
)


@given(claimed=_MERCHANTS, actual=_MERCHANTS)
def test_a_valid_token_is_confirmed_exactly_when_the_merchants_are_equal(claimed: str, actual: str) -> None:
    verdict = check_identity(claimed, _info(user_id=actual))
    if claimed == actual:
        assert verdict == MerchantConfirmed(actual)
    else:
        assert verdict == MerchantMismatch(claimed=claimed, actual=actual)


@given(failure=_FAILURES, after=st.booleans())
def test_a_failure_never_confirms_and_ends_the_message_only_for_a_verified_token_code(
    failure: AlipayFailure, after: bool
) -> None:
    decision = _decision(check_identity(MERCHANT_A, failure, after_secret_refresh=after)).decision
    assert decision.outcome is not Ending.SUCCEEDED
    assert decision.reason.startswith(CHECKING + ": ")
    if decision.outcome is Ending.TERMINAL:
        assert failure.verified
        assert decision.remedy == TOKEN_RULE.remedy
        assert TOKEN_RULE in (gateway_rule(failure.code), gateway_rule(failure.sub_code))
    if decision.outcome is Ending.RETRY:
        assert decision.delay is not None
