"""The settle flow's code tables: every business code Alipay documents for query, close, refund and the
refund query, with the class Alipay's notes give it for us, and what a person reads in a dead letter."""

from __future__ import annotations

import pytest

from alipay_cancel.decisions.alipay_codes import BUSINESS_RULES, SETTLED_BY_QUERY, RetryDelay, Rule
from alipay_cancel.decisions.operation_codes import (
    CLOSE_RULES,
    OPERATION_RULES,
    QUERY_RULES,
    REFUND_QUERY_RULES,
    REFUND_RULES,
    SETTLE_CODES,
)
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import Op
from alipay_cancel_ops.queues import DeadLetterView
from alipay_cancel_ops.redrive_plan import redrive_blocker

R, SLOW, T, SETTLE = "retry", "slow", "terminal", "settle"

# Alipay's documented codes per operation (the v3 SDK's error enums) and what each means for us:
# retry, retry slowly (someone must act), terminal (no call settles it), or settled by the flow.
EXPECTED: dict[Op, dict[str, str]] = {
    Op.QUERY: {
        "ACQ.SYSTEM_ERROR": R,
        "ACQ.ENTERPRISE_PAY_BIZ_ERROR": R,
        "ACQ.INVALID_PARAMETER": T,
        "ACQ.TRADE_NOT_EXIST": SETTLE,
    },
    Op.CLOSE: {
        "ACQ.SYSTEM_ERROR": R,
        "ACQ.INVALID_PARAMETER": T,
        "ACQ.TRADE_NOT_EXIST": SETTLE,
        "ACQ.TRADE_STATUS_ERROR": SETTLE,
        "ACQ.REASON_TRADE_STATUS_INVALID": SETTLE,
        "ACQ.REASON_ILLEGAL_STATUS": SETTLE,
    },
    Op.REFUND: {
        "ACQ.SYSTEM_ERROR": R,
        "ACQ.REFUND_CHARGE_ERROR": R,
        "ACQ.SELLER_BALANCE_NOT_ENOUGH": SLOW,
        "ACQ.REFUNDALLOC_UNAUTH_LIMIT": SLOW,
        "ACQ.DISCORDANT_REPEAT_REQUEST": T,
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL": T,
        "ACQ.REASON_TRADE_REFUND_FEE_ERR": T,
        "ACQ.REFUND_FEE_ERROR": T,
        "ACQ.INVALID_PARAMETER": T,
        "ACQ.CURRENCY_NOT_SUPPORT": T,
        "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR": T,
        "ACQ.TRADE_SETTLE_ERROR": T,
        "ACQ.REFUND_ROYALTY_PAYEE_ACCOUNT_NOT_EXIST": T,
        "ACQ.REFUND_ACCOUNT_NOT_EXIST": T,
        "ACQ.OVERDRAFT_AGREEMENT_NOT_MATCH": T,
        "ACQ.OVERDRAFT_ASSIGN_ACCOUNT_INVALID": T,
        "ACQ.ENTERPRISE_PAY_BIZ_ERROR": T,
        "ACQ.TRADE_NOT_EXIST": SETTLE,
        "ACQ.TRADE_STATUS_ERROR": SETTLE,
        "ACQ.TRADE_NOT_ALLOW_REFUND": T,
        "ACQ.REASON_TRADE_STATUS_INVALID": T,
        "ACQ.TRADE_HAS_CLOSE": SETTLE,
        "ACQ.TRADE_HAS_FINISHED": SETTLE,
        "ACQ.NOT_ALLOW_PARTIAL_REFUND": T,
        "ACQ.ONLINE_TRADE_VOUCHER_NOT_ALLOW_REFUND": T,
        "ACQ.BUYER_NOT_EXIST": T,
        "ACQ.BUYER_ERROR": T,
        "ACQ.BUYER_ENABLE_STATUS_FORBID": T,
        "ACQ.CUSTOMER_VALIDATE_ERROR": T,
        "ACQ.REASON_TRADE_BEEN_FREEZEN": T,
        "ACQ.USER_NOT_MATCH_ERR": T,
    },
    Op.REFUND_QUERY: {
        "ACQ.SYSTEM_ERROR": R,
        "ACQ.ENTERPRISE_PAY_BIZ_ERROR": R,
        "ACQ.INVALID_PARAMETER": T,
        "TRADE_NOT_EXIST": SETTLE,
        "ACQ.TRADE_NOT_EXIST": SETTLE,
    },
}


def _class(op: Op, code: str, rule: Rule) -> str:
    if code in SETTLE_CODES[op]:
        return SETTLE
    if rule.outcome is Ending.RETRY:
        return SLOW if rule.slow else R
    assert rule.outcome is Ending.TERMINAL, (op, code, rule.outcome)
    return T


