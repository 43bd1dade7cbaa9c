"""What ``make demo`` sends and what each message should end as: a catalogue of situations (one of
each first), topped up with ordinary trades, plus the faults the emulator injects.

Everything here follows from ``--messages``, ``--fault-rate`` and ``--seed``: the same seed gives the
same trades, the same faults and the same sending order. The random faults are planned per trade
(each trade's first calls, drawn with the fault rate), not drawn per request at the emulator, so
which trade meets which fault does not depend on which request happens to arrive first. What timing
still decides is how many calls fit in the retry horizon: a trade whose planned faults outlast its
calls ends ``exhausted``, and the accounting labels that expected (``Enqueued.faulted_calls``).

The retry horizon is scaled to the backlog (``demo_parameters``): it counts from sending, and with
hundreds of messages on the queue the last ones are first received long after they were sent.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alipay_cancel.decisions.retry_policy import RetrySchedule, receives_within_horizon
from alipay_cancel.shared.trade import trade_key as build_trade_key
from local.accounting.outcome_labels import BAD_MESSAGE, CLOSED, EXHAUSTED, KEPT, NOT_FOUND, REFUNDED, failed
from local.showcase import MERCHANTS, SECOND_APP_ID

# Short backoffs for a demo (the template's defaults: 30 s / 900 s / 3600 s, a day of retries).
RETRY_BASE_SECONDS, RETRY_MAX_SECONDS = 1, 2
SHORTEST_HORIZON_SECONDS = 12
HORIZON_SECONDS_PER_MESSAGE = 0.3  # room for the backlog ahead of the last message sent
DEMO_ENV = {
    "ALIPAY_CONNECT_TIMEOUT_SECONDS": "1",
    "ALIPAY_READ_TIMEOUT_SECONDS": "2",
}
RANDOM_FAULT_KINDS = (
    "http_5xx",
    "service_unavailable",
    "system_error",
    "rate_limited",
    "retry_flag",
    "bad_signature",
    "timeout",
)
MAX_PLANNED_FAULTS = 8  # per trade: a rate near 1 must not plan a fault for every call there will be

SUCCESS_CLOSE = frozenset({CLOSED})
SUCCESS_REFUND = frozenset({REFUNDED})


def horizon_seconds(messages: int) -> int:
    return max(SHORTEST_HORIZON_SECONDS, math.ceil(messages * HORIZON_SECONDS_PER_MESSAGE))


def demo_parameters(messages: int) -> dict[str, str]:
    """The template parameters the demo deploys with (as a deploy's overrides would): the horizon for
    this many messages, and the receive count it can take at most (``retry_policy``), so the queue's
    redrive never gives up before the function does."""
    horizon = horizon_seconds(messages)
    schedule = RetrySchedule(
        horizon_seconds=horizon,
        base_seconds=RETRY_BASE_SECONDS,
        max_seconds=RETRY_MAX_SECONDS,
        slow_base_seconds=RETRY_MAX_SECONDS,
        max_receive_count=1000,
    )
    return {
        "RetryBaseSeconds": str(RETRY_BASE_SECONDS),
        "RetryMaxSeconds": str(RETRY_MAX_SECONDS),
        "RetrySlowBaseSeconds": str(RETRY_MAX_SECONDS),
        "RetryHorizonSeconds": str(horizon),
        "MaxReceiveCount": str(receives_within_horizon(schedule)),
    }


@dataclass
class Planned:
    """One message to send (``group`` messages are sent in one SendMessageBatch: concurrent)."""

    body: str
    trade_key: str | None
    scenario: str
    expect: frozenset[str]
    group: str | None = None
    faulted_calls: int = 0  # random faults planned for its trade's first calls


@dataclass
class Plan:
    trades: list[dict[str, Any]] = field(default_factory=list)  # emulator seeds
    faults: list[dict[str, Any]] = field(default_factory=list)  # emulator per-trade faults
    messages: list[Planned] = field(default_factory=list)
    top_ups: list[str] = field(default_factory=list)  # trades whose balance fault clears mid-run


def _body(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"))


def build_plan(total: int, seed: int, fault_rate: float = 0.0) -> Plan:
    """A catalogue in priority order (one of each situation first), cut or topped up to ``total``; then
    random faults planned for the plain trades' first calls (``fault_rate`` per call)."""
    rng = random.Random(seed)
    run = f"{seed:04d}{rng.randrange(10**6):06d}"
    counter = iter(range(1, 10**6))
    plan = Plan()

    def trade(
        state: str | None,
        scenario: str,
        expect: frozenset[str],
        message: dict[str, str] | None = None,
        **seed_fields: Any,
    ) -> str:
        """A trade seeded in ``state`` (None: unknown to Alipay) and its message (``message``: more
        fields of it, e.g. ``if_paid``)."""
        key = f"DEMO{run}{next(counter):04d}"
        if state is not None:
            plan.trades.append({"out_trade_no": key, "state": state, **seed_fields})
        plan.messages.append(Planned(_body(out_trade_no=key, **(message or {})), key, scenario, expect))
        return key

    def faulted(
        kind: str,
        times: int | None = 1,
        state: str = "unpaid",
        expect: frozenset[str] | None = None,
        **params: Any,
    ) -> str:
        expect = expect or (SUCCESS_REFUND if state == "paid" else SUCCESS_CLOSE)
        key = trade(state, f"fault:{kind}", expect)
        plan.faults.append({"kind": kind, "trade": key, "times": times, **params})
        return key

    def by_trade_no(known: bool = True) -> None:
        trade_no = f"2026{run}{next(counter):08d}"
        if known:
            plan.trades.append({"trade_no": trade_no, "state": "unpaid"})
            plan.messages.append(Planned(_body(trade_no=trade_no), trade_no, "by trade_no", SUCCESS_CLOSE))
            return
        # Cancel's answer for it names no id of ours; the query's "no such trade" settles it.
        scenario = "unknown to Alipay, by trade_no only"
        plan.messages.append(Planned(_body(trade_no=trade_no), trade_no, scenario, frozenset({NOT_FOUND})))

    def refund_answer_lost() -> None:
        """Outside the cancel window: the refund goes through, its answer is lost; the next delivery
        confirms it with the refund query (never a second refund)."""
        key = trade("paid", "outside the cancel window, refund answer lost", SUCCESS_REFUND)
        plan.trades[-1]["outside_cancel_window"] = True
        plan.faults.append({"kind": "timeout_after_cancel", "trade": key, "times": 1, "operation": "refund"})

    def sns_wrapped() -> None:
        key = f"DEMO{run}{next(counter):04d}"
        plan.trades.append({"out_trade_no": key, "state": "paid"})
        envelope = {
            "Type": "Notification",
            "MessageId": f"sns-{key}",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:payment-timeouts",
            "Message": _body(out_trade_no=key),
            "Timestamp": "2026-01-01T00:00:00.000Z",
            "SignatureVersion": "1",
        }
        plan.messages.append(Planned(json.dumps(envelope), key, "SNS-wrapped", SUCCESS_REFUND))

    def isv_merchants() -> None:
        """Two merchants' orders with one out_trade_no: two trades, two cancels, two records."""
        key = f"DEMO{run}{next(counter):04d}"
        for (token, merchant), state in zip(MERCHANTS.items(), ("paid", "unpaid"), strict=True):
            plan.trades.append({"out_trade_no": key, "state": state, "merchant_id": merchant})
            plan.messages.append(
                Planned(
                    _body(out_trade_no=key, app_auth_token=token, merchant_id=merchant),
                    build_trade_key(key, merchant_id=merchant),
                    "ISV merchant, out_trade_no shared with another merchant",
                    SUCCESS_REFUND if state == "paid" else SUCCESS_CLOSE,
                )
            )

    def second_app() -> None:
        key = f"DEMO{run}{next(counter):04d}"
        plan.trades.append({"out_trade_no": key, "state": "unpaid", "app_id": SECOND_APP_ID})
        plan.messages.append(
            Planned(
                _body(out_trade_no=key, app_id=SECOND_APP_ID),
                build_trade_key(key, app_id=SECOND_APP_ID),
                "second Alipay app",
                SUCCESS_CLOSE,
            )
        )

    def bad(body: str, what: str) -> None:
        plan.messages.append(Planned(body, None, f"malformed: {what}", BAD_MESSAGE))

    def duplicates(copies: int, concurrent: bool) -> None:
        key = f"DEMO{run}{next(counter):04d}"
        plan.trades.append({"out_trade_no": key, "state": "paid"})
        scenario = f"duplicate x{copies}" + (" (same batch)" if concurrent else "")
        for _ in range(copies):
            plan.messages.append(
                Planned(
                    _body(out_trade_no=key), key, scenario, SUCCESS_REFUND, group=key if concurrent else None
                )
            )

    catalogue: list[Callable[[], Any]] = [
        lambda: trade("unpaid", "unpaid", SUCCESS_CLOSE),
        lambda: trade("paid", "paid", SUCCESS_REFUND),
        lambda: trade(None, "unknown to Alipay", frozenset({NOT_FOUND})),
        lambda: trade("finished", "finished", frozenset({failed("ACQ.TRADE_HAS_FINISHED")})),
        # What cancel cannot settle: queried, then refunded, kept or closed (docs/settle.md).
        lambda: trade(
            "paid", "paid, outside the cancel window: refunded", SUCCESS_REFUND, outside_cancel_window=True
        ),
        lambda: trade("paid", "paid, kept (if_paid keep)", frozenset({KEPT}), {"if_paid": "keep"}),
        lambda: trade(
            "unpaid", "unpaid, outside the cancel window: closed", SUCCESS_CLOSE, outside_cancel_window=True
        ),
        lambda: by_trade_no(known=False),
        refund_answer_lost,
        lambda: bad("this is not JSON {", "not JSON"),
        lambda: duplicates(3, concurrent=True),
        lambda: faulted("http_5xx"),
        lambda: faulted("timeout"),
        lambda: faulted("retry_flag", state="paid"),
        lambda: faulted("bad_signature"),
        lambda: _top_up(plan, faulted("business_error", None, "paid", code="ACQ.SELLER_BALANCE_NOT_ENOUGH")),
        by_trade_no,
        sns_wrapped,
        lambda: trade("frozen", "frozen", frozenset({failed("ACQ.REASON_TRADE_BEEN_FREEZEN")})),
        lambda: bad(_body(amount=12), "no trade id"),
        lambda: bad(_body(out_trade_no=12345), "id not a string"),
        lambda: bad(_body(out_trade_no="X" * 65), "id too long"),
        lambda: faulted("system_error"),
        # The cancel refunded and its answer was lost: the retry's cancel meets a refunded trade, which
        # Alipay refuses; the query then finds it closed after a payment: REFUNDED.
        lambda: faulted("timeout_after_cancel", state="paid"),
        lambda: duplicates(2, concurrent=False),
        lambda: faulted("http_5xx", times=None),  # never recovers: retries run out
        isv_merchants,
        second_app,
        lambda: faulted("service_unavailable"),
        lambda: faulted("rate_limited"),
        lambda: faulted("no_signature"),
        lambda: faulted("garbage_html"),
        lambda: bad(json.dumps({"Type": "Notification", "Message": "<xml/>"}), "SNS wrapping garbage"),
        lambda: trade("unpaid", "unpaid", SUCCESS_CLOSE),
        lambda: trade("paid", "paid", SUCCESS_REFUND),
    ]
    fill: list[Callable[[], Any]] = [
        lambda: trade("unpaid", "unpaid", SUCCESS_CLOSE),
        lambda: trade("paid", "paid", SUCCESS_REFUND),
        lambda: trade(None, "unknown to Alipay", frozenset({NOT_FOUND})),
        lambda: duplicates(2, concurrent=rng.random() < 0.5),
    ]
    for step in catalogue:
        if len(plan.messages) >= total:
            break
        step()
    while len(plan.messages) < total:
        rng.choices(fill, weights=[5, 4, 1, 1])[0]()
    # Exhaustion takes the longest; fix its expectation once we know the template's receive count.
    for message in plan.messages:
        if message.scenario == "fault:http_5xx" and any(
            f["trade"] == message.trade_key and f["times"] is None for f in plan.faults
        ):
            message.scenario = "fault:http_5xx forever"
            message.expect = EXHAUSTED
    _plan_random_faults(plan, rng, fault_rate)
    return plan


def _top_up(plan: Plan, key: str) -> None:
    plan.top_ups.append(key)
    for message in plan.messages:
        if message.trade_key == key:
            message.scenario = "merchant balance, topped up later"


def _plan_random_faults(plan: Plan, rng: random.Random, fault_rate: float) -> None:
    """Each plain trade's first calls meet a fault with probability ``fault_rate`` each, until the
    first clean one (a geometric run, drawn in plan order so the seed fixes it). Trades that already
    have a scenario's fault, and the ISV merchants' (their faults would be keyed on a shared
    out_trade_no), are left alone."""
    if fault_rate <= 0:
        return
    scenario_faults = {str(f["trade"]) for f in plan.faults}
    plain = []
    for message in plan.messages:
        key = message.trade_key
        if key and key not in scenario_faults and key not in plain and " " not in key:
            plain.append(key)
    for key in plain:
        kinds: list[str] = []
        while len(kinds) < MAX_PLANNED_FAULTS and rng.random() < fault_rate:
            kinds.append(rng.choice(RANDOM_FAULT_KINDS))
        # The emulator takes a trade's faults in the order they were set, one per call.
        plan.faults += [{"kind": kind, "trade": key, "times": 1} for kind in kinds]
        for message in plan.messages:
            if message.trade_key == key:
                message.faulted_calls = len(kinds)
