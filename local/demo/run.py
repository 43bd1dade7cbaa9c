"""The demo run itself (the package's docstring says what it does and shows)."""

from __future__ import annotations

import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from local.accounting.messages import Enqueued, Snapshot, account, collect
from local.accounting.run_summary import render_summary, unfinished_line
from local.alipay_gateway.admin_client import GatewayAdmin
from local.aws.esm_driver import DriveResult, Progress
from local.aws.template_settings import REPO_ROOT
from local.demo.events import DemoEvents
from local.demo.plan import DEMO_ENV, Plan, Planned, build_plan, demo_parameters
from local.lambda_runtime.lambda_environment import FileSink
from local.showcase import MERCHANTS, second_app_keys
from local.stack.local_stack import LocalStack

TOP_UP_AFTER_SECONDS = 4.0
DEFAULT_LOG = REPO_ROOT / ".local-stack" / "demo" / "function.log"  # git-ignored; replaced each run


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
                sent.append(
                    Enqueued(entry["MessageId"], m.body, m.trade_key, m.scenario, m.expect, m.faulted_calls)
                )
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
    events: DemoEvents | None = None


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
    plan = build_plan(messages, seed, fault_rate)
    parameters = demo_parameters(messages)
    log_path = log_path or DEFAULT_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out.write("Starting the local stack (moto server + Alipay gateway emulator, throwaway keys)...\n")
    with LocalStack(
        env_overrides={**DEMO_ENV, **(env_overrides or {})},
        parameters=parameters,
        extra_apps=[second_app_keys()],
        merchants=MERCHANTS,
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
            f"  demo overrides: {' '.join(f'{k}={v}' for k, v in {**parameters, **DEMO_ENV}.items())} "
            f"(the retry horizon scaled to {messages} messages)\n"
        )
        admin = GatewayAdmin(stack.gateway_url)
        admin.seed_trades(plan.trades)
        for fault in plan.faults:
            admin.set_fault(**fault)
        events = DemoEvents(stack, admin, out)
        sqs = stack.client("sqs")
        enqueued = enqueue(sqs, res.queue_url, plan, rng)
        scenarios = len({m.scenario for m in enqueued})
        faulted = sum(1 for m in plan.messages if m.faulted_calls)
        out.write(
            f"Enqueued {len(enqueued)} messages ({scenarios} scenarios, {len(plan.trades)} seeded trades, "
            f"{len(plan.faults)} planned faults; random faults at {fault_rate:.0%} per call on "
            f"{faulted} messages' trades; seed {seed}).\n"
            f"Function logs (its CloudWatch): {log_path}\n"
        )
        stop_top_ups = threading.Event()
        timers = [
            threading.Thread(target=_top_up_once_refused, args=(admin, key, out, stop_top_ups), daemon=True)
            for key in plan.top_ups
        ]
        with open(log_path, "w", encoding="utf-8") as log, stack.environments(log_sink=FileSink(log)) as pool:
            for t in timers:
                t.start()
            try:
                driver = stack.driver(pool)
                drive = events.drive(
                    driver,
                    deadline_seconds=deadline_seconds,
                    progress=ProgressPrinter(out, admin, len(enqueued) + events.fires),
                )
            finally:
                stop_top_ups.set()
        snapshot = collect(
            sqs, stack.client("dynamodb"), admin, results_table=res.results_table, dlq_url=res.dlq_url
        )
        events.finish()
        admin.close()
        moto_pid = stack.moto.pid
    enqueued += events.fired_messages()
    accounting = account(enqueued, snapshot, still_queued=None if drive.drained else drive.depth.total)
    accounting.violations += events.violations(snapshot, drained=drive.drained)
    if not drive.drained:
        out.write(unfinished_line(accounting, drive.depth, deadline_seconds) + "\n")
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
        sections=[events.summary_lines(snapshot)],
    )
    for error in stats.errors[:10]:
        summary += f"\n  driver: {error}"
    out.write(summary + "\n")
    ok = accounting.ok and drive.drained
    return DemoResult(enqueued, snapshot, drive, summary, ok, log_path, moto_pid, events)


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
