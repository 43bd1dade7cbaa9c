"""The local pipeline end to end: moto server subprocess, gateway emulator, ESM driver, handler, demo.

Real processes and real loopback HTTP throughout. Checks what a user of ``make demo`` /
``make local-stack`` would notice: every message accounted for, the summary's contents, Lambda's
batch semantics (partial failures, whole-batch failures, redrive), and no process left behind.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local.accounting import DeadLetterSeen, Enqueued, Snapshot, account
from local.alipay_gateway.admin_client import GatewayAdmin
from local.demo import run_demo
from local.demo_plan import demo_parameters
from local.esm_driver import EsmDriver, LambdaContext, redrive_is_implemented_by_moto
from local.keygen import KeyMaterial
from local.stack import LocalStack, free_port
from local.template_settings import read_template_settings

from alipay_cancel.decisions.retry_policy import RetrySchedule

REPO = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _our_moto_children() -> list[int]:
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        ours = b"moto.server" in cmdline or b"local.moto_atomic" in cmdline or b"awslambdaric" in cmdline
        if fields[1] == me and ours and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


# --- the demo, end to end -------------------------------------------------------------------------


@pytest.mark.timeout(150)
def test_demo_accounts_for_every_message_and_leaves_no_process(tmp_path: Path) -> None:
    out = io.StringIO()
    log = tmp_path / "function.log"
    result = run_demo(messages=32, fault_rate=0.1, seed=11, out=out, deadline_seconds=120, log_path=log)
    text = out.getvalue()

    assert result.drive.drained, text
    assert len(result.enqueued) == 32
    assert result.ok, text
    assert "RESULT: OK" in text and "VIOLATION" not in text and "UNEXPECTED" not in text
    assert "Accounting: 32/32 messages accounted for" in text
    assert '"function_name":"alipay-cancel-CancelFunction"' in log.read_text()  # the function's own logs

    # The summary: status and action tables, each dead letter with its reason, calls per trade, time.
    for heading in ("Results by status", "Results by action", "Dead letters (", "Cancel calls per trade"):
        assert heading in text
    assert re.search(r"elapsed \d+\.\ds", text)
    assert re.search(r"\[\s*\d+\.\ds\] invocations", text), "no progress lines"
    snapshot = result.snapshot
    assert len(snapshot.dead_letters) >= 7
    for letter in snapshot.dead_letters:
        assert letter.reason.strip()
        assert f"reason: {' '.join(letter.reason.split())[:40]}" in text

    scenarios = {m.scenario for m in result.enqueued}
    for expected in (
        "unpaid",
        "paid",
        "finished",
        "outside cancel window",
        "malformed: not JSON",
        "duplicate x3 (same batch)",
        "fault:timeout",
        "fault:bad_signature",
        "merchant balance, topped up later",
        "fault:http_5xx forever",
        "ISV merchant, out_trade_no shared with another merchant",
        "second Alipay app",
    ):
        assert expected in scenarios

    by_scenario: dict[str, list[Enqueued]] = {}
    for m in result.enqueued:
        by_scenario.setdefault(m.scenario, []).append(m)
    # Malformed messages are dead-lettered on their first receipt, body unchanged.
    bad_bodies = {m.body for s, ms in by_scenario.items() if s.startswith("malformed") for m in ms}
    dead_bodies = {d.body: d for d in snapshot.dead_letters}
    for body in bad_bodies:
        assert dead_bodies[body].attributes.get("outcome_class") == "bad_message"
        assert dead_bodies[body].attributes.get("attempts") == "1"
    # Successes really cancelled the emulator's trades; the emulator counted the calls.
    for m in by_scenario["unpaid"]:
        assert snapshot.results[m.trade_key or ""]["action"] == "close"
        assert snapshot.trades[m.trade_key or ""]["state"] == "closed"
    per_trade = snapshot.counts["per_trade"]
    parameters = demo_parameters(32)
    settings = read_template_settings(parameters=parameters)
    forever = by_scenario["fault:http_5xx forever"][0].trade_key or ""
    # Retried until the demo's horizon (or the receive limit behind it), then exhausted.
    schedule = RetrySchedule(
        horizon_seconds=int(parameters["RetryHorizonSeconds"]),
        base_seconds=int(parameters["RetryBaseSeconds"]),
        max_seconds=int(parameters["RetryMaxSeconds"]),
        slow_base_seconds=int(parameters["RetrySlowBaseSeconds"]),
        max_receive_count=int(parameters["MaxReceiveCount"]),
    )
    assert settings.queue.max_receive_count == schedule.max_receive_count
    assert per_trade[forever]["cancel_calls"] == 0
    # Retried, not given up at once. How many retries fit in the 12 s horizon depends on how fast a busy
    # machine turns deliveries round (pure tests of retry_policy pin the counts): at least one.
    assert per_trade[forever]["requests"] >= 2
    assert per_trade[forever]["requests"] <= schedule.max_receive_count
    assert snapshot.results[forever]["outcome_class"] == "exhausted"
    topped_up = by_scenario["merchant balance, topped up later"][0].trade_key or ""
    assert per_trade[topped_up]["requests"] >= 2  # refused while the balance was short, then refunded
    assert snapshot.trades[topped_up]["state"] == "refunded"
    assert f"{forever}" in text.split("Cancel calls per trade")[1]

    # Two ISV merchants' orders share one out_trade_no: two trades, two Alipay cancels, two records.
    isv = by_scenario["ISV merchant, out_trade_no shared with another merchant"]
    keys = {m.trade_key or "" for m in isv}
    assert len(isv) == 2 and len(keys) == 2 and len({k.split(" ")[-1] for k in keys}) == 1
    for key in keys:
        assert snapshot.results[key]["status"] == "SUCCEEDED"
        assert per_trade[key]["cancel_calls"] >= 1
    assert {snapshot.trades[k]["state"] for k in keys} == {"refunded", "closed"}
    # The second app's trade was cancelled at the emulator under that app (its own keys verified it).
    (second,) = by_scenario["second Alipay app"]
    assert snapshot.results[second.trade_key or ""]["action"] == "close"
    assert snapshot.trades[second.trade_key or ""]["app_id"] == "2021000000000002"

    # No process left behind: the moto server subprocess is gone, and so is any other of ours.
    assert result.moto_pid is not None and _wait_gone(result.moto_pid)
    assert _our_moto_children() == []


@pytest.mark.timeout(90)
def test_demo_that_hits_its_deadline_says_so_and_lists_what_was_in_flight(tmp_path: Path) -> None:
    """The never-recovering trade is retried for the demo's 12 s horizon: a 4 s deadline stops the
    run with it (at least) unfinished. That is reported as in flight, never as a lost message."""
    out = io.StringIO()
    result = run_demo(
        messages=30, fault_rate=0.0, seed=5, out=out, deadline_seconds=4, log_path=tmp_path / "f.log"
    )
    text = out.getvalue()
    assert not result.drive.drained and not result.ok
    assert "Deadline reached: --deadline 4s passed before the queue drained" in text
    assert "queue NOT drained: the 4s deadline was reached" in text
    assert "Still in flight at the 4s deadline" in text
    assert "fault:http_5xx forever (trade " in text.split("Still in flight")[1]
    assert "VIOLATION" not in text and "unaccounted" not in text
    assert "RESULT: INCOMPLETE: stopped at the deadline" in text and "not lost" in text


# --- the accounting rules, without a run ------------------------------------------------------------


def test_accounting_of_a_run_stopped_early_counts_unfinished_messages_as_in_flight() -> None:
    msgs = [
        Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid"),
        Enqueued("m2", '{"out_trade_no":"B"}', "B", "slow"),
        Enqueued("m3", '{"out_trade_no":"C"}', "C", "slow"),
    ]
    snap = _snapshot(
        results={
            "A": {"trade_key": "A", "status": "SUCCEEDED", "action": "close"},
            "B": {"trade_key": "B", "status": "RETRYING", "outcome_class": "retry", "error_code": "20000"},
        },
        trades={"A": {"key": "A", "state": "closed"}},
    )
    acc = account(msgs, snap, still_queued=2)
    assert acc.ok and acc.violations == []
    assert [o.message.message_id for o in acc.in_flight] == ["m2", "m3"]
    # Fewer messages on the queue than unfinished: some are really missing.
    short = account(msgs, snap, still_queued=1)
    assert short.violations == [
        "2 messages did not finish but only 1 are still on the queue: at least 1 missing"
    ]


def _snapshot(**kw: Any) -> Snapshot:
    base: dict[str, Any] = {"results": {}, "dead_letters": [], "trades": {}, "counts": {}}
    base.update(kw)
    return Snapshot(**base)


def test_accounting_flags_unaccounted_unreasoned_retrying_and_false_success() -> None:
    msgs = [
        Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid"),
        Enqueued("m2", '{"out_trade_no":"B"}', "B", "unpaid"),
        Enqueued("m3", "garbage", None, "malformed"),
        Enqueued("m4", '{"out_trade_no":"C"}', "C", "unpaid"),
    ]
    snap = _snapshot(
        results={
            "A": {"trade_key": "A", "status": "SUCCEEDED", "action": "close"},
            "B": {"trade_key": "B", "status": "RETRYING", "outcome_class": "retry"},
        },
        dead_letters=[
            DeadLetterSeen("d1", "garbage", {"source_message_id": "m3", "reason": ""}),
            DeadLetterSeen("d2", "not what was sent", {"source_message_id": "zz", "reason": "x"}),
        ],
        trades={"A": {"key": "A", "state": "unpaid"}},
    )
    acc = account(msgs, snap)
    text = "\n".join(acc.violations)
    assert not acc.ok
    assert "m2" in text and "B is still RETRYING" in text
    assert "m3" in text and "d1 has no reason" in text
    assert "m4" in text  # no record, no dead letter
    assert "d2 body is not an enqueued body" in text
    assert "trade A recorded SUCCEEDED (close) but the emulator has it unpaid" in text


def test_accounting_accepts_records_dead_letters_and_queue_redrive_ids() -> None:
    msgs = [
        Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid", frozenset({"SUCCEEDED/close"})),
        Enqueued("m2", '{"out_trade_no":"A"}', "A", "duplicate", frozenset({"SUCCEEDED/close"})),
        Enqueued("m3", "garbage", None, "malformed", frozenset({"DEAD/bad_message"})),
        Enqueued("m4", '{"out_trade_no":"F"}', "F", "finished", frozenset({"FAILED/ACQ.TRADE_HAS_FINISHED"})),
        Enqueued("m5", '{"out_trade_no":"R"}', "R", "redriven"),
    ]
    snap = _snapshot(
        results={
            "A": {"trade_key": "A", "status": "SUCCEEDED", "action": "close"},
            "F": {
                "trade_key": "F",
                "status": "FAILED",
                "outcome_class": "terminal",
                "error_code": "40004",
                "error_sub_code": "ACQ.TRADE_HAS_FINISHED",
            },
        },
        dead_letters=[
            DeadLetterSeen(
                "d1", "garbage", {"source_message_id": "m3", "reason": "bad", "outcome_class": "bad_message"}
            ),
            # moved by the queue's own redrive: same message id, and here a reason attribute of its own
            DeadLetterSeen("m5", '{"out_trade_no":"R"}', {"reason": "redriven by hand with a reason"}),
        ],
        trades={"A": {"key": "A", "state": "closed"}},
    )
    acc = account(msgs, snap)
    assert acc.violations == [] and acc.surprises == []
    assert [o.label for o in acc.outcomes] == [
        "SUCCEEDED/close",
        "SUCCEEDED/close",
        "DEAD/bad_message",
        "FAILED/ACQ.TRADE_HAS_FINISHED",
        "DEAD/redriven",
    ]
    wrong = [Enqueued("m1", '{"out_trade_no":"A"}', "A", "paid", frozenset({"SUCCEEDED/refund"}))]
    assert account(wrong, snap).surprises == [
        "paid (trade A): ended SUCCEEDED/close, expected SUCCEEDED/refund"
    ]


# --- the ESM driver's Lambda semantics, with scripted handlers ----------------------------------------


@pytest.fixture
def clean(key_material: KeyMaterial) -> Iterator[LocalStack]:
    """A fresh stack per test: in-flight messages cannot be cleared (and SQS allows one purge a minute)."""
    with LocalStack(key_material=key_material) as s:
        yield s


def _send(stack: LocalStack, bodies: list[str]) -> list[str]:
    sqs = stack.client("sqs")
    ids = []
    for body in bodies:
        ids.append(
            sqs.send_message(
                QueueUrl=stack.resources.queue_url,
                MessageBody=body,
                MessageAttributes={"producer": {"DataType": "String", "StringValue": "tests"}},
            )["MessageId"]
        )
    return ids


def test_moto_still_redrives_on_receive() -> None:
    assert redrive_is_implemented_by_moto()


def test_partial_failures_are_retried_then_redriven_and_the_rest_deleted(clean: LocalStack) -> None:
    stack = clean
    settings = stack.settings
    ids = _send(stack, [json.dumps({"n": i}) for i in range(12)] + ["FAIL"])
    events: list[dict[str, Any]] = []
    contexts: list[LambdaContext] = []
    sqs = stack.client("sqs")

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        events.append(event)
        contexts.append(context)
        failures = []
        for r in event["Records"]:
            if r["body"] == "FAIL":  # like the real handler: it sets the retry delay itself
                sqs.change_message_visibility(
                    QueueUrl=stack.resources.queue_url, ReceiptHandle=r["receiptHandle"], VisibilityTimeout=0
                )
                failures.append({"itemIdentifier": r["messageId"]})
        return {"batchItemFailures": failures}

    result = stack.driver(handler).run_until_drained(deadline_seconds=30)
    assert result.drained
    stats = result.stats
    assert stats.records_deleted == 12
    assert stats.item_failures_reported == settings.queue.max_receive_count
    assert stats.receive_counts[ids[-1]] == settings.queue.max_receive_count
    assert stats.max_batch <= settings.event_source.batch_size
    # moto's redrive moved it on the receive after the last one, id and body unchanged
    dlq = sqs.receive_message(QueueUrl=stack.resources.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in dlq] == [(ids[-1], "FAIL")]

    record = events[0]["Records"][0]
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == stack.resources.queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    } <= set(record["attributes"])
    assert record["messageAttributes"]["producer"] == {
        "stringValue": "tests",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    ctx = contexts[0]
    assert ctx.memory_limit_in_mb == settings.function.memory_size
    assert ctx.invoked_function_arn.endswith(":function:" + stack.resources.function_name)
    assert 0 < ctx.get_remaining_time_in_millis() <= settings.function.timeout * 1000


@pytest.mark.parametrize(
    "behaviour",
    ["raises", "unknown item", "empty item id"],
)
def test_whole_batch_stays_when_the_handler_errors_or_answers_invalidly(
    clean: LocalStack, behaviour: str
) -> None:
    stack = clean
    _send(stack, ["a", "b", "c"])

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if behaviour == "raises":
            raise RuntimeError("boom")
        ident = "not-in-this-batch" if behaviour == "unknown item" else ""
        return {"batchItemFailures": [{"itemIdentifier": ident}]}

    driver: EsmDriver = stack.driver(handler)
    result = driver.run_until_drained(deadline_seconds=1.5)
    assert not result.drained
    assert result.stats.records_deleted == 0
    assert result.stats.records_received == 3
    assert result.depth.in_flight == 3  # back only after the queue's visibility timeout, as on AWS
    if behaviour == "raises":
        assert result.stats.handler_errors >= 1
    else:
        assert result.stats.invalid_responses >= 1


def test_empty_or_null_response_is_full_success(clean: LocalStack) -> None:
    stack = clean
    _send(stack, ["x", "y"])
    result = stack.driver(lambda event, context: None).run_until_drained(deadline_seconds=10)
    assert result.drained and result.stats.records_deleted == 2


# --- make local-stack -----------------------------------------------------------------------------


def _start_cli(moto_port: int, gateway_port: int, state: Path) -> tuple[subprocess.Popen[str], str, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.stack_cli",
            "--moto-port",
            str(moto_port),
            "--gateway-port",
            str(gateway_port),
            "--state-dir",
            str(state),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}"},
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("(seeded"):
            break
    text = "".join(lines)
    found = re.search(r"pid (\d+)", text)
    assert found, text
    return proc, text, int(found.group(1))


def _banner_commands(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The variables the banner exports, and (comment, enqueue, result) for each example it lists."""
    env: dict[str, str] = {}
    examples = []
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("export "):
            env.update(pair.split("=", 1) for pair in line.split()[1:])
        if line.startswith("# ") and i + 2 < len(lines) and lines[i + 1].startswith("alipay-cancel enqueue"):
            examples.append((line, lines[i + 1], lines[i + 2]))
    return env, examples


