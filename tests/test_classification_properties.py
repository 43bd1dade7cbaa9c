"""classify, drawn as Alipay answers come: kind, HTTP status, code and sub_code together.

The strategies draw every documented code in every spelling Alipay uses (``isv.``, ``aop.``), the
codes of each family that Alipay may add later (unknown ``missing-*``, 20001/40001/40002/40006 sub
codes, ``ACQ.*`` business codes) and plain noise, under every kind and the statuses that decide.
Derandomized (tests/conftest.py): every run draws the same examples.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.decisions.alipay_codes import BUSINESS_RULES, GATEWAY_RULES, RETRY_SAME
from alipay_cancel.decisions.classification import RetryDelay, classify
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import Op

S, R, T, C = Ending.SUCCEEDED, Ending.RETRY, Ending.TERMINAL, Ending.CONFIG_ERROR
SLOW, NORMAL = RetryDelay.SLOW, RetryDelay.NORMAL

# Words that Alipay's codes are made of: unknown codes of each family are built from them.
_PARTS = st.sampled_from(["new", "auth", "app", "trade", "limit", "sign", "x2", "key"])
_WORDS = st.lists(_PARTS, min_size=1, max_size=3).map("-".join)
_UPPER = st.lists(_PARTS.map(str.upper), min_size=1, max_size=3).map("_".join)

KNOWN_GATEWAY = sorted(GATEWAY_RULES)
KNOWN_BUSINESS = sorted(BUSINESS_RULES)
UNKNOWN_GATEWAY = _WORDS.filter(lambda c: c not in GATEWAY_RULES and "app-auth-token" not in c)
UNKNOWN_MISSING = _WORDS.map(lambda c: "missing-" + c).filter(lambda c: c not in GATEWAY_RULES)
UNKNOWN_BUSINESS = _UPPER.map(lambda c: "ACQ.ZZ_" + c)  # ZZ_: never a real code, never SYSTEM_ERROR

sub_codes = st.one_of(
    st.none(),
    st.sampled_from(KNOWN_GATEWAY + KNOWN_BUSINESS),
    st.sampled_from(KNOWN_BUSINESS).map(lambda c: "aop." + c),
    UNKNOWN_GATEWAY,
    UNKNOWN_GATEWAY.map(lambda c: "isv." + c),
    UNKNOWN_MISSING,
    UNKNOWN_BUSINESS,
    st.text(max_size=20),
)
codes = st.one_of(
    st.sampled_from(["10000", "20000", "20001", "40001", "40002", "40004", "40006", "40099", ""]),
    sub_codes,
)
statuses = st.one_of(
    st.none(),
    st.sampled_from([200, 301, 400, 401, 403, 404, 405, 408, 409, 425, 429, 499, 500, 501, 502, 503, 599]),
    st.integers(min_value=100, max_value=599),
)
failures = st.builds(
    AlipayFailure,
    kind=st.sampled_from(FailureKind),
    message=st.sampled_from(["", "m", "HTTP 500: text"]),
    http_status=statuses,
    code=codes,
    sub_code=sub_codes,
    verified=st.booleans(),
)


@settings(max_examples=700, deadline=None)
@given(failures, st.booleans())
def test_classify_never_raises_and_every_decision_is_complete(
    failure: AlipayFailure, refreshed: bool
) -> None:
    decision = classify(failure, after_secret_refresh=refreshed)
    assert decision.outcome in (R, T, C)  # never SUCCEEDED for a failure
    assert decision.reason and not decision.reason.startswith("None")
    if decision.outcome is T:
        assert decision.delay is None and decision.remedy
    elif decision.outcome is C:
        assert decision.delay is SLOW and decision.remedy
    else:
        assert decision.delay in (NORMAL, SLOW)


@settings(max_examples=400, deadline=None)
@given(failures.map(lambda f: AlipayFailure(**{**f.__dict__, "verified": False})))
def test_an_unverified_answer_is_never_terminal_nor_a_success(failure: AlipayFailure) -> None:
    assert classify(failure).outcome in (R, C)


@settings(max_examples=400, deadline=None)
@given(
    family=st.sampled_from(["20001", "40001", "40002", "40006"]),
    sub=st.one_of(st.none(), UNKNOWN_GATEWAY, UNKNOWN_GATEWAY.map(lambda c: "isv." + c), UNKNOWN_MISSING),
    verified=st.booleans(),
)
def test_an_unknown_code_of_a_configuration_family_is_a_configuration_error(
    family: str, sub: str | None, verified: bool
) -> None:
    """20001 (authorisation), 40001 (missing parameter), 40002 (invalid parameter) and 40006
    (permissions) are about our deployment: a sub_code Alipay adds later keeps the message (alarm)."""
    kind = FailureKind.SERVICE_UNAVAILABLE if family == "20001" else FailureKind.BUSINESS
    failure = AlipayFailure(kind, "m", http_status=200, code=family, sub_code=sub, verified=verified)
    decision = classify(failure)
    assert (decision.outcome, decision.delay) == (C, SLOW), decision
    assert decision.code == family and decision.sub_code == sub


@settings(max_examples=200, deadline=None)
@given(code=UNKNOWN_MISSING, status=st.sampled_from([400, 401, 403, 404, 422]), verified=st.booleans())
@example(code="missing-new-header", status=400, verified=True)
def test_an_unknown_missing_code_is_our_broken_request(code: str, status: int, verified: bool) -> None:
    decision = classify(AlipayFailure(FailureKind.V3_ERROR, "m", status, code, verified=verified))
    assert (decision.outcome, decision.delay) == (C, SLOW)
    assert decision.remedy and "escalate" in decision.remedy


@settings(max_examples=300, deadline=None)
@given(
    status=st.one_of(st.integers(min_value=500, max_value=599), st.sampled_from([408, 425, 429])),
    code=st.one_of(st.sampled_from(KNOWN_BUSINESS + KNOWN_GATEWAY), UNKNOWN_BUSINESS, UNKNOWN_MISSING),
    verified=st.booleans(),
)
def test_a_temporary_http_status_is_retried_whatever_the_code(status: int, code: str, verified: bool) -> None:
    decision = classify(AlipayFailure(FailureKind.V3_ERROR, "m", status, code, verified=verified))
    assert decision.outcome is R, decision


@pytest.mark.parametrize("status", [500, 501, 503])
def test_a_signed_http_500_with_a_business_code_is_retried_not_dead_lettered(status: int) -> None:
    failure = AlipayFailure(FailureKind.V3_ERROR, "m", status, "ACQ.TRADE_HAS_FINISHED", verified=True)
    decision = classify(failure)
    assert (decision.outcome, decision.delay) == (R, NORMAL)
    assert f"HTTP {status}" in decision.reason and "temporary" in decision.reason


def test_a_signed_http_499_with_a_business_code_is_decided_by_the_code() -> None:
    failure = AlipayFailure(FailureKind.V3_ERROR, "m", 400, "ACQ.TRADE_HAS_FINISHED", verified=True)
    assert classify(failure).outcome is T
    failure = AlipayFailure(FailureKind.V3_ERROR, "m", 499, "invalid-app-id", verified=True)
    assert classify(failure).outcome is C


@pytest.mark.parametrize("code", ["40004", "aop-v3"])
@pytest.mark.parametrize(
    ("sub", "outcome", "delay"),
    [
        ("aop.ACQ.SELLER_BALANCE_NOT_ENOUGH", R, SLOW),
        ("aop.ACQ.SYSTEM_ERROR", R, NORMAL),
        ("aop.ACQ.TRADE_HAS_FINISHED", T, None),
        ("ACQ.SELLER_BALANCE_NOT_ENOUGH", R, SLOW),
    ],
)
def test_the_aop_prefix_of_a_business_code_is_read_through(
    code: str, sub: str, outcome: Ending, delay: RetryDelay | None
) -> None:
    """``aop.ACQ.SELLER_BALANCE_NOT_ENOUGH`` is the merchant's balance (a slow retry), not an
    unknown business code (terminal)."""
    if code == "40004":
        failure = AlipayFailure(FailureKind.BUSINESS, "m", 200, "40004", sub, verified=True)
    else:
        failure = AlipayFailure(FailureKind.V3_ERROR, "m", 400, sub, verified=True)
    decision = classify(failure)
    assert (decision.outcome, decision.delay) == (outcome, delay)
    assert decision.remedy == BUSINESS_RULES[sub.removeprefix("aop.")].remedy


@pytest.mark.parametrize(
    "sub",
    ["aop.invalid-app-auth-token-v2", "isv.app-auth-token-revoked", "app-auth-token-something-new"],
)
def test_an_unknown_20001_sub_code_about_the_app_auth_token_is_the_token_rule(sub: str) -> None:
    decision = classify(AlipayFailure(FailureKind.SERVICE_UNAVAILABLE, "m", 200, "20001", sub, verified=True))
    assert decision.outcome is T
    assert decision.remedy and "re-authorise" in decision.remedy


@pytest.mark.parametrize("sub", ["aop.new-authorisation-problem", "isv.invalid-auth-thing", None])
def test_an_unknown_20001_sub_code_not_about_the_token_keeps_the_message(sub: str | None) -> None:
    decision = classify(AlipayFailure(FailureKind.SERVICE_UNAVAILABLE, "m", 200, "20001", sub, verified=True))
    assert (decision.outcome, decision.delay) == (C, SLOW)
    assert decision.remedy and "authoris" in decision.remedy


def test_20000_is_alipay_being_unavailable_whatever_the_sub_code() -> None:
    for sub in (None, "isv.invalid-app-auth-token", "ACQ.TRADE_HAS_FINISHED"):
        failure = AlipayFailure(FailureKind.SERVICE_UNAVAILABLE, "m", 200, "20000", sub, verified=True)
        decision = classify(failure)
        assert (decision.outcome, decision.delay) == (R, NORMAL), sub
        assert "unavailable" in decision.reason


# ------------------------------------------------------------------ answers whose signature is not trusted


def test_a_bad_response_signature_says_so_refreshes_the_secret_and_names_the_keys_to_check() -> None:
    for verified in (False, True):
        decision = classify(AlipayFailure(FailureKind.BAD_SIGNATURE, "m", 200, verified=verified))
        assert (decision.outcome, decision.delay, decision.refresh_secret) == (R, NORMAL, True)
        assert decision.reason.startswith("Alipay's response signature was missing or invalid")
        assert decision.remedy and "alipay_public_key" in decision.remedy and "proxy" in decision.remedy


def test_an_unexpected_signer_is_retried_once_with_a_refresh_then_kept_as_a_configuration_error() -> None:
    failure = AlipayFailure(FailureKind.UNEXPECTED_SIGNER, "m", 200)
    first = classify(failure)
    assert (first.outcome, first.delay, first.refresh_secret) == (R, NORMAL, True)
    assert first.reason.startswith("Alipay's response names (alipay-sn) a signing certificate")
    assert first.remedy and first.remedy.startswith("The signing secret is re-read automatically")
    assert "alipayCertPublicKey_RSA2.crt" in first.remedy  # and how to install the new certificate
    persists = classify(failure, after_secret_refresh=True)
    assert (persists.outcome, persists.delay, persists.refresh_secret) == (C, SLOW, False)
    assert "also after re-reading the signing secret" in persists.reason
    assert persists.remedy and persists.remedy.startswith("Alipay signs with a certificate other than")


# ------------------------------------------------------------------ each rule's words reach the record


@settings(max_examples=300, deadline=None)
@given(
    sub=st.sampled_from([c for c in KNOWN_GATEWAY if not c.startswith("isv.")]),
    spelling=st.sampled_from(["", "isv.", "aop."]),
    family=st.sampled_from(["20001", "40004"]),
)
def test_a_known_gateway_code_decides_in_every_spelling_and_family(
    sub: str, spelling: str, family: str
) -> None:
    """``aop.app-call-limited`` under 40004 is the rate limit (a slow retry), not an unknown business
    code (terminal); under 20001 a known code is that code's rule, with its remedy."""
    kind = FailureKind.SERVICE_UNAVAILABLE if family == "20001" else FailureKind.BUSINESS
    failure = AlipayFailure(kind, "m", 200, family, spelling + sub, verified=True)
    decision = classify(failure)
    rule = GATEWAY_RULES[sub]
    assert (decision.outcome, decision.remedy) == (rule.outcome, rule.remedy), decision
    assert decision.reason.startswith(rule.what)


