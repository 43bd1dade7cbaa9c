"""Query, close, refund, refund query and the app-auth-token query: the real client against the
emulator over loopback HTTP in public-key, AES and certificate mode, with and without an ISV token.
The emulator checks our signatures independently and signs (and encrypts) its answers."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from alipay_cancel.alipay import (
    AlipayClient,
    AlipayError,
    AlipayFailure,
    CloseSuccess,
    FailureKind,
    InvalidRequest,
    QuerySuccess,
    RefundQuerySuccess,
    RefundStatus,
    RefundSuccess,
    TokenInfo,
    TokenStatus,
    TradeRef,
    TradeStatus,
)
from tests.fixtures.gateway import GatewayHandle
from tests.test_client_against_gateway import Sent, any_gateway, business_code, failed, make_client

__all__ = ["any_gateway", "make_client"]  # fixtures shared with test_client_against_gateway

ClientFactory = Callable[..., AlipayClient]
TOKEN = "202601BBoperationsTestToken000000000001"
MERCHANT = "2088000000000321"


def success(outcome: object, kind: type[Any]) -> Any:
    assert isinstance(outcome, kind), outcome
    assert outcome.trace_id and outcome.request_id and outcome.http_status == 200
    return outcome


def test_query_then_close_an_unpaid_trade(any_gateway: GatewayHandle, make_client: ClientFactory) -> None:
    trade = any_gateway.admin.seed_trade("T-QC", state="unpaid", total_amount="120.50")
    client = make_client(any_gateway)
    before = success(client.query(TradeRef("T-QC", None)), QuerySuccess)
    assert (before.trade_status, before.total_amount, before.trade_no) == (
        TradeStatus.WAIT_BUYER_PAY,
        "120.50",
        trade["trade_no"],
    )
    assert before.buyer_pay_amount is None and before.send_pay_date is None
    closed = success(client.close(TradeRef(None, trade["trade_no"])), CloseSuccess)
    assert (closed.trade_no, closed.out_trade_no) == (trade["trade_no"], "T-QC")
    after = success(client.query(TradeRef("T-QC", trade["trade_no"])), QuerySuccess)
    assert after.trade_status is TradeStatus.TRADE_CLOSED
    assert any_gateway.admin.count("T-QC") == {
        "requests": 3,
        "cancel_calls": 0,
        "close_calls": 1,
        "query_calls": 2,
    }


def test_partial_refunds_their_queries_and_the_trade_closing(
    any_gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    any_gateway.admin.seed_trade("T-RF", state="paid", total_amount="100.00")
    client, ref = make_client(any_gateway), TradeRef("T-RF", None)
    paid = success(client.query(ref), QuerySuccess)
    assert (paid.trade_status, paid.buyer_pay_amount, paid.receipt_amount) == (
        TradeStatus.TRADE_SUCCESS,
        "100.00",
        "100.00",
    )
    assert paid.send_pay_date is not None
    first = success(client.refund(ref, "30", "T-RF-R1"), RefundSuccess)
    assert (first.fund_change, first.money_moved, first.refund_fee) == ("Y", True, "30.00")
    assert first.gmt_refund_pay and first.out_trade_no == "T-RF"
    repeat = success(client.refund(ref, "30.00", "T-RF-R1"), RefundSuccess)
    assert (repeat.fund_change, repeat.money_moved, repeat.refund_fee) == ("N", False, "30.00")
    done = success(client.refund_query(ref, "T-RF-R1"), RefundQuerySuccess)
    assert (done.refund_status, done.refund_amount, done.total_amount, done.out_request_no) == (
        RefundStatus.REFUND_SUCCESS,
        "30.00",
        "100.00",
        "T-RF-R1",
    )
    assert done.gmt_refund_pay == first.gmt_refund_pay  # asked for with query_options
    never = success(client.refund_query(ref, "T-RF-R9"), RefundQuerySuccess)
    assert (never.refund_status, never.refund_amount) == (RefundStatus.NOT_REFUNDED, None)
    rest = success(client.refund(ref, "70.00", "T-RF-R2"), RefundSuccess)
    assert (rest.money_moved, rest.refund_fee) == (True, "100.00")
    assert success(client.query(ref), QuerySuccess).trade_status is TradeStatus.TRADE_CLOSED
    assert any_gateway.admin.trade("T-RF")["refunds"] == {"T-RF-R1": "30.00", "T-RF-R2": "70.00"}


@pytest.mark.parametrize("shape", ["envelope", "v3"])
def test_business_errors_of_each_operation_are_verified_failures_with_their_code(
    any_gateway: GatewayHandle, make_client: ClientFactory, shape: str
) -> None:
    any_gateway.admin.settings(error_shape=shape)
    any_gateway.admin.seed_trade("T-E", state="paid")
    client = make_client(any_gateway)
    assert isinstance(client.refund(TradeRef("T-E", None), "10.00", "R-1"), RefundSuccess)
    answers = {
        "ACQ.TRADE_NOT_EXIST": client.query(TradeRef("T-NONE", None)),
        "TRADE_NOT_EXIST": client.refund_query(TradeRef("T-NONE", None), "R-1"),
        "ACQ.TRADE_STATUS_ERROR": client.close(TradeRef("T-E", None)),
        "ACQ.DISCORDANT_REPEAT_REQUEST": client.refund(TradeRef("T-E", None), "11.00", "R-1"),
        "ACQ.REASON_TRADE_REFUND_FEE_ERR": client.refund(TradeRef("T-E", None), "80.00", "R-2"),
    }
    for code, outcome in answers.items():
        failure = failed(outcome)
        assert business_code(failure) == code and failure.verified, (code, failure)
        assert failure.kind is (FailureKind.BUSINESS if shape == "envelope" else FailureKind.V3_ERROR)


def test_a_buyer_who_pays_between_our_query_and_our_close(
    any_gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    any_gateway.admin.seed_trade("T-LATE", state="unpaid")
    any_gateway.admin.trade_event("T-LATE", "buyer_pays_after_next_query")
    client, ref = make_client(any_gateway), TradeRef("T-LATE", None)
    assert success(client.query(ref), QuerySuccess).trade_status is TradeStatus.WAIT_BUYER_PAY
    assert business_code(failed(client.close(ref))) == "ACQ.TRADE_STATUS_ERROR"
    assert success(client.query(ref), QuerySuccess).trade_status is TradeStatus.TRADE_SUCCESS


def test_the_token_query_says_whose_token_it_is(
    any_gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    any_gateway.admin.set_token(TOKEN, user_id=MERCHANT)
    client = make_client(any_gateway)
    info = success(client.app_auth_token_query(TOKEN), TokenInfo)
    assert (info.status, info.user_id, info.auth_app_id) == (TokenStatus.VALID, MERCHANT, "2021000000000321")
    assert info.expires_in and info.expires_in > 0 and "alipay.trade.cancel" in info.auth_methods
    assert TOKEN not in repr(info)
    any_gateway.admin.set_token(TOKEN, status="revoked")
    revoked = success(client.app_auth_token_query(TOKEN), TokenInfo)
    assert (revoked.status, revoked.user_id, revoked.expires_in) == (TokenStatus.INVALID, MERCHANT, 0)
    unknown = failed(client.app_auth_token_query("202601BBnotIssued"))
    assert (unknown.kind, unknown.code, unknown.http_status, unknown.verified) == (
        FailureKind.V3_ERROR,
        "invalid-app-auth-token",
        401,
        True,
    )
    assert any_gateway.admin.counts()["token_query_calls"] == 3


def test_isv_calls_act_on_the_merchants_trade(any_gateway: GatewayHandle, make_client: ClientFactory) -> None:
    admin = any_gateway.admin
    admin.set_token(TOKEN, user_id=MERCHANT)
    admin.seed_trade("T-ISV", state="paid", merchant_id=MERCHANT)
    admin.seed_trade("T-ISV", state="unpaid")  # the app's own trade with the same out_trade_no
    client = make_client(any_gateway)
    merchants = TradeRef("T-ISV", None, TOKEN)
    assert success(client.query(merchants), QuerySuccess).trade_status is TradeStatus.TRADE_SUCCESS
    assert (
        success(client.query(TradeRef("T-ISV", None)), QuerySuccess).trade_status
        is TradeStatus.WAIT_BUYER_PAY
    )
    assert success(client.refund(merchants, "88.88", "ISV-R1"), RefundSuccess).money_moved
    assert (
        success(client.refund_query(merchants, "ISV-R1"), RefundQuerySuccess).refund_status
        is RefundStatus.REFUND_SUCCESS
    )
    assert success(client.close(TradeRef("T-ISV", None)), CloseSuccess).out_trade_no == "T-ISV"
    assert admin.trade("T-ISV", merchant_id=MERCHANT)["state"] == "refunded"
    assert admin.trade("T-ISV")["state"] == "closed"
    admin.set_token(TOKEN, status="expired")
    expired = failed(client.query(merchants))
    assert (expired.code, expired.http_status, expired.verified) == ("app-auth-token-time-out", 401, True)


def _verify(prepared: requests.PreparedRequest, handle: GatewayHandle, method: str) -> None:
    scheme, _, params = prepared.headers["Authorization"].partition(" ")
    auth, _, signature = params.rpartition(",sign=")
    raw = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    token = prepared.headers.get("alipay-app-auth-token")
    content = (
        f"{auth}\n{method}\n{prepared.path_url}\n".encode()
        + raw
        + b"\n"
        + (f"{token}\n".encode() if token else b"")
    )
    handle.keys.app.private_key.public_key().verify(
        base64.b64decode(signature), content, padding.PKCS1v15(), hashes.SHA256()
    )
    assert scheme == "ALIPAY-SHA256withRSA" and prepared.method == method


def test_what_goes_over_the_wire(any_gateway: GatewayHandle, make_client: ClientFactory) -> None:
    any_gateway.admin.set_token("tok/with+odd=chars", user_id=MERCHANT)
    client = make_client(any_gateway)
    sent = Sent(client.session)
    client.refund(TradeRef("T-W", "2088000000000000000000000077", TOKEN), "9.5", "W-1")
    client.refund_query(TradeRef("T-W", None), "W-1")
    client.app_auth_token_query("tok/with+odd=chars")
    refund, refund_query, token_query = sent.requests
    assert refund.path_url == "/v3/alipay/trade/refund" and refund.headers["alipay-app-auth-token"] == TOKEN
    assert refund_query.path_url == "/v3/alipay/trade/fastpay/refund/query"
    # The token query: a GET with the token as the query parameter (percent-encoded, signed as sent),
    # no body, and no ISV header: our own app asks about the token.
    assert (
        token_query.path_url == "/v3/alipay/open/auth/token/app/query?app_auth_token=tok%2Fwith%2Bodd%3Dchars"
    )
    assert token_query.body is None and "alipay-app-auth-token" not in token_query.headers
    assert "Content-Type" not in token_query.headers and "alipay-encrypt-type" not in token_query.headers
    for prepared, method in ((refund, "POST"), (refund_query, "POST"), (token_query, "GET")):
        _verify(prepared, any_gateway, method)
    if not any_gateway.aes:
        assert json.loads(refund.body or b"") == {
            "out_trade_no": "T-W",
            "trade_no": "2088000000000000000000000077",
            "refund_amount": "9.50",
            "out_request_no": "W-1",
        }
        assert json.loads(refund_query.body or b"")["query_options"] == ["gmt_refund_pay"]
    else:
        assert b"W-1" not in (refund.body or b"") and refund.headers["alipay-encrypt-type"] == "AES"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.query(TradeRef(None, None)),
        lambda c: c.close(TradeRef("", "")),
        lambda c: c.refund(TradeRef("T", None), "0.00", "R"),
        lambda c: c.refund(TradeRef("T", None), "1.001", "R"),
        lambda c: c.refund(TradeRef("T", None), "-1", "R"),
        lambda c: c.refund(TradeRef("T", None), 1.5, "R"),
        lambda c: c.refund(TradeRef("T", None), "1.00", "R 1"),
        lambda c: c.refund(TradeRef("T", None), "1.00", "R" * 65),
        lambda c: c.refund_query(TradeRef("T", None), ""),
        lambda c: c.query(TradeRef("T", None, "tok\r\nX-Evil: 1")),
        lambda c: c.app_auth_token_query("tok\n"),
        lambda c: c.app_auth_token_query(""),
    ],
)
def test_a_request_that_can_never_be_sent_raises_before_anything_is_sent(
    gateway: GatewayHandle, make_client: ClientFactory, call: Callable[[AlipayClient], Any]
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        call(make_client(gateway))
    assert isinstance(raised.value, AlipayError) and isinstance(raised.value, ValueError)
    assert "tok" not in str(raised.value) or "app_auth_token" in str(raised.value)
    assert gateway.admin.counts()["total_requests"] == 0


def test_failures_are_never_raised_for_the_network(
    make_client: ClientFactory, gateway: GatewayHandle
) -> None:
    client = make_client(gateway, read_timeout=0.3)
    gateway.admin.set_fault("timeout", operation="token_query", times=1)
    assert failed(client.app_auth_token_query(TOKEN)).kind is FailureKind.TIMEOUT
    gateway.admin.set_fault("timeout", trade="T-NET", operation="refund", times=1)
    outcome = client.refund(TradeRef("T-NET", None), "1.00", "R-1")
    assert isinstance(outcome, AlipayFailure) and outcome.kind is FailureKind.TIMEOUT and outcome.request_id
