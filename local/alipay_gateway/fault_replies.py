"""The answers of faults that reply before the operation runs (the trade is untouched), and the
shape of a business error in the configured error shape."""

from __future__ import annotations

from typing import Any

from local.alipay_gateway.faults import Fault
from local.alipay_gateway.gateway_state import GatewayState
from local.alipay_gateway.trade_rules import Answer, business_error

DOCS_LINK = "https://opendocs.alipay.com/open-v3/"
# "other_trade" faults answer for this trade: a real-looking success that is not the caller's.
OTHER_TRADE = {"trade_no": "2088999999999999999999999999", "out_trade_no": "OTHER-TRADE"}
# ... as each operation would answer it.
OTHER_TRADE_ANSWERS: dict[str, dict[str, Any]] = {
    "cancel": {**OTHER_TRADE, "action": "close", "retry_flag": "N"},
    "query": {**OTHER_TRADE, "trade_status": "TRADE_CLOSED", "total_amount": "88.88"},
    "close": dict(OTHER_TRADE),
    "refund": {
        **OTHER_TRADE,
        "fund_change": "Y",
        "refund_fee": "88.88",
        "gmt_refund_pay": "2017-03-20 10:00:00",
    },
    "refund_query": {
        **OTHER_TRADE,
        "out_request_no": "OTHER-REFUND",
        "refund_status": "REFUND_SUCCESS",
        "refund_amount": "88.88",
        "total_amount": "88.88",
    },
    # Another merchant's authorisation: nothing in the answer can show it is not this token's.
    "token_query": {
        "user_id": "2088999999999999",
        "auth_app_id": "2021999999999999",
        "status": "valid",
        "expires_in": 31536000,
    },
}


def business_reply(state: GatewayState, answer: Answer) -> tuple[int, dict[str, Any]]:
    code = answer.error_code or "ACQ.SYSTEM_ERROR"
    message = answer.error_message or ""
    if state.error_shape == "v3":
        return 400, {"code": code, "message": message, "links": [{"link": DOCS_LINK, "desc": code}]}
    return 200, {"code": "40004", "msg": "Business Failed", "sub_code": code, "sub_msg": message}


def pre_call_reply(state: GatewayState, fault: Fault, operation: str) -> tuple[int, dict[str, Any]] | None:
    if fault.kind == "http_5xx":
        return fault.http_status or 503, {
            "code": "service-unavailable",
            "message": "gateway fault injected",
            "links": [],
        }
    if fault.kind == "rate_limited":
        return 429, {"code": "rate-limited", "message": "too many requests", "links": []}
    if fault.kind == "service_unavailable":
        return 200, {
            "code": "20000",
            "msg": "Service Currently Unavailable",
            "sub_code": "isp.unknow-error",
            "sub_msg": "系统繁忙",
        }
    if fault.kind == "system_error":
        return business_reply(state, business_error("ACQ.SYSTEM_ERROR", fault.message))
    if fault.kind == "business_error":
        return business_reply(state, business_error(fault.code or "ACQ.SYSTEM_ERROR", fault.message))
    if fault.kind == "gateway_error":
        message = fault.message or "gateway error injected"
        return fault.http_status or 400, {"code": fault.code, "message": message, "links": []}
    if fault.kind == "other_trade":
        return 200, {"code": "10000", "msg": "Success", **OTHER_TRADE_ANSWERS[operation]}
    return None
