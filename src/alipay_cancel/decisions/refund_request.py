"""This service's refund of a trade: one request number per trade, one amount per request.

Money moves at most once because Alipay refunds one ``out_request_no`` of a trade at most once (a
repeat with the same amount answers ``fund_change: N`` and moves nothing; another amount is refused
with ``ACQ.DISCORDANT_REPEAT_REQUEST``), and because this service only ever sends one number per
trade, always with the amount it recorded before the first send:

- the number is derived from the trade's ledger key (``request_number``): every delivery, every
  redrive and every release computes the same one, and no other party's numbers look like it;
- the amount is what Alipay says is left to refund (``amount_left``): the order amount
  (``total_amount``) of a paid trade nothing of ours has refunded. Alipay's answers do not carry how
  much others refunded (the query has no refunded amount; only a refund that goes through says
  ``refund_fee``, the cumulative sum), so a trade partly refunded by someone else is refused
  (``ACQ.REASON_TRADE_REFUND_FEE_ERR``) rather than refunded by a guess; Alipay caps every trade's
  refunds at its order amount either way.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from alipay_cancel.alipay import QuerySuccess, TradeStatus
from alipay_cancel.alipay.amounts import amount_as_cents

# Readable in the merchant's refund list, and never one of the merchant's own numbers.
REQUEST_NUMBER_PREFIX = "alipay-cancel-"
_HASH_CHARS = 32  # 128 bits of sha256: 14 + 32 = 46 characters, within Alipay's 64


class RefundRequest(NamedTuple):
    """One refund request: its number and amount (a two-decimal string), sent unchanged on every try."""

    out_request_no: str
    refund_amount: str


def request_number(trade_key: str) -> str:
    """The ``out_request_no`` of this trade's refund: the same for every delivery of the trade."""
    digest = hashlib.sha256(trade_key.encode()).hexdigest()
    return REQUEST_NUMBER_PREFIX + digest[:_HASH_CHARS]


def amount_left(query: QuerySuccess) -> str | None:
    """What is left to refund of a paid trade nothing of ours refunded: its order amount, or None when
    Alipay's answer does not say (an amount of 0.00 cannot be refunded)."""
    if query.trade_status is not TradeStatus.TRADE_SUCCESS or query.total_amount is None:
        return None
    if amount_as_cents(query.total_amount) <= 0:
        return None
    return query.total_amount


def shows_payment(query: QuerySuccess) -> bool:
    """Whether Alipay's answer shows the buyer paid: a payment date, or an amount paid above zero.

    A closed trade (TRADE_CLOSED) is either closed unpaid or paid and then fully refunded; Alipay does
    not say which. What its payment fields hold then is unconfirmed: the safe reading is to call a
    closed trade refunded only when the answer shows a payment (docs/settle.md)."""
    if query.send_pay_date is not None:
        return True
    return query.buyer_pay_amount is not None and amount_as_cents(query.buyer_pay_amount) > 0
