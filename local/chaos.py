"""``make chaos``: thousands of messages through the local pipeline with faults everywhere, then proof
that nothing was lost, nothing was called again after a recorded settlement, the ledger's invariants
held, and nothing was trusted without a valid signature.

The pipeline is the one ``make demo`` runs (``local.stack.LocalStack``: an atomic moto server
subprocess and the Alipay gateway emulator over loopback HTTP, resources from template.yaml; the event
source mapping driver ``local.esm_driver``; the function in awslambdaric processes, killed at its
timeout, ``local.lambda_environment``), with:

- a wire tap (``local.chaos_wiretap``) between the function and the emulator recording every Alipay
  exchange and checking each answer's signature independently;
- per-trade faults on >= 25 % of Alipay calls, every fault kind the emulator has
  (``local.chaos_plan``), business errors switching between the envelope and the v3 shape;
- DynamoDB / SQS / Secrets Manager errors including throttling on ~2 % of the function's AWS calls,
  and on every n-th ledger claim and final write, through botocore event hooks on the function's own
  clients inside each environment (``local.chaos_aws_faults``, installed by ``local.chaos_env_hooks``);
- crashes: environments SIGKILLed before the Alipay call, after Alipay answered, after the ledger
  claim, after the final write before the dead letter / visibility change, and at the function
  timeout (``local.chaos_crashes``), >= 5 % of invocations in a full run;
- one app key rotation halfway: the emulator learns the new public key, the secret in moto's Secrets
  Manager is updated, the old key is refused after a grace period;
- duplicates (10 % of trades, 2-4 copies: in one batch, spread out, or sent after the first finished)
  and bad messages of every kind mixed in;
- outcome events published from the results table's stream all along, the publisher dying before
  and after PutEvents, the bus refusing, the stream reader restarted from its checkpoints
  (``local.chaos_events``): every final state must reach the order system's queue, repeats
  identified by event_id.

Then every invariant of ``local.chaos_checks`` is checked; a summary table is printed (and written as
JSON with ``--json``), and the exit code is 1 on any violation.

Deviations from the template, for run time only: short retry backoffs and horizon (template
parameters, CHAOS_PARAMETERS), 1 s / 2 s Alipay timeouts, the function timeout lowered from 120 s to
``--function-timeout`` and the queue's visibility timeout from 720 s to ``--visibility-timeout`` (a
message whose processing failed on an AWS error returns after it). The visibility timeout is never
below the function timeout: AWS refuses that for an SQS event source, and the ledger's leases (which
end at the invocation's deadline) rely on it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import requests

from local.accounting import Enqueued, Snapshot, collect
from local.alipay_gateway.admin_client import GatewayAdmin
from local.chaos_aws_faults import LEDGER_WRITE_FAULT_EVERY, read_events
from local.chaos_catalogue import CHAOS_MERCHANT
from local.chaos_checks import (
    check_accounted,
    check_drained,
    check_ledger,
    check_no_cancel_after_success,
    check_no_secrets,
    check_rotation,
    receipts_hit_by_aws_faults,
)
from local.chaos_crashes import TapCrashes, build_crash_plan
from local.chaos_events import ChaosEvents
from local.chaos_plan import PlannedFault, build_plan, chunked_sends
from local.chaos_settle_checks import check_dead_letters_unsettleable, check_money, check_settlements
from local.chaos_summary import (
    RunState,
    build_summary,
    check_crashes,
    check_robustness,
    crash_summary,
    render,
    unfinished_messages,
)
from local.chaos_wiretap import WireTap
from local.esm_driver import DriveResult, Progress
from local.keygen import generate_rsa_key_pair
from local.lambda_environment import FileSink
from local.stack import LocalStack

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
ROTATION_GRACE_SECONDS = 1.0
ROTATE_AT = 0.5  # share of the first wave processed
LATE_AT = 0.7
SHAPE_SWITCH_SECONDS = 7.0
FEED_BACKLOG = 400


@dataclass
class ChaosResult:
    ok: bool
    summary: dict[str, Any]
    text: str


# --- helpers --------------------------------------------------------------------------------------


def _send(sqs: Any, queue_url: str, plan_calls: list[list[Any]], state: RunState) -> None:
    for call in plan_calls:
        response = sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": m.body} for i, m in enumerate(call)]
        )
        if response.get("Failed"):
            raise RuntimeError(f"SendMessageBatch failed: {response['Failed']}")
        for entry in response["Successful"]:
            m = call[int(entry["Id"])]
            state.enqueued.append(Enqueued(entry["MessageId"], m.body, m.trade_key, m.scenario))
            if m.bad:
                state.bad_message_ids.add(entry["MessageId"])


def _post_faults(gateway_url: str, faults: list[PlannedFault]) -> None:
    """The emulator's admin API takes a list of faults in one POST (see its README)."""
    for start in range(0, len(faults), 500):
        response = requests.post(
            f"{gateway_url}/__admin/faults", json=[f.spec() for f in faults[start : start + 500]], timeout=30
        )
        response.raise_for_status()


