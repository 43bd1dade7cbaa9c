"""Properties of reading each operation's answer (``ResponseParser.read`` with the operation's reader),
on bodies signed here with the Alipay test key (cryptography directly, independent of the client):

* whatever the fields hold, reading never raises, and a failure is a verified MALFORMED or
  NOT_OUR_ANSWER (or an Alipay error shape);
* a success keeps only sane values: amounts as two-decimal strings within Alipay's range, ids equal to
  the ones we sent, documented states only, and the operation's own rule (a refund that says money
  moved refunded something; a refund-query success names our out_request_no);
* a well-formed answer is read back exactly, amounts given as JSON numbers or strings alike.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local.keygen import KeyMaterial

from alipay_cancel.alipay import (
    AlipayFailure,
    CloseSuccess,
    FailureKind,
    QuerySuccess,
    RefundQuerySuccess,
    RefundStatus,
    RefundSuccess,
    TokenInfo,
    TokenStatus,
    TradeStatus,
)
from alipay_cancel.alipay.response_parsing import ResponseParser
from alipay_cancel.alipay.success_checks import AnswerReader
from alipay_cancel.alipay.token_answer import TokenReader
from alipay_cancel.alipay.trade_answers import (
    CloseReader,
    QueryReader,
    RefundQueryReader,
    RefundReader,
    SentIds,
)
from alipay_cancel.alipay.v3_signing import ResponseVerifier
from tests.test_response_parsing import sign_headers

OUT_TRADE_NO, TRADE_NO, REQUEST_NO = "PROP-0001", "2026010122001100000000000001", "PROP-R1"
SENT = SentIds(TRADE_NO, OUT_TRADE_NO)
AMOUNT = re.compile(r"\d{1,9}\.\d\d")
READERS: dict[str, AnswerReader[Any]] = {
    "query": QueryReader(SENT),
    "close": CloseReader(SENT),
    "refund": RefundReader(SENT),
    "refund_query": RefundQueryReader(SENT, REQUEST_NO),
    "token_query": TokenReader(),
}
AMOUNT_FIELDS = (
    "total_amount",
    "buyer_pay_amount",
    "receipt_amount",
    "refund_fee",
    "send_back_fee",
    "refund_amount",
)
FIELDS = {
    "query": ("out_trade_no", "trade_no", "trade_status", "send_pay_date", *AMOUNT_FIELDS[:3]),
    "close": ("out_trade_no", "trade_no"),
    "refund": ("out_trade_no", "trade_no", "fund_change", "gmt_refund_pay", "refund_fee", "send_back_fee"),
    "refund_query": (
        "out_trade_no",
        "trade_no",
        "out_request_no",
        "refund_status",
        "refund_amount",
        "total_amount",
    ),
    "token_query": (
        "user_id",
        "auth_app_id",
        "status",
        "expires_in",
        "auth_start",
        "auth_methods",
        "is_by_app_auth",
    ),
}
GOOD = {
    "out_trade_no": OUT_TRADE_NO,
    "trade_no": TRADE_NO,
    "out_request_no": REQUEST_NO,
    "trade_status": "TRADE_SUCCESS",
    "refund_status": "REFUND_SUCCESS",
    "fund_change": "Y",
    "status": "valid",
    "user_id": "2088000000000001",
}

amounts = st.one_of(
    st.decimals(min_value=0, max_value=Decimal("100000000"), places=2),
    st.integers(min_value=0, max_value=100_000_000),
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.lists(st.text(max_size=10), max_size=3),
    amounts,
    amounts.map(str),
    st.sampled_from(["", "Y", "N", "TRADE_CLOSED", "invalid", "2016-11-27 15:45:57", "9" * 65, "1e3"]),
)


def _field(name: str) -> st.SearchStrategy[Any]:
    choices = [anything]
    if name in GOOD:
        choices.append(st.just(GOOD[name]))
    return st.one_of(*choices)


def _payloads(operation: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={name: _field(name) for name in FIELDS[operation]})


def _encode(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _body(payload: dict[str, Any]) -> bytes:
    # Decimals go out as JSON numbers, exactly as written.
    text = json.dumps({k: _encode(v) for k, v in payload.items()})
    for key, value in payload.items():
        if isinstance(value, Decimal):
            text = text.replace(f'"{key}": "{value}"', f'"{key}": {value}')
    return text.encode()


@pytest.fixture(scope="module")
def parser(key_material: KeyMaterial) -> ResponseParser:
    return ResponseParser(ResponseVerifier(key_material.alipay.private_key.public_key()))


def _read(parser: ResponseParser, km: KeyMaterial, operation: str, payload: dict[str, Any]) -> Any:
    body = _body(payload)
    return parser.read(200, sign_headers(km.alipay, body), body, READERS[operation], request_id="rid")


def _check_success(operation: str, outcome: Any) -> None:
    for name in AMOUNT_FIELDS:
        value = getattr(outcome, name, None)
        assert value is None or (AMOUNT.fullmatch(value) and Decimal(value) <= Decimal("100000000")), (
            name,
            value,
        )
    if operation == "token_query":
        assert isinstance(outcome, TokenInfo) and outcome.status in set(TokenStatus)
        assert outcome.status is TokenStatus.INVALID or outcome.user_id
        return
    assert outcome.out_trade_no in (None, OUT_TRADE_NO) and outcome.trade_no in (None, TRADE_NO)
    if isinstance(outcome, QuerySuccess):
        assert outcome.trade_status in set(TradeStatus)
        assert (outcome.out_trade_no or outcome.trade_no) is not None
    elif isinstance(outcome, CloseSuccess):
        assert (outcome.out_trade_no or outcome.trade_no) is not None
    elif isinstance(outcome, RefundSuccess):
        assert outcome.fund_change in (None, "Y", "N") and outcome.refund_fee is not None
        assert not outcome.money_moved or Decimal(outcome.refund_fee) > 0
    else:
        assert isinstance(outcome, RefundQuerySuccess)
        assert outcome.out_request_no in (None, REQUEST_NO)
        if outcome.refund_status is RefundStatus.REFUND_SUCCESS:
            assert outcome.out_request_no == REQUEST_NO and outcome.refund_amount is not None
            assert (outcome.out_trade_no or outcome.trade_no) is not None


@pytest.mark.parametrize("operation", list(READERS))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_signed_payload_is_read_safely(
    parser: ResponseParser, key_material: KeyMaterial, operation: str, data: st.DataObject
) -> None:
    payload = data.draw(_payloads(operation))
    outcome = _read(parser, key_material, operation, payload)
    if isinstance(outcome, AlipayFailure):
        assert outcome.verified and outcome.kind in (FailureKind.MALFORMED, FailureKind.NOT_OUR_ANSWER), (
            outcome
        )
    else:
        _check_success(operation, outcome)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    total=amounts,
    paid=amounts,
    status=st.sampled_from(list(TradeStatus)),
    as_text=st.booleans(),
    by_trade_no=st.booleans(),
)
def test_a_well_formed_query_answer_is_read_back_exactly(
    parser: ResponseParser,
    key_material: KeyMaterial,
    total: Decimal | int,
    paid: Decimal | int,
    status: TradeStatus,
    as_text: bool,
    by_trade_no: bool,
) -> None:
    payload: dict[str, Any] = {
        "trade_status": status.value,
        "total_amount": str(total) if as_text else total,
        "buyer_pay_amount": str(paid) if as_text else paid,
    }
    payload["trade_no" if by_trade_no else "out_trade_no"] = TRADE_NO if by_trade_no else OUT_TRADE_NO
    outcome = _read(parser, key_material, "query", payload)
    assert isinstance(outcome, QuerySuccess), outcome
    assert outcome.trade_status is status
    assert (outcome.total_amount, outcome.buyer_pay_amount) == (
        f"{Decimal(total):.2f}",
        f"{Decimal(paid):.2f}",
    )


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fee=amounts, amount=amounts, fund_change=st.sampled_from(["Y", "N", None]))
def test_well_formed_refund_and_refund_query_answers_are_read_back_exactly(
    parser: ResponseParser,
    key_material: KeyMaterial,
    fee: Decimal | int,
    amount: Decimal | int,
    fund_change: str | None,
) -> None:
    refund: dict[str, Any] = {"out_trade_no": OUT_TRADE_NO, "refund_fee": fee}
    if fund_change is not None:
        refund["fund_change"] = fund_change
    outcome = _read(parser, key_material, "refund", refund)
    if fund_change == "Y" and Decimal(fee) == 0:
        assert isinstance(outcome, AlipayFailure) and outcome.kind is FailureKind.MALFORMED
    else:
        assert isinstance(outcome, RefundSuccess) and outcome.refund_fee == f"{Decimal(fee):.2f}"
        assert outcome.money_moved is (fund_change == "Y")
    done = {
        "trade_no": TRADE_NO,
        "out_request_no": REQUEST_NO,
        "refund_status": "REFUND_SUCCESS",
        "refund_amount": amount,
    }
    queried = _read(parser, key_material, "refund_query", done)
    assert isinstance(queried, RefundQuerySuccess) and queried.refund_status is RefundStatus.REFUND_SUCCESS
    assert queried.refund_amount == f"{Decimal(amount):.2f}"
