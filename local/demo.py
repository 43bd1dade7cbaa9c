"""``make demo``: the whole pipeline on this machine, no AWS account, driven as Lambda would drive it.

1. start the local stack (moto server subprocess + Alipay gateway emulator, free loopback ports,
   throwaway keys) and create every resource with the settings read from template.yaml;
2. seed the emulator's trades and enqueue a realistic set of timed-out payments: unpaid, paid,
   unknown, addressed by trade_no, SNS-wrapped, a second Alipay app (its own secret and keys), two
   ISV merchants whose orders share one out_trade_no (two trades), finished, frozen, outside the
   cancel window, malformed, duplicates (some in the same batch), injected faults (5xx, 429, timeouts, 20000,
   ACQ.SYSTEM_ERROR, retry_flag=Y, bad / missing response signature, garbage, a merchant whose
   balance is topped up during the run, a trade that never stops failing) plus random faults;
3. drive the function with the event source mapping driver until the queue is drained, showing
   progress: each execution environment an ``awslambdaric`` process, as in Lambda
   (``local.lambda_environment``); the function's logs go to a file (its "CloudWatch");
4. print the summary and exit non-zero if any message is unaccounted for (``local.accounting``).

Retry backoffs and the retry horizon are shortened through the template's own parameters (as a
deploy's parameter overrides would: the queue's maxReceiveCount and the function agree) and the
Alipay timeouts through the function's variables, so the run ends in well under a minute; everything
else is the template's. If ``--deadline`` stops the run first, the summary says so and lists what was
still in flight (on the queue, not lost).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from alipay_cancel.pipeline.trade_identity import trade_key as build_trade_key
from local.accounting import Enqueued, Snapshot, account, collect, render_summary
from local.alipay_gateway.admin_client import GatewayAdmin
from local.esm_driver import DriveResult, Progress
from local.keygen import generate_key_material
from local.lambda_environment import FileSink
from local.stack import LocalStack

# Short backoffs and a 12-second horizon for a demo (the template's defaults: 30 s / 900 s / 3600 s,
# a day). 14 receives is what that horizon can take at most (retry_policy.receives_within_horizon).
DEMO_PARAMETERS = {
    "RetryBaseSeconds": "1",
    "RetryMaxSeconds": "2",
    "RetrySlowBaseSeconds": "2",
    "RetryHorizonSeconds": "12",
    "MaxReceiveCount": "14",
}
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
TOP_UP_AFTER_SECONDS = 4.0
# A second Alipay app beside the default one (its secret is <AppSecretPrefix><app id>), and two ISV
# merchants with their (throwaway) app_auth_tokens.
SECOND_APP_ID = "2021000000000002"
DEMO_MERCHANTS = {
    "202601BBdemoMerchantAtoken00000000000001": "2088000000000001",
    "202601BBdemoMerchantBtoken00000000000002": "2088000000000002",
}

SUCCESS_CLOSE = frozenset({"SUCCEEDED/close"})
SUCCESS_REFUND = frozenset({"SUCCEEDED/refund"})
BAD = frozenset({"DEAD/bad_message", "FAILED/bad_message"})


@dataclass
class Planned:
    """One message to send (``group`` messages are sent in one SendMessageBatch: concurrent)."""

    body: str
    trade_key: str | None
    scenario: str
    expect: frozenset[str]
    group: str | None = None


@dataclass
class Plan:
    trades: list[dict[str, Any]] = field(default_factory=list)  # emulator seeds
    faults: list[dict[str, Any]] = field(default_factory=list)  # emulator per-trade faults
    messages: list[Planned] = field(default_factory=list)
    top_ups: list[str] = field(default_factory=list)  # trades whose balance fault clears mid-run


def _body(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"))


def build_plan(total: int, seed: int) -> Plan:
    """A catalogue in priority order (one of each situation first), cut or topped up to ``total``."""
    rng = random.Random(seed)
    run = f"{seed:04d}{rng.randrange(10**6):06d}"
    counter = iter(range(1, 10**6))
    plan = Plan()

    def trade(state: str | None, scenario: str, expect: frozenset[str], **seed_fields: Any) -> str:
        key = f"DEMO{run}{next(counter):04d}"
        if state is not None:
            plan.trades.append({"out_trade_no": key, "state": state, **seed_fields})
        plan.messages.append(Planned(_body(out_trade_no=key), key, scenario, expect))
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

    def by_trade_no() -> None:
        trade_no = f"2026{run}{next(counter):08d}"
        plan.trades.append({"trade_no": trade_no, "state": "unpaid"})
        plan.messages.append(Planned(_body(trade_no=trade_no), trade_no, "by trade_no", SUCCESS_CLOSE))

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
        for (token, merchant), state in zip(DEMO_MERCHANTS.items(), ("paid", "unpaid"), strict=True):
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
        plan.messages.append(Planned(body, None, f"malformed: {what}", BAD))

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
        lambda: trade(None, "unknown to Alipay", frozenset({"SUCCEEDED/none"})),
        lambda: trade("finished", "finished", frozenset({"FAILED/ACQ.TRADE_HAS_FINISHED"})),
        lambda: trade(
            "paid",
            "outside cancel window",
            frozenset({"FAILED/ACQ.TRADE_CANCEL_TIME_OUT"}),
            outside_cancel_window=True,
        ),
        lambda: bad("this is not JSON {", "not JSON"),
        lambda: duplicates(3, concurrent=True),
        lambda: faulted("http_5xx"),
        lambda: faulted("timeout"),
        lambda: faulted("service_unavailable"),
        lambda: faulted("retry_flag", state="paid"),
        lambda: faulted("bad_signature"),
        lambda: _top_up(plan, faulted("business_error", None, "paid", code="ACQ.SELLER_BALANCE_NOT_ENOUGH")),
        by_trade_no,
        sns_wrapped,
        lambda: trade("frozen", "frozen", frozenset({"FAILED/ACQ.REASON_TRADE_BEEN_FREEZEN"})),
        lambda: bad(_body(amount=12), "no trade id"),
        lambda: bad(_body(out_trade_no=12345), "id not a string"),
        lambda: bad(_body(out_trade_no="X" * 65), "id too long"),
        lambda: faulted("system_error"),
        lambda: faulted("rate_limited"),
        lambda: faulted("no_signature"),
        lambda: faulted("garbage_html"),
        # The cancel refunded and its answer was lost: the retry's cancel meets a refunded trade.
        lambda: faulted(
            "timeout_after_cancel", state="paid", expect=frozenset({"FAILED/ACQ.REASON_TRADE_REFUND_FEE_ERR"})
        ),
        lambda: duplicates(2, concurrent=False),
        lambda: faulted("http_5xx", times=None),  # never recovers: retries run out
        isv_merchants,
        second_app,
        lambda: bad(json.dumps({"Type": "Notification", "Message": "<xml/>"}), "SNS wrapping garbage"),
        lambda: trade("unpaid", "unpaid", SUCCESS_CLOSE),
        lambda: trade("paid", "paid", SUCCESS_REFUND),
    ]
    fill: list[Callable[[], Any]] = [
        lambda: trade("unpaid", "unpaid", SUCCESS_CLOSE),
        lambda: trade("paid", "paid", SUCCESS_REFUND),
        lambda: trade(None, "unknown to Alipay", frozenset({"SUCCEEDED/none"})),
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
            message.expect = frozenset({"FAILED/exhausted", "DEAD/exhausted"})
    return plan


def _top_up(plan: Plan, key: str) -> None:
    plan.top_ups.append(key)
    for message in plan.messages:
        if message.trade_key == key:
            message.scenario = "merchant balance, topped up later"


def enqueue(sqs: Any, queue_url: str, plan: Plan, rng: random.Random) -> list[Enqueued]:
    """Send the plan's messages in a shuffled order; same-group messages in one batch call."""
    groups: dict[str, list[Planned]] = {}
    singles: list[list[Planned]] = []
    for m in plan.messages:
        if m.group:
            groups.setdefault(m.group, []).append(m)
        else:
            singles.append([m])
    units = singles + list(groups.values())
    rng.shuffle(units)
    sent: list[Enqueued] = []
    for start in range(0, len(units), 10):
        chunk = [m for unit in units[start : start + 10] for m in unit]
        for offset in range(0, len(chunk), 10):
            part = chunk[offset : offset + 10]
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "MessageBody": m.body} for i, m in enumerate(part)],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SendMessageBatch failed: {response['Failed']}")
            for entry in response["Successful"]:
                m = part[int(entry["Id"])]
                sent.append(Enqueued(entry["MessageId"], m.body, m.trade_key, m.scenario, m.expect))
    return sent