def _lines_after_banner(proc: subprocess.Popen[str]) -> list[str]:
    """The stack's later output, collected as it comes."""
    collected: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        collected.extend(iter(proc.stdout.readline, ""))

    threading.Thread(target=read, daemon=True).start()
    return collected


@pytest.mark.timeout(180)
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_local_stack_cli_serves_until_stopped_and_leaves_no_orphan(
    how: signal.Signals, tmp_path: Path
) -> None:
    moto_port, gateway_port = free_port(), free_port()
    proc, text, moto_pid = _start_cli(moto_port, gateway_port, tmp_path)
    later = _lines_after_banner(proc)
    try:
        assert "sam local invoke CancelFunction -e events/" in text
        assert "--env-vars local/sam-local-env.json --docker-network host" in text
        assert f"http://127.0.0.1:{moto_port}" in text and f"http://127.0.0.1:{gateway_port}" in text
        assert "Alipay apps:      2021000000000001 (default), 2021000000000002" in text
        admin = GatewayAdmin(f"http://127.0.0.1:{gateway_port}")
        assert admin.trade("DEMO-UNPAID-0001")["state"] == "unpaid"  # the events' trades are seeded
        admin.close()
        # What the banner says to paste works as pasted: each kind of caller ends in its own result.
        env, examples = _banner_commands(text)
        assert {"AWS_ENDPOINT_URL", "CANCEL_QUEUE_URL", "RESULTS_TABLE_NAME"} <= set(env)
        assert len(examples) == 4 and sum("--app-auth-token-file" in e for _, e, _ in examples) == 2
        assert "202601BB" not in text  # the tokens are in files, never on screen
        bin_dir = str(Path(sys.executable).parent)
        shell_env = {**os.environ, **env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}

        def sh(command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                shlex.split(command), env=shell_env, capture_output=True, text=True, check=False
            )

        tried = examples if how == signal.SIGINT else examples[:1]
        for _, enqueue, _ in tried:
            assert sh(enqueue).returncode == 0, enqueue
        for comment, _, result in tried:
            shown: dict[str, Any] | None = None
            for _ in range(240):  # until the result is there (the first invocation cold-starts)
                shown = json.loads(sh(result + " --json").stdout or "null")
                if shown and shown.get("status") == "SUCCEEDED":
                    break
                time.sleep(0.5)
            assert shown and shown["status"] == "SUCCEEDED", (comment, shown)
            assert shown["action"] == ("refund" if "paid: refunded" in comment else "close"), comment
        sent = len(tried)
        if how == signal.SIGINT:  # the README's own commands for the local stack, on this stack's port
            readme = (REPO / "README.md").read_text()
            block = readme.split("make local-stack               # terminal 1")[1].split("```")[0]
            for line in (line for line in block.splitlines() if line.startswith("alipay-cancel ")):
                command, _, comment = line.replace(":4566/", f":{moto_port}/").partition("#")
                done = sh(command)
                assert done.returncode == 0, (line, done.stderr)
                assert all(word.strip(",") in done.stdout for word in comment.split()), (line, done.stdout)
                sent += " enqueue " in line
        # One line per message as it ended, with its trade key.
        ended = [line for line in later if "cancel succeeded" in line]
        for _ in range(80):
            if len(ended) >= sent:
                break
            time.sleep(0.25)
            ended = [line for line in later if "cancel succeeded" in line]
        assert len(ended) == sent, later
        assert (
            any("merchant:2088000000000002 ISV-ORDER-0001 SUCCEEDED" in line for line in ended)
            or how != signal.SIGINT
        )
        proc.send_signal(how)  # Ctrl-C, or the parent killed outright
        proc.wait(timeout=20)
        assert _wait_gone(moto_pid), "moto server outlived `python -m local.stack_cli`"
        if how == signal.SIGINT:
            time.sleep(0.2)
            tail = [line for line in later if line.strip() and "cancel succeeded" not in line]
            assert proc.returncode == 0 and len(tail) == 1 and tail[0].startswith("stopped ("), later
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if _alive(moto_pid):
            os.kill(moto_pid, signal.SIGKILL)
        log = re.search(r"log (/\S+moto-server-\S+\.log)", text)
        if log:  # a SIGKILLed parent cannot remove its temp log
            Path(log.group(1)).unlink(missing_ok=True)


