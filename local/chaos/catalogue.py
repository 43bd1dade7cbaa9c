"""What can go wrong in a chaos run, as data: the emulator's fault variants (any call, and the settle
flow's own calls), the sticky cancel codes, and one of each kind of bad message body."""

from __future__ import annotations

import json
import random
import secrets
from typing import Any

from alipay_cancel.shared.trade import trade_key as build_trade_key

# The ISV merchant the chaos token belongs to: the emulator is told (the function asks Alipay whose a
# token is before it calls), and the token's trades are that merchant's there.
CHAOS_MERCHANT = "2088000000000777"

# Variants of each emulator fault kind (kind, params, label). Labels are what the summary counts.
FAULT_VARIANTS: list[tuple[str, dict[str, Any], str]] = [
    ("latency", {"latency_ms": 400}, "latency (slow answer, in time)"),
    ("latency", {"latency_ms": 2600}, "latency (answer after the client's read timeout)"),
    ("timeout", {}, "timeout (never answers, not cancelled)"),
    ("timeout_after_cancel", {}, "timeout_after_cancel"),
    ("http_5xx", {"http_status": 503}, "http_5xx 503"),
    ("http_5xx", {"http_status": 500}, "http_5xx 500"),
    ("http_5xx", {"http_status": 502}, "http_5xx 502"),
    ("http_5xx", {"http_status": 504}, "http_5xx 504"),
    ("rate_limited", {}, "rate_limited 429"),
    ("service_unavailable", {}, "service_unavailable 20000"),
    ("system_error", {}, "system_error ACQ.SYSTEM_ERROR"),
    ("business_error", {"code": "AQC.SYSTEM_ERROR"}, "business_error AQC.SYSTEM_ERROR"),
    # A cancel's code (a cancel that refunds): Alipay never answers it to a query or a close, where it
    # would be a code that operation does not have (taken by the call after a cancel that never reached
    # the emulator, on a loaded machine).
    (
        "business_error",
        {"code": "ACQ.SELLER_BALANCE_NOT_ENOUGH", "operation": "cancel"},
        "business_error SELLER_BALANCE_NOT_ENOUGH",
    ),
    ("retry_flag", {}, "retry_flag=Y"),
    ("bad_signature", {}, "bad_signature (corrupted)"),
    ("no_signature", {}, "no_signature (headers missing)"),
    ("garbage_html", {}, "garbage_html (signed)"),
    ("garbage_html", {"signed": False, "http_status": 502}, "garbage_html 502 (unsigned)"),
    ("garbage_empty", {}, "garbage_empty (signed)"),
    ("garbage_empty", {"signed": False}, "garbage_empty (unsigned)"),
    ("garbage_truncated", {}, "garbage_truncated (signed)"),
    ("garbage_truncated", {"signed": False}, "garbage_truncated (unsigned)"),
    # Answers the client must not believe or must not read (each is retried).
    ("stale", {}, "stale (2017 alipay-timestamp)"),
    ("other_trade", {}, "other_trade (signed success for another trade)"),
    ("signed_body", {"raw_body": '{"":"","":{}}'}, "signed_body (names no id)"),
    ("gzip", {"size": 400_000}, "gzip (compressed answer)"),
    ("oversize", {"size": 200_000}, "oversize (200 KB answer)"),
    ("drip", {"latency_ms": 5}, "drip (slow body, in time)"),
    ("gateway_error", {"code": "unknow-error"}, "gateway_error unknow-error"),
    # Public-key mode ignores alipay-sn: these must change nothing.
    ("no_alipay_sn", {}, "no_alipay_sn"),
    ("other_alipay_sn", {}, "other_alipay_sn"),
]
# Timeouts hold a worker for the whole read timeout: drawn less often than the rest.
VARIANT_WEIGHTS = [
    1.0 if kind not in ("timeout", "timeout_after_cancel") else 0.5 for kind, *_ in FAULT_VARIANTS
]

# A cancel that answers one of these every time (a sticky code the emulator seeds): no call settles
# the first; the others are the settle flow's (the trade is queried, then refunded).
TERMINAL_CODES = ("ACQ.INVALID_PARAMETER",)
SETTLE_CODES = ("ACQ.TRADE_HAS_SUCCESS", "ACQ.CANCEL_NOT_ALLOWED", "ACQ.REASON_TRADE_REFUND_FEE_ERR")

