"""A business code this service does not know, met by any operation of the settle flow: terminal, and
its remedy sends a person to that operation's own error codes at Alipay (not cancel's)."""

from __future__ import annotations

import pytest

from alipay_cancel.alipay import AlipayFailure, FailureKind
from alipay_cancel.decisions.classification import business_code, classify
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import Op

METHODS = [
    (Op.CANCEL, "alipay.trade.cancel"),
    (Op.QUERY, "alipay.trade.query"),
    (Op.CLOSE, "alipay.trade.close"),
    (Op.REFUND, "alipay.trade.refund"),
    (Op.REFUND_QUERY, "alipay.trade.fastpay.refund.query"),
]


@pytest.mark.parametrize(("op", "method"), METHODS)
def test_an_unknown_code_names_the_operations_own_error_codes(op: Op, method: str) -> None:
    unknown = AlipayFailure(FailureKind.V3_ERROR, "x", 400, "ACQ.SOMETHING_NEW", verified=True)
    decision = classify(unknown, op)
    assert decision.outcome is Ending.TERMINAL
    assert decision.remedy == (
        f"Look up ACQ.SOMETHING_NEW in Alipay's {method} error codes, resolve it for this trade, then "
        "redrive the dead letter (alipay-cancel redrive --trade-key <trade_key>)."
    )


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (AlipayFailure(FailureKind.BUSINESS, "m", 200, "40004", " ACQ.TRADE_HAS_SUCCESS ", verified=True),
         "ACQ.TRADE_HAS_SUCCESS"),
        (AlipayFailure(FailureKind.V3_ERROR, "m", 400, "ACQ.TRADE_NOT_EXIST", verified=True),
         "ACQ.TRADE_NOT_EXIST"),
        (AlipayFailure(FailureKind.BUSINESS, "m", 200, "40004", None, verified=True), None),
        (AlipayFailure(FailureKind.BUSINESS, "m", 200, "20000", "ACQ.X", verified=True), None),
        (AlipayFailure(FailureKind.V3_ERROR, "m", 400, None, verified=True), None),
        (AlipayFailure(FailureKind.TIMEOUT, "m", None, "40004", "ACQ.TRADE_HAS_SUCCESS"), None),
    ],
)  # fmt: skip
def test_the_business_code_the_flow_acts_on_is_the_envelopes_sub_code_or_the_v3_code(
    failure: AlipayFailure, code: str | None
) -> None:
    assert business_code(failure) == code
