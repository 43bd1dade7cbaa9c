"""The whole v3 common error vocabulary is classified, group by group, with a remedy.

The codes are parsed out of tests/data/v3-common-error-codes.md (a copy of the published list,
grouped), so a code missing from ``GATEWAY_RULES`` fails here rather than surfacing as "unknown,
retried" in production.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alipay_cancel.alipay.responses import AlipayFailure, FailureKind
from alipay_cancel.decisions.alipay_codes import BUSINESS_RULES, GATEWAY_RULES
from alipay_cancel.decisions.classification import RetryDelay, classify
from alipay_cancel.shared.endings import Ending

SPEC = Path(__file__).parent / "data" / "v3-common-error-codes.md"
R, T, C = Ending.RETRY, Ending.TERMINAL, Ending.CONFIG_ERROR
SLOW, NORMAL = RetryDelay.SLOW, RetryDelay.NORMAL

# spec group heading (its bold words) -> (class, delay, a word the remedy must contain)
EXPECTED = {
    "Rate and quota limits": (R, SLOW, "MAX_CONCURRENCY"),
    "The merchant's authorisation (ISV `app_auth_token`)": (T, None, "re-authorise"),
    "Our app, keys and certificates": (C, SLOW, ""),
    "Encryption": (C, SLOW, "encrypt_key"),
    "Time": (R, NORMAL, "clock"),
    "Our request is malformed": (C, SLOW, "escalate"),
    "Alipay's side": (R, NORMAL, "retried automatically"),
    "Not about cancel": (C, SLOW, "escalate"),
}
# Decided differently from their group (docs/contracts.md "Outcomes" says why).
EXCEPTIONS = {"missing-timestamp": (C, SLOW, "escalate")}  # we always send one: a broken request


def spec_groups() -> dict[str, list[str]]:
    text = SPEC.read_text()
    groups: dict[str, list[str]] = {}
    for heading, body in re.findall(r"^- \*\*(.+?)\*\*(.*?)(?=^- \*\*|^\S|\Z)", text, re.M | re.S):
        codes = [code.strip() for quoted in re.findall(r"`([^`]+)`", body) for code in quoted.split(",")]
        groups[heading] = [code for code in codes if code != "app_auth_token"]
    return groups


def all_codes() -> list[tuple[str, str]]:
    return [(group, code) for group, codes in spec_groups().items() for code in codes]


def test_the_spec_copy_parses_into_its_eight_groups() -> None:
    groups = spec_groups()
    assert set(groups) == set(EXPECTED)
    assert sum(len(codes) for codes in groups.values()) >= 90
    assert "app-cert-expired" in groups["Our app, keys and certificates"]  # shares a backtick pair


@pytest.mark.parametrize(("group", "code"), all_codes())
def test_every_listed_code_and_its_isv_twin_is_classified_by_its_group(group: str, code: str) -> None:
    outcome, delay, word = EXCEPTIONS.get(code, EXPECTED[group])
    for spelled in (code, "isv." + code):
        assert spelled in GATEWAY_RULES, f"{spelled} is missing from GATEWAY_RULES"
        for failure in (
            AlipayFailure(FailureKind.V3_ERROR, "m", http_status=400, code=spelled, verified=True),
            AlipayFailure(FailureKind.BUSINESS, "m", http_status=200, code="40004", sub_code=spelled,
                          verified=True),
        ):  # fmt: skip
            decision = classify(failure)
            assert (decision.outcome, decision.delay) == (outcome, delay), (spelled, decision)
            assert decision.remedy and word in decision.remedy, (spelled, decision.remedy)


def test_config_errors_name_what_to_fix() -> None:
    names = {
        "illegal-client-ip": "IP allow-list",
        "app-cert-expired": "app_cert",
        "alipay-cert-not-exist": "alipay_cert",
        "invalid-alipay-root-cert-sn": "alipay_root_cert",
        "invalid-app-state": "status",
        "forbidden-api": "alipay.trade.cancel",
        "invalid-signature": "private_key",
        "unsupported-expired-app-key-sign": "key pair",
        "invalid-app-id": "app_id",
    }
    for code, fix in names.items():
        remedy = classify(AlipayFailure(FailureKind.V3_ERROR, "m", 400, code, verified=True)).remedy
        assert remedy is not None and fix in remedy, (code, remedy)


def test_a_rate_limit_is_slow_whatever_the_status() -> None:
    for status in (400, 403, 429, 503):
        failure = AlipayFailure(FailureKind.V3_ERROR, "m", status, "app-call-limited", verified=False)
        assert classify(failure).delay is SLOW


def test_an_unlisted_code_is_still_retried() -> None:
    decision = classify(AlipayFailure(FailureKind.V3_ERROR, "m", 400, "brand-new-code", verified=True))
    assert (decision.outcome, decision.delay) == (R, NORMAL)


# The v3 codes the README's outcome table names that the published grouped list leaves out.
README_ONLY_CODES = {"insufficient-permissions", "missing-nonce", "nonce-reused", "rate-limited"}


def test_the_table_holds_exactly_the_listed_codes_each_with_its_isv_twin() -> None:
    """A code dropped, misspelt or added by accident changes a decision: the key set is exact."""
    codes = {code for _, code in all_codes()} | README_ONLY_CODES
    assert set(GATEWAY_RULES) == codes | {"isv." + code for code in codes}
    for code in codes:
        assert GATEWAY_RULES["isv." + code] is GATEWAY_RULES[code]


# alipay.trade.cancel's business codes: the nine Alipay's documentation lists for its v3 errors
# (AQC.SYSTEM_ERROR spelt so there), and ACQ.TRADE_HAS_SUCCESS, the seed's example answer.
CANCEL_CODES = {
    "ACQ.CANCEL_NOT_ALLOWED",
    "ACQ.INVALID_PARAMETER",
    "ACQ.REASON_TRADE_BEEN_FREEZEN",
    "ACQ.REASON_TRADE_REFUND_FEE_ERR",
    "ACQ.SELLER_BALANCE_NOT_ENOUGH",
    "ACQ.SYSTEM_ERROR",
    "ACQ.TRADE_CANCEL_TIME_OUT",
    "ACQ.TRADE_HAS_FINISHED",
    "AQC.SYSTEM_ERROR",
    "ACQ.TRADE_HAS_SUCCESS",
}


def test_cancels_table_holds_exactly_its_documented_codes() -> None:
    """A code dropped or misspelt would be read by the generic rules instead (a *.SYSTEM_ERROR as
    "Alipay reported an internal error", anything else as a code this service does not know)."""
    assert set(BUSINESS_RULES) == CANCEL_CODES


@pytest.mark.parametrize("code", sorted(CANCEL_CODES))
def test_a_documented_cancel_code_is_read_by_its_own_rule(code: str) -> None:
    decision = classify(AlipayFailure(FailureKind.V3_ERROR, "m", 400, code, verified=True))
    assert decision.reason.startswith(BUSINESS_RULES[code].what), decision.reason


def test_every_rule_says_what_happened_and_what_to_do() -> None:
    """What a record's error_message starts with and its remedy: never empty, never None."""
    for code, rule in (*GATEWAY_RULES.items(), *BUSINESS_RULES.items()):
        assert isinstance(rule.what, str) and len(rule.what.split()) >= 3, code
        assert isinstance(rule.remedy, str) and rule.remedy.rstrip().endswith("."), code
        assert "None" not in rule.what + rule.remedy, code
