"""This service's refund request: one number per trade, derived from it; the amount Alipay says is left;
what a closed trade's query answer shows."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alipay_cancel.alipay import TradeStatus
from alipay_cancel.alipay.trade_ref import refund_request_no
from alipay_cancel.decisions.refund_request import (
    REQUEST_NUMBER_PREFIX,
    amount_left,
    request_number,
    shows_payment,
)
from tests.settle_support import query_ok

KEYS = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=200)


def test_the_number_is_the_prefix_and_the_start_of_the_keys_sha256() -> None:
    digest = hashlib.sha256(b"app:2021000000000002 merchant:2088 ORDER-1").hexdigest()
    assert request_number("app:2021000000000002 merchant:2088 ORDER-1") == "alipay-cancel-" + digest[:32]
    assert request_number("ORDER-1") == "alipay-cancel-" + hashlib.sha256(b"ORDER-1").hexdigest()[:32]


@given(KEYS)
def test_every_trade_key_gets_one_stable_number_alipay_accepts(key: str) -> None:
    number = request_number(key)
    assert number == request_number(key)
    assert re.fullmatch(r"alipay-cancel-[0-9a-f]{32}", number) and len(number) <= 64
    assert refund_request_no(number) == number  # the client would send it


@given(KEYS, KEYS)
def test_two_trades_never_share_a_number(first: str, second: str) -> None:
    assert (request_number(first) == request_number(second)) is (first == second)


def test_the_prefix_is_readable() -> None:
    assert REQUEST_NUMBER_PREFIX == "alipay-cancel-"


@pytest.mark.parametrize(
    ("status", "total", "left"),
    [
        (TradeStatus.TRADE_SUCCESS, "88.88", "88.88"),
        (TradeStatus.TRADE_SUCCESS, "0.01", "0.01"),
        (TradeStatus.TRADE_SUCCESS, "0.00", None),
        (TradeStatus.TRADE_SUCCESS, None, None),
        (TradeStatus.TRADE_FINISHED, "88.88", None),
        (TradeStatus.TRADE_CLOSED, "88.88", None),
        (TradeStatus.WAIT_BUYER_PAY, "88.88", None),
    ],
)
def test_what_is_left_to_refund_is_the_order_amount_of_a_paid_trade(
    status: TradeStatus, total: str | None, left: str | None
) -> None:
    assert amount_left(query_ok(status, total)) == left


@pytest.mark.parametrize(
    ("paid", "buyer_pay", "shows"),
    [
        (True, None, True),
        (True, "0.00", True),
        (False, "0.01", True),
        (False, "0.00", False),
        (False, None, False),
    ],
)
def test_a_closed_trade_shows_a_payment_by_its_date_or_an_amount_paid(
    paid: bool, buyer_pay: str | None, shows: bool
) -> None:
    assert shows_payment(query_ok(TradeStatus.TRADE_CLOSED, paid=paid, buyer_pay=buyer_pay)) is shows
