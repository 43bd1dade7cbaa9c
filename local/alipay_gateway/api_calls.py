"""One API call: authenticate, decrypt, apply faults, run the operation (``trade_rules``,
``tokens``), then answer (``replies``: encrypt, sign with the calling app's key).

Independent of the HTTP server: ``handle_api`` turns one request into a ``Reply``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from local.alipay_gateway import trade_rules
from local.alipay_gateway.aes_body import aes_decrypt
from local.alipay_gateway.apis import APIS, TOKEN_QUERY, Api
from local.alipay_gateway.call_auth import Rejected, authenticate
from local.alipay_gateway.fault_replies import business_reply, pre_call_reply
from local.alipay_gateway.faults import PRE_CALL_KINDS, Fault
from local.alipay_gateway.gateway_state import AppView, GatewayState
from local.alipay_gateway.replies import CallInfo, Reply, as_json, finish, record, v3_error_body
from local.alipay_gateway.request_auth import GatewayError
from local.alipay_gateway.tokens import token_query_answer
from local.alipay_gateway.trade_rules import Answer, business_error
from local.alipay_gateway.trades import Trade


def _ids(payload: Any) -> tuple[str | None, str | None]:
    if not isinstance(payload, dict):
        return None, None
    out_trade_no, trade_no = payload.get("out_trade_no"), payload.get("trade_no")
    return (
        out_trade_no if isinstance(out_trade_no, str) and out_trade_no else None,
        trade_no if isinstance(trade_no, str) and trade_no else None,
    )


def _peek_ids(state: GatewayState, body: bytes, app: AppView | None) -> tuple[str | None, str | None]:
    """Best effort, for counting requests that get rejected before they are parsed properly."""
    key = app.encrypt_key if app is not None else state.encrypt_key
    try:
        plain = aes_decrypt(key, body) if key else body
        return _ids(json.loads(plain)) if plain else (None, None)
    except ValueError:
        return None, None


def _body_problem(app: AppView, headers: Mapping[str, str], body: bytes) -> tuple[bytes, str | None]:
    """(plain body, problem): an AES app must send ciphertext, a plain app must not."""
    encrypted = headers.get("alipay-encrypt-type", "").upper() == "AES"
    if app.encrypt_key is not None and not encrypted:
        return body, "this app requires AES-encrypted bodies (alipay-encrypt-type: AES)"
    if app.encrypt_key is None and encrypted:
        return body, "content encryption is not enabled for this app"
    if app.encrypt_key is not None:
        try:
            return aes_decrypt(app.encrypt_key, body), None
        except ValueError:
            return body, "the body does not decrypt with the app's AES key"
    return body, None


def _error_reply(state: GatewayState, error: GatewayError, call: CallInfo) -> Reply:
    return finish(state, error.status, v3_error_body(error.code, error.message), call, code=error.code)


def handle_api(
    state: GatewayState, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
) -> Reply:
    """``raw_path``: an API path of ``APIS`` (with its query string); ``headers``: names lower-cased."""
    path, _, query_string = raw_path.partition("?")
    api = APIS[path]
    now = time.time()
    checked = authenticate(state, method, raw_path, headers, body, now)
    token = headers.get("alipay-app-auth-token") or None
    if isinstance(checked, Rejected):  # counted for the trade it names, in the token's merchant's scope
        rejected_scope = state.scope_of(checked.app.app_id, token) if checked.app is not None else None
        state.count_request(_peek_ids(state, body, checked.app), rejected=True, scope=rejected_scope)
        return _error_reply(state, checked.error, CallInfo(api.operation, app=checked.app))
    app = checked.app
    scope = state.scope_of(app.app_id, token)
    if api.method == "GET":  # no body; an AES app's answers are encrypted all the same (pick)
        payload: Any = {k: v[-1] for k, v in parse_qs(query_string).items()}
        encrypted = app.encrypt_key is not None
    else:
        plain, problem = _body_problem(app, headers, body)
        if problem:
            state.count_request(_peek_ids(state, body, app), rejected=True, scope=scope)
            error = GatewayError(403, "insufficient-permissions", problem)
            return _error_reply(state, error, CallInfo(api.operation, app=app, scope=scope))
        try:
            payload = json.loads(plain)
        except ValueError:
            payload = None
        encrypted = app.encrypt_key is not None
    out_trade_no, trade_no = _ids(payload)
    state.count_request((out_trade_no, trade_no), rejected=False, scope=scope)
    call = CallInfo(api.operation, app, scope, (trade_no, out_trade_no), encrypted)
    if api is TOKEN_QUERY:
        return _token_query(state, call, payload, now)
    if not isinstance(payload, dict) or not (out_trade_no or trade_no):
        return _business(
            state, call, business_error("ACQ.INVALID_PARAMETER", "out_trade_no 和 trade_no 不能同时为空")
        )
    with state.lock:
        try:
            trade = state.trades.find(out_trade_no, trade_no, scope)
        except ValueError as exc:
            return _business(state, call, business_error("ACQ.INVALID_PARAMETER", str(exc)))
        keys = [k for k in (trade_no, out_trade_no) if k]
        if trade is not None:
            keys += [trade.trade_no, trade.out_trade_no or ""]
        fault = state.faults.take([k for k in keys if k], api.operation)
        if fault is not None and fault.kind in PRE_CALL_KINDS:
            return _pre_call(state, call, fault)
        state.counts.count_call(api.operation, trade, scope, out_trade_no or trade_no)
        if fault is not None and fault.kind == "retry_flag":
            answer = Answer(
                fields={"retry_flag": "Y", **({"out_trade_no": out_trade_no} if out_trade_no else {})}
            )
        else:
            answer = _run(state, api, trade, payload, out_trade_no, now)
    return _business(state, call, answer, fault)


def _run(
    state: GatewayState, api: Api, trade: Trade | None, payload: dict[str, Any], asked: str | None, now: float
) -> Answer:
    if api.operation == "cancel":
        return trade_rules.cancel(trade, asked, now, state)
    if api.operation == "query":
        return trade_rules.query(trade, now)
    if api.operation == "close":
        return trade_rules.close(trade, now)
    if api.operation == "refund":
        return trade_rules.refund(trade, payload, now, state)
    return trade_rules.refund_query(trade, payload)


def _business(state: GatewayState, call: CallInfo, answer: Answer, fault: Fault | None = None) -> Reply:
    if answer.error_code:
        status, obj = business_reply(state, answer)
        return finish(state, status, as_json(obj), call, code=answer.error_code, fault=fault)
    return finish(
        state,
        200,
        as_json({"code": "10000", "msg": "Success", **answer.fields}),
        call,
        code="10000",
        fault=fault,
    )


def _pre_call(state: GatewayState, call: CallInfo, fault: Fault) -> Reply:
    """A fault that answers before the operation runs (the caller holds the lock)."""
    if fault.kind == "timeout":
        record(state, 0, "timeout", call)
        return Reply(status=0, body=b"", hang=True)
    if fault.kind == "signed_body":
        return finish(
            state, fault.http_status or 200, (fault.raw_body or "").encode(), call, code="signed_body"
        )
    pre = pre_call_reply(state, fault, call.operation)
    assert pre is not None
    status, obj = pre
    return finish(state, status, as_json(obj), call, code=str(obj.get("sub_code") or obj.get("code")))


def _token_query(state: GatewayState, call: CallInfo, params: Mapping[str, Any], now: float) -> Reply:
    token = params.get("app_auth_token")
    if not token:
        return _error_reply(state, GatewayError(400, "invalid-parameter", "app_auth_token is required"), call)
    app_id = call.app.app_id if call.app is not None else state.app_id
    with state.lock:
        fault = state.faults.take([], call.operation)
        if fault is not None and fault.kind in PRE_CALL_KINDS:
            return _pre_call(state, call, fault)
        state.counts.count_call(call.operation, None, call.scope or state.default_scope, None)
        answer = token_query_answer(state.tokens.get(str(token)), app_id, now)
    if isinstance(answer, GatewayError):
        return _error_reply(state, answer, call)
    body = as_json({"code": "10000", "msg": "Success", **answer})
    return finish(state, 200, body, call, code="10000", fault=fault)