class ProgressPrinter:
    def __init__(self, out: TextIO, admin: GatewayAdmin, total: int) -> None:
        self.out = out
        self.admin = admin
        self.total = total
        self.tty = out.isatty()

    def __call__(self, p: Progress) -> None:
        try:
            calls = self.admin.counts().get("total_requests", "?")
        except Exception:  # noqa: BLE001 - progress is best effort
            calls = "?"
        s = p.stats
        line = (
            f"[{p.elapsed:5.1f}s] invocations {s.invocations:4d}  records {s.records_received:4d}  "
            f"done {s.records_deleted:4d}/{self.total}  retried {s.item_failures_reported:3d}  "
            f"| queue {p.depth.visible} visible, {p.depth.in_flight} in flight  "
            f"| dead letters {p.depth.dead_letters}  | Alipay calls {calls}"
        )
        if s.handler_errors or s.invalid_responses or s.timeouts:
            line += f"  | handler errors {s.handler_errors + s.invalid_responses + s.timeouts}"
        self.out.write(line + "\n")
        self.out.flush()


@dataclass
class DemoResult:
    enqueued: list[Enqueued]
    snapshot: Snapshot
    drive: DriveResult
    summary: str
    ok: bool
    log_path: Path
    moto_pid: int | None


def run_demo(
    *,
    messages: int = 40,
    fault_rate: float = 0.1,
    seed: int = 7,
    deadline_seconds: float = 120.0,
    out: TextIO | None = None,
    log_path: Path | None = None,
    env_overrides: dict[str, str] | None = None,
) -> DemoResult:
    out = out or sys.stdout
    started = time.monotonic()
    rng = random.Random(seed)
    plan = build_plan(messages, seed)
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="alipay-cancel-demo-")) / "function.log"
    out.write("Starting the local stack (moto server + Alipay gateway emulator, throwaway keys)...\n")
    second_app = generate_key_material(SECOND_APP_ID, aes_bits=None, cert_mode=False)
    with LocalStack(
        env_overrides={**DEMO_ENV, **(env_overrides or {})},
        parameters=DEMO_PARAMETERS,
        extra_apps=[second_app],
        merchants=DEMO_MERCHANTS,
    ) as stack:
        res = stack.resources
        settings = stack.settings
        out.write(
            f"  moto {stack.moto_url} (pid {stack.moto.pid}), emulator {stack.gateway_url}\n"
            f"  from template.yaml: queue visibility {settings.queue.visibility_timeout}s, "
            f"maxReceiveCount {settings.queue.max_receive_count}, "
            f"function timeout {settings.function.timeout}s, "
            f"{settings.function.memory_size} MB, batch {settings.event_source.batch_size}, window "
            f"{settings.event_source.maximum_batching_window_seconds}s, max concurrency "
            f"{settings.event_source.maximum_concurrency}\n"
            f"  demo overrides: {' '.join(f'{k}={v}' for k, v in {**DEMO_PARAMETERS, **DEMO_ENV}.items())}\n"
        )
        admin = GatewayAdmin(stack.gateway_url)
        admin.seed_trades(plan.trades)
        for fault in plan.faults:
            admin.set_fault(**fault)
        if fault_rate > 0:
            share = fault_rate / len(RANDOM_FAULT_KINDS)
            admin.set_rates({kind: share for kind in RANDOM_FAULT_KINDS}, seed=seed)
        sqs = stack.client("sqs")
        enqueued = enqueue(sqs, res.queue_url, plan, rng)
        scenarios = len({m.scenario for m in enqueued})
        out.write(
            f"Enqueued {len(enqueued)} messages ({scenarios} scenarios, {len(plan.trades)} seeded trades, "
            f"{len(plan.faults)} per-trade faults, random fault rate {fault_rate:.0%}).\n"
            f"Function logs (its CloudWatch): {log_path}\n"
        )
        stop_top_ups = threading.Event()
        timers = [
            threading.Thread(target=_top_up_once_refused, args=(admin, key, out, stop_top_ups), daemon=True)
            for key in plan.top_ups
        ]
        with open(log_path, "a", encoding="utf-8") as log, stack.environments(log_sink=FileSink(log)) as pool:
            for t in timers:
                t.start()
            try:
                driver = stack.driver(pool)
                drive = driver.run_until_drained(
                    deadline_seconds=deadline_seconds, progress=ProgressPrinter(out, admin, len(enqueued))
                )
            finally:
                stop_top_ups.set()
        if not drive.drained:
            d = drive.depth
            out.write(
                f"Deadline reached: --deadline {deadline_seconds:g}s passed before the queue drained. "
                f"Stopped with {d.total} message(s) still on the queue ({d.visible} visible, "
                f"{d.in_flight} in flight, {d.delayed} delayed): they are not lost, only unfinished.\n"
            )
        snapshot = collect(
            sqs, stack.client("dynamodb"), admin, results_table=res.results_table, dlq_url=res.dlq_url
        )
        admin.close()
        moto_pid = stack.moto.pid
    accounting = account(enqueued, snapshot, still_queued=None if drive.drained else drive.depth.total)
    stats = drive.stats
    summary = render_summary(
        enqueued,
        snapshot,
        accounting,
        elapsed_seconds=time.monotonic() - started,
        drained=drive.drained,
        deadline_seconds=deadline_seconds,
        extra={
            "event source mapping": f"{stats.invocations} invocations, {stats.records_received} records "
            f"received, largest batch {stats.max_batch}, {stats.item_failures_reported} batch item "
            f"failures (retried), {stats.records_deleted} deleted, handler errors "
            f"{stats.handler_errors + stats.invalid_responses + stats.timeouts}",
            "drive time": f"{drive.elapsed:.1f}s",
        },
    )
    for error in stats.errors[:10]:
        summary += f"\n  driver: {error}"
    out.write(summary + "\n")
    ok = accounting.ok and drive.drained
    return DemoResult(enqueued, snapshot, drive, summary, ok, log_path, moto_pid)