@pytest.mark.parametrize("code", ["20000", "20001"])
@pytest.mark.parametrize("sub", [None, "isv.no-such-thing", "aop.invalid-app-auth-token", "isv.rate-limited"])
def test_the_seed_code_decides_whatever_kind_the_answer_was_read_as(code: str, sub: str | None) -> None:
    business = AlipayFailure(FailureKind.BUSINESS, "m", 200, code, sub, verified=True)
    unavailable = AlipayFailure(FailureKind.SERVICE_UNAVAILABLE, "m", 200, code, sub, verified=True)
    assert classify(business)._replace(reason="") == classify(unavailable)._replace(reason="")
    assert classify(business).reason.split(" (")[0] == classify(unavailable).reason.split(" (")[0]


def test_a_seed_error_without_sub_code_names_the_rule_of_its_family() -> None:
    def seed(code: str, sub: str | None = None) -> AlipayFailure:
        return AlipayFailure(FailureKind.BUSINESS, "m", 200, code, sub, verified=True)

    missing = classify(seed("40001"))
    assert missing.remedy == GATEWAY_RULES["missing-timestamp"].remedy  # our client is broken: escalate
    permissions = classify(seed("40006"))
    assert permissions.remedy and permissions.remedy.startswith("Add the product/feature package")
    invalid = classify(seed("40002", "isv.brand-new"))
    assert invalid.reason.startswith("Alipay rejected an argument of our request (not the trade ids)")
    assert invalid.remedy and "look up the sub_code" in invalid.remedy
    authorisation = classify(AlipayFailure(FailureKind.SERVICE_UNAVAILABLE, "m", 200, "20001", verified=True))
    assert authorisation.reason.startswith("Alipay says the authorisation behind our call is insufficient")


