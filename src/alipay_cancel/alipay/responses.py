"""What one call to Alipay came back with: a verified, typed success of that operation, or a failure.

The client never raises for an Alipay or network problem; it returns an ``AlipayFailure`` so that
outcome classification stays a pure function over these types. Every success carries the
``alipay-trace-id`` (for Alipay support), the HTTP status and our ``alipay-request-id``. Amounts are
two-decimal strings (``amounts``), never floats. No success or failure ever holds a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class CancelSuccess:
    """A ``code == 10000`` (or v3 HTTP 2xx) answer whose signature was verified."""

    action: str | None  # "close", "refund", or None when Alipay found no trade
    gmt_refund_pay: str | None
    out_trade_no: str | None
    refund_settlement_id: str | None
    retry_flag: str | None  # "Y" means: call cancel again later with the same parameters
    trade_no: str | None
    trace_id: str | None  # response header alipay-trace-id, for Alipay support
    http_status: int = 200
    request_id: str | None = None  # our alipay-request-id header for this call


class FailureKind(StrEnum):
    BUSINESS = "business"  # seed envelope, code 40004 (or other 4xxxx) with sub_code
    SERVICE_UNAVAILABLE = "service_unavailable"  # seed envelope code 20000 / 20001
    V3_ERROR = "v3_error"  # HTTP status >= 400 with {"code", "message", "links"}
    HTTP_ERROR = "http_error"  # HTTP status >= 400 (or odd 1xx/3xx) with no readable or no trusted error body
    TIMEOUT = "timeout"  # connect or read timeout
    CONNECTION = "connection"  # refused, reset, DNS, TLS
    BAD_SIGNATURE = "bad_signature"  # response unsigned, forged or signed with another key
    UNEXPECTED_SIGNER = "unexpected_signer"  # cert mode: alipay-sn names a cert other than alipay_cert
    MALFORMED = "malformed"  # signed, but the body is unreadable or a stored field is invalid
    NOT_OUR_ANSWER = "not_our_answer"  # signed success for another trade, naming no id, or stale
    REFUSED_BODY = "refused_body"  # refused unread: over the size cap or compressed


@dataclass(frozen=True)
class AlipayFailure:
    """Anything that is not a verified success. ``message`` never contains key material.

    What the client puts here from an *unsigned* response (see ``response_parsing``): the HTTP
    status, and ``code`` only for the gateway-level v3 codes whose handling is retry or a config
    alarm (``invalid-signature``, ``rate-limited``, ...). Business codes and seed-envelope fields are
    filled only from responses whose signature verified (``verified=True``).
    """

    kind: FailureKind
    message: str
    http_status: int | None = None
    code: str | None = None  # seed "40004"/"20000"/...; v3 e.g. "invalid-signature"
    sub_code: str | None = None  # seed e.g. "ACQ.TRADE_HAS_SUCCESS"
    sub_msg: str | None = None
    trace_id: str | None = None
    # True only when the error response's alipay-signature was checked and valid. Classification
    # never gives up on a payment (TERMINAL) because of an unverified error: a proxy or attacker
    # could otherwise make us dead-letter good payments.
    verified: bool = False
    request_id: str | None = None  # our alipay-request-id header for this call (set even on timeouts)


class TradeStatus(StrEnum):
    """``trade_status`` of alipay.trade.query."""

    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"  # created, not paid: close (or cancel) ends it
    TRADE_SUCCESS = "TRADE_SUCCESS"  # paid, refundable
    TRADE_FINISHED = "TRADE_FINISHED"  # paid, no longer refundable
    TRADE_CLOSED = "TRADE_CLOSED"  # closed unpaid, or paid and then fully refunded


@dataclass(frozen=True)
class QuerySuccess:
    """alipay.trade.query: the trade's state now. ``trade_no`` is absent while Alipay has no real
    trade yet; the payment amounts are absent (or ``"0.00"``) before payment."""

    trade_status: TradeStatus
    out_trade_no: str | None
    trade_no: str | None
    total_amount: str | None  # the order amount
    buyer_pay_amount: str | None  # what the buyer paid
    receipt_amount: str | None  # what the merchant receives
    send_pay_date: str | None  # "yyyy-MM-dd HH:mm:ss", when paid
    trace_id: str | None
    http_status: int = 200
    request_id: str | None = None


@dataclass(frozen=True)
class CloseSuccess:
    """alipay.trade.close: the unpaid trade is closed now (a later query shows TRADE_CLOSED)."""

    out_trade_no: str | None
    trade_no: str | None
    trace_id: str | None
    http_status: int = 200
    request_id: str | None = None


@dataclass(frozen=True)
class RefundSuccess:
    """alipay.trade.refund accepted the request. Only ``fund_change == "Y"`` means money moved in
    this call; anything else (a repeat of a done refund answers ``"N"``) is confirmed with the
    refund query."""

    fund_change: str | None  # "Y", "N" or None
    refund_fee: str  # everything refunded on the trade so far (cumulative), not this call's amount
    out_trade_no: str | None
    trade_no: str | None
    gmt_refund_pay: str | None
    send_back_fee: str | None  # only when asked for with query_options
    trace_id: str | None
    http_status: int = 200
    request_id: str | None = None

    @property
    def money_moved(self) -> bool:
        return self.fund_change == "Y"


class RefundStatus(StrEnum):
    """What alipay.trade.fastpay.refund.query says about one refund request."""

    REFUND_SUCCESS = "REFUND_SUCCESS"  # Alipay's value: the refund was carried out
    # Our name for an answer without ``refund_status``: Alipay did not receive this refund request,
    # or it did not succeed (also what a wrong out_request_no gets). Safe to send the same refund
    # again: the same out_request_no and amount can move money at most once.
    NOT_REFUNDED = "NOT_REFUNDED"


@dataclass(frozen=True)
class RefundQuerySuccess:
    """alipay.trade.fastpay.refund.query answered (HTTP 200 only means the query worked)."""

    refund_status: RefundStatus
    out_request_no: str | None
    refund_amount: str | None  # this refund request's amount (not cumulative)
    total_amount: str | None  # the order amount
    out_trade_no: str | None
    trade_no: str | None
    gmt_refund_pay: str | None  # asked for with query_options
    trace_id: str | None
    http_status: int = 200
    request_id: str | None = None


class TokenStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # expired, refreshed away or revoked by the merchant


@dataclass(frozen=True)
class TokenInfo:
    """alipay.open.auth.token.app.query: whose authorisation an ``app_auth_token`` is. Never holds the
    token itself."""

    status: TokenStatus
    user_id: str | None  # the authorising merchant's Alipay user id (2088...)
    auth_app_id: str | None  # the authorising merchant's app id
    expires_in: int | None  # seconds
    auth_start: str | None
    auth_end: str | None
    auth_methods: tuple[str, ...]
    is_by_app_auth: bool | None
    trace_id: str | None
    http_status: int = 200
    request_id: str | None = None


CancelOutcome = CancelSuccess | AlipayFailure
QueryOutcome = QuerySuccess | AlipayFailure
CloseOutcome = CloseSuccess | AlipayFailure
RefundOutcome = RefundSuccess | AlipayFailure
RefundQueryOutcome = RefundQuerySuccess | AlipayFailure
TokenQueryOutcome = TokenInfo | AlipayFailure
# What any of the trade operations comes back with.
TradeOutcome = (
    CancelSuccess | QuerySuccess | CloseSuccess | RefundSuccess | RefundQuerySuccess | AlipayFailure
)
