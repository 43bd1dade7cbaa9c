"""The emulated trade table: each trade's Alipay state, its amounts and refunds, and whose it is.

Trades belong to a scope, (app id, merchant id or None): ``out_trade_no`` is unique per merchant
only, so the same ``out_trade_no`` under two merchants (or two apps) is two trades. A call's scope is
the app that signed it and the merchant its ``app_auth_token`` belongs to.

A trade holds Alipay's ``trade_status`` (``WAIT_BUYER_PAY``, ``TRADE_SUCCESS``, ``TRADE_FINISHED``,
``TRADE_CLOSED``), a ``frozen`` flag (a frozen trade is paid; its status shows as it was), the order
amount, the refunds done (by ``out_request_no``) and the cumulative ``refund_fee``. Seeds and admin
reads use a short scenario name (``state``): unpaid, paid, finished, frozen, closed (unpaid, closed)
or refunded (closed after refunds reached the total). What each API does to a trade is in
``trade_rules``. Amounts are held in cents.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

_BEIJING = dt.timezone(dt.timedelta(hours=8))
DEFAULT_TOTAL = "88.88"

Scope = tuple[str, str | None]  # (app_id, merchant_id); merchant None: the app's own trades


def scope_label(scope: Scope, default_app_id: str, trade_id: str) -> str:
    """How counts name a trade: the plain id in the default scope, else prefixed by app and merchant
    (the same shape as the function's trade_key, written independently)."""
    app_id, merchant_id = scope
    parts = [] if app_id == default_app_id else [f"app:{app_id}"]
    if merchant_id:
        parts.append(f"merchant:{merchant_id}")
    return " ".join([*parts, trade_id])


def cents(amount: Any) -> int:
    """ "88.88" (or a number) as 8888; ValueError for anything that is not a non-negative amount with at
    most two decimals."""
    try:
        number = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError("not an amount") from None
    if not number.is_finite() or number < 0 or number != number.quantize(Decimal("0.01")):
        raise ValueError("not an amount with at most two decimals")
    return int(number * 100)


def yuan(amount_cents: int) -> str:
    return f"{amount_cents // 100}.{amount_cents % 100:02d}"


def beijing_time(now: float) -> str:
    return dt.datetime.fromtimestamp(now, _BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


class TradeStatus(StrEnum):
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    TRADE_SUCCESS = "TRADE_SUCCESS"
    TRADE_FINISHED = "TRADE_FINISHED"
    TRADE_CLOSED = "TRADE_CLOSED"


class Scenario(StrEnum):
    """Seed names (what the trade has been through), and the summary admin reads show."""

    UNPAID = "unpaid"
    PAID = "paid"
    FINISHED = "finished"
    FROZEN = "frozen"
    CLOSED = "closed"
    REFUNDED = "refunded"


class BuyerPays(StrEnum):
    """When a buyer pays an unpaid trade during a settle (admin hook)."""

    AFTER_NEXT_QUERY = "after_next_query"  # the query still shows WAIT_BUYER_PAY, then it is paid
    BEFORE_NEXT_CLOSE = "before_next_close"  # paid just before the close arrives


@dataclass
class Refund:
    amount_cents: int
    gmt_refund_pay: str


@dataclass
class Trade:
    trade_no: str
    out_trade_no: str | None
    status: TradeStatus
    app_id: str = ""
    merchant_id: str | None = None
    total_cents: int = 8888
    frozen: bool = False
    send_pay_date: str | None = None  # when it was paid
    refunds: dict[str, Refund] = field(default_factory=dict)  # done refunds by out_request_no
    refund_fee_cents: int = 0  # refunded so far, by refunds and by a cancel
    outside_cancel_window: bool = False
    cancel_deadline: float | None = None  # epoch seconds; cancels after it get TRADE_CANCEL_TIME_OUT
    error_code: str | None = None  # sticky seeded business error of every cancel
    error_message: str | None = None
    gmt_refund_pay: str | None = None  # the refund a cancel made
    refund_settlement_id: str | None = None
    buyer_pays: BuyerPays | None = None
    calls: Counter[str] = field(default_factory=Counter)  # per operation, calls that reached its logic
    requests: int = 0  # every call naming the trade, rejected ones included

    @property
    def key(self) -> str:
        return self.out_trade_no or self.trade_no

    @property
    def scope(self) -> Scope:
        return (self.app_id, self.merchant_id)

    @property
    def cancel_calls(self) -> int:
        return self.calls["cancel"]

    @property
    def scenario(self) -> Scenario:
        if self.frozen:
            return Scenario.FROZEN
        if self.status is TradeStatus.TRADE_CLOSED:
            return Scenario.REFUNDED if self.refund_fee_cents else Scenario.CLOSED
        return {
            TradeStatus.WAIT_BUYER_PAY: Scenario.UNPAID,
            TradeStatus.TRADE_SUCCESS: Scenario.PAID,
            TradeStatus.TRADE_FINISHED: Scenario.FINISHED,
        }[self.status]

    def pay(self, now: float) -> None:
        self.status = TradeStatus.TRADE_SUCCESS
        self.send_pay_date = beijing_time(now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "app_id": self.app_id,
            "merchant_id": self.merchant_id,
            "trade_no": self.trade_no,
            "out_trade_no": self.out_trade_no,
            "state": self.scenario.value,
            "trade_status": self.status.value,
            "frozen": self.frozen,
            "total_amount": yuan(self.total_cents),
            "refund_fee": yuan(self.refund_fee_cents),
            "refunds": {no: yuan(r.amount_cents) for no, r in self.refunds.items()},
            "outside_cancel_window": self.outside_cancel_window,
            "cancel_deadline": self.cancel_deadline,
            "error_code": self.error_code,
            "gmt_refund_pay": self.gmt_refund_pay,
            "refund_settlement_id": self.refund_settlement_id,
            "buyer_pays": self.buyer_pays.value if self.buyer_pays else None,
            "cancel_calls": self.cancel_calls,
            "calls": dict(self.calls),
            "requests": self.requests,
        }


def _new_trade_no(now: float) -> str:
    return dt.datetime.fromtimestamp(now, _BEIJING).strftime("%Y%m%d") + "22001" + digits(15)


def _seeded(spec: Mapping[str, Any], scope: Scope, now: float) -> Trade:
    out_trade_no = spec.get("out_trade_no") or None
    trade_no = spec.get("trade_no") or None
    if out_trade_no is None and trade_no is None:
        raise ValueError("a trade needs out_trade_no or trade_no")
    try:
        scenario = Scenario(spec.get("state", "unpaid"))
    except ValueError as exc:
        raise ValueError(f"state must be one of {[s.value for s in Scenario]}") from exc
    window = spec.get("cancel_window_seconds")
    trade = Trade(
        trade_no=str(trade_no) if trade_no else _new_trade_no(now),
        out_trade_no=str(out_trade_no) if out_trade_no else None,
        status=TradeStatus.WAIT_BUYER_PAY,
        app_id=scope[0],
        merchant_id=scope[1],
        total_cents=cents(spec.get("total_amount") or DEFAULT_TOTAL),
        outside_cancel_window=bool(spec.get("outside_cancel_window", False)),
        cancel_deadline=now + float(window) if window is not None else None,
        error_code=spec.get("error_code") or None,
        error_message=spec.get("error_message") or None,
        buyer_pays=BuyerPays(spec["buyer_pays"]) if spec.get("buyer_pays") else None,
    )
    if trade.total_cents <= 0:
        raise ValueError("total_amount must be more than 0")
    if scenario is not Scenario.UNPAID:
        trade.pay(now)
    trade.frozen = scenario is Scenario.FROZEN or bool(spec.get("frozen", False))
    if scenario is Scenario.FINISHED:
        trade.status = TradeStatus.TRADE_FINISHED
    elif scenario is Scenario.CLOSED:
        trade.status, trade.send_pay_date = TradeStatus.TRADE_CLOSED, None
    elif scenario is Scenario.REFUNDED:
        trade.status, trade.refund_fee_cents = TradeStatus.TRADE_CLOSED, trade.total_cents
    for refund in spec.get("refunds") or []:  # refunds already done: {out_request_no, refund_amount}
        if trade.status is not TradeStatus.TRADE_SUCCESS:
            raise ValueError("only a paid trade can be seeded with refunds")
        amount = cents(refund["refund_amount"])
        trade.refunds[str(refund["out_request_no"])] = Refund(amount, beijing_time(now))
        trade.refund_fee_cents += amount
    if trade.refund_fee_cents > trade.total_cents:
        raise ValueError("seeded refunds exceed total_amount")
    if trade.status is TradeStatus.TRADE_SUCCESS and trade.refund_fee_cents == trade.total_cents:
        trade.status = TradeStatus.TRADE_CLOSED
    return trade


class TradeBook:
    """Trades indexed by scope and both ids. Not thread-safe: the caller holds the gateway lock."""

    def __init__(self) -> None:
        self._by_trade_no: dict[tuple[Scope, str], Trade] = {}
        self._by_out_trade_no: dict[tuple[Scope, str], Trade] = {}

    def clear(self) -> None:
        self._by_trade_no.clear()
        self._by_out_trade_no.clear()

    def all(self) -> list[Trade]:
        return list(self._by_trade_no.values())

    def seed(self, spec: Mapping[str, Any], now: float, default_app_id: str) -> Trade:
        """``spec`` may name ``app_id`` (default: the default app) and ``merchant_id`` (an ISV
        merchant; default none: the app's own trade)."""
        scope: Scope = (str(spec.get("app_id") or default_app_id), spec.get("merchant_id") or None)
        trade = _seeded(spec, scope, now)
        for old in (self._by_trade_no.get((scope, trade.trade_no)), self.by_out(trade.out_trade_no, scope)):
            if old is not None:  # re-seeding replaces the trade and forgets its history
                self._by_trade_no.pop((scope, old.trade_no), None)
                if old.out_trade_no:
                    self._by_out_trade_no.pop((scope, old.out_trade_no), None)
        self._by_trade_no[(scope, trade.trade_no)] = trade
        if trade.out_trade_no:
            self._by_out_trade_no[(scope, trade.out_trade_no)] = trade
        return trade

    def by_out(self, out_trade_no: str | None, scope: Scope) -> Trade | None:
        return self._by_out_trade_no.get((scope, out_trade_no)) if out_trade_no else None

    def lookup(self, key: str, scope: Scope) -> Trade | None:
        """By either id within a scope (admin reads, counts)."""
        return self._by_out_trade_no.get((scope, key)) or self._by_trade_no.get((scope, key))

    def find(self, out_trade_no: str | None, trade_no: str | None, scope: Scope) -> Trade | None:
        """Alipay prefers trade_no; raises ValueError when the two ids name different trades."""
        by_no = self._by_trade_no.get((scope, trade_no)) if trade_no else None
        by_out = self.by_out(out_trade_no, scope)
        if by_no and out_trade_no and by_no.out_trade_no != out_trade_no:
            raise ValueError("trade_no and out_trade_no do not belong to the same trade")
        if by_out and trade_no and by_no is None:
            raise ValueError("trade_no and out_trade_no do not belong to the same trade")
        return by_no or by_out
