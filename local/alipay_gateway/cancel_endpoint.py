"""``POST /v3/alipay/trade/cancel``: authenticate, decrypt, apply faults, cancel, encrypt, sign.

Independent of the HTTP server: ``handle_cancel`` turns one request into a ``Reply`` that the
server writes (or, for timeouts, deliberately never writes).
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.alipay_gateway.aes_body import aes_decrypt, aes_encrypt
from local.alipay_gateway.fault_replies import DOCS_LINK, business_reply, pre_cancel_reply
from local.alipay_gateway.faults import PRE_CANCEL_KINDS, Fault
from local.alipay_gateway.gateway_state import AppView, GatewayState
from local.alipay_gateway.request_auth import (
    AuthParams,
    GatewayError,
    parse_authorization,
    signed_request_content,
    verify_rsa_sha256,
)
from local.alipay_gateway.response_signing import corrupt_signature, response_signature_headers
from local.alipay_gateway.trades import CancelAnswer, Scope, business_error

CANCEL_PATH = "/v3/alipay/trade/cancel"
JSON_TYPE = "application/json; charset=utf-8"
STALE_TIMESTAMP_S = 1_490_000_000  # March 2017: the default age of a "stale" answer


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # wait this long before answering
    hang: bool = False  # never answer: hold the connection until the client gives up
    drip_seconds: float = 0.0  # > 0: send the body one byte at a time, this long apart


def _json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def v3_error_body(code: str, message: str) -> bytes:
    return _json(
        {"code": code, "message": message, "links": [{"link": DOCS_LINK, "desc": "OpenAPI v3 docs"}]}
    )


def _ids(payload: Any) -> tuple[str | None, str | None]:
    if not isinstance(payload, dict):
        return None, None
    out_trade_no, trade_no = payload.get("out_trade_no"), payload.get("trade_no")
    return (
        out_trade_no if isinstance(out_trade_no, str) and out_trade_no else None,
        trade_no if isinstance(trade_no, str) and trade_no else None,
    )


def _peek_ids(state: GatewayState, body: bytes, app: AppView | None = None) -> tuple[str | None, str | None]:
    """Best effort, for counting requests that get rejected before they are parsed properly."""
    key = app.encrypt_key if app is not None else state.encrypt_key
    try:
        plain = aes_decrypt(key, body) if key else body
        return _ids(json.loads(plain))
    except ValueError:
        return None, None


def authenticate(
    state: GatewayState, method: str, raw_path: str, headers: Mapping[str, str], body: bytes, now: float
) -> tuple[AuthParams, AppView] | GatewayError:
    """The call's parameters and the app that signed it (verified with that app's own keys)."""
    auth = parse_authorization(headers.get("authorization"))
    if isinstance(auth, GatewayError):
        return auth
    app = state.app(auth.app_id, now)
    if app is None:
        return GatewayError(401, "invalid-app-id", "app_id is not known to this gateway")
    try:
        skew = abs(now * 1000 - int(auth.timestamp)) / 1000
    except ValueError:
        return GatewayError(401, "invalid-timestamp", "timestamp is not epoch milliseconds")
    if skew > state.max_skew_seconds:
        return GatewayError(401, "invalid-timestamp", f"timestamp is {skew:.0f}s away from gateway time")
    keys = app.app_keys
    if app.cert_mode:
        if headers.get("alipay-root-cert-sn") != app.root_cert_sn:
            return GatewayError(
                401, "invalid-signature", "alipay-root-cert-sn does not match Alipay's root cert"
            )
        keys = [k for k in keys if k.cert_sn == auth.app_cert_sn]
        if not keys:
            return GatewayError(
                401, "invalid-signature", "app_cert_sn does not name an active app certificate"
            )
    token = headers.get("alipay-app-auth-token") or None
    content = signed_request_content(auth.auth_string, method, raw_path, body, token)
    if not any(verify_rsa_sha256(k.public_key, content, auth.sign) for k in keys):
        return GatewayError(401, "invalid-signature", "the request signature does not verify")
    if not state.use_nonce(auth.app_id, auth.nonce, now):
        return GatewayError(401, "nonce-reused", "this nonce was already used")
    if token is not None:
        if state.app_auth_tokens is not None and token not in state.app_auth_tokens:
            return GatewayError(401, "invalid-app-auth-token", "app_auth_token is invalid or expired")
        if token in state.denied_app_auth_tokens:
            return GatewayError(403, "insufficient-permissions", "the merchant did not grant this API")
    if not state.api_permission:
        return GatewayError(403, "insufficient-permissions", "the app has no permission for this API")
    return auth, app


def handle_cancel(
    state: GatewayState, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
) -> Reply:
    """``headers``: names lower-cased."""
    now = time.time()
    authenticated = authenticate(state, method, raw_path, headers, body, now)
    if isinstance(authenticated, GatewayError):
        error = authenticated
        state.count_request(_peek_ids(state, body), rejected=True)
        return _finish(
            state, error.status, v3_error_body(error.code, error.message), encrypted=False, code=error.code
        )
    _auth, app = authenticated
    scope = state.scope_of(app.app_id, headers.get("alipay-app-auth-token") or None)

    # AES: a body-encrypted app must send ciphertext; a plain app must not.
    encrypted = headers.get("alipay-encrypt-type", "").upper() == "AES"
    plain = body
    problem: str | None = None
    if app.encrypt_key is not None and not encrypted:
        problem = "this app requires AES-encrypted bodies (alipay-encrypt-type: AES)"
    elif app.encrypt_key is None and encrypted:
        problem = "content encryption is not enabled for this app"
    elif app.encrypt_key is not None:
        try:
            plain = aes_decrypt(app.encrypt_key, body)
        except ValueError:
            problem = "the body does not decrypt with the app's AES key"
    if problem:
        state.count_request(_peek_ids(state, body, app), rejected=True, scope=scope)
        return _finish(
            state,
            403,
            v3_error_body("insufficient-permissions", problem),
            encrypted=False,
            code="insufficient-permissions",
            app=app,
        )

    try:
        payload = json.loads(plain)
    except ValueError:
        payload = None
    out_trade_no, trade_no = _ids(payload)
    state.count_request((out_trade_no, trade_no), rejected=False, scope=scope)
    if not isinstance(payload, dict) or not (out_trade_no or trade_no):
        status, obj = business_reply(
            state, business_error("ACQ.INVALID_PARAMETER", "out_trade_no 和 trade_no 不能同时为空")
        )
        return _finish(state, status, _json(obj), encrypted=encrypted, code="ACQ.INVALID_PARAMETER", app=app)

    with state.lock:
        try:
            trade = state.trades.find(out_trade_no, trade_no, scope)
        except ValueError as exc:
            status, obj = business_reply(state, business_error("ACQ.INVALID_PARAMETER", str(exc)))
            return _finish(
                state, status, _json(obj), encrypted=encrypted, code="ACQ.INVALID_PARAMETER", app=app
            )
        keys = [k for k in (trade_no, out_trade_no) if k]
        if trade is not None:
            keys += [trade.trade_no, trade.out_trade_no or ""]
        fault = state.faults.take([k for k in keys if k])

        if fault is not None and fault.kind in PRE_CANCEL_KINDS:
            if fault.kind == "timeout":
                _record(state, 0, "timeout", trade_no, out_trade_no, scope)
                return Reply(status=0, body=b"", hang=True)
            if fault.kind == "signed_body":
                raw = (fault.raw_body or "").encode()
                status = fault.http_status or 200
                return _finish(
                    state,
                    status,
                    raw,
                    encrypted=encrypted,
                    code="signed_body",
                    ids=(trade_no, out_trade_no),
                    app=app,
                    scope=scope,
                )
            pre = pre_cancel_reply(state, fault)
            assert pre is not None
            status, obj = pre
            code = str(obj.get("sub_code") or obj.get("code"))
            return _finish(
                state,
                status,
                _json(obj),
                encrypted=encrypted,
                code=code,
                ids=(trade_no, out_trade_no),
                app=app,
                scope=scope,
            )

        # The cancel logic proper.
        state.counts.cancel_calls += 1
        if trade is not None:
            trade.cancel_calls += 1
        else:
            key = (scope, out_trade_no or trade_no or "")
            unknown = state.counts.unknown_trade_cancel_calls
            unknown[key] = unknown.get(key, 0) + 1
        if fault is not None and fault.kind == "retry_flag":
            fields = {"retry_flag": "Y"}
            if out_trade_no:
                fields["out_trade_no"] = out_trade_no
            answer = CancelAnswer(fields=fields)
        else:
            answer = state.trades.cancel(trade, out_trade_no, now)

    if answer.error_code:
        status, obj = business_reply(state, answer)
        code = answer.error_code
    else:
        status, obj, code = 200, {"code": "10000", "msg": "Success", **answer.fields}, "10000"
    return _finish(
        state,
        status,
        _json(obj),
        encrypted=encrypted,
        code=code,
        fault=fault,
        ids=(trade_no, out_trade_no),
        app=app,
        scope=scope,
    )


def _record(
    state: GatewayState,
    status: int,
    code: str,
    trade_no: str | None,
    out_trade_no: str | None,
    scope: Scope | None = None,
) -> None:
    with state.lock:
        state.recent.append(
            {
                "at": time.time(),
                "status": status,
                "code": code,
                "trade_no": trade_no,
                "out_trade_no": out_trade_no,
                "app_id": scope[0] if scope else None,  # the app whose key verified the call
                "merchant_id": scope[1] if scope else None,
            }
        )


def _finish(
    state: GatewayState,
    status: int,
    body: bytes,
    *,
    encrypted: bool,
    code: str,
    fault: Fault | None = None,
    ids: tuple[str | None, str | None] = (None, None),
    app: AppView | None = None,
    scope: Scope | None = None,
) -> Reply:
    """Encrypt 2xx bodies of AES calls, sign with the calling app's Alipay key (the default app's when
    the app is unknown), then apply any post-cancel fault."""
    _record(state, status, code if fault is None else f"{code}+{fault.kind}", *ids, scope)
    encrypt_key = app.encrypt_key if app is not None else state.encrypt_key
    signing_key = app.alipay_private_key if app is not None else state.alipay_private_key
    alipay_sn = app.alipay_sn if app is not None else state.alipay_sn
    content_type = JSON_TYPE
    if encrypted and 200 <= status < 300 and encrypt_key is not None:
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
