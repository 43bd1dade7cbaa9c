"""Every operation against a hostile or odd gateway (the emulator's faults, targeted at that one
operation): unsigned, forged, stale, another trade's answer, malformed or missing fields, oversized,
compressed. Each is a failure with a reason, never a success; and what an operation must accept
(amounts as JSON numbers, an empty refund-query answer) is accepted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from alipay_cancel.alipay import (
    AlipayClient,
    FailureKind,
    QuerySuccess,
    RefundQuerySuccess,
    RefundStatus,
    RefundSuccess,
    TokenInfo,
    TradeRef,
)
from tests.fixtures.gateway import GatewayHandle
from tests.test_client_against_gateway import any_gateway, failed, make_client

__all__ = ["any_gateway", "make_client"]  # fixtures shared with test_client_against_gateway

ClientFactory = Callable[..., AlipayClient]
TRADE = "T-HOSTILE"
TOKEN = "202601BBhostileGatewayToken00000000001"
OPERATIONS: dict[str, Callable[[AlipayClient], Any]] = {
    "query": lambda c: c.query(TradeRef(TRADE, None)),
    "close": lambda c: c.close(TradeRef(TRADE, None)),
    "refund": lambda c: c.refund(TradeRef(TRADE, None), "10.00", "H-R1"),
    "refund_query": lambda c: c.refund_query(TradeRef(TRADE, None), "H-R1"),
    "token_query": lambda c: c.app_auth_token_query(TOKEN),
}


def _fault(gw: GatewayHandle, operation: str, kind: str, **params: Any) -> None:
    trade = None if operation == "token_query" else TRADE
    gw.admin.set_fault(kind, trade=trade, times=1, operation=operation, **params)


def _signed(gw: GatewayHandle, operation: str, body: dict[str, Any]) -> None:
    _fault(gw, operation, "signed_body", raw_body=json.dumps({"code": "10000", "msg": "Success", **body}))


@pytest.fixture
def hostile(gateway: GatewayHandle) -> GatewayHandle:
    gateway.admin.seed_trade(TRADE, state="paid")
    gateway.admin.set_token(TOKEN, user_id="2088000000000654")
    return gateway


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    ("kind", "params", "expected", "said"),
    [
        ("no_signature", {}, FailureKind.BAD_SIGNATURE, "without alipay-signature"),
        ("bad_signature", {}, FailureKind.BAD_SIGNATURE, "does not verify"),
        ("stale", {}, FailureKind.NOT_OUR_ANSWER, "freshness window"),
        ("stale", {"age_seconds": -3600}, FailureKind.NOT_OUR_ANSWER, "in the future"),
        ("oversize", {"size": 70_000}, FailureKind.REFUSED_BODY, "larger than 65536 bytes"),
        ("gzip", {"size": 1000}, FailureKind.REFUSED_BODY, "compressed"),
        ("garbage_html", {}, FailureKind.MALFORMED, "not a JSON object"),
        ("garbage_truncated", {}, FailureKind.MALFORMED, "not a JSON object"),
    ],
)
def test_an_untrustworthy_answer_is_never_a_success(
    hostile: GatewayHandle,
    make_client: ClientFactory,
    operation: str,
    kind: str,
    params: dict[str, Any],
    expected: FailureKind,
    said: str,
) -> None:
    _fault(hostile, operation, kind, **params)
    failure = failed(OPERATIONS[operation](make_client(hostile)))
    assert failure.kind is expected and said in failure.message, failure
    assert failure.code is None and failure.sub_code is None


@pytest.mark.parametrize("operation", ["query", "close", "refund", "refund_query"])
def test_another_trades_signed_success_is_not_our_answer(
    any_gateway: GatewayHandle, make_client: ClientFactory, operation: str
) -> None:
    any_gateway.admin.seed_trade(TRADE, state="paid")
    _fault(any_gateway, operation, "other_trade")
    failure = failed(OPERATIONS[operation](make_client(any_gateway)))
    assert failure.kind is FailureKind.NOT_OUR_ANSWER and failure.verified, failure
    assert "different" in failure.message


def test_the_token_query_cannot_tell_another_merchants_answer_apart(
    hostile: GatewayHandle, make_client: ClientFactory
) -> None:
    # Alipay's answer names nothing of the request: a fresh, signed answer about another token is
    # believed. What protects the identity check is Alipay's signature and freshness (docs/client.md).
    _fault(hostile, "token_query", "other_trade")
    info = OPERATIONS["token_query"](make_client(hostile))
    assert isinstance(info, TokenInfo) and info.user_id == "2088999999999999"


MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("query", {"out_trade_no": TRADE, "trade_status": "PAID"}, "trade_status"),
    ("query", {"out_trade_no": TRADE}, "trade_status"),
    (
        "query",
        {"out_trade_no": TRADE, "trade_status": "TRADE_SUCCESS", "total_amount": "88.881"},
        "total_amount",
    ),
    (
        "query",
        {"out_trade_no": TRADE, "trade_status": "TRADE_SUCCESS", "total_amount": "1e3"},
        "total_amount",
    ),
    ("query", {"out_trade_no": TRADE, "trade_status": "TRADE_SUCCESS", "total_amount": True}, "total_amount"),
    (
        "query",
        {"out_trade_no": TRADE, "trade_status": "TRADE_SUCCESS", "buyer_pay_amount": "-1"},
        "buyer_pay",
    ),
    (
        "query",
        {"out_trade_no": TRADE, "trade_status": "TRADE_SUCCESS", "total_amount": 1e300},
        "total_amount",
    ),
    ("query", {"out_trade_no": TRADE + "\u0000", "trade_status": "TRADE_SUCCESS"}, "U+0000"),
    ("close", {"out_trade_no": TRADE, "trade_no": "9" * 65}, "at most 64"),
    ("refund", {"out_trade_no": TRADE, "fund_change": "Y"}, "refund_fee"),
    ("refund", {"out_trade_no": TRADE, "fund_change": "Y", "refund_fee": "0.00"}, "fund_change Y"),
    ("refund", {"out_trade_no": TRADE, "fund_change": "yes", "refund_fee": "10.00"}, "fund_change"),
    ("refund", {"out_trade_no": TRADE, "fund_change": "Y", "refund_fee": "100000000.01"}, "refund_fee"),
    (
        "refund_query",
        {"out_trade_no": TRADE, "out_request_no": "H-R1", "refund_status": "REFUND_PROCESSING"},
        "refund_status",
    ),
    (
        "refund_query",
        {"out_trade_no": TRADE, "out_request_no": "H-R1", "refund_status": "REFUND_SUCCESS"},
        "refund_amount",
    ),
    ("token_query", {"status": "ok", "user_id": "2088000000000654"}, "status"),
    ("token_query", {"status": "valid"}, "user_id"),
    ("token_query", {"status": "valid", "user_id": "2088000000000654", "expires_in": -1}, "expires_in"),
    (
        "token_query",
        {"status": "valid", "user_id": "2088000000000654", "auth_methods": "all"},
        "auth_methods",
    ),
    (
        "token_query",
        {"status": "valid", "user_id": "2088000000000654", "is_by_app_auth": "yes"},
        "is_by_app_auth",
    ),
]


@pytest.mark.parametrize(("operation", "body", "said"), MALFORMED)
def test_a_signed_success_with_a_bad_field_is_malformed(
    hostile: GatewayHandle, make_client: ClientFactory, operation: str, body: dict[str, Any], said: str
) -> None:
    _signed(hostile, operation, body)
    failure = failed(OPERATIONS[operation](make_client(hostile)))
    assert failure.kind is FailureKind.MALFORMED and failure.verified and said in failure.message, failure


NOT_OURS: list[tuple[str, dict[str, Any]]] = [
    ("query", {"trade_status": "TRADE_SUCCESS"}),  # names no id of ours
    ("close", {}),
    ("refund", {"fund_change": "Y", "refund_fee": "10.00"}),
    ("refund_query", {"out_trade_no": TRADE, "out_request_no": "H-R2"}),  # another refund
    ("refund_query", {"out_request_no": "H-R1", "refund_status": "REFUND_SUCCESS", "refund_amount": "10.00"}),
    ("refund_query", {"out_trade_no": TRADE, "refund_status": "REFUND_SUCCESS", "refund_amount": "10.00"}),
]


@pytest.mark.parametrize(("operation", "body"), NOT_OURS)
def test_a_signed_success_that_does_not_answer_our_request_is_not_ours(
    hostile: GatewayHandle, make_client: ClientFactory, operation: str, body: dict[str, Any]
) -> None:
    _signed(hostile, operation, body)
    failure = failed(OPERATIONS[operation](make_client(hostile)))
    assert failure.kind is FailureKind.NOT_OUR_ANSWER and failure.verified, failure


def test_amounts_given_as_json_numbers_are_read_exactly(
    hostile: GatewayHandle, make_client: ClientFactory
) -> None:
    raw = (
        '{"code":"10000","out_trade_no":"%s","trade_status":"TRADE_SUCCESS",'
        '"total_amount":88.88,"buyer_pay_amount":100,"receipt_amount":0.1}'
    )
    hostile.admin.set_fault("signed_body", trade=TRADE, times=1, operation="query", raw_body=raw % TRADE)
    answer = OPERATIONS["query"](make_client(hostile))
    assert isinstance(answer, QuerySuccess)
    assert (answer.total_amount, answer.buyer_pay_amount, answer.receipt_amount) == (
        "88.88",
        "100.00",
        "0.10",
    )


@pytest.mark.parametrize("body", [{}, {"out_trade_no": TRADE, "out_request_no": "H-R1"}])
def test_a_refund_query_without_refund_status_is_not_refunded(
    hostile: GatewayHandle, make_client: ClientFactory, body: dict[str, Any]
) -> None:
    _signed(hostile, "refund_query", body)
    answer = OPERATIONS["refund_query"](make_client(hostile))
    assert isinstance(answer, RefundQuerySuccess) and answer.refund_status is RefundStatus.NOT_REFUNDED


def test_a_refund_whose_answer_was_forged_is_safe_to_send_again(
    any_gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    any_gateway.admin.seed_trade(TRADE, state="paid")
    _fault(any_gateway, "refund", "bad_signature")
    client = make_client(any_gateway)
    assert failed(OPERATIONS["refund"](client)).kind is FailureKind.BAD_SIGNATURE  # money moved behind it
    again = OPERATIONS["refund"](client)
    assert isinstance(again, RefundSuccess) and not again.money_moved and again.refund_fee == "10.00"
    assert any_gateway.admin.trade(TRADE)["refund_fee"] == "10.00"
