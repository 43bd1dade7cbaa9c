"""What a call is about: ``TradeRef`` names one trade (and the merchant's token for ISV calls), and
the request fields each operation sends, checked before anything is signed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from alipay_cancel.alipay.amounts import read_amount
from alipay_cancel.alipay.errors import InvalidRequest

# Alipay's refund request numbers: string(64), unique within the trade. Visible ASCII only: it is
# compared byte for byte with what Alipay echoes.
_REQUEST_NO = re.compile(r"[!-~]{1,64}")


@dataclass(frozen=True)
class TradeRef:
    """One trade: ``out_trade_no`` and/or ``trade_no`` (Alipay prefers ``trade_no``), and for a call
    on behalf of an ISV merchant, that merchant's ``app_auth_token`` (never shown in ``repr``)."""

    out_trade_no: str | None
    trade_no: str | None
    app_auth_token: str | None = field(default=None, repr=False)


def check_app_auth_token(token: str) -> None:
    # It goes into an HTTP header (or the URL) and the signed string: refuse anything that could
    # split a header. The message never quotes it.
    if not (token.isascii() and token.isprintable()) or token != token.strip() or not token:
        raise InvalidRequest("app_auth_token must be printable ASCII without surrounding whitespace")


def trade_fields(ref: TradeRef) -> dict[str, Any]:
    """The ids every trade operation sends; ``InvalidRequest`` when there are none."""
    fields: dict[str, Any] = {}
    if ref.out_trade_no:
        fields["out_trade_no"] = ref.out_trade_no
    if ref.trade_no:
        fields["trade_no"] = ref.trade_no
    if not fields:
        raise InvalidRequest("a trade request needs out_trade_no or trade_no")
    return fields


def refund_request_no(out_request_no: str) -> str:
    if not (isinstance(out_request_no, str) and _REQUEST_NO.fullmatch(out_request_no)):
        raise InvalidRequest("out_request_no must be 1 to 64 visible ASCII characters")
    return out_request_no


def refund_fields(ref: TradeRef, refund_amount: str, out_request_no: str) -> dict[str, Any]:
    """A refund always carries its ``out_request_no``: it is the idempotency key (a repeat with the
    same number and amount moves no money), and partial refunds need one."""
    if not isinstance(refund_amount, str):
        raise InvalidRequest("refund_amount must be a string like 88.88")
    amount, problem = read_amount(refund_amount)
    if amount is None:
        raise InvalidRequest(f"refund_amount {problem}")
    if amount == "0.00":
        raise InvalidRequest("refund_amount must be more than 0")
    return {**trade_fields(ref), "refund_amount": amount, "out_request_no": refund_request_no(out_request_no)}


def refund_query_fields(ref: TradeRef, out_request_no: str) -> dict[str, Any]:
    # gmt_refund_pay is returned only when asked for (query_options).
    return {
        **trade_fields(ref),
        "out_request_no": refund_request_no(out_request_no),
        "query_options": ["gmt_refund_pay"],
    }
