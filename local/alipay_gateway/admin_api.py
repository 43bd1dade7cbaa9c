"""``/__admin/...``: a JSON API for tests, the demo and chaos runs to drive the emulator.

See README.md in this package for the list of routes.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from local.alipay_gateway.faults import Fault
from local.alipay_gateway.gateway_state import GatewayState
from local.alipay_gateway.trades import Scope, Trade, scope_label

PREFIX = "/__admin"


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _body(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise AdminError(400, "body is not JSON") from exc


def handle_admin(state: GatewayState, method: str, path: str, raw: bytes) -> tuple[int, Any]:
    route, _, query = path[len(PREFIX) :].partition("?")
    route = route.rstrip("/") or "/"
    parts = [unquote(p) for p in route.strip("/").split("/")]
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    try:
        return _dispatch(state, method, parts, raw, _scope(state, params))
    except AdminError as exc:
        return exc.status, {"error": str(exc)}
    except (ValueError, TypeError, KeyError) as exc:
        return 400, {"error": str(exc)}


def _scope(state: GatewayState, params: dict[str, str]) -> Scope:
    """``?app_id=..&merchant_id=..`` on trade and count reads; default: the default app's own."""
    return (params.get("app_id") or state.app_id, params.get("merchant_id") or None)


def _dispatch(
    state: GatewayState, method: str, parts: list[str], raw: bytes, scope: Scope
) -> tuple[int, Any]:
    head = parts[0]
    if (method, head) == ("GET", "health"):
        return 200, {"ok": True}
    if (method, head) == ("POST", "reset"):
        state.reset()
        return 200, {"ok": True}
    if head == "trades":
        return _trades(state, method, parts[1:], raw, scope)
    if head == "faults":
        return _faults(state, method, raw)
    if (method, head) == ("POST", "rates"):
        body = _body(raw)
        with state.lock:
            if "random_latency_ms" in body:
                state.faults.random_latency_ms = int(body["random_latency_ms"])
            state.faults.set_rates(body.get("rates", {}), body.get("seed"))
            return 200, state.faults.to_dict()
    if head == "settings":
        if method == "POST":
            state.apply_settings(_body(raw))
        return 200, state.settings()
    if (method, head) == ("POST", "rotate-app-key"):
        body = _body(raw)
        grace = float(body.get("grace_seconds", 0))
        state.add_app_key(
            public_key_pem=body.get("public_key"), app_cert_pem=body.get("app_cert"), grace_seconds=grace
        )
        return 200, state.settings()
    if (method, head) == ("POST", "rotate-alipay-key"):
        body = _body(raw)
        state.set_alipay_key(body["private_key"], body.get("alipay_cert"))
        return 200, state.settings()
    if (method, head) == ("GET", "counts"):
        if len(parts) > 1:
            return 200, state.count_for(parts[1], scope)
        return 200, state.counts_dict()
    if (method, head) == ("GET", "requests"):
        with state.lock:
            return 200, list(state.recent)
    raise AdminError(404, f"no admin route {method} /{'/'.join(parts)}")


def _trades(state: GatewayState, method: str, rest: list[str], raw: bytes, scope: Scope) -> tuple[int, Any]:
    with state.lock:
        if method == "POST" and not rest:
            body = _body(raw)
            specs = body if isinstance(body, list) else body.get("trades", [body])
            now = time.time()
            return 200, [_trade(state, state.trades.seed(spec, now, state.app_id)) for spec in specs]
        if method == "GET" and not rest:
            return 200, [_trade(state, t) for t in state.trades.all()]
        if method == "GET" and len(rest) == 1:
            trade = state.trades.lookup(rest[0], scope)
            if trade is None:
                raise AdminError(404, "no such trade")
            return 200, _trade(state, trade)
    raise AdminError(404, "no such trades route")


def _trade(state: GatewayState, trade: Trade) -> dict[str, Any]:
    """The trade, plus ``scoped_key``: how counts name it (the plain id for the default app's own)."""
    return {**trade.to_dict(), "scoped_key": scope_label(trade.scope, state.app_id, trade.key)}


def _faults(state: GatewayState, method: str, raw: bytes) -> tuple[int, Any]:
    with state.lock:
        if method == "POST":
            body = _body(raw)
            specs = body if isinstance(body, list) else [body]
            for spec in specs:
                state.faults.add(spec.get("trade"), Fault.from_spec(spec))
        elif method == "DELETE":
            body = _body(raw)
            state.faults.clear(body.get("trade") if isinstance(body, dict) else None)
        elif method != "GET":
            raise AdminError(405, "faults: GET, POST or DELETE")
        return 200, state.faults.to_dict()