def _top_up_once_refused(admin: GatewayAdmin, key: str, out: TextIO, stop: threading.Event) -> None:
    """Top the merchant's balance up once Alipay refused the cancel at least once, and no sooner than
    TOP_UP_AFTER_SECONDS: waiting on the refusal, not on the clock alone, keeps the scenario what it
    says on a slow machine (a first call after a timed top-up would never see the refusal)."""
    started = time.monotonic()
    while not stop.wait(0.2):
        if time.monotonic() - started >= TOP_UP_AFTER_SECONDS and admin.count(key)["requests"] >= 1:
            admin.clear_faults(key)
            out.write(f"  (merchant of trade {key} topped up the balance)\n")
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole pipeline locally (no AWS account).")
    parser.add_argument("--messages", type=int, default=40, help="number of messages to enqueue (default 40)")
    parser.add_argument(
        "--fault-rate", type=float, default=0.1, help="random fault rate on Alipay calls, 0..1 (default 0.1)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--deadline", type=float, default=180.0, help="safety deadline in seconds")
    parser.add_argument("--log-file", type=Path, help="where the function's logs go (default: a temp file)")
    args = parser.parse_args(argv)
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate must be between 0 and 1")
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    result = run_demo(
        messages=args.messages,
        fault_rate=args.fault_rate,
        seed=args.seed,
        deadline_seconds=args.deadline,
        log_path=args.log_file,
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