# Faults of the settle flow's own calls (``operation``), for trades that make them: answers lost
# after the call took effect (a refund or close done, unanswered), refused, unreadable or slow.
REFUND_ANSWER_LOST: tuple[str, dict[str, Any], str] = (
    "timeout_after_cancel",
    {"operation": "refund"},
    "refund: refunded, answer lost",
)
REFUND_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    REFUND_ANSWER_LOST,
    ("bad_signature", {"operation": "refund"}, "refund: refunded, answer badly signed"),
    ("system_error", {"operation": "refund"}, "refund: ACQ.SYSTEM_ERROR"),
    ("timeout", {"operation": "query"}, "query: timeout"),
    ("http_5xx", {"operation": "query", "http_status": 502}, "query: 502"),
]
CLOSE_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    ("timeout_after_cancel", {"operation": "close"}, "close: closed, answer lost"),
    ("system_error", {"operation": "close"}, "close: ACQ.SYSTEM_ERROR"),
    ("garbage_truncated", {"operation": "query"}, "query: truncated answer"),
]
# After a refund whose answer was lost, the next delivery's refund query.
REFUND_QUERY_FAULT = ("system_error", {"operation": "refund_query"}, "refund query: ACQ.SYSTEM_ERROR")


def body_of(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def sns_envelope(message: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": secrets.token_hex(8),
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:payment-timeouts",
            "Message": message,
            "Timestamp": "2026-01-01T00:00:00.000Z",
            "SignatureVersion": "1",
        }
    )


def bad_bodies(rng: random.Random, run: str, token: str) -> list[tuple[str, str, str | None]]:
    """(body, what, trade_key the function can still read or None). One of each kind of bad message."""
    long_id = "X" * 65
    real_looking = f"BAD{run}"
    return [
        ("this is not JSON {", "not JSON", None),
        ('{"out_trade_no": "A1",', "truncated JSON", None),
        ("[]", "JSON array", None),
        ("42", "JSON number", None),
        ("null", "JSON null", None),
        ('"out_trade_no"', "JSON string", None),
        (body_of(amount=12), "no trade id", None),
        (body_of(out_trade_no=12345), "id is a number", None),
        (body_of(trade_no=["2026"]), "id is a list", None),
        (body_of(out_trade_no={"id": "A"}), "id is an object", None),
        (body_of(out_trade_no=True), "id is a boolean", None),
        (body_of(out_trade_no=""), "id is empty", None),
        (body_of(out_trade_no=long_id), "id too long (65)", None),
        (body_of(trade_no="9" * 200), "trade_no too long (200)", None),
        (body_of(out_trade_no="A B"), "id with a space", None),
        (body_of(out_trade_no="A\tB"), "id with a tab", None),
        (body_of(out_trade_no="A\u200bB"), "id with a zero-width space", None),
        (body_of(out_trade_no="订单 号"), "unicode id with an ideographic space", None),
        ('{"out_trade_no": NaN}', "NaN", None),
        ('{"out_trade_no": "A1", "out_trade_no": "A2"}', "duplicate field", None),
        ("[" * 5000 + "]" * 5000, "deeply nested", None),
        ("x" * 200_000, "huge (200 kB of garbage)", None),
        (body_of(out_trade_no=7, app_auth_token=token), "wrong type next to a token", None),
        (
            body_of(out_trade_no=f"{real_looking}T", app_auth_token=12, merchant_id=CHAOS_MERCHANT),
            "token is a number",
            build_trade_key(f"{real_looking}T", merchant_id=CHAOS_MERCHANT),
        ),
        (
            body_of(
                out_trade_no=f"{real_looking}S",
                app_auth_token="tok en",  # noqa: S106 - a bad message
                merchant_id=CHAOS_MERCHANT,
            ),
            "token with a space",
            build_trade_key(f"{real_looking}S", merchant_id=CHAOS_MERCHANT),
        ),
        (body_of(out_trade_no=f"{real_looking}M", app_auth_token=token), "token without merchant_id", None),
        (json.dumps({"Type": "Notification", "Message": "<xml/>"}), "SNS wrapping garbage", None),
        (json.dumps({"Type": "Notification", "Message": 42}), "SNS Message not a string", None),
        (sns_envelope(body_of(out_trade_no=99)), "SNS wrapping a wrong type", None),
        (sns_envelope(sns_envelope(body_of(out_trade_no="A1"))), "SNS wrapping SNS", None),
        (sns_envelope("[" * 3000 + "]" * 3000), "SNS wrapping deep nesting", None),
        (
            json.dumps({"Type": "SubscriptionConfirmation", "Token": "x" * 40}),
            "SNS subscription confirmation",
            None,
        ),
        ("\u202e{}", "bidi override before JSON", None),
        ("\ufeff" + body_of(out_trade_no="A1"), "BOM before JSON", None),
        (body_of(out_trade_no=rng.choice(["\u0001", "\u007f"]) + "A"), "control character in id", None),
    ]
