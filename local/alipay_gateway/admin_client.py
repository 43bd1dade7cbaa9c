"""A small Python client for the emulator's ``/__admin`` API (tests, demo, chaos)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import requests


def _scope_query(app_id: str | None, merchant_id: str | None) -> str:
    params = {k: v for k, v in (("app_id", app_id), ("merchant_id", merchant_id)) if v}
    return "?" + urlencode(params) if params else ""


class GatewayAdminError(RuntimeError):
    pass


class GatewayAdmin:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()
        # One connection per call: a kept-alive connection idle past the emulator's keep-alive timeout
        # can be closed by the server just as the next call goes out (RemoteDisconnected on a busy
        # machine). Loopback connects are cheap; admin calls are not what tests measure.
        self._session.headers["Connection"] = "close"

    def _call(self, method: str, route: str, body: Any = None) -> Any:
        response = self._session.request(
            method, f"{self.base_url}/__admin/{route}", json=body, timeout=self._timeout
        )
        data = response.json()
        if response.status_code != 200:
            raise GatewayAdminError(f"{method} /__admin/{route}: {response.status_code} {data.get('error')}")
        return data

    def close(self) -> None:
        self._session.close()

    def health(self) -> bool:
        return bool(self._call("GET", "health")["ok"])

    def reset(self) -> None:
        """Back to the start-up configuration: trades, faults, rates, settings, keys, counts, nonces."""
        self._call("POST", "reset")

    # trades
    def seed_trade(
        self,
        out_trade_no: str | None = None,
        trade_no: str | None = None,
        state: str = "unpaid",
        *,
        outside_cancel_window: bool = False,
        cancel_window_seconds: float | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        app_id: str | None = None,
        merchant_id: str | None = None,
        total_amount: str | None = None,
        refunds: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """state: unpaid | paid | finished | frozen | closed | refunded. ``error_code``: a sticky
        business error every cancel of this trade answers with. ``app_id`` / ``merchant_id``: whose
        trade it is (default: the default app's own). ``total_amount`` (default "88.88");
        ``refunds``: refunds already done on a paid trade, ``[{out_request_no, refund_amount}]``.
        Returns the trade (with its trade_no)."""
        spec: dict[str, Any] = {"out_trade_no": out_trade_no, "trade_no": trade_no, "state": state}
        if total_amount is not None:
            spec["total_amount"] = total_amount
        if refunds:
            spec["refunds"] = refunds
        if app_id:
            spec["app_id"] = app_id
        if merchant_id:
            spec["merchant_id"] = merchant_id
        if outside_cancel_window:
            spec["outside_cancel_window"] = True
        if cancel_window_seconds is not None:
            spec["cancel_window_seconds"] = cancel_window_seconds
        if error_code:
            spec["error_code"] = error_code
        if error_message:
            spec["error_message"] = error_message
        result: list[dict[str, Any]] = self._call("POST", "trades", [spec])
        return result[0]

    def seed_trades(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("POST", "trades", specs)
        return result

    def trade(self, key: str, *, app_id: str | None = None, merchant_id: str | None = None) -> dict[str, Any]:
        """One trade by out_trade_no or trade_no (of that app and merchant): state, refund fields,
        cancel_calls, requests."""
        result: dict[str, Any] = self._call("GET", f"trades/{key}{_scope_query(app_id, merchant_id)}")
        return result

    def trades(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "trades")
        return result

    def trade_event(
        self, key: str, event: str, *, app_id: str | None = None, merchant_id: str | None = None
    ) -> dict[str, Any]:
        """What happens to a trade outside our calls: buyer_pays, buyer_pays_after_next_query,
        buyer_pays_before_next_close, freeze, unfreeze, refund_window_ends. Returns the trade."""
        route = f"trades/{key}/events{_scope_query(app_id, merchant_id)}"
        result: dict[str, Any] = self._call("POST", route, {"event": event})
        return result

    # merchants: tokens and balances
    def set_token(
        self,
        app_auth_token: str,
        *,
        user_id: str | None = None,
        app_id: str | None = None,
        auth_app_id: str | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        """Issue (``user_id``: the merchant) or change a token: ``app_id`` the one of our apps it was
        issued to, ``status`` valid | expired | revoked. Returns it without the token."""
        body: dict[str, Any] = {"app_auth_token": app_auth_token}
        for name, value in (("user_id", user_id), ("auth_app_id", auth_app_id), ("status", status)):
            if value is not None:
                body[name] = value
        if app_id is not None:
            body["app_id"] = app_id
        result: dict[str, Any] = self._call("POST", "tokens", body)
        return result

    def tokens(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "tokens")
        return result

    def set_balance(
        self, balance: str | None, *, app_id: str | None = None, merchant_id: str | None = None
    ) -> None:
        """The merchant's balance ("10.00") that pays refunds; None: always enough (the default)."""
        self._call("POST", "balances", {"balance": balance, "app_id": app_id, "merchant_id": merchant_id})

    # faults
    def set_fault(self, kind: str, trade: str | None = None, times: int | None = None, **params: Any) -> None:
        """A fault for ``trade`` (either id; None = any call) for the next ``times`` calls (None = until
        cleared). params: operation (cancel, query, close, refund, refund_query, token_query; absent:
        any), latency_ms, http_status, code, message, signed, size, age_seconds, raw_body."""
        self._call("POST", "faults", {"kind": kind, "trade": trade, "times": times, **params})

    def clear_faults(self, trade: str | None = None) -> None:
        self._call("DELETE", "faults", {"trade": trade} if trade else {})

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "faults")
        return result

    def set_rates(
        self, rates: dict[str, float], seed: int | None = None, random_latency_ms: int | None = None
    ) -> None:
        body: dict[str, Any] = {"rates": rates, "seed": seed}
        if random_latency_ms is not None:
            body["random_latency_ms"] = random_latency_ms
        self._call("POST", "rates", body)

    # settings & keys
    def settings(self, **changes: Any) -> dict[str, Any]:
        """Read (no args) or change: error_shape ('envelope'|'v3'), max_skew_seconds, latency_ms,
        hang_seconds, api_permission, app_auth_tokens, denied_app_auth_tokens, merchants
        ({app_auth_token: merchant_id})."""
        result: dict[str, Any] = self._call("POST" if changes else "GET", "settings", changes or None)
        return result

    def rotate_app_key(
        self, public_key: str | None = None, *, app_cert: str | None = None, grace_seconds: float = 0
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST",
            "rotate-app-key",
            {"public_key": public_key, "app_cert": app_cert, "grace_seconds": grace_seconds},
        )
        return result

    def rotate_alipay_key(self, private_key: str, *, alipay_cert: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "rotate-alipay-key", {"private_key": private_key, "alipay_cert": alipay_cert}
        )
        return result

    # counts
    def counts(self) -> dict[str, Any]:
        """{total_requests, rejected_requests, <operation>_calls (cancel_calls, query_calls, ...),
        per_trade: {key: {requests, cancel_calls, and <operation>_calls when not zero}}}"""
        result: dict[str, Any] = self._call("GET", "counts")
        return result

    def count(self, key: str, *, app_id: str | None = None, merchant_id: str | None = None) -> dict[str, int]:
        """{requests, cancel_calls} for one trade by either id (of that app and merchant), and
        ``<operation>_calls`` of the other operations when not zero."""
        result: dict[str, int] = self._call("GET", f"counts/{key}{_scope_query(app_id, merchant_id)}")
        return result

    def cancel_calls(self, key: str, *, app_id: str | None = None, merchant_id: str | None = None) -> int:
        return self.count(key, app_id=app_id, merchant_id=merchant_id)["cancel_calls"]

    def calls(
        self, key: str, operation: str, *, app_id: str | None = None, merchant_id: str | None = None
    ) -> int:
        """How many ``operation`` calls (cancel, query, close, refund, refund_query) reached the trade."""
        return self.count(key, app_id=app_id, merchant_id=merchant_id).get(f"{operation}_calls", 0)

    def recent_requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "requests")
        return result