@pytest.mark.parametrize("op", list(EXPECTED))
def test_every_documented_code_has_its_class(op: Op) -> None:
    rules = OPERATION_RULES[op]
    assert {code: _class(op, code, rule) for code, rule in rules.items()} == EXPECTED[op]


def test_the_refund_table_holds_alipays_31_codes() -> None:
    assert len(REFUND_RULES) == 31
    assert (len(QUERY_RULES), len(CLOSE_RULES), len(REFUND_QUERY_RULES)) == (4, 6, 5)


def test_cancel_settles_what_it_cannot_by_query_and_keeps_its_other_codes() -> None:
    assert SETTLE_CODES[Op.CANCEL] == {
        "ACQ.TRADE_CANCEL_TIME_OUT",
        "ACQ.CANCEL_NOT_ALLOWED",
        "ACQ.TRADE_HAS_SUCCESS",
        "ACQ.REASON_TRADE_REFUND_FEE_ERR",
    }
    assert SETTLE_CODES[Op.CANCEL] <= set(BUSINESS_RULES)
    # Finished and frozen trades, and a rejected request: no call settles them.
    for code in ("ACQ.TRADE_HAS_FINISHED", "ACQ.REASON_TRADE_BEEN_FREEZEN", "ACQ.INVALID_PARAMETER"):
        assert code not in SETTLE_CODES[Op.CANCEL]
        assert BUSINESS_RULES[code].outcome is Ending.TERMINAL


@pytest.mark.parametrize("op", list(OPERATION_RULES))
def test_every_settle_code_of_an_operation_has_a_rule_for_an_unverified_answer(op: Op) -> None:
    rules = OPERATION_RULES[op]
    for code in SETTLE_CODES[op]:
        # An unverified answer is never settled on: its rule is terminal (classification turns an
        # unverified terminal answer into a retry), and it needs nobody when genuine.
        assert rules[code].outcome is Ending.TERMINAL
        assert rules[code].remedy == SETTLED_BY_QUERY


RULES = [(op, code, rule) for op, rules in OPERATION_RULES.items() for code, rule in rules.items()]


@pytest.mark.parametrize(("op", "code", "rule"), RULES, ids=[f"{op}-{code}" for op, code, _ in RULES])
def test_every_rule_says_what_happened_and_what_to_do_without_alipay_by_hand(
    op: Op, code: str, rule: Rule
) -> None:
    assert rule.what and rule.remedy
    assert not rule.refresh_secret
    # No dead letter tells a person to run Alipay's query, refund or close by hand anymore.
    assert "alipay.trade." not in f"{rule.what} {rule.remedy}"
    assert rule.slow is (EXPECTED[op][code] == SLOW)


def _letter(outcome_class: str, reason: str) -> DeadLetterView:
    attributes = {"trade_key": "k", "reason": reason, "outcome_class": outcome_class}
    return DeadLetterView("m", "rh", '{"out_trade_no": "k"}', attributes, {})


# Dead letters a redrive can settle: a frozen trade once Alipay released it; a balance topped up or
# royalty returns enabled after the retries ran out; Alipay's failures that persisted.
REDRIVABLE = {
    "ACQ.REASON_TRADE_BEEN_FREEZEN",
    "ACQ.SELLER_BALANCE_NOT_ENOUGH",
    "ACQ.REFUNDALLOC_UNAUTH_LIMIT",
    "ACQ.ENTERPRISE_PAY_BIZ_ERROR",
    "ACQ.SYSTEM_ERROR",
    "ACQ.REFUND_CHARGE_ERROR",
}


@pytest.mark.parametrize(("op", "code", "rule"), RULES, ids=[f"{op}-{code}" for op, code, _ in RULES])
def test_the_redrive_plan_knows_which_dead_letters_a_redrive_can_settle(
    op: Op, code: str, rule: Rule
) -> None:
    if code in SETTLE_CODES[op]:
        return  # never a dead letter of its own: settled, or (unverified) retried until exhausted
    outcome_class = "terminal" if rule.outcome is Ending.TERMINAL else "exhausted"
    blocker = redrive_blocker(_letter(outcome_class, f"{rule.what}. {rule.remedy}"))
    redrivable = code in REDRIVABLE and not (op is Op.REFUND and code == "ACQ.ENTERPRISE_PAY_BIZ_ERROR")
    assert (blocker is None) is redrivable, (op, code, blocker)


def test_slow_rules_are_retried_slowly() -> None:
    slow = {(op, code) for op, code, rule in RULES if rule.slow}
    assert slow == {(Op.REFUND, "ACQ.SELLER_BALANCE_NOT_ENOUGH"), (Op.REFUND, "ACQ.REFUNDALLOC_UNAUTH_LIMIT")}
    assert RetryDelay.SLOW.value == "slow"