def probe_key(endpoint: str, secret: dict[str, str], trade: str) -> str:
    """One cancel signed with ``secret``'s app key, sent with the function's own client through the
    wire tap: 'accepted' or the refusal's code. Evidence that a key works or no longer works."""
    from alipay_cancel.alipay import TradeRef
    from alipay_cancel.alipay.client import AlipayClient
    from alipay_cancel.alipay.responses import CancelSuccess
    from alipay_cancel.alipay.signing_material import load_signing_material

    client = AlipayClient(endpoint, load_signing_material(secret), connect_timeout=1, read_timeout=5)
    try:
        outcome = client.cancel(TradeRef(out_trade_no=trade, trade_no=None))
    finally:
        client.session.close()
    if isinstance(outcome, CancelSuccess):
        return "accepted"
    return f"refused: HTTP {outcome.http_status} {outcome.code or outcome.kind.value}"


def crash_redriven(snapshot: Snapshot, killed: dict[str, set[int]], max_receive_count: int) -> set[str]:
    """Messages the queue's redrive moved because their last allowed delivery died with its
    environment or was hit by an injected AWS failure that reached the function (e.g. its dead-letter
    send failed): the function could not dead-letter them with a reason, as on AWS. ``killed``:
    message id -> receive counts hit by a crash or an injected AWS failure."""
    return {
        d.message_id
        for d in snapshot.dead_letters
        if not d.reason.strip() and max_receive_count in killed.get(d.message_id, set())
    }


def merge_receipts(*maps: dict[str, set[int]]) -> dict[str, set[int]]:
    """message id -> receive counts hit by an injected AWS error or a crash (the message was rightly
    retried on the next receipt)."""
    out: dict[str, set[int]] = {}
    for mapping in maps:
        for message_id, counts in mapping.items():
            out.setdefault(message_id, set()).update(counts)
    return out


