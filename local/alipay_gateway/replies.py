"""The emulator's answers: a ``Reply`` the server writes (or, for timeouts, deliberately never
writes), encrypted for AES apps, signed with the calling app's own Alipay key, and mangled by a
post-call fault when one is due."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.alipay_gateway.aes_body import aes_encrypt
from local.alipay_gateway.fault_replies import DOCS_LINK
from local.alipay_gateway.faults import Fault
from local.alipay_gateway.gateway_state import AppView, GatewayState
from local.alipay_gateway.response_signing import corrupt_signature, response_signature_headers
from local.alipay_gateway.trades import Scope

JSON_TYPE = "application/json; charset=utf-8"
STALE_TIMESTAMP_S = 1_490_000_000  # March 2017: the default age of a "stale" answer


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # answer no sooner than this after the request arrived
    hang: bool = False  # never answer: hold the connection until the client gives up
    drip_seconds: float = 0.0  # > 0: send the body one byte at a time, this long apart


def as_json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def v3_error_body(code: str, message: str) -> bytes:
    return as_json(
        {"code": code, "message": message, "links": [{"link": DOCS_LINK, "desc": "OpenAPI v3 docs"}]}
    )


@dataclass(frozen=True)
class CallInfo:
    """What the recent-requests log and the signing need to know about the call being answered."""

    operation: str
    app: AppView | None = None  # the app the call named (None: unknown): its Alipay key signs
    scope: Scope | None = None
    ids: tuple[str | None, str | None] = (None, None)  # (trade_no, out_trade_no) asked about
    encrypted: bool = False  # the app's 2xx answers to this call are AES-encrypted


def record(state: GatewayState, status: int, code: str, call: CallInfo) -> None:
    trade_no, out_trade_no = call.ids
    with state.lock:
        state.recent.append(
            {
                "at": time.time(),
                "operation": call.operation,
                "status": status,
                "code": code,
                "trade_no": trade_no,
                "out_trade_no": out_trade_no,
                "app_id": call.scope[0] if call.scope else None,  # the app whose key verified the call
                "merchant_id": call.scope[1] if call.scope else None,
            }
        )


def finish(
    state: GatewayState, status: int, body: bytes, call: CallInfo, *, code: str, fault: Fault | None = None
) -> Reply:
    """Encrypt 2xx bodies of AES calls, sign with the calling app's Alipay key (the default app's when
    the app is unknown), then apply any post-call fault."""
    record(state, status, code if fault is None else f"{code}+{fault.kind}", call)
    app = call.app
    encrypt_key = app.encrypt_key if app is not None else state.encrypt_key
    signing_key = app.alipay_private_key if app is not None else state.alipay_private_key
    alipay_sn = app.alipay_sn if app is not None else state.alipay_sn
    content_type = JSON_TYPE
    if call.encrypted and 200 <= status < 300 and encrypt_key is not None:
        body = aes_encrypt(encrypt_key, body)
        content_type = "text/plain; charset=utf-8"
    reply = Reply(status=status, body=body, content_type=content_type)
    reply.delay_seconds = state.latency_ms / 1000
    kind = fault.kind if fault else None
    if kind == "latency" and fault is not None:
        reply.delay_seconds += fault.latency_ms / 1000
    elif kind == "timeout_after_cancel":
        reply.hang = True
        return reply
    elif kind == "garbage_html":
        reply.body = b"<html><head><title>502 Bad Gateway</title></head><body>Tengine</body></html>"
        reply.content_type = "text/html"
    elif kind == "garbage_empty":
        reply.body = b""
    elif kind == "garbage_truncated":
        reply.body = body[: max(1, len(body) // 2)]
    elif kind == "drip" and fault is not None:
        reply.drip_seconds = (fault.latency_ms or 400) / 1000
    elif kind == "gzip" and fault is not None:
        reply.body = gzip.compress(body + b" " * (fault.size or 0))
        reply.headers["Content-Encoding"] = "gzip"
    elif kind == "oversize" and fault is not None:
        reply.body = body + b" " * max(0, (fault.size or 1024 * 1024) - len(body))
    if fault is not None and kind and kind.startswith("garbage_") and fault.http_status:
        reply.status = fault.http_status
    signed = not (fault is not None and kind and kind.startswith("garbage_") and not fault.signed)
    if kind != "no_signature" and signed:
        sn = alipay_sn
        if kind == "no_alipay_sn":
            sn = None
        elif kind == "other_alipay_sn" and fault is not None:
            sn = fault.code or "0" * 32
        age = 0.0
        if kind == "stale" and fault is not None:
            age = fault.age_seconds if fault.age_seconds is not None else time.time() - STALE_TIMESTAMP_S
        reply.headers.update(response_signature_headers(signing_key, reply.body, sn, age))
    if kind == "bad_signature":
        reply.headers["alipay-signature"] = corrupt_signature(reply.headers["alipay-signature"])
    if kind == "no_signature" and alipay_sn:
        reply.headers["alipay-sn"] = alipay_sn
    reply.headers["alipay-trace-id"] = uuid.uuid4().hex
    return reply
