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
from local.alipay_gateway.trades import BuyerPays, Scope, Trade, TradeStatus, cents, scope_label

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
    if head == "tokens":
        return _tokens(state, method, raw)
    if (method, head) == ("POST", "balances"):
        body = _body(raw)
        balance = body.get("balance")
        scope = (body.get("app_id") or state.app_id, body.get("merchant_id") or None)
        state.set_balance(scope, None if balance is None else cents(balance))
        return 200, {"ok": True}
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
            return 200, _trade(state, _lookup(state, rest[0], scope))
        if method == "POST" and len(rest) == 2 and rest[1] == "events":
            trade = _lookup(state, rest[0], scope)
            _trade_event(trade, str(_body(raw).get("event")), time.time())
            return 200, _trade(state, trade)
    raise AdminError(404, "no such trades route")


def _lookup(state: GatewayState, key: str, scope: Scope) -> Trade:
    trade = state.trades.lookup(key, scope)
    if trade is None:
        raise AdminError(404, "no such trade")
    return trade


TRADE_EVENTS = (
    "buyer_pays",  # an unpaid trade is paid now
    "buyer_pays_after_next_query",  # ... right after the next query answered (still unpaid)
    "buyer_pays_before_next_close",  # ... just before the next close arrives
    "freeze",
    "unfreeze",
    "refund_window_ends",  # a paid trade becomes TRADE_FINISHED
)


def _trade_event(trade: Trade, event: str, now: float) -> None:
    """What happens to a trade outside our calls (caller holds the lock)."""
    if event not in TRADE_EVENTS:
        raise AdminError(400, f"event must be one of {list(TRADE_EVENTS)}")
    if event.startswith("buyer_pays") and trade.status is not TradeStatus.WAIT_BUYER_PAY:
        raise AdminError(400, "only an unpaid trade can be paid")
    if event == "buyer_pays":
        trade.pay(now)
    elif event == "buyer_pays_after_next_query":
        trade.buyer_pays = BuyerPays.AFTER_NEXT_QUERY
    elif event == "buyer_pays_before_next_close":
        trade.buyer_pays = BuyerPays.BEFORE_NEXT_CLOSE
    elif event in ("freeze", "unfreeze"):
        trade.frozen = event == "freeze"
    elif trade.status is TradeStatus.TRADE_SUCCESS:
        trade.status = TradeStatus.TRADE_FINISHED
    else:
        raise AdminError(400, "only a paid trade's refund window can end")


def _tokens(state: GatewayState, method: str, raw: bytes) -> tuple[int, Any]:
    """Tokens by body (``app_auth_token``), never in a URL; reads never show them."""
    if method == "POST":
        return 200, state.set_token(_body(raw)).to_dict()
    if method == "GET":
        with state.lock:
            return 200, [grant.to_dict() for grant in state.tokens.values()]
    raise AdminError(405, "tokens: GET or POST")


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