# --- the run --------------------------------------------------------------------------------------


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
    rng = random.Random(seed)
    plan = build_plan(messages, seed, fault_rate, exhausted_trades=2 if messages < 1000 else 3)
    new_app_key = generate_rsa_key_pair()
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="alipay-cancel-chaos-")) / "function.log"
    state = RunState()
    say = (lambda _text: None) if quiet else (lambda text: (out.write(text + "\n"), out.flush()))

    say(
        f"chaos: {len(plan.messages)} messages, {len(plan.trades)} seeded trades, "
        f"{len(plan.faults)} planned faults"
    )
    with LocalStack(
        env_overrides=CHAOS_ENV, gateway_options={"hang_seconds": 5.0}, parameters=CHAOS_PARAMETERS
    ) as stack:
        res = stack.resources
        km = stack.key_material
        read_timeout = float(stack.lambda_env["ALIPAY_READ_TIMEOUT_SECONDS"])
        tap = WireTap(
            stack.gateway_url,
            km.alipay.public_pem,
            {"old": km.app.public_pem},
            upstream_timeout=read_timeout + 1.0,
        )
        tap.start()
        stack.lambda_env["ALIPAY_ENDPOINT"] = tap.base_url  # the function talks to the emulator via the tap
        sqs = stack.client("sqs")
        sqs.set_queue_attributes(
            QueueUrl=res.queue_url, Attributes={"VisibilityTimeout": str(visibility_timeout)}
        )
        secrets_client = stack.client("secretsmanager")
        events = ChaosEvents(stack)
        admin = GatewayAdmin(stack.gateway_url)
        admin.seed_trades(plan.trades)
        for token in plan.tokens:
            admin.set_token(token, user_id=CHAOS_MERCHANT)
        _post_faults(stack.gateway_url, plan.faults)
        for trade in plan.forever_failing:
            admin.set_fault("http_5xx", trade=trade, times=None, http_status=503)
        # The first wave arrives as a stream, at most FEED_BACKLOG messages waiting at a time: moto's
        # ReceiveMessage scans the whole queue several times per call, so a queue of thousands makes
        # every receive cost seconds of the (atomic, one-request-at-a-time) stand-in.
        pending_calls = chunked_sends(plan, rng, late=False)
        first_wave = sum(len(call) for call in pending_calls)
        feed_lock = threading.Lock()

        def feed(backlog: int) -> None:
            with feed_lock:
                room = FEED_BACKLOG - backlog
                batch: list[list[Any]] = []
                while pending_calls and room > 0:
                    room -= len(pending_calls[0])
                    batch.append(pending_calls.pop(0))
                _send(sqs, res.queue_url, batch, state)

        feed(0)
        say(
            f"  stack: moto {stack.moto_url} (pid {stack.moto.pid}), emulator {stack.gateway_url}, "
            f"wire tap {tap.base_url}\n  first wave: {first_wave} messages, fed as they are consumed; "
            f"function log: {log_path}"
        )

        timers: list[threading.Timer] = []

        def rotate() -> None:
            state.rotated_at = time.time()
            settings = admin.rotate_app_key(new_app_key.public_pem, grace_seconds=ROTATION_GRACE_SECONDS)
            tap.add_app_key("new", new_app_key.public_pem)
            retire = [k["retire_at"] for k in settings["app_keys"] if k.get("retire_at")]
            state.retire_at = min(retire) if retire else state.rotated_at + ROTATION_GRACE_SECONDS
            secret = km.secret()
            secret["private_key"] = new_app_key.private_pem
            secrets_client.put_secret_value(SecretId=res.secret_id, SecretString=json.dumps(secret))
            timer = threading.Timer(ROTATION_GRACE_SECONDS + 0.5, probe_after_grace, (secret,))
            timers.append(timer)
            timer.start()
            say(
                "  [rotation] new app key at the emulator and in the secret; old key retires in "
                f"{ROTATION_GRACE_SECONDS:.0f}s"
            )

        def probe_after_grace(new_secret: dict[str, str]) -> None:
            # Trades unknown to the emulator: a cancel that gets through answers success, no action.
            state.probes["old"] = probe_key(tap.base_url, km.secret(), f"PROBE{plan.run_id}OLD")
            state.probes["new"] = probe_key(tap.base_url, new_secret, f"PROBE{plan.run_id}NEW")
            say(f"  [rotation] after the grace: old key {state.probes['old']}, new key {state.probes['new']}")

        def send_late() -> None:
            before = len(state.enqueued)
            _send(sqs, res.queue_url, chunked_sends(plan, rng, late=True), state)
            state.late_sent = len(state.enqueued) - before
            state.late_done = True
            say(f"  [late duplicates] {state.late_sent} copies of trades already processed")

        last_switch = [time.monotonic()]
        last_print = [0.0]

        def progress(p: Progress) -> None:
            done = p.stats.records_deleted
            if pending_calls and p.depth.visible + p.depth.delayed < FEED_BACKLOG // 2:
                feed(p.depth.visible + p.depth.delayed)
            if state.rotated_at is None and done >= ROTATE_AT * first_wave:
                rotate()
            if not state.late_done and done >= LATE_AT * first_wave:
                send_late()
            events.on_progress(done / first_wave)
            if time.monotonic() - last_switch[0] >= SHAPE_SWITCH_SECONDS:
                last_switch[0] = time.monotonic()
                state.shape_switches += 1
                admin.settings(error_shape="v3" if state.shape_switches % 2 else "envelope")
            if p.elapsed - last_print[0] >= 5 or p.depth.total == 0:
                last_print[0] = p.elapsed
                s = p.stats
                say(
                    f"  [{p.elapsed:6.1f}s] invocations {s.invocations:5d}  records {s.records_received:5d}  "
                    f"acknowledged {s.records_deleted:5d}  retried {s.item_failures_reported:4d}  | queue "
                    f"{p.depth.visible} visible {p.depth.in_flight} in flight {p.depth.delayed} delayed  "
                    f"| dead letters {p.depth.dead_letters}  | Alipay calls {len(tap.exchanges())}"
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
                bootstrap_module="local.chaos_env_hooks",
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
                    deadline_seconds=remaining, progress=progress, progress_interval=0.5
                )
                drives.append(drive)
                remaining -= drive.elapsed
                # The queue may drain between two progress calls: do what is still owed, go on.
                owed = pending_calls or state.rotated_at is None or not state.late_done
                if not drive.drained or not owed:
                    break
                if pending_calls:
                    feed(0)
                    continue
                if state.rotated_at is None:
                    rotate()
                    state.notes.append("rotation happened only once the first wave had drained")
                if not state.late_done:
                    send_late()
            pool_stats = pool.stats()
        moto_stats = stack.moto.stats()
        for timer in timers:
            timer.join()
        drive = drives[-1]
        say("  drained; collecting the end state")
        ddb = stack.client("dynamodb")
        snapshot = collect(sqs, ddb, admin, results_table=res.results_table, dlq_url=res.dlq_url)
        say("  publishing the outcome events still on the stream; accounting for them")
        events.finish()
        max_receive_count = stack.settings.queue.max_receive_count
        pending_faults = admin.faults()
        exchanges = tap.exchanges()
        tap.stop()
        admin.close()
    log_lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    aws_stats, failed_calls = read_events(events_path.read_text(encoding="utf-8").splitlines())

    hit_receipts = merge_receipts(receipts_hit_by_aws_faults(failed_calls), drive.stats.killed_receipts)
    redriven = crash_redriven(snapshot, hit_receipts, max_receive_count)
    redriven_keys = {m.trade_key for m in state.enqueued if m.message_id in redriven and m.trade_key}
    checks = [
        check_accounted(
            state.enqueued,
            snapshot,
            state.bad_message_ids,
            hit_receipts,
            redriven,
        ),
        check_settlements(snapshot, exchanges, plan),
        check_money(snapshot, plan),
        check_dead_letters_unsettleable(snapshot, plan),
        check_no_cancel_after_success(snapshot, exchanges),
        check_drained(drive.drained, snapshot, redriven_keys),
        check_ledger(
            snapshot,
            exchanges,
            now=time.time(),
            # The tap sees a request once its connection is made and the request sent; from then the
            # client waits for the answer's first byte at most the read timeout (requests' per-read
            # timeout): an unanswered call is over for its holder by then. (Connect + read bounds a
            # call from its start; counted from the tap it flags a duplicate that claimed the trade
            # a second after the holder gave up, a holder gone for good.)
            call_limit_seconds=read_timeout,
            crash_redriven_keys=redriven_keys,
        ),
        check_no_secrets(
            log_lines,
            snapshot,
            [
                km.app.private_pem,
                km.app.private_pkcs1_pem,
                new_app_key.private_pem,
                new_app_key.private_pkcs1_pem,
                km.alipay.private_pem,
            ],
            plan.tokens,
        ),
        check_rotation(exchanges, state.rotated_at, state.retire_at, state.probes),
        events.check(),
    ]
    stats = drive.stats
    crashes = crash_summary(stats, pool_stats.kills, tap_crashes.killed, moto_stats, pool_stats.cold_starts)
    checks += [check_robustness(stats), check_crashes(crashes, crash_rate, len(state.enqueued))]
    summary = build_summary(
        plan,
        state,
        snapshot,
        exchanges,
        pending_faults,
        aws_stats,
        checks,
        fault_rate,
        aws_fault_rate,
        ROTATION_GRACE_SECONDS,
    )
    summary["crashes"] = crashes
    summary["outcome_events"] = events.summary()
    summary["unfinished_messages"] = unfinished_messages(state.enqueued, snapshot, log_lines)
    summary["run"] = {
        "messages": len(state.enqueued),
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
        "notes": state.notes,
    }
    ok = not summary["violations_total"]
    summary["result"] = "OK" if ok else "FAILED"
    return ChaosResult(ok, summary, render(summary))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chaos run of the local pipeline (see module docstring).")
    parser.add_argument("--messages", type=int, default=2000, help="messages to send (default 2000)")
    parser.add_argument("--fault-rate", type=float, default=0.3, help="share of Alipay calls to fault (0.3)")
    parser.add_argument(
        "--aws-fault-rate", type=float, default=0.02, help="share of AWS calls to fail (0.02)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--deadline", type=float, default=1200.0, help="safety deadline for draining, seconds"
    )
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=30,
        help="queue visibility timeout for the run (template: 720)",
    )
    parser.add_argument(
        "--function-timeout", type=int, default=20, help="the function's timeout for the run (template: 120)"
    )
    parser.add_argument(
        "--crash-rate",
        type=float,
        default=0.07,
        help="share of invocations whose environment is killed at a crash point (0.07; 0: none)",
    )
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument("--log-file", type=Path, help="the function's captured log (default: a temp file)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    if args.messages < 20:
        parser.error("--messages must be at least 20")
    if not 8 <= args.function_timeout <= args.visibility_timeout:
        parser.error("need 8 <= --function-timeout <= --visibility-timeout (AWS requires the latter)")
    if not (0 <= args.fault_rate < 0.9 and 0 <= args.aws_fault_rate <= 0.5 and 0 <= args.crash_rate <= 0.2):
        parser.error(
            "--fault-rate must be in [0, 0.9), --aws-fault-rate in [0, 0.5], --crash-rate in [0, 0.2]"
        )
    result = run_chaos(
        messages=args.messages,
        fault_rate=args.fault_rate,
        aws_fault_rate=args.aws_fault_rate,
        seed=args.seed,
        deadline_seconds=args.deadline,
        visibility_timeout=args.visibility_timeout,
        function_timeout=args.function_timeout,
        crash_rate=args.crash_rate,
        quiet=args.quiet,
        log_path=args.log_file,
    )
    print(result.text)
    if args.json:
        args.json.write_text(json.dumps(result.summary, indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
