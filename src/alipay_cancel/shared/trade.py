"""A trade: its identity (app, merchant, id), its ``trade_key`` (README "Results"), and the request one
message makes for it (``CancelRequest``).

``out_trade_no`` is unique per merchant only, and one deployment serves several Alipay apps, so the
ledger item, dead-letter attributes and logs are keyed on all three parts:

=====================================  ===============================================================
identity                               ``trade_key``
=====================================  ===============================================================
default app, direct merchant           ``<id>`` (the plain id, as before multi-app support)
default app, ISV merchant ``M``        ``merchant:M <id>``
app ``A``, direct merchant             ``app:A <id>``
app ``A``, ISV merchant ``M``          ``app:A merchant:M <id>``
=====================================  ===============================================================

``<id>`` is ``out_trade_no`` when the message has one, else ``trade_no``. The parts are separated by
one space, a character no part may contain (ids, app ids and merchant ids are whitespace-free), so a
key splits back into exactly one identity and a plain id can never look like a scoped key. The
default app is always written as "no app": a message naming the default app's id is the same trade
as one naming none (the caller normalises that before building the key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

APP_PREFIX = "app:"
MERCHANT_PREFIX = "merchant:"
SEPARATOR = " "

MAX_APP_ID_CHARS = 32  # Alipay app ids are 16 digits
MAX_MERCHANT_ID_CHARS = 64
# An app id also names a Secrets Manager secret (prefix + app id): letters, digits, '_', '-', '.'.
_APP_ID_RE = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_APP_ID_CHARS}}}")


def app_id_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable app id (never quoting it), or None."""
    if not _APP_ID_RE.fullmatch(value):
        return (
            f"must be 1 to {MAX_APP_ID_CHARS} characters of letters, digits, '_', '-' or '.' "
            "(an Alipay app id such as 2021000000000001)"
        )
    return None


def merchant_id_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable merchant id (never quoting it), or None."""
    if not 1 <= len(value) <= MAX_MERCHANT_ID_CHARS:
        return f"is {len(value)} characters long; expected 1 to {MAX_MERCHANT_ID_CHARS}"
    for position, char in enumerate(value, start=1):
        if not ("!" <= char <= "~"):
            return (
                f"has a character that is not visible ASCII at character {position}; expected a stable "
                "printable ASCII id without spaces (e.g. the merchant's Alipay user id 2088...)"
            )
    return None


class TradeIdentity(NamedTuple):
    """A trade's identity: its id, app and merchant (``trade_key`` joins them)."""

    trade_id: str  # out_trade_no if the message has one, else trade_no
    app_id: str | None = None  # None: the default app
    merchant_id: str | None = None  # None: the app's own (direct) merchant

    @property
    def trade_key(self) -> str:
        return trade_key(self.trade_id, app_id=self.app_id, merchant_id=self.merchant_id)


def trade_key(trade_id: str, *, app_id: str | None = None, merchant_id: str | None = None) -> str:
    """The ledger key of a trade. ``app_id`` None (or "") is the default app."""
    parts = []
    if app_id:
        parts.append(APP_PREFIX + app_id)
    if merchant_id:
        parts.append(MERCHANT_PREFIX + merchant_id)
    parts.append(trade_id)
    if any(SEPARATOR in part or not part for part in parts):
        raise ValueError("trade key parts must be non-empty and contain no space")
    return SEPARATOR.join(parts)


class PaidTradePolicy(StrEnum):
    """What to do with a trade the buyer paid (``PaidTradePolicy``, a message's ``if_paid``): ``refund``
    it, as cancel does, or ``keep`` the sale (docs/settle.md)."""

    REFUND = "refund"
    KEEP = "keep"


@dataclass(frozen=True)
class CancelRequest:
    """One parsed cancel message: which trade, for which app and merchant."""

    out_trade_no: str | None
    trade_no: str | None
    app_auth_token: str | None = field(default=None, repr=False)  # secret-ish: never printed
    app_id: str | None = None  # None: the default app (a message naming the default app included)
    merchant_id: str | None = None  # set exactly when app_auth_token is: whose token it is
    if_paid: PaidTradePolicy | None = None  # None: the deployment's PaidTradePolicy

    @property
    def identity(self) -> TradeIdentity:
        trade_id = self.out_trade_no or self.trade_no
        assert trade_id is not None
        return TradeIdentity(trade_id=trade_id, app_id=self.app_id, merchant_id=self.merchant_id)

    @property
    def trade_key(self) -> str:
        """The ledger's partition key: the plain out_trade_no (else trade_no) for the default app's own
        trades, scoped by app and merchant otherwise."""
        return self.identity.trade_key
