"""Who is calling, and may they: the ``Authorization`` header verified with the named app's own keys,
timestamp skew, nonce reuse, the ISV token, API permission."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from local.alipay_gateway.gateway_state import AppView, GatewayState
from local.alipay_gateway.request_auth import (
    AuthParams,
    GatewayError,
    parse_authorization,
    signed_request_content,
    verify_rsa_sha256,
)
from local.alipay_gateway.tokens import header_token_problem


class Authenticated(NamedTuple):
    auth: AuthParams
    app: AppView


class Rejected(NamedTuple):
    error: GatewayError
    app: AppView | None  # the app the header named, when the gateway knows it: its key signs the error


def authenticate(
    state: GatewayState, method: str, raw_path: str, headers: Mapping[str, str], body: bytes, now: float
) -> Authenticated | Rejected:
    """The call's parameters and the app that signed it (verified with that app's own keys)."""
    auth = parse_authorization(headers.get("authorization"))
    if isinstance(auth, GatewayError):
        return Rejected(auth, None)
    app = state.app(auth.app_id, now)
    if app is None:
        return Rejected(GatewayError(401, "invalid-app-id", "app_id is not known to this gateway"), None)
    problem = _check(state, auth, app, method, raw_path, headers, body, now)
    return Rejected(problem, app) if problem is not None else Authenticated(auth, app)


def _check(
    state: GatewayState,
    auth: AuthParams,
    app: AppView,
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> GatewayError | None:
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
        problem = header_token_problem(state.grant(token), app.app_id)
        if problem is not None:
            return problem
        if token in state.denied_app_auth_tokens:
            return GatewayError(403, "insufficient-permissions", "the merchant did not grant this API")
    if not state.api_permission:
        return GatewayError(403, "insufficient-permissions", "the app has no permission for this API")
    return None
