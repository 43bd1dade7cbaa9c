"""What the emulator counts: requests per trade (rejected ones included) and, per operation, the
calls that reached its logic. Not thread-safe: the caller holds the gateway lock."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from local.alipay_gateway.apis import OPERATIONS
from local.alipay_gateway.trades import Scope, Trade, TradeBook, scope_label


def call_counts(requests: int, calls: Counter[str]) -> dict[str, int]:
    """One trade's counts: ``requests`` and ``cancel_calls`` always, ``<operation>_calls`` of the other
    operations when not zero."""
    counts = {"requests": requests, "cancel_calls": calls["cancel"]}
    counts.update({f"{op}_calls": n for op, n in sorted(calls.items()) if n and op != "cancel"})
    return counts


@dataclass
class Counts:
    total_requests: int = 0  # every request to an API path, rejected or not
    rejected_requests: int = 0  # answered with a v3 gateway error (signature, timestamp, ...)
    calls: Counter[str] = field(default_factory=Counter)  # per operation: reached its logic
    unknown_trade_requests: dict[tuple[Scope, str], int] = field(default_factory=dict)
    unknown_trade_calls: dict[tuple[Scope, str], Counter[str]] = field(default_factory=dict)

    def count_request(
        self, trades: TradeBook, scope: Scope, ids: tuple[str | None, str | None], *, rejected: bool
    ) -> None:
        self.total_requests += 1
        if rejected:
            self.rejected_requests += 1
        out_trade_no, trade_no = ids
        trade = trades.lookup(trade_no or "", scope) or trades.lookup(out_trade_no or "", scope)
        if trade is not None:
            trade.requests += 1
        elif out_trade_no or trade_no:
            key = (scope, out_trade_no or trade_no or "")
            self.unknown_trade_requests[key] = self.unknown_trade_requests.get(key, 0) + 1

    def count_call(self, operation: str, trade: Trade | None, scope: Scope, asked: str | None) -> None:
        """A call reached ``operation``'s logic. ``asked``: the id an unknown trade was called with."""
        self.calls[operation] += 1
        if trade is not None:
            trade.calls[operation] += 1
        elif asked:
            self.unknown_trade_calls.setdefault((scope, asked), Counter())[operation] += 1

    def _unknown(self, key: tuple[Scope, str]) -> dict[str, int]:
        return call_counts(
            self.unknown_trade_requests.get(key, 0), self.unknown_trade_calls.get(key, Counter())
        )

    def as_dict(self, trades: TradeBook, default_app_id: str) -> dict[str, Any]:
        """``per_trade`` is keyed by the plain id for the default app's own trades, by
        ``[app:<app_id> ][merchant:<merchant_id> ]<id>`` otherwise. Totals: ``<operation>_calls`` for
        every operation (``cancel_calls`` as before)."""
        per_trade: dict[str, dict[str, int]] = {}
        for scope, key in self.unknown_trade_requests.keys() | self.unknown_trade_calls.keys():
            per_trade[scope_label(scope, default_app_id, key)] = self._unknown((scope, key))
        for trade in trades.all():
            per_trade[scope_label(trade.scope, default_app_id, trade.key)] = call_counts(
                trade.requests, trade.calls
            )
        return {
            "total_requests": self.total_requests,
            "rejected_requests": self.rejected_requests,
            **{f"{op}_calls": self.calls[op] for op in OPERATIONS},
            "per_trade": per_trade,
        }

    def count_for(self, trades: TradeBook, key: str, scope: Scope) -> dict[str, int]:
        trade = trades.lookup(key, scope)
        if trade is not None:
            return call_counts(trade.requests, trade.calls)
        return self._unknown((scope, key))
