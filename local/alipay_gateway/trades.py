"""The emulated trade table and what ``alipay.trade.cancel`` does to each trade state.

Trades belong to a scope, (app id, merchant id or None): ``out_trade_no`` is unique per merchant
only, so the same ``out_trade_no`` under two merchants (or two apps) is two trades. A call's scope is
the app that signed it and the merchant its ``app_auth_token`` belongs to.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Alipay's own wording for the business errors cancel can return (sub_msg / v3 message).
BUSINESS_MESSAGES: dict[str, str] = {
    "ACQ.TRADE_HAS_FINISHED": "交易已完结",
    "ACQ.REASON_TRADE_BEEN_FREEZEN": "交易已冻结",
    "ACQ.TRADE_CANCEL_TIME_OUT": "不在撤销时间范围内",
    "ACQ.TRADE_HAS_SUCCESS": "交易已被支付",
    "ACQ.CANCEL_NOT_ALLOWED": "交易不允许撤销",
    "ACQ.REASON_TRADE_REFUND_FEE_ERR": "退款金额无效",
    "ACQ.INVALID_PARAMETER": "参数无效",
    "ACQ.SELLER_BALANCE_NOT_ENOUGH": "商户的支付宝账户中无足够的资金进行撤销",
    "ACQ.SYSTEM_ERROR": "系统错误",
}

_BEIJING = dt.timezone(dt.timedelta(hours=8))

Scope = tuple[str, str | None]  # (app_id, merchant_id); merchant None: the app's own trades


def scope_label(scope: Scope, default_app_id: str, trade_id: str) -> str:
    """How counts name a trade: the plain id in the default scope, else prefixed by app and merchant
    (the same shape as the function's trade_key, written independently)."""
    app_id, merchant_id = scope
    parts = [] if app_id == default_app_id else [f"app:{app_id}"]
    if merchant_id:
        parts.append(f"merchant:{merchant_id}")
    return " ".join([*parts, trade_id])


class TradeState(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    FINISHED = "finished"
    FROZEN = "frozen"
    CLOSED = "closed"
    REFUNDED = "refunded"


@dataclass
class Trade:
    trade_no: str
    out_trade_no: str | None
    state: TradeState
    app_id: str = ""
    merchant_id: str | None = None
    outside_cancel_window: bool = False
    cancel_deadline: float | None = None  # epoch seconds; cancels after it get TRADE_CANCEL_TIME_OUT
    error_code: str | None = None  # sticky seeded business error
    error_message: str | None = None
    gmt_refund_pay: str | None = None
    refund_settlement_id: str | None = None
    cancel_calls: int = 0
    requests: int = 0

    @property
    def key(self) -> str:
        return self.out_trade_no or self.trade_no

    @property
    def scope(self) -> Scope:
        return (self.app_id, self.merchant_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "app_id": self.app_id,
            "merchant_id": self.merchant_id,
            "trade_no": self.trade_no,
            "out_trade_no": self.out_trade_no,
            "state": self.state.value,
            "outside_cancel_window": self.outside_cancel_window,
            "cancel_deadline": self.cancel_deadline,
            "error_code": self.error_code,
            "gmt_refund_pay": self.gmt_refund_pay,
            "refund_settlement_id": self.refund_settlement_id,
            "cancel_calls": self.cancel_calls,
            "requests": self.requests,
        }


@dataclass(frozen=True)
class CancelAnswer:
    """Either success ``fields`` (without code/msg) or a business ``error_code``."""

    fields: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None


def business_error(code: str, message: str | None = None) -> CancelAnswer:
    return CancelAnswer(error_code=code, error_message=message or BUSINESS_MESSAGES.get(code, "业务处理失败"))


def _new_trade_no() -> str:
    today = dt.datetime.now(_BEIJING).strftime("%Y%m%d")
    return today + "22001" + "".join(secrets.choice("0123456789") for _ in range(15))


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
        out_trade_no = spec.get("out_trade_no") or None
        trade_no = spec.get("trade_no") or None
        if out_trade_no is None and trade_no is None:
            raise ValueError("a trade needs out_trade_no or trade_no")
        try:
            state = TradeState(spec.get("state", "unpaid"))
        except ValueError as exc:
            raise ValueError(f"state must be one of {[s.value for s in TradeState]}") from exc
        window = spec.get("cancel_window_seconds")
        trade = Trade(
            trade_no=str(trade_no) if trade_no else _new_trade_no(),
            out_trade_no=str(out_trade_no) if out_trade_no else None,
            state=state,
            outside_cancel_window=bool(spec.get("outside_cancel_window", False)),
            cancel_deadline=now + float(window) if window is not None else None,
            error_code=spec.get("error_code") or None,
            error_message=spec.get("error_message") or None,
            app_id=scope[0],
            merchant_id=scope[1],
        )
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

    def cancel(self, trade: Trade | None, out_trade_no: str | None, now: float) -> CancelAnswer:
        if trade is None:  # Alipay answers success with no action when it knows no such trade
            fields = {"retry_flag": "N"}
            if out_trade_no:
                fields["out_trade_no"] = out_trade_no
            return CancelAnswer(fields=fields)
        if trade.error_code:
            return business_error(trade.error_code, trade.error_message)
        if trade.state is TradeState.FROZEN:
            return business_error("ACQ.REASON_TRADE_BEEN_FREEZEN")
        if trade.state is TradeState.FINISHED:
            return business_error("ACQ.TRADE_HAS_FINISHED")
        already_done = trade.state in (TradeState.CLOSED, TradeState.REFUNDED)
        outside = trade.outside_cancel_window or (
            trade.cancel_deadline is not None and now > trade.cancel_deadline
        )
        if outside and not already_done:
            return business_error("ACQ.TRADE_CANCEL_TIME_OUT")
        if trade.state is TradeState.UNPAID:
            trade.state = TradeState.CLOSED
        elif trade.state is TradeState.PAID:
            trade.state = TradeState.REFUNDED
        if trade.state is TradeState.REFUNDED and trade.gmt_refund_pay is None:
            trade.gmt_refund_pay = dt.datetime.fromtimestamp(now, _BEIJING).strftime("%Y-%m-%d %H:%M:%S")
            trade.refund_settlement_id = str(int(time.time())) + "".join(
                secrets.choice("0123456789") for _ in range(18)
            )
        fields = {"trade_no": trade.trade_no, "retry_flag": "N"}
        if trade.out_trade_no:
            fields["out_trade_no"] = trade.out_trade_no
        if trade.state is TradeState.CLOSED:
            fields["action"] = "close"
        else:
            fields["action"] = "refund"
            fields["gmt_refund_pay"] = trade.gmt_refund_pay or ""
            fields["refund_settlement_id"] = trade.refund_settlement_id or ""
        return CancelAnswer(fields=fields)
