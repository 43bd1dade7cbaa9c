"""What a chaos run sends: trades seeded in the emulator, per-trade faults, good and bad messages,
duplicates (same batch, spread out, and late ones sent after the first copy finished).

Faults are planned per trade (``set_fault(kind, trade, times)``) rather than drawn at random, so the
run knows exactly which faults it injected and can prove at the end that each was consumed: a fault
planned for a trade is taken by that trade's next calls (of its operation, for the settle flow's
faults), before any call can succeed. Every fault kind the emulator has is used at least once (when
the run is big enough to hold them all). What can go wrong is ``local.chaos.catalogue``; the scenarios cover
every trade state under both paid-trade policies (docs/settle.md).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alipay_cancel.shared.trade import trade_key as build_trade_key
from local.alipay_gateway.faults import CANCEL_ONLY_KINDS, FAULT_KINDS
from local.chaos.catalogue import (
    CHAOS_MERCHANT,
    CLOSE_FAULTS,
    FAULT_VARIANTS,
    REFUND_ANSWER_LOST,
    REFUND_FAULTS,
    REFUND_QUERY_FAULT,
    SETTLE_CODES,
    TERMINAL_CODES,
    VARIANT_WEIGHTS,
    bad_bodies,
    body_of,
    sns_envelope,
)


@dataclass
class Planned:
    body: str
    trade_key: str | None  # the results key the function will use; None for a body without one
    scenario: str
    bad: bool = False
    group: str | None = None  # same group = same SendMessageBatch call (delivered at the same moment)
    late: bool = False  # sent only after most of the run has been processed


@dataclass
class PlannedFault:
    trade: str
    kind: str
    params: dict[str, Any]
    label: str

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "trade": self.trade, "times": 1, **self.params}


@dataclass
class ChaosPlan:
    run_id: str
    trades: list[dict[str, Any]] = field(default_factory=list)  # emulator seeds
    faults: list[PlannedFault] = field(default_factory=list)  # in the order they must be set
    messages: list[Planned] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # app_auth_tokens used: must never be logged
    unknown_keys: set[str] = field(default_factory=set)  # trades deliberately unknown to the emulator
    forever_failing: list[str] = field(default_factory=list)  # trades whose http_5xx never stops
    keep_keys: set[str] = field(default_factory=set)  # trades whose message says if_paid keep
    # Trades whose failure no call can settle, as the plan made them (besides finished and frozen
    # trades, which the emulator says): a sticky terminal code, a refund in part by someone else.
    unsettleable: set[str] = field(default_factory=set)

    @property
    def seeded_keys(self) -> set[str]:
        return {str(t.get("out_trade_no") or t.get("trade_no")) for t in self.trades}


def build_plan(total: int, seed: int, fault_rate: float, *, exhausted_trades: int = 2) -> ChaosPlan:
    """About ``total`` messages. ``fault_rate``: the share of Alipay calls to fault (approximately:
    faults per trade are drawn so that faulted calls / all calls comes out near it)."""
    rng = random.Random(seed)
    run = f"{seed % 10000:04d}{rng.randrange(16**6):06x}".upper()
    plan = ChaosPlan(run_id=run)
    counter = iter(range(1, 10**7))
    token = "chaos-token-" + secrets.token_hex(12)
    plan.tokens.append(token)

    def key(prefix: str = "CH") -> str:
        return f"{prefix}{run}{next(counter):06d}"

    # --- bad messages: one of each, then more drawn from the same list ---------------------------
    catalogue = bad_bodies(rng, run, token)
    n_bad = max(len(catalogue), round(total * 0.04)) if total >= 150 else min(len(catalogue), total // 5)
    for i in range(n_bad):
        body, what, trade_key = catalogue[i] if i < len(catalogue) else rng.choice(catalogue)
        plan.messages.append(Planned(body, trade_key, f"bad: {what}", bad=True))

    # --- good trades ------------------------------------------------------------------------------
    good_budget = max(0, total - len(plan.messages))
    # E[faults per trade] so that faults / (trade calls + faults) ~= fault_rate; the duplicates and
    # the key rotation add unfaulted calls, hence the margin.
    mean_faults = fault_rate / max(1e-9, 1 - fault_rate) * 1.25
    variant_queue = list(range(len(FAULT_VARIANTS)))  # every variant once, first
    rng.shuffle(variant_queue)

    def add_faults(trade: str, force: bool = False, *, cancels: bool = True) -> None:
        """``cancels`` False: the trade is never cancelled (policy keep), so no fault that only a
        cancel takes (retry_flag, a cancel's business code) is planned for it."""
        n = 0
        if force or variant_queue:
            n = 1
        else:
            draw = rng.random()
            # P(1) and P(2) chosen so the mean is mean_faults (capped at 3 per trade).
            p = min(0.95, mean_faults / 1.3)
            if draw < p * 0.7:
                n = 1
            elif draw < p:
                n = 2 if rng.random() < 0.8 else 3
        allowed = [
            i
            for i, (kind, params, _) in enumerate(FAULT_VARIANTS)
            if cancels or (kind not in CANCEL_ONLY_KINDS and params.get("operation") != "cancel")
        ]
        for _ in range(n):
            queued = [i for i in variant_queue if i in allowed]
            if queued:
                index = queued[-1]
                variant_queue.remove(index)
            else:
                index = rng.choices(allowed, weights=[VARIANT_WEIGHTS[i] for i in allowed])[0]
            kind, params, label = FAULT_VARIANTS[index]
            plan.faults.append(PlannedFault(trade, kind, dict(params), label))

    def trade_messages(body: str, trade_key: str, scenario: str) -> None:
        """One message, or (10 % of trades) 2-4 copies: same batch, spread out, or late."""
        copies = 1
        mode = ""
        if rng.random() < 0.10:
            copies = rng.choice((2, 2, 3, 4))
            mode = rng.choice(("same batch", "same batch", "spread", "late"))
        for i in range(copies):
            plan.messages.append(
                Planned(
                    body,
                    trade_key,
                    scenario if copies == 1 else f"{scenario} [dup x{copies}, {mode}]",
                    group=trade_key if mode == "same batch" else None,
                    late=mode == "late" and i > 0,
                )
            )

    def seeded(state: str, scenario: str, *, faults: bool = True, **extra: Any) -> str:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": state, **extra})
        if faults:
            add_faults(k)
        trade_messages(body_of(out_trade_no=k), k, scenario)
        return k

    def by_trade_no() -> None:
        trade_no = "2026" + run[:4] + f"{next(counter):012d}"
        plan.trades.append({"trade_no": trade_no, "state": rng.choice(("unpaid", "paid"))})
        add_faults(trade_no)
        trade_messages(body_of(trade_no=trade_no), trade_no, "by trade_no")

    def both_ids() -> None:
        k = key()
        trade_no = "2026" + run[:4] + f"{next(counter):012d}"
        plan.trades.append({"out_trade_no": k, "trade_no": trade_no, "state": "paid"})
        add_faults(k)
        trade_messages(body_of(out_trade_no=k, trade_no=trade_no), k, "both ids")

    def unknown() -> None:
        k = key("UNK")
        plan.unknown_keys.add(k)
        add_faults(k)
        trade_messages(body_of(out_trade_no=k), k, "unknown to Alipay")

    def with_token() -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": "unpaid", "merchant_id": CHAOS_MERCHANT})
        add_faults(k)
        trade_messages(
            body_of(out_trade_no=k, app_auth_token=token, merchant_id=CHAOS_MERCHANT),
            build_trade_key(k, merchant_id=CHAOS_MERCHANT),
            "ISV (app_auth_token)",
        )

    def sns_wrapped() -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": "paid"})
        add_faults(k)
        trade_messages(sns_envelope(body_of(out_trade_no=k)), k, "SNS-wrapped")

    def extra_fields() -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": "unpaid"})
        add_faults(k)
        body = body_of(out_trade_no=k, amount="12.00", currency="CNY", reason={"timeout": True}, v=3)
        trade_messages(body, k, "unknown extra fields")

    def unicode_id() -> None:
        k = f"订单-{run}-{next(counter):06d}-支付"
        plan.trades.append({"out_trade_no": k, "state": "paid"})
        add_faults(k)
        trade_messages(body_of(out_trade_no=k), k, "unicode out_trade_no")

    def huge_but_valid() -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": "unpaid"})
        body = body_of(out_trade_no=k, note="z" * 150_000)
        plan.messages.append(Planned(body, k, "huge body (150 kB), valid ids"))

    def sticky_error() -> None:
        k = seeded("paid", "terminal: sticky business error", error_code=rng.choice(TERMINAL_CODES))
        plan.unsettleable.add(k)

    def sticky_settle_code() -> None:
        seeded("paid", "settle: cancel refused (sticky code) -> refund", error_code=rng.choice(SETTLE_CODES))

    def window_closing() -> None:
        seeded("unpaid", "cancel window closes during the run", cancel_window_seconds=rng.uniform(0, 20))

    # Trades refunded outside the cancel window lose their refund's answer (besides their ordinary
    # faults) until three such are planned: a run has refunds whose answer is lost even when a loaded
    # machine makes some trades use up their retries before they reach the refund.
    answer_lost_at_least = 3

    def settle_faults(trade: str, catalogue: list[tuple[str, dict[str, Any], str]]) -> None:
        """0-2 faults of the settle flow's own calls, besides the trade's ordinary ones."""
        planned = sum(1 for f in plan.faults if f.label == REFUND_ANSWER_LOST[2])
        if catalogue is REFUND_FAULTS and planned < answer_lost_at_least:
            kind, params, label = REFUND_ANSWER_LOST
            plan.faults.append(PlannedFault(trade, kind, dict(params), label))
            return
        for kind, params, label in rng.sample(catalogue, rng.choice((0, 1, 1, 2))):
            plan.faults.append(PlannedFault(trade, kind, dict(params), label))
            if label == REFUND_ANSWER_LOST[2] and rng.random() < 0.5:
                kind, params, label = REFUND_QUERY_FAULT
                plan.faults.append(PlannedFault(trade, kind, dict(params), label))

    def outside_window(state: str) -> None:
        k = seeded(
            state,
            f"settle: {state} outside the cancel window -> {'refund' if state == 'paid' else 'close'}",
            outside_cancel_window=True,
        )
        settle_faults(k, REFUND_FAULTS if state == "paid" else CLOSE_FAULTS)

    def keep(state: str, scenario: str, **extra: Any) -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": state, **extra})
        plan.keep_keys.add(k)
        add_faults(k, cancels=False)
        trade_messages(body_of(out_trade_no=k, if_paid="keep"), k, f"keep: {scenario}")

    def refunded_in_part() -> None:
        k = seeded(
            "paid",
            "settle: refunded in part by someone else -> a person decides",
            refunds=[{"out_request_no": f"SHOP-{run}", "refund_amount": "8.00"}],
        )
        plan.unsettleable.add(k)

    def unknown_by_trade_no() -> None:
        trade_no = "2099" + run[:4] + f"{next(counter):012d}"
        plan.unknown_keys.add(trade_no)
        add_faults(trade_no)
        trade_messages(body_of(trade_no=trade_no), trade_no, "unknown to Alipay, by trade_no only")

    weighted: list[tuple[float, Callable[[], None]]] = [
        (40, lambda: seeded("unpaid", "unpaid -> close")),
        (30, lambda: seeded("paid", "paid -> refund")),
        (5, unknown),
        (4, by_trade_no),
        (3, both_ids),
        (3, with_token),
        (3, sns_wrapped),
        (2, extra_fields),
        (2, unicode_id),
        (2, lambda: seeded("finished", "terminal: finished")),
        (2, lambda: seeded("frozen", "terminal: frozen")),
        (3, lambda: outside_window("paid")),
        (2, lambda: outside_window("unpaid")),
        (2, lambda: keep("paid", "paid -> KEPT")),
        (1, lambda: keep("unpaid", "unpaid -> close")),
        (1, lambda: keep("finished", "finished -> KEPT")),
        (1, lambda: keep("unpaid", "buyer pays before the close -> KEPT", buyer_pays="before_next_close")),
        (1, lambda: seeded("closed", "settle: closed already -> CLOSED")),
        (1, lambda: seeded("refunded", "settle: refunded already -> REFUNDED")),
        (1, refunded_in_part),
        (1, unknown_by_trade_no),
        (1, sticky_settle_code),
        (1, sticky_error),
        (1, window_closing),
        (0.3, huge_but_valid),
    ]
    # One of each first (so a small run still covers every situation), then weighted draws.
    for _, make in weighted:
        if len(plan.messages) >= total:
            break
        make()
    for _ in range(exhausted_trades):
        k = key()
        plan.trades.append({"out_trade_no": k, "state": "unpaid"})
        plan.forever_failing.append(k)
        plan.messages.append(Planned(body_of(out_trade_no=k), k, "http_5xx forever -> exhausted"))
    while len(plan.messages) < total:
        rng.choices([m for _, m in weighted], weights=[w for w, _ in weighted])[0]()
    del good_budget

    # "Bad twin": a bad message naming a real trade that also has a good message.
    twins = [m for m in plan.messages if not m.bad and m.scenario in ("unpaid -> close", "paid -> refund")]
    for m in rng.sample(twins, min(3, len(twins))):
        assert m.trade_key is not None
        plan.messages.append(
            Planned(
                body_of(out_trade_no=m.trade_key, trade_no=123),
                m.trade_key,
                "bad: twin of a good trade (trade_no a number)",
                bad=True,
            )
        )
    missing = FAULT_KINDS - {f.kind for f in plan.faults}
    if missing and total >= 100:
        raise AssertionError(f"plan misses fault kinds {sorted(missing)}")
    return plan


def chunked_sends(plan: ChaosPlan, rng: random.Random, *, late: bool) -> list[list[Planned]]:
    """SendMessageBatch calls (each at most 10 messages and within SQS's 256 KiB batch limit): the
    early or late messages shuffled, same-group messages always in one call."""
    groups: dict[str, list[Planned]] = {}
    units: list[list[Planned]] = []
    for m in plan.messages:
        if m.late != late:
            continue
        if m.group:
            if m.group not in groups:
                groups[m.group] = []
                units.append(groups[m.group])
            groups[m.group].append(m)
        else:
            units.append([m])
    rng.shuffle(units)
    calls: list[list[Planned]] = []
    current: list[Planned] = []
    size = 0
    for unit in units:
        unit_size = sum(len(m.body.encode()) for m in unit)
        if current and (len(current) + len(unit) > 10 or size + unit_size > 200_000):
            calls.append(current)
            current, size = [], 0
        current.extend(unit)
        size += unit_size
    if current:
        calls.append(current)
    return calls