def test_an_unknown_business_code_is_dead_lettered_with_how_to_look_it_up() -> None:
    decision = classify(AlipayFailure(FailureKind.BUSINESS, "m", 200, "40004", "ACQ.ZZ_NEW", verified=True))
    assert decision.outcome is T
    assert decision.reason.startswith(
        "Alipay rejected the cancel with a business code this service does not know"
    )
    assert decision.remedy == (
        "Look up ACQ.ZZ_NEW in Alipay's alipay.trade.cancel error codes, resolve it for this trade, then "
        "redrive the dead letter (alipay-cancel redrive --trade-key <trade_key>)."
    )


@pytest.mark.parametrize("sub", ["aop.unknow-new-error", "isp.anything", "ACQ.NEW_SYSTEM_ERROR"])
def test_an_internal_error_of_alipay_under_40004_is_retried(sub: str) -> None:
    decision = classify(AlipayFailure(FailureKind.BUSINESS, "m", 200, "40004", sub, verified=True))
    assert (decision.outcome, decision.delay) == (R, NORMAL)
    assert decision.reason.startswith("Alipay reported an internal error")


@pytest.mark.parametrize("op", list(Op))
@pytest.mark.parametrize("code", ["AQC.SYSTEM_ERROR", "ACQ.NEW_SYSTEM_ERROR"])
def test_an_internal_error_code_is_retried_in_both_error_shapes_for_every_operation(
    code: str, op: Op
) -> None:
    """One an operation's table does not list (cancel's AQC.SYSTEM_ERROR answered to a query) is still
    Alipay's internal error, whether it comes as a v3 error or under 40004: never a dead letter."""
    v3 = classify(AlipayFailure(FailureKind.V3_ERROR, "m", 400, code, verified=True), op)
    seed = classify(AlipayFailure(FailureKind.BUSINESS, "m", 200, "40004", code, verified=True), op)
    for decision in (v3, seed):
        assert (decision.outcome, decision.delay) == (R, NORMAL), (op, decision)
        # cancel's own table names AQC.SYSTEM_ERROR; otherwise the code is read as what it looks like
        assert decision.reason.startswith(("Alipay had a system error", "Alipay reported an internal error"))