def test_a_second_local_stack_on_a_busy_port_says_which_option_to_change(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for option, other in (("--moto-port", "--gateway-port"), ("--gateway-port", "--moto-port")):
            done = subprocess.run(
                [sys.executable, "-m", "local.stack_cli", option, str(port), other, str(free_port())],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}"},
                check=False,
            )
            assert done.returncode == 2 and done.stdout == ""
            (line,) = done.stderr.splitlines()  # one line, no traceback
            assert f"127.0.0.1:{port} is in use" in line and f'STACK_ARGS="{option} {port + 1}"' in line


def test_resources_are_created_with_the_templates_settings(clean: LocalStack) -> None:
    stack, settings = clean, clean.settings
    sqs, ddb = stack.client("sqs"), stack.client("dynamodb")
    attrs = sqs.get_queue_attributes(QueueUrl=stack.resources.queue_url, AttributeNames=["All"])["Attributes"]
    assert int(attrs["VisibilityTimeout"]) == settings.queue.visibility_timeout
    assert int(attrs["MessageRetentionPeriod"]) == settings.queue.message_retention_period
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.resources.dlq_arn,
        "maxReceiveCount": settings.queue.max_receive_count,
    }
    dlq = sqs.get_queue_attributes(QueueUrl=stack.resources.dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(dlq["MessageRetentionPeriod"]) == settings.dead_letter_queue.message_retention_period
    for name, table in (
        (stack.resources.results_table, settings.results_table),
        (stack.resources.idempotency_table, settings.idempotency_table),
    ):
        described = ddb.describe_table(TableName=name)["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in described["KeySchema"]] == list(table.key_schema)
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == table.ttl_attribute
    secret = json.loads(
        stack.client("secretsmanager").get_secret_value(SecretId=stack.resources.secret_id)["SecretString"]
    )
    assert set(secret) == {"app_id", "private_key", "alipay_public_key"}
    env = stack.lambda_env
    assert env["MAX_RECEIVE_COUNT"] == str(settings.queue.max_receive_count)
    assert env["CANCEL_QUEUE_URL"] == stack.resources.queue_url
    assert env["ALIPAY_ENDPOINT"] == stack.gateway_url and env["AWS_ENDPOINT_URL"] == stack.moto_url
    # the same names as the sam local env file (which points at the default ports)
    local_env = json.loads((REPO / "local" / "sam-local-env.json").read_text())["CancelFunction"]
    for name in ("ALIPAY_SECRET_ID", "RESULTS_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME"):
        assert local_env[name] == env[name]
    for name in ("CANCEL_QUEUE_URL", "DEAD_LETTER_QUEUE_URL"):
        assert local_env[name].rsplit("/", 2)[1:] == env[name].rsplit("/", 2)[1:]


# --- the demo's plan: what --seed fixes, and what an outcome is expected to be --------------------


def test_the_seed_fixes_the_trades_the_faults_and_the_order() -> None:
    from local.demo_plan import build_plan

    first, again, other = build_plan(200, 7, 0.3), build_plan(200, 7, 0.3), build_plan(200, 8, 0.3)
    assert first == again
    assert [m.trade_key for m in first.messages] != [m.trade_key for m in other.messages]
    assert first.faults != other.faults
    faulted = [m for m in first.messages if m.faulted_calls]
    assert faulted and all(" " not in (m.trade_key or "") for m in faulted)  # never a scoped trade
    per_trade = Counter(
        str(f["trade"]) for f in first.faults if f["times"] == 1 and f["kind"] != "business_error"
    )
    for m in faulted:
        assert per_trade[m.trade_key or ""] >= m.faulted_calls


def test_the_retry_horizon_grows_with_the_backlog_and_the_receive_count_with_it() -> None:
    from alipay_cancel.decisions.retry_policy import receives_within_horizon

    small, large = demo_parameters(40), demo_parameters(200)
    assert int(small["RetryHorizonSeconds"]) == 12 and int(large["RetryHorizonSeconds"]) >= 60
    for parameters in (small, large):
        schedule = RetrySchedule(
            horizon_seconds=int(parameters["RetryHorizonSeconds"]),
            base_seconds=int(parameters["RetryBaseSeconds"]),
            max_seconds=int(parameters["RetryMaxSeconds"]),
            slow_base_seconds=int(parameters["RetrySlowBaseSeconds"]),
            max_receive_count=int(parameters["MaxReceiveCount"]),
        )
        assert int(parameters["MaxReceiveCount"]) == receives_within_horizon(schedule)


def test_running_out_of_retries_is_expected_only_when_planned_faults_met_every_call() -> None:
    exhausted = {"trade_key": "A", "status": "FAILED", "outcome_class": "exhausted"}
    msgs = [Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid", frozenset({"SUCCEEDED/close"}), 3)]
    for requests, expected in ((2, True), (3, True), (4, False)):
        snap = _snapshot(results={"A": exhausted}, counts={"per_trade": {"A": {"requests": requests}}})
        acc = account(msgs, snap)
        assert acc.ok is expected, requests
        assert acc.outcomes[0].why == (f"faults on all {requests} of its calls" if expected else "")
    unfaulted = [Enqueued("m1", '{"out_trade_no":"A"}', "A", "unpaid", frozenset({"SUCCEEDED/close"}), 0)]
    snap = _snapshot(results={"A": exhausted}, counts={"per_trade": {"A": {"requests": 1}}})
    assert account(unfaulted, snap).surprises  # no fault planned: running out is a surprise


def _demo(tmp: Path, *args: str) -> subprocess.Popen[str]:
    """`python -m local.demo` with its temporary files confined to ``tmp`` (TMPDIR), to see what is left."""
    tmp.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "local.demo", "--log-file", str(tmp.parent / "function.log"), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}"},
    )


@pytest.mark.timeout(150)
def test_a_demo_leaves_no_temporary_folder_behind(tmp_path: Path) -> None:
    proc = _demo(tmp_path / "tmp", "--messages", "8", "--fault-rate", "0")
    out, err = proc.communicate(timeout=140)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "RESULT: OK" in out
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.timeout(150)
def test_ctrl_c_stops_the_demo_with_one_line(tmp_path: Path) -> None:
    proc = _demo(tmp_path / "tmp", "--messages", "30", "--fault-rate", "0")
    assert proc.stdout is not None
    moto_pid = None
    for line in iter(proc.stdout.readline, ""):
        found = re.search(r"\(pid (\d+)\)", line)
        moto_pid = int(found.group(1)) if found else moto_pid
        if line.startswith("[") and "invocations" in line:  # the pipeline is running
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert [line for line in err.splitlines() if line.strip()] == [
        "demo interrupted; the local stack and the function's environments are stopped"
    ]
    assert moto_pid is not None and _wait_gone(moto_pid)
    assert _our_moto_children() == []
    assert list((tmp_path / "tmp").iterdir()) == []
