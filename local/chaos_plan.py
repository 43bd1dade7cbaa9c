"""What a chaos run sends: trades seeded in the emulator, per-trade faults, good and bad messages,
duplicates (same batch, spread out, and late ones sent after the first copy finished).

Faults are planned per trade (``set_fault(kind, trade, times)``) rather than drawn at random, so the
run knows exactly which faults it injected and can prove at the end that each was consumed: a fault
planned for a trade is taken by that trade's next calls, before any call can succeed. Every fault kind
the emulator has is used at least once (when the run is big enough to hold them all).
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alipay_cancel.shared.trade import trade_key as build_trade_key
from local.alipay_gateway.faults import FAULT_KINDS

# The ISV merchant the chaos token belongs to: the emulator is told (the function asks Alipay whose a
# token is before it calls), and the token's trades are that merchant's there.
CHAOS_MERCHANT = "2088000000000777"

# Variants of each emulator fault kind (kind, params, label). Labels are what the summary counts.
FAULT_VARIANTS: list[tuple[str, dict[str, Any], str]] = [
    ("latency", {"latency_ms": 400}, "latency (slow answer, in time)"),
    ("latency", {"latency_ms": 2600}, "latency (answer after the client's read timeout)"),
    ("timeout", {}, "timeout (never answers, not cancelled)"),
    ("timeout_after_cancel", {}, "timeout_after_cancel"),
    ("http_5xx", {"http_status": 503}, "http_5xx 503"),
    ("http_5xx", {"http_status": 500}, "http_5xx 500"),
    ("http_5xx", {"http_status": 502}, "http_5xx 502"),
    ("http_5xx", {"http_status": 504}, "http_5xx 504"),
    ("rate_limited", {}, "rate_limited 429"),
    ("service_unavailable", {}, "service_unavailable 20000"),
    ("system_error", {}, "system_error ACQ.SYSTEM_ERROR"),
    ("business_error", {"code": "AQC.SYSTEM_ERROR"}, "business_error AQC.SYSTEM_ERROR"),
    ("business_error", {"code": "ACQ.SELLER_BALANCE_NOT_ENOUGH"}, "business_error SELLER_BALANCE_NOT_ENOUGH"),
    ("retry_flag", {}, "retry_flag=Y"),
    ("bad_signature", {}, "bad_signature (corrupted)"),
    ("no_signature", {}, "no_signature (headers missing)"),
    ("garbage_html", {}, "garbage_html (signed)"),
    ("garbage_html", {"signed": False, "http_status": 502}, "garbage_html 502 (unsigned)"),
    ("garbage_empty", {}, "garbage_empty (signed)"),
    ("garbage_empty", {"signed": False}, "garbage_empty (unsigned)"),
    ("garbage_truncated", {}, "garbage_truncated (signed)"),
    ("garbage_truncated", {"signed": False}, "garbage_truncated (unsigned)"),
    # Answers the client must not believe or must not read (each is retried).
    ("stale", {}, "stale (2017 alipay-timestamp)"),
    ("other_trade", {}, "other_trade (signed success for another trade)"),
    ("signed_body", {"raw_body": '{"":"","":{}}'}, "signed_body (names no id)"),
    ("gzip", {"size": 400_000}, "gzip (compressed answer)"),
    ("oversize", {"size": 200_000}, "oversize (200 KB answer)"),
    ("drip", {"latency_ms": 5}, "drip (slow body, in time)"),
    ("gateway_error", {"code": "unknow-error"}, "gateway_error unknow-error"),
    # Public-key mode ignores alipay-sn: these must change nothing.
    ("no_alipay_sn", {}, "no_alipay_sn"),
    ("other_alipay_sn", {}, "other_alipay_sn"),
]
# Timeouts hold a worker for the whole read timeout: drawn less often than the rest.
_VARIANT_WEIGHTS = [
    1.0 if kind not in ("timeout", "timeout_after_cancel") else 0.5 for kind, *_ in FAULT_VARIANTS
]
_SLOW_LABELS = {"latency (answer after the client's read timeout)"}

TERMINAL_CODES = (
    "ACQ.TRADE_HAS_SUCCESS",
    "ACQ.CANCEL_NOT_ALLOWED",
    "ACQ.REASON_TRADE_REFUND_FEE_ERR",
    "ACQ.INVALID_PARAMETER",
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

    @property
    def seeded_keys(self) -> set[str]:
        return {str(t.get("out_trade_no") or t.get("trade_no")) for t in self.trades}


def _body(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def _sns(message: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": secrets.token_hex(8),
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:payment-timeouts",
            "Message": message,
            "Timestamp": "2026-01-01T00:00:00.000Z",
            "SignatureVersion": "1",
        }
    )


def bad_bodies(rng: random.Random, run: str, token: str) -> list[tuple[str, str, str | None]]:
    """(body, what, trade_key the function can still read or None). One of each kind of bad message."""
    long_id = "X" * 65
    real_looking = f"BAD{run}"
    return [
        ("this is not JSON {", "not JSON", None),
        ('{"out_trade_no": "A1",', "truncated JSON", None),
        ("[]", "JSON array", None),
        ("42", "JSON number", None),
        ("null", "JSON null", None),
        ('"out_trade_no"', "JSON string", None),
        (_body(amount=12), "no trade id", None),
        (_body(out_trade_no=12345), "id is a number", None),
        (_body(trade_no=["2026"]), "id is a list", None),
        (_body(out_trade_no={"id": "A"}), "id is an object", None),
        (_body(out_trade_no=True), "id is a boolean", None),
        (_body(out_trade_no=""), "id is empty", None),
        (_body(out_trade_no=long_id), "id too long (65)", None),
        (_body(trade_no="9" * 200), "trade_no too long (200)", None),
        (_body(out_trade_no="A B"), "id with a space", None),
        (_body(out_trade_no="A\tB"), "id with a tab", None),
        (_body(out_trade_no="A\u200bB"), "id with a zero-width space", None),
        (_body(out_trade_no="订单 号"), "unicode id with an ideographic space", None),
        ('{"out_trade_no": NaN}', "NaN", None),
        ('{"out_trade_no": "A1", "out_trade_no": "A2"}', "duplicate field", None),
        ("[" * 5000 + "]" * 5000, "deeply nested", None),
        ("x" * 200_000, "huge (200 kB of garbage)", None),
        (_body(out_trade_no=7, app_auth_token=token), "wrong type next to a token", None),
        (
            _body(out_trade_no=f"{real_looking}T", app_auth_token=12, merchant_id=CHAOS_MERCHANT),
            "token is a number",
            build_trade_key(f"{real_looking}T", merchant_id=CHAOS_MERCHANT),
        ),
        (
            _body(
                out_trade_no=f"{real_looking}S",
                app_auth_token="tok en",  # noqa: S106 - a bad message
                merchant_id=CHAOS_MERCHANT,
            ),
            "token with a space",
            build_trade_key(f"{real_looking}S", merchant_id=CHAOS_MERCHANT),
        ),
        (_body(out_trade_no=f"{real_looking}M", app_auth_token=token), "token without merchant_id", None),
        (json.dumps({"Type": "Notification", "Message": "<xml/>"}), "SNS wrapping garbage", None),
        (json.dumps({"Type": "Notification", "Message": 42}), "SNS Message not a string", None),
        (_sns(_body(out_trade_no=99)), "SNS wrapping a wrong type", None),
        (_sns(_sns(_body(out_trade_no="A1"))), "SNS wrapping SNS", None),
        (_sns("[" * 3000 + "]" * 3000), "SNS wrapping deep nesting", None),
        (
            json.dumps({"Type": "SubscriptionConfirmation", "Token": "x" * 40}),
            "SNS subscription confirmation",
            None,
        ),
        ("\u202e{}", "bidi override before JSON", None),
        ("\ufeff" + _body(out_trade_no="A1"), "BOM before JSON", None),
        (_body(out_trade_no=rng.choice(["\u0001", "\u007f"]) + "A"), "control character in id", None),
    ]


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

    def add_faults(trade: str, force: bool = False) -> None:
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
        for _ in range(n):
            if variant_queue:
                index = variant_queue.pop()
            else:
                index = rng.choices(range(len(FAULT_VARIANTS)), weights=_VARIANT_WEIGHTS)[0]
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

    def seeded(state: str, scenario: str, *, faults: bool = True, **extra: Any) -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": state, **extra})
        if faults:
            add_faults(k)
        trade_messages(_body(out_trade_no=k), k, scenario)

    def by_trade_no() -> None:
        trade_no = "2026" + run[:4] + f"{next(counter):012d}"
        plan.trades.append({"trade_no": trade_no, "state": rng.choice(("unpaid", "paid"))})
        add_faults(trade_no)
        trade_messages(_body(trade_no=trade_no), trade_no, "by trade_no")

    def both_ids() -> None:
        k = key()
        trade_no = "2026" + run[:4] + f"{next(counter):012d}"
        plan.trades.append({"out_trade_no": k, "trade_no": trade_no, "state": "paid"})
        add_faults(k)
        trade_messages(_body(out_trade_no=k, trade_no=trade_no), k, "both ids")

    def unknown() -> None:
        k = key("UNK")
        plan.unknown_keys.add(k)
        add_faults(k)
        trade_messages(_body(out_trade_no=k), k, "unknown to Alipay")

    def with_token() -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": "unpaid", "merchant_id": CHAOS_MERCHANT})
        add_faults(k)
        trade_messages(
            _body(out_trade_no=k, app_auth_token=token, merchant_id=CHAOS_MERCHANT),
            build_trade_key(k, merchant_id=CHAOS_MERCHANT),
            "ISV (app_auth_token)",
        )

    def sns_wrapped() -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": "paid"})
        add_faults(k)
        trade_messages(_sns(_body(out_trade_no=k)), k, "SNS-wrapped")

    def extra_fields() -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": "unpaid"})
        add_faults(k)
        body = _body(out_trade_no=k, amount="12.00", currency="CNY", reason={"timeout": True}, v=3)
        trade_messages(body, k, "unknown extra fields")

    def unicode_id() -> None:
        k = f"订单-{run}-{next(counter):06d}-支付"
        plan.trades.append({"out_trade_no": k, "state": "paid"})
        add_faults(k)
        trade_messages(_body(out_trade_no=k), k, "unicode out_trade_no")

    def huge_but_valid() -> None:
        k = key()
        plan.trades.append({"out_trade_no": k, "state": "unpaid"})
        body = _body(out_trade_no=k, note="z" * 150_000)
        plan.messages.append(Planned(body, k, "huge body (150 kB), valid ids"))

    def sticky_error() -> None:
        seeded("paid", "terminal: sticky business error", error_code=rng.choice(TERMINAL_CODES))

    def window_closing() -> None:
        seeded("unpaid", "cancel window closes during the run", cancel_window_seconds=rng.uniform(0, 20))

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
        (2, lambda: seeded("paid", "terminal: outside cancel window", outside_cancel_window=True)),
        (2, sticky_error),
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
        plan.messages.append(Planned(_body(out_trade_no=k), k, "http_5xx forever -> exhausted"))
    while len(plan.messages) < total:
        rng.choices([m for _, m in weighted], weights=[w for w, _ in weighted])[0]()
    del good_budget

    # "Bad twin": a bad message naming a real trade that also has a good message.
    twins = [m for m in plan.messages if not m.bad and m.scenario in ("unpaid -> close", "paid -> refund")]
    for m in rng.sample(twins, min(3, len(twins))):
        assert m.trade_key is not None
        plan.messages.append(
            Planned(
                _body(out_trade_no=m.trade_key, trade_no=123),
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
