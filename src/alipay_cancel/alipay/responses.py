"""What one cancel call to Alipay came back with: a verified success or a failure.

The client never raises for an Alipay or network problem; it returns an ``AlipayFailure`` so that
outcome classification (``outcomes.classify``) stays a pure function over these two types.
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


CancelOutcome = CancelSuccess | AlipayFailure
