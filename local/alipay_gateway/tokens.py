"""ISV merchants' ``app_auth_token``s: which merchant (Alipay user id, 2088...) each belongs to, which
of our apps it was issued to, its status, and the app-auth-token query
(``GET /v3/alipay/open/auth/token/app/query?app_auth_token=...``).

* A token the emulator knows acts, in trade calls, on its merchant's trades. A token it does not know
  acts on the app's own trades (accepted unless ``app_auth_tokens`` lists the valid ones), as before
  merchants were modelled.
* In trade calls (header ``alipay-app-auth-token``): a token issued to another app or revoked ->
  401 ``invalid-app-auth-token``; an expired one -> 401 ``app-auth-token-time-out``.
* The token query answers Alipay's model (``user_id``, ``auth_app_id``, ``expires_in``,
  ``auth_start``, ``auth_end``, ``auth_methods``, ``status``, ``is_by_app_auth``). Alipay's
  ``status`` is ``valid`` or ``invalid``: expired and revoked tokens answer ``invalid`` (pick: the
  query itself succeeds for a token that existed). A token it never issued, or issued to another
  app, -> 401 ``invalid-app-auth-token`` (pick; Alipay's answer here is not documented).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from local.alipay_gateway.request_auth import GatewayError
from local.alipay_gateway.trades import beijing_time

TOKEN_LIFETIME_SECONDS = 31_536_000  # the SDK docs' example: 365 days
GRANTED_METHODS = (
    "alipay.trade.cancel",
    "alipay.trade.query",
    "alipay.trade.close",
    "alipay.trade.refund",
    "alipay.trade.fastpay.refund.query",
)


class TokenStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"  # the merchant withdrew the authorisation


@dataclass
class TokenGrant:
    user_id: str  # the authorising merchant
    auth_app_id: str  # the merchant's app that was authorised
    app_id: str | None = None  # the one of our apps it was issued to; None: any of them
    status: TokenStatus = TokenStatus.VALID
    issued_at: float = 0.0
    ended_at: float | None = None  # when it expired or was revoked
    auth_methods: tuple[str, ...] = field(default=GRANTED_METHODS)

    def to_dict(self) -> dict[str, Any]:
        """Never the token itself."""
        return {
            "user_id": self.user_id,
            "auth_app_id": self.auth_app_id,
            "app_id": self.app_id,
            "status": self.status.value,
        }


def merchant_app_id(user_id: str) -> str:
    """A made-up app id for a merchant (its authorised app), stable per merchant."""
    tail = "".join(ch for ch in user_id if ch.isdigit())[-12:].rjust(12, "0")
    return "2021" + tail


def grant_from_spec(spec: Mapping[str, Any], now: float, old: TokenGrant | None = None) -> TokenGrant:
    """A new grant, or ``old`` changed by the fields ``spec`` names (user_id, app_id, auth_app_id, status)."""
    user_id = spec.get("user_id") or (old.user_id if old else None)
    if not user_id:
        raise ValueError("a token needs the user_id of the merchant it belongs to")
    grant = old or TokenGrant(user_id=str(user_id), auth_app_id="", issued_at=now)
    grant.user_id = str(user_id)
    grant.auth_app_id = str(spec.get("auth_app_id") or grant.auth_app_id or merchant_app_id(grant.user_id))
    if "app_id" in spec:
        grant.app_id = spec["app_id"] or None
    if spec.get("status"):
        status = TokenStatus(spec["status"])
        if status is not grant.status:
            grant.ended_at = None if status is TokenStatus.VALID else now
        grant.status = status
    return grant


def header_token_problem(grant: TokenGrant | None, app_id: str) -> GatewayError | None:
    """Why a trade call cannot use this token (None: it can, or the emulator does not know it)."""
    if grant is None:
        return None
    if grant.app_id is not None and grant.app_id != app_id:
        return GatewayError(401, "invalid-app-auth-token", "app_auth_token was issued to another app")
    if grant.status is TokenStatus.EXPIRED:
        return GatewayError(401, "app-auth-token-time-out", "app_auth_token has expired")
    if grant.status is TokenStatus.REVOKED:
        return GatewayError(401, "invalid-app-auth-token", "the merchant withdrew this authorisation")
    return None


def token_query_answer(grant: TokenGrant | None, app_id: str, now: float) -> dict[str, Any] | GatewayError:
    """The success fields of the token query, or the gateway error it answers."""
    if grant is None or (grant.app_id is not None and grant.app_id != app_id):
        return GatewayError(401, "invalid-app-auth-token", "app_auth_token is invalid")
    valid = grant.status is TokenStatus.VALID
    end = grant.issued_at + TOKEN_LIFETIME_SECONDS if valid else (grant.ended_at or now)
    return {
        "user_id": grant.user_id,
        "auth_app_id": grant.auth_app_id,
        "expires_in": max(0, int(end - now)),
        "auth_start": beijing_time(grant.issued_at),
        "auth_end": beijing_time(end),
        "auth_methods": list(grant.auth_methods),
        "status": "valid" if valid else "invalid",
        "is_by_app_auth": False,
    }