def test_each_operation_reads_a_code_from_its_own_table() -> None:
    """ACQ.TRADE_NOT_EXIST is close's (the trade is queried); cancel's table does not list it."""
    failure = AlipayFailure(FailureKind.V3_ERROR, "m", 400, "ACQ.TRADE_NOT_EXIST", verified=True)
    assert classify(failure, Op.CLOSE).reason.startswith("Alipay found no such trade to close")
    assert classify(failure, Op.CANCEL).reason.startswith(
        "Alipay rejected the cancel with a business code this service does not know"
    )


def test_an_unknown_business_code_in_the_v3_shape_is_dead_lettered_like_under_40004() -> None:
    decision = classify(AlipayFailure(FailureKind.V3_ERROR, "m", 400, "ACQ.ZZ_NEW", verified=True), Op.QUERY)
    assert decision.outcome is T
    assert decision.reason.startswith(
        "Alipay rejected the query with a business code this service does not know"
    )


@pytest.mark.parametrize("status", [300, 302, 399])
def test_a_redirect_is_a_wrong_endpoint(status: int) -> None:
    decision = classify(AlipayFailure(FailureKind.HTTP_ERROR, "m", status))
    assert (decision.outcome, decision.delay) == (C, SLOW)
    assert f"redirected us (HTTP {status})" in decision.reason


