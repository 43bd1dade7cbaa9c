"""What each trade API does to a trade and what it answers, after the state table of the project's
Alipay notes (where Alipay's behaviour is unconfirmed, the pick is said here and in the README):

| trade | query | cancel | close | refund |
| --- | --- | --- | --- | --- |
| unknown | TRADE_NOT_EXIST | success, no action | TRADE_NOT_EXIST | TRADE_NOT_EXIST |
| WAIT_BUYER_PAY | status | close | closed | TRADE_STATUS_ERROR |
| TRADE_SUCCESS, no refund | status | refund all (in window) | TRADE_STATUS_ERROR | refund |
| TRADE_SUCCESS, part refunded | status | REASON_TRADE_REFUND_FEE_ERR | TRADE_STATUS_ERROR | up to the rest |
| TRADE_FINISHED | status | TRADE_HAS_FINISHED | TRADE_STATUS_ERROR | TRADE_HAS_FINISHED |
| CLOSED, unpaid | status | close again (pick) | TRADE_STATUS_ERROR (pick) | TRADE_HAS_CLOSE |
| CLOSED, refunded | same | REASON_TRADE_REFUND_FEE_ERR (pick) | TRADE_STATUS_ERROR (pick) | TRADE_HAS_CLOSE |
| frozen (paid) | status (pick) | REASON_TRADE_BEEN_FREEZEN | TRADE_STATUS_ERROR (pick) | (same as cancel) |

(codes are ``ACQ.<name>``; the refund query's unknown trade is ``TRADE_NOT_EXIST``, unprefixed.)

Refunds are idempotent per (trade, ``out_request_no``; absent: ``out_trade_no``): a done number with
the same amount answers success with ``fund_change: N`` and moves nothing, with another amount
``ACQ.DISCORDANT_REPEAT_REQUEST``; a number whose refund did not happen is carried out now. The
merchant's balance (``Funds``) pays cancel refunds and refunds: short -> ``ACQ.SELLER_BALANCE_NOT_ENOUGH``.
Callers hold the gateway lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from local.alipay_gateway.trades import (
    BuyerPays,
    Refund,
    Scope,
    Trade,
    TradeStatus,
    beijing_time,
    cents,
    yuan,
)
from local.alipay_gateway.trades import digits as random_digits

# Alipay's own wording for the business errors (sub_msg / v3 message).
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
    "ACQ.TRADE_NOT_EXIST": "交易不存在",
    "TRADE_NOT_EXIST": "交易不存在",
    "ACQ.TRADE_STATUS_ERROR": "交易状态不合法",
    "ACQ.TRADE_HAS_CLOSE": "交易已经关闭",
    "ACQ.DISCORDANT_REPEAT_REQUEST": "请求信息不一致",
    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL": "退款金额不等于交易金额",
}
# Masked buyer account, as Alipay shows it.
BUYER_LOGON_ID = "159****5620"


@dataclass(frozen=True)
class Answer:
    """Either success ``fields`` (without code/msg) or a business ``error_code``."""

    fields: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None


def business_error(code: str, message: str | None = None) -> Answer:
    return Answer(error_code=code, error_message=message or BUSINESS_MESSAGES.get(code, "业务处理失败"))


class Funds(Protocol):
    def take(self, scope: Scope, amount_cents: int) -> bool:
        """Debit the merchant's balance; False (and nothing debited) when it is too low."""
        ...


def _ids(trade: Trade) -> dict[str, Any]:
    fields: dict[str, Any] = {"trade_no": trade.trade_no}
    if trade.out_trade_no:
        fields["out_trade_no"] = trade.out_trade_no
    return fields


def cancel(trade: Trade | None, out_trade_no: str | None, now: float, funds: Funds) -> Answer:
    if trade is None:  # Alipay answers success with no action when it knows no such trade
        fields = {"retry_flag": "N"}
        if out_trade_no:
            fields["out_trade_no"] = out_trade_no
        return Answer(fields=fields)
    if trade.error_code:
        return business_error(trade.error_code, trade.error_message)
    if trade.frozen:
        return business_error("ACQ.REASON_TRADE_BEEN_FREEZEN")
    if trade.status is TradeStatus.TRADE_FINISHED:
        return business_error("ACQ.TRADE_HAS_FINISHED")
    if trade.refund_fee_cents:  # refunded in part or in full: "no cancel once refunded"
        return business_error("ACQ.REASON_TRADE_REFUND_FEE_ERR")
    outside = trade.outside_cancel_window or (
        trade.cancel_deadline is not None and now > trade.cancel_deadline
    )
    if outside and trade.status is not TradeStatus.TRADE_CLOSED:
        return business_error("ACQ.TRADE_CANCEL_TIME_OUT")
    fields = {**_ids(trade), "retry_flag": "N", "action": "close"}
    if trade.status is TradeStatus.TRADE_SUCCESS:
        if not funds.take(trade.scope, trade.total_cents):
            return business_error("ACQ.SELLER_BALANCE_NOT_ENOUGH")
        trade.refund_fee_cents = trade.total_cents
        trade.gmt_refund_pay = beijing_time(now)
        trade.refund_settlement_id = str(int(now)) + random_digits(18)
        fields.update(
            action="refund",
            gmt_refund_pay=trade.gmt_refund_pay,
            refund_settlement_id=trade.refund_settlement_id,
        )
    trade.status = TradeStatus.TRADE_CLOSED
    return Answer(fields=fields)


