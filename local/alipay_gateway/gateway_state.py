"""Everything the emulator knows: configuration, apps and their keys (with rotation for the default
app), ISV merchants' tokens, merchants' balances, trades, faults, counts, nonces."""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from local.alipay_gateway.call_counts import Counts
from local.alipay_gateway.cert_sn import cert_sn, root_cert_sn
from local.alipay_gateway.faults import FaultBook
from local.alipay_gateway.key_loading import (
    cert_rsa_public_key,
    load_certificate,
    load_rsa_private_key,
    load_rsa_public_key,
)
from local.alipay_gateway.tokens import TokenGrant, grant_from_spec
from local.alipay_gateway.trades import Scope, TradeBook

ErrorShape = Literal["envelope", "v3"]


@dataclass
class AppConfig:
    """A further Alipay app (public-key mode): its own app key and its own Alipay signing key."""

    app_id: str
    app_public_key: str  # PEM or bare base64: verifies the app's requests
    alipay_private_key: str  # signs this app's responses
    encrypt_key: str | None = None  # base64 AES key: this app's bodies must be encrypted


@dataclass
class GatewayConfig:
    """Start-up configuration. Public-key mode needs ``app_public_key``; certificate mode needs the
    three certificates (the app key is then taken from ``app_cert``)."""

    app_id: str
    alipay_private_key: str  # PEM or bare base64
    app_public_key: str | None = None
    encrypt_key: str | None = None  # base64 AES key: bodies must be encrypted
    app_cert: str | None = None
    alipay_cert: str | None = None
    alipay_root_cert: str | None = None
    max_skew_seconds: float = 300.0
    error_shape: ErrorShape = "envelope"
    latency_ms: int = 0  # every answer leaves no sooner than this after its request arrived
    hang_seconds: float = 120.0  # longest a "timeout" fault holds a request if the client never gives up
    fault_rates: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    app_auth_tokens: list[str] | None = None  # None: accept any app_auth_token
    apps: list[AppConfig] = field(default_factory=list)  # further apps besides ``app_id``
    # app_auth_token -> the merchant (Alipay user id) it was issued for: that merchant's trades are its
    # own scope; the token is valid for any of our apps (the admin API can say more: ``tokens``). A
    # token not listed here acts on the app's own trades (as before merchants were modelled).
    merchants: dict[str, str] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)  # seeded at start and on reset

    @property
    def cert_mode(self) -> bool:
        return bool(self.app_cert and self.alipay_cert and self.alipay_root_cert)


@dataclass
class AppKey:
    public_key: RSAPublicKey
    cert_sn: str | None  # certificate mode: the app_cert_sn that selects this key
    added_at: float
    retire_at: float | None = None  # after this instant the key no longer verifies

    def active(self, now: float) -> bool:
        return self.retire_at is None or now < self.retire_at


@dataclass(frozen=True)
class AppView:
    """What a call needs of the app that signed it (the default app or a further one)."""

    app_id: str
    app_keys: list[AppKey]  # active ones
    alipay_private_key: RSAPrivateKey
    alipay_sn: str | None
    encrypt_key: bytes | None
    cert_mode: bool
    root_cert_sn: str | None


@dataclass
class _ExtraApp:
    app_id: str
    app_key: AppKey
    alipay_private_key: RSAPrivateKey
    encrypt_key: bytes | None


