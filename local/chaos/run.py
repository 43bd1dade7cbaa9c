"""The chaos run itself: the local pipeline under every fault while the ``Conductor`` plays the run's
events, then the ``verdict`` over what it gathered (the package's docstring says what is injected and
what is proven)."""

from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from local.accounting.messages import collect
from local.aws.esm_driver import DriveResult
from local.chaos.aws_faults import LEDGER_WRITE_FAULT_EVERY, read_events
from local.chaos.conductor import Conductor
from local.chaos.crashes import TapCrashes, build_crash_plan
from local.chaos.events import ChaosEvents
from local.chaos.plan import build_plan
from local.chaos.summary import render
from local.chaos.verdict import Evidence, verdict
from local.chaos.wiretap import WireTap
from local.keygen import generate_rsa_key_pair
from local.lambda_runtime.lambda_environment import FileSink
from local.stack.local_stack import LocalStack

# Short backoffs and retry horizon, as template parameters (the queue and the function agree); the
# horizon's 14 s can take at most 16 receives (retry_policy.receives_within_horizon).
CHAOS_PARAMETERS = {
    "RetryBaseSeconds": "1",
    "RetryMaxSeconds": "3",
    "RetrySlowBaseSeconds": "2",
    "RetryHorizonSeconds": "14",
    "MaxReceiveCount": "16",
}
CHAOS_ENV = {
    "ALIPAY_CONNECT_TIMEOUT_SECONDS": "1",
    "ALIPAY_READ_TIMEOUT_SECONDS": "2",
    "SECRET_MAX_AGE_SECONDS": "300",  # longer than the grace: the rotation is found by a refusal
    "POWERTOOLS_LOG_LEVEL": "DEBUG",  # capture the most the function can log
}


@dataclass
class ChaosResult:
    ok: bool
    summary: dict[str, Any]
    text: str