def test_the_unverified_rewrite_keeps_alipays_remedy_after_saying_why_it_is_not_trusted() -> None:
    failure = AlipayFailure(FailureKind.BUSINESS, "m", 200, "40004", "ACQ.TRADE_HAS_FINISHED")
    decision = classify(failure)
    genuine = BUSINESS_RULES["ACQ.TRADE_HAS_FINISHED"].remedy
    assert decision.remedy == (
        "Usually none: a proxy or network problem may have produced this response. If it repeats until the "
        "message is dead-lettered, check connectivity to Alipay, and act on Alipay's code if it is genuine: "
        + (genuine or "")
    )


def test_a_success_asking_for_a_retry_says_nothing_is_to_be_done() -> None:
    decision = classify(CancelSuccess("close", None, "T-1", None, "Y", None, None))
    assert (decision.outcome, decision.remedy) == (R, RETRY_SAME)


def test_a_success_with_an_action_we_do_not_know_says_so() -> None:
    decision = classify(CancelSuccess("void", None, "T-1", None, "N", None, None))
    assert (decision.outcome, decision.reason) == (S, "Alipay cancelled the trade (unrecognised action)")


def test_the_clients_message_reaches_the_reason_as_printable_ascii_of_bounded_length() -> None:
    message = "HTTP 200: field é\u200b" + "x" * 400
    decision = classify(AlipayFailure(FailureKind.MALFORMED, message, 200, verified=True))
    detail = decision.reason.split("(", 1)[1]
    assert detail.startswith("field x")  # the status prefix dropped, non-ASCII dropped
    assert detail.count("x") == 300 - len("HTTP 200: field ")


def test_the_reason_ends_with_what_alipay_answered_and_codes_are_stored_sanitised() -> None:
    v3 = classify(AlipayFailure(FailureKind.V3_ERROR, "m", 400, "ACQ.ZZ_NEW", verified=True))
    assert v3.reason.endswith("(HTTP 400, code ACQ.ZZ_NEW, v3_error)")
    seed = classify(AlipayFailure(FailureKind.BUSINESS, "m", 200, "40004", "ACQ.ZZ_NEW", verified=True))
    assert seed.reason.endswith("(HTTP 200, code 40004, sub_code ACQ.ZZ_NEW, business)")
    timeout = classify(AlipayFailure(FailureKind.TIMEOUT, "read timed out"))
    assert timeout.reason.endswith("whether the cancel happened is unknown (timeout)")
    hostile = classify(AlipayFailure(FailureKind.V3_ERROR, "m", 400, " ACQ.X\n<b> ", verified=True))
    assert (hostile.code, hostile.sub_code) == ("ACQ.X??b?", None)


@pytest.mark.parametrize("status", [404, 405])
def test_a_missing_path_is_a_wrong_endpoint(status: int) -> None:
    decision = classify(AlipayFailure(FailureKind.HTTP_ERROR, "m", status))
    assert (decision.outcome, decision.delay) == (C, SLOW)
    assert (
        decision.reason
        == f"the Alipay endpoint does not serve /v3/alipay/trade/cancel (HTTP {status}, http_error)"
    )
    assert decision.remedy and decision.remedy.startswith("ALIPAY_ENDPOINT points at the wrong host or path")


def test_a_decision_without_codes_or_remedy_carries_none_not_empty_text() -> None:
    """None means absent: the record then has no error_code, error_sub_code or remedy attribute."""
    for outcome in (
        CancelSuccess("close", None, "T-1", None, "N", None, None),
        CancelSuccess("close", None, "T-1", None, "Y", None, None),
        AlipayFailure(FailureKind.TIMEOUT, "t"),
    ):
        decision = classify(outcome)
        assert (decision.code, decision.sub_code) == (None, None), outcome
        if decision.outcome is S or isinstance(outcome, AlipayFailure):
            assert decision.remedy is None, outcome


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_say_so_and_what_to_check(status: int) -> None:
    decision = classify(AlipayFailure(FailureKind.HTTP_ERROR, "m", status))
    assert (decision.outcome, decision.delay) == (C, SLOW)
    assert decision.reason == f"Alipay refused our credentials (HTTP {status}) (HTTP {status}, http_error)"
    assert decision.remedy and "proxy or WAF" in decision.remedy