class GatewayState:
    """All mutable state behind one lock; crypto happens outside it."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.trades = TradeBook()
        self.recent: deque[dict[str, Any]] = deque(maxlen=500)
        self.reset()

    # ---- configuration & keys -------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the start-up configuration: keys, settings, trades, faults, counts, nonces."""
        cfg = self.config
        now = time.time()
        with self.lock:
            self.app_id = cfg.app_id
            self.max_skew_seconds = cfg.max_skew_seconds
            self.error_shape: ErrorShape = cfg.error_shape
            self.latency_ms = cfg.latency_ms
            self.hang_seconds = cfg.hang_seconds
            self.app_auth_tokens: set[str] | None = (
                set(cfg.app_auth_tokens) if cfg.app_auth_tokens is not None else None
            )
            self.denied_app_auth_tokens: set[str] = set()  # valid tokens lacking the cancel permission
            self.api_permission = True
            self.encrypt_key = base64.b64decode(cfg.encrypt_key) if cfg.encrypt_key else None
            self.cert_mode = cfg.cert_mode
            self.app_keys: list[AppKey] = []
            if cfg.cert_mode:
                assert cfg.app_cert and cfg.alipay_root_cert
                self.add_app_key(app_cert_pem=cfg.app_cert, grace_seconds=None)
                self.root_cert_sn: str | None = root_cert_sn(cfg.alipay_root_cert)
            else:
                if not cfg.app_public_key:
                    raise ValueError("public-key mode needs app_public_key")
                self.add_app_key(public_key_pem=cfg.app_public_key, grace_seconds=None)
                self.root_cert_sn = None
            self.set_alipay_key(cfg.alipay_private_key, cfg.alipay_cert)
            self.extra_apps: dict[str, _ExtraApp] = {}
            for app in cfg.apps:
                if app.app_id == cfg.app_id or app.app_id in self.extra_apps:
                    raise ValueError(f"app {app.app_id} is configured twice")
                self.extra_apps[app.app_id] = _ExtraApp(
                    app_id=app.app_id,
                    app_key=AppKey(load_rsa_public_key(app.app_public_key), None, now),
                    alipay_private_key=load_rsa_private_key(app.alipay_private_key),
                    encrypt_key=base64.b64decode(app.encrypt_key) if app.encrypt_key else None,
                )
            self.tokens: dict[str, TokenGrant] = {
                token: grant_from_spec({"user_id": merchant}, now)
                for token, merchant in cfg.merchants.items()
            }
            self.balances: dict[Scope, int] = {}  # merchants' balances in cents; absent: enough
            self.faults = FaultBook(cfg.fault_rates, cfg.seed)
            self.trades.clear()
            for spec in cfg.trades:
                self.trades.seed(spec, now, self.app_id)
            self.counts = Counts()
            self.nonces: dict[tuple[str, str], float] = {}
            self.recent.clear()

    def add_app_key(
        self,
        *,
        public_key_pem: str | None = None,
        app_cert_pem: str | None = None,
        grace_seconds: float | None,
    ) -> AppKey:
        """Add an app key; unless ``grace_seconds`` is None, retire the current keys after it."""
        now = time.time()
        if app_cert_pem:
            cert = load_certificate(app_cert_pem)
            key = AppKey(cert_rsa_public_key(cert), cert_sn(cert), now)
        elif public_key_pem:
            if self.cert_mode:
                raise ValueError("certificate mode rotates with a new app_cert")
            key = AppKey(load_rsa_public_key(public_key_pem), None, now)
        else:
            raise ValueError("give public_key or app_cert")
        with self.lock:
            if grace_seconds is not None:
                retire_at = now + max(0.0, float(grace_seconds))
                for old in self.app_keys:
                    if old.retire_at is None or old.retire_at > retire_at:
                        old.retire_at = retire_at
            self.app_keys.append(key)
        return key

    def set_alipay_key(self, private_key_pem: str, alipay_cert_pem: str | None) -> None:
        """Alipay's own signing key (rotating it makes clients with a stale secret see bad signatures)."""
        key: RSAPrivateKey = load_rsa_private_key(private_key_pem)
        sn = cert_sn(load_certificate(alipay_cert_pem)) if alipay_cert_pem else None
        if self.cert_mode and sn is None:
            raise ValueError("certificate mode needs alipay_cert with the Alipay key")
        with self.lock:
            self.alipay_private_key = key
            self.alipay_sn = sn

    def active_app_keys(self, now: float) -> list[AppKey]:
        with self.lock:
            return [k for k in self.app_keys if k.active(now)]

    @property
    def default_scope(self) -> Scope:
        return (self.app_id, None)

    def app(self, app_id: str, now: float) -> AppView | None:
        """The app that ``app_id`` names, with its active keys; None for an app this gateway does not
        know."""
        with self.lock:
            if app_id == self.app_id:
                return AppView(
                    app_id=self.app_id,
                    app_keys=[k for k in self.app_keys if k.active(now)],
                    alipay_private_key=self.alipay_private_key,
                    alipay_sn=self.alipay_sn,
                    encrypt_key=self.encrypt_key,
                    cert_mode=self.cert_mode,
                    root_cert_sn=self.root_cert_sn,
                )
            extra = self.extra_apps.get(app_id)
            if extra is None:
                return None
            return AppView(
                app_id=extra.app_id,
                app_keys=[extra.app_key],
                alipay_private_key=extra.alipay_private_key,
                alipay_sn=None,
                encrypt_key=extra.encrypt_key,
                cert_mode=False,
                root_cert_sn=None,
            )

    def scope_of(self, app_id: str, app_auth_token: str | None) -> Scope:
        """Whose trades a call acts on: the signing app's, and the token's merchant's if it has one."""
        with self.lock:
            grant = self.tokens.get(app_auth_token) if app_auth_token else None
            return (app_id, grant.user_id if grant else None)

    def grant(self, app_auth_token: str) -> TokenGrant | None:
        with self.lock:
            return self.tokens.get(app_auth_token)

    def set_token(self, spec: Mapping[str, Any]) -> TokenGrant:
        token = spec.get("app_auth_token")
        if not (isinstance(token, str) and token):
            raise ValueError("app_auth_token is required")
        with self.lock:
            grant = self.tokens[token] = grant_from_spec(spec, time.time(), self.tokens.get(token))
            return grant

    # ---- merchants' balances (trade_rules.Funds) ------------------------------------------------
    def take(self, scope: Scope, amount_cents: int) -> bool:
        """Caller holds the lock (a trade rule is running)."""
        balance = self.balances.get(scope)
        if balance is None:
            return True
        if balance < amount_cents:
            return False
        self.balances[scope] = balance - amount_cents
        return True

    def set_balance(self, scope: Scope, amount_cents: int | None) -> None:
        with self.lock:
            if amount_cents is None:
                self.balances.pop(scope, None)
            else:
                self.balances[scope] = amount_cents

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        with self.lock:
            for name, value in settings.items():
                if name == "error_shape":
                    if value not in ("envelope", "v3"):
                        raise ValueError("error_shape is 'envelope' or 'v3'")
                    self.error_shape = value
                elif name == "max_skew_seconds":
                    self.max_skew_seconds = float(value)
                elif name == "latency_ms":
                    self.latency_ms = int(value)
                elif name == "hang_seconds":
                    self.hang_seconds = float(value)
                elif name == "api_permission":
                    self.api_permission = bool(value)
                elif name == "app_auth_tokens":
                    self.app_auth_tokens = set(value) if value is not None else None
                elif name == "denied_app_auth_tokens":
                    self.denied_app_auth_tokens = set(value or [])
                elif name == "merchants":
                    now = time.time()
                    self.tokens = {
                        str(k): grant_from_spec({"user_id": str(v)}, now) for k, v in (value or {}).items()
                    }
                else:
                    raise ValueError(f"unknown setting {name!r}")

    def settings(self) -> dict[str, Any]:
        now = time.time()
        with self.lock:
            return {
                "app_id": self.app_id,
                "mode": "cert" if self.cert_mode else "public-key",
                "aes": self.encrypt_key is not None,
                "error_shape": self.error_shape,
                "max_skew_seconds": self.max_skew_seconds,
                "latency_ms": self.latency_ms,
                "hang_seconds": self.hang_seconds,
                "api_permission": self.api_permission,
                "app_auth_tokens": sorted(self.app_auth_tokens) if self.app_auth_tokens is not None else None,
                "denied_app_auth_tokens": sorted(self.denied_app_auth_tokens),
                "apps": [self.app_id, *sorted(self.extra_apps)],
                "merchants": sorted({grant.user_id for grant in self.tokens.values()}),
                "app_keys": [
                    {"cert_sn": k.cert_sn, "active": k.active(now), "retire_at": k.retire_at}
                    for k in self.app_keys
                ],
                "alipay_sn": self.alipay_sn,
                "root_cert_sn": self.root_cert_sn,
            }

    # ---- nonces ---------------------------------------------------------------------------------
    def use_nonce(self, app_id: str, nonce: str, now: float) -> bool:
        """False when the nonce was already used within the replay window."""
        window = max(self.max_skew_seconds, 1.0) * 2
        with self.lock:
            if len(self.nonces) > 10_000:
                self.nonces = {k: t for k, t in self.nonces.items() if now - t < window}
            seen = self.nonces.get((app_id, nonce))
            if seen is not None and now - seen < window:
                return False
            self.nonces[(app_id, nonce)] = now
            return True

    # ---- counts ---------------------------------------------------------------------------------
    def count_request(
        self, ids: tuple[str | None, str | None], *, rejected: bool, scope: Scope | None = None
    ) -> None:
        """``scope`` None (a call rejected before its app was known): the default app's trades."""
        with self.lock:
            self.counts.count_request(self.trades, scope or self.default_scope, ids, rejected=rejected)

    def counts_dict(self) -> dict[str, Any]:
        with self.lock:
            return self.counts.as_dict(self.trades, self.app_id)

    def count_for(self, key: str, scope: Scope | None = None) -> dict[str, int]:
        """Counts for one trade, by either id (unknown trades by the id they were called with), in
        ``scope`` (default: the default app's own trades)."""
        with self.lock:
            return self.counts.count_for(self.trades, key, scope or self.default_scope)