def run_chaos(
    *,
    messages: int = 2000,
    fault_rate: float = 0.3,
    aws_fault_rate: float = 0.02,
    seed: int = 1,
    deadline_seconds: float = 1200.0,
    visibility_timeout: int = 30,
    function_timeout: int = 20,
    crash_rate: float = 0.07,
    out: TextIO | None = None,
    quiet: bool = False,
    log_path: Path | None = None,
) -> ChaosResult:
    out = out or sys.stdout
    started = time.monotonic()
    plan = build_plan(messages, seed, fault_rate, exhausted_trades=2 if messages < 1000 else 3)
    new_app_key = generate_rsa_key_pair()
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="alipay-cancel-chaos-")) / "function.log"
    say = (lambda _text: None) if quiet else (lambda text: (out.write(text + "\n"), out.flush()))

    say(
        f"chaos: {len(plan.messages)} messages, {len(plan.trades)} seeded trades, "
        f"{len(plan.faults)} planned faults"
    )
    with LocalStack(
        env_overrides=CHAOS_ENV, gateway_options={"hang_seconds": 5.0}, parameters=CHAOS_PARAMETERS
    ) as stack:
        res, km = stack.resources, stack.key_material
        read_timeout = float(stack.lambda_env["ALIPAY_READ_TIMEOUT_SECONDS"])
        tap = WireTap(
            stack.gateway_url,
            km.alipay.public_pem,
            {"old": km.app.public_pem},
            upstream_timeout=read_timeout + 1.0,
        )
        tap.start()
        stack.lambda_env["ALIPAY_ENDPOINT"] = tap.base_url  # the function talks to the emulator via the tap
        stack.client("sqs").set_queue_attributes(
            QueueUrl=res.queue_url, Attributes={"VisibilityTimeout": str(visibility_timeout)}
        )
        events = ChaosEvents(stack)
        conductor = Conductor(
            plan=plan,
            rng=random.Random(seed),
            stack=stack,
            tap=tap,
            events=events,
            new_app_key=new_app_key,
            say=say,
        )
        conductor.prepare()
        say(
            f"  stack: moto {stack.moto_url} (pid {stack.moto.pid}), emulator {stack.gateway_url}, "
            f"wire tap {tap.base_url}\n  first wave: {conductor.first_wave} messages, fed as they are "
            f"consumed; function log: {log_path}"
        )
        events_path = log_path.with_name(log_path.stem + "-aws-faults.jsonl")
        events_path.write_text("")
        crash_plan = build_crash_plan(
            sorted(plan.seeded_keys),
            seed=seed,
            crash_rate=crash_rate,
            function_timeout=function_timeout,
            dlq_name=res.dlq_url.rsplit("/", 1)[-1],
        )
        stack.moto.set_rules(crash_plan.moto_rules)
        drives: list[DriveResult] = []
        with (
            open(log_path, "a", encoding="utf-8") as log,
            stack.environments(
                log_sink=FileSink(log),
                timeout=function_timeout,
                bootstrap_module="local.chaos.env_hooks",
                extra_env={
                    "CHAOS_AWS_EVENTS": str(events_path),
                    "CHAOS_AWS_CALL_RATE": str(aws_fault_rate / 2),
                    "CHAOS_AWS_WIRE_RATE": str(aws_fault_rate / 2),
                    "CHAOS_AWS_SEED": str(seed),
                    "CHAOS_AWS_LEDGER_EVERY": ",".join(
                        f"{k}={n}" for k, n in LEDGER_WRITE_FAULT_EVERY.items()
                    ),
                },
            ) as pool,
        ):
            tap_crashes = TapCrashes(crash_plan, pool.kill_where)
            tap.crash_hook = tap_crashes
            # AWS refuses an SQS event source whose queue visibility timeout is below the function
            # timeout; the ledger's leases rely on it (they end at the invocation's deadline, before
            # the message can come back).
            driver = stack.driver(pool, function_timeout=function_timeout)
            events.start()
            remaining = deadline_seconds
            while True:
                drive = driver.run_until_drained(
                    deadline_seconds=remaining, progress=conductor.progress, progress_interval=0.5
                )
                drives.append(drive)
                remaining -= drive.elapsed
                # The queue may drain between two progress calls: do what is still owed, go on.
                if not drive.drained or not conductor.catch_up():
                    break
            pool_stats = pool.stats()
        moto_stats = stack.moto.stats()
        conductor.finish()
        say("  drained; collecting the end state")
        snapshot = collect(
            conductor.sqs,
            stack.client("dynamodb"),
            conductor.admin,
            results_table=res.results_table,
            dlq_url=res.dlq_url,
        )
        say("  publishing the outcome events still on the stream; accounting for them")
        events.finish()
        max_receive_count = stack.settings.queue.max_receive_count
        assert max_receive_count is not None  # the template's queue has a redrive policy
        pending_faults = conductor.admin.faults()
        exchanges = tap.exchanges()
        tap.stop()
        conductor.admin.close()
    aws_stats, failed_calls = read_events(events_path.read_text(encoding="utf-8").splitlines())
    evidence = Evidence(
        plan=plan,
        state=conductor.state,
        snapshot=snapshot,
        exchanges=exchanges,
        pending_faults=pending_faults,
        drive=drives[-1],
        pool_stats=pool_stats,
        moto_stats=moto_stats,
        tap_kills=tap_crashes.killed,
        aws_stats=aws_stats,
        failed_calls=failed_calls,
        log_lines=log_path.read_text(encoding="utf-8", errors="replace").splitlines(),
        events=events,
        max_receive_count=max_receive_count,
        read_timeout=read_timeout,
        private_keys=[
            km.app.private_pem,
            km.app.private_pkcs1_pem,
            new_app_key.private_pem,
            new_app_key.private_pkcs1_pem,
            km.alipay.private_pem,
        ],
    )
    summary = verdict(evidence, fault_rate=fault_rate, aws_fault_rate=aws_fault_rate, crash_rate=crash_rate)
    summary["run"] = {
        "messages": len(conductor.state.enqueued),
        "seed": seed,
        "fault_rate_requested": fault_rate,
        "aws_fault_rate_requested": aws_fault_rate,
        "elapsed_seconds": round(time.monotonic() - started, 1),
        "drive_seconds": round(sum(d.elapsed for d in drives), 1),
        "queue_visibility_timeout_seconds": visibility_timeout,
        "function_timeout_seconds": function_timeout,
        "crash_rate_requested": crash_rate,
        "function_env_overrides": CHAOS_ENV,
        "template_parameter_overrides": CHAOS_PARAMETERS,
        "function_log": str(log_path),
        "notes": conductor.state.notes,
    }
    ok = not summary["violations_total"]
    summary["result"] = "OK" if ok else "FAILED"
    return ChaosResult(ok, summary, render(summary))
