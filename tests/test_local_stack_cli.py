"""``make local-stack`` (``python -m local.stack``): the banner's commands work as pasted for every kind
of caller and for a scheduled cancel, each message prints one line as it ends and each outcome event
one line as it arrives, a due schedule fires into the pipeline, the order system's queue holds the
events for the reader, Ctrl-C ends with one line and nothing is left running, a busy port is said in
one line."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from local.alipay_gateway.admin_client import GatewayAdmin
from local.aws.provision import aws_client
from local.stack.local_stack import free_port

from tests.process_support import PYTHONPATH, REPO, alive, wait_gone
from tests.waiting import wait_for

# --- make local-stack -----------------------------------------------------------------------------


def _start_cli(moto_port: int, gateway_port: int, state: Path) -> tuple[subprocess.Popen[str], str, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.stack",
            "--moto-port",
            str(moto_port),
            "--gateway-port",
            str(gateway_port),
            "--state-dir",
            str(state),
            # A cancel scheduled 16 minutes out (the shortest the CLI takes) fires 5 s later.
            "--scheduler-clock-ahead",
            "955s",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
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


def _ends_a_message(line: str) -> bool:
    """A terminal line saying a message ended settled: settled now, or a duplicate of a settled trade."""
    return "trade settled" in line or "trade already settled" in line


EVENT_LINE = re.compile(
    r"^\d\d:\d\d:\d\d  event +(?P<trade>.+) (?P<state>[A-Z_]+): Trade .+ event_id [0-9a-f]{32}$"
)
FIRED_LINE = re.compile(r"^\d\d:\d\d:\d\d  schedule fired +(?P<name>cancel-\S+): cancel message \S+ sent")


def _event_lines(lines: list[str]) -> list[re.Match[str]]:
    return [m for m in (EVENT_LINE.match(line.rstrip("\n")) for line in lines) if m]


def _order_events(text: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """The order system's queue, read with the banner's AWS CLI command (or, without the AWS CLI
    here, the same call through boto3)."""
    (line,) = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("aws --endpoint-url")]
    words = shlex.split(line)
    aws = shutil.which("aws")
    done = None
    if aws is not None:
        done = subprocess.run([aws, *words[1:]], env=env, capture_output=True, text=True, check=False)
    if done is not None and done.returncode == 0:
        messages = json.loads(done.stdout or "{}").get("Messages", [])
    else:
        sqs = aws_client("sqs", words[words.index("--endpoint-url") + 1])
        queue = words[words.index("--queue-url") + 1]
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


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
            settled = "REFUNDED" if "paid: refunded" in comment else "CLOSED"
            for _ in range(240):  # until the result is there (the first invocation cold-starts)
                shown = json.loads(sh(result + " --json").stdout or "null")
                if shown and shown.get("status") == settled:
                    break
                time.sleep(0.5)
            assert shown and shown["status"] == settled, (comment, shown)
            assert shown["action"] == ("refund" if settled == "REFUNDED" else "close"), comment
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
            # The banner's scheduled cancel: it fires (the stack's scheduler clock runs ahead), goes
            # through the pipeline, deletes itself; unscheduling it afterwards finds nothing.
            schedule, unschedule = (
                next(
                    ln.strip() for ln in text.splitlines() if ln.strip().startswith(f"alipay-cancel {verb} ")
                )
                for verb in ("schedule", "unschedule")
            )
            assert sh(schedule).returncode == 0, schedule
            sent += 1
            wait_for(
                lambda: any(FIRED_LINE.match(line) for line in later),
                "the schedule to fire",
                seconds=60,
                poll=0.25,
            )
            (fired,) = [m for m in (FIRED_LINE.match(line) for line in later) if m]
            assert fired.group("name").startswith("cancel-DEMO-SCHEDULED-0001-")
        # One line per message as it ended, with its trade key (the README's DEMO-UNPAID-0001 repeats the
        # banner's first example: the ledger says that trade is already settled, and calls nothing).
        ended = [line for line in later if _ends_a_message(line)]
        for _ in range(80):
            if len(ended) >= sent:
                break
            time.sleep(0.25)
            ended = [line for line in later if _ends_a_message(line)]
        assert len(ended) == sent, later
        assert (
            any("merchant:2088000000000002 ISV-ORDER-0001 CLOSED" in line for line in ended)
            or how != signal.SIGINT
        )
        # One event line per trade that ended (a repeat of a settled trade writes and announces nothing).
        settled = len(tried) + (1 if how == signal.SIGINT else 0)
        wait_for(
            lambda: len(_event_lines(later)) >= settled,
            "an event line per settled trade",
            seconds=60,
            poll=0.25,
        )
        events = _event_lines(later)
        assert len(events) == settled == len({m.group("trade") for m in events}), later
        if how == signal.SIGINT:
            assert ("DEMO-SCHEDULED-0001", "CLOSED") in {(m.group("trade"), m.group("state")) for m in events}
            gone = sh(unschedule)  # it ran and deleted itself: nothing left to delete
            assert gone.returncode == 0 and "it already ran, or never existed" in gone.stdout, gone
            received = _order_events(text, shell_env)
            assert sorted(e["detail"]["trade_key"] for e in received) == sorted(
                m.group("trade") for m in events
            )
        proc.send_signal(how)  # Ctrl-C, or the parent killed outright
        proc.wait(timeout=20)
        assert wait_gone(moto_pid), "moto server outlived `python -m local.stack`"
        if how == signal.SIGINT:
            time.sleep(0.2)
            tail = [
                line
                for line in later
                if line.strip()
                and not (_ends_a_message(line) or EVENT_LINE.match(line) or FIRED_LINE.match(line))
            ]
            assert proc.returncode == 0 and len(tail) == 1 and tail[0].startswith("stopped ("), later
            assert f"; {settled} outcome events (0 repeats), 1 schedules fired)." in tail[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if alive(moto_pid):
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
                [sys.executable, "-m", "local.stack", option, str(port), other, str(free_port())],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "PYTHONPATH": PYTHONPATH},
                check=False,
            )
            assert done.returncode == 2 and done.stdout == ""
            (line,) = done.stderr.splitlines()  # one line, no traceback
            assert f"127.0.0.1:{port} is in use" in line and f'STACK_ARGS="{option} {port + 1}"' in line