def query(trade: Trade | None, now: float) -> Answer:
    if trade is None:
        return business_error("ACQ.TRADE_NOT_EXIST")
    fields = {
        **_ids(trade),
        "trade_status": trade.status.value,
        "total_amount": yuan(trade.total_cents),
        "buyer_logon_id": BUYER_LOGON_ID,
    }
    if trade.send_pay_date is not None:
        paid = yuan(trade.total_cents)
        fields.update(send_pay_date=trade.send_pay_date, buyer_pay_amount=paid, receipt_amount=paid)
    if trade.buyer_pays is BuyerPays.AFTER_NEXT_QUERY:
        trade.buyer_pays = None
        if trade.status is TradeStatus.WAIT_BUYER_PAY:
            trade.pay(now)
    return Answer(fields=fields)


def close(trade: Trade | None, now: float) -> Answer:
    if trade is None:
        return business_error("ACQ.TRADE_NOT_EXIST")
    if trade.buyer_pays is BuyerPays.BEFORE_NEXT_CLOSE:
        trade.buyer_pays = None
        if trade.status is TradeStatus.WAIT_BUYER_PAY:
            trade.pay(now)
    if trade.status is not TradeStatus.WAIT_BUYER_PAY or trade.frozen:
        return business_error("ACQ.TRADE_STATUS_ERROR")
    trade.status = TradeStatus.TRADE_CLOSED
    return Answer(fields=_ids(trade))


def _refund_success(trade: Trade, fund_change: str, refund: Refund) -> Answer:
    return Answer(
        fields={
            **_ids(trade),
            "buyer_logon_id": BUYER_LOGON_ID,
            "fund_change": fund_change,
            "refund_fee": yuan(trade.refund_fee_cents),
            "gmt_refund_pay": refund.gmt_refund_pay,
        }
    )


def refund(trade: Trade | None, payload: Mapping[str, Any], now: float, funds: Funds) -> Answer:
    try:
        amount = cents(payload.get("refund_amount"))
    except ValueError:
        return business_error("ACQ.INVALID_PARAMETER", "refund_amount 无效")
    request_no = payload.get("out_request_no")
    if amount <= 0 or (request_no is not None and not (isinstance(request_no, str) and request_no)):
        return business_error("ACQ.INVALID_PARAMETER")
    if trade is None:
        return business_error("ACQ.TRADE_NOT_EXIST")
    key = request_no or trade.out_trade_no or trade.trade_no
    done = trade.refunds.get(key)
    if done is not None:  # a repeat: idempotent, or a different request under a used number
        if done.amount_cents != amount:
            return business_error("ACQ.DISCORDANT_REPEAT_REQUEST")
        return _refund_success(trade, "N", done)
    if trade.frozen:
        return business_error("ACQ.REASON_TRADE_BEEN_FREEZEN")
    refused = {
        TradeStatus.WAIT_BUYER_PAY: "ACQ.TRADE_STATUS_ERROR",
        TradeStatus.TRADE_FINISHED: "ACQ.TRADE_HAS_FINISHED",
        TradeStatus.TRADE_CLOSED: "ACQ.TRADE_HAS_CLOSE",
    }.get(trade.status)
    if refused is not None:
        return business_error(refused)
    if request_no is None and amount != trade.total_cents:
        return business_error("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    if trade.refund_fee_cents + amount > trade.total_cents:
        return business_error("ACQ.REASON_TRADE_REFUND_FEE_ERR")
    if not funds.take(trade.scope, amount):
        return business_error("ACQ.SELLER_BALANCE_NOT_ENOUGH")
    done = trade.refunds[key] = Refund(amount, beijing_time(now))
    trade.refund_fee_cents += amount
    if trade.refund_fee_cents == trade.total_cents:
        trade.status = TradeStatus.TRADE_CLOSED
    return _refund_success(trade, "Y", done)


def refund_query(trade: Trade | None, payload: Mapping[str, Any]) -> Answer:
    request_no = payload.get("out_request_no")
    if not (isinstance(request_no, str) and request_no):
        return business_error("ACQ.INVALID_PARAMETER", "out_request_no 不能为空")
    if trade is None:
        return business_error("TRADE_NOT_EXIST")  # the spelling of Alipay's refund-query table
    fields = {**_ids(trade), "out_request_no": request_no}
    done = trade.refunds.get(request_no)
    if done is not None:  # "no such refund" (pick): the ids only, no refund_status
        fields.update(
            refund_status="REFUND_SUCCESS",
            refund_amount=yuan(done.amount_cents),
            total_amount=yuan(trade.total_cents),
        )
        options = payload.get("query_options")
        if isinstance(options, list) and "gmt_refund_pay" in options:
            fields["gmt_refund_pay"] = done.gmt_refund_pay
    return Answer(fields=fields)
