"""Every example the README, docs/ and events/ show, run as shown, doing what the text says.

- each event of events/ through `make invoke`, ending as events/README.md's table says, record by
  record; the README's `--timeout 5` example explaining its untried record; a file that is not an
  event refused in one line;
- the README's demo example, with its own DEMO_ARGS;
- the key tool and emulator commands of the README and docs/deploy.md;
- every `alipay-cancel` line of the README and docs/operations.md: parsed, and those without
  placeholders run against moto.
(`make local-stack`'s banner and the README's local-stack commands run in test_local_stack_cli.py;
`make build` in test_build_artifact.py.)
"""

from __future__ import annotations

import io
import json
import re
import shlex
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from local import invoke
from local.keygen import generate_rsa_key_pair, pem_to_bare_base64

from alipay_cancel.alipay.signing_material import load_signing_material
from tests.fixtures.ops_cli import fill_dead_letters, run
from tests.template_support import ROOT

README = (ROOT / "README.md").read_text()
EVENTS_README = (ROOT / "events" / "README.md").read_text()
DEPLOY = (ROOT / "docs" / "deploy.md").read_text()
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()


# --- events/ through make invoke ----------------------------------------------------------------------


def _expected_endings(text: str) -> list[tuple[str, str | None]]:
    """(ending, action or code) per record, from an events/README.md "expected outcome" cell."""
    endings: list[tuple[str, str | None]] = []
    for item in text.split(" / "):
        code = re.search(r"dead letter `([A-Z.]+_[A-Z_]+)`", item)
        if code:
            endings.append(("terminal", code.group(1)))
        elif "bad message" in item or "dead letter on first receipt" in item:
            endings.append(("bad_message", None))
        elif "settle flow" in item:  # settled by query and refund or close: no cancel action
            endings.append(("succeeded", None))
        elif "refund" in item:
            endings.append(("succeeded", "refund"))
        elif "close" in item:
            endings.append(("succeeded", "close"))
        else:
            raise AssertionError(f"events/README.md outcome not understood: {item!r}")
    return endings


EVENT_ROWS = [
    (name, _expected_endings(outcome))
    for name, outcome in re.findall(r"^\| `([\w-]+\.json)` \| [^|]+ \| ([^|]+) \|$", EVENTS_README, re.M)
]


def test_the_events_table_names_every_event_file() -> None:
    assert sorted(name for name, _ in EVENT_ROWS) == sorted(p.name for p in (ROOT / "events").glob("*.json"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "expected"), EVENT_ROWS, ids=[name for name, _ in EVENT_ROWS])
def test_each_event_ends_as_its_readme_says(name: str, expected: list[tuple[str, str | None]]) -> None:
    event = json.loads((ROOT / "events" / name).read_text())
    out = io.StringIO()
    invoked = invoke.invoke_event(event, out)
    assert invoked.exit_code == invoke.OK, out.getvalue()[-3000:]
    seen = []
    for record in event["Records"]:
        end = invoked.ended[record["messageId"]]
        seen.append((end.ending, end.action if end.ending == "succeeded" else end.code))
    assert seen == expected
    assert "could not set the retry delay" not in out.getvalue()


@pytest.mark.timeout(120)
def test_the_readme_short_timeout_example_explains_the_untried_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    match = re.search(r'make invoke EVENT=(\S+) INVOKE_ARGS="([^"]+)"', README)
    assert match, "README no longer shows the --timeout example"
    code = invoke.main([match.group(1), *shlex.split(match.group(2))])
    out = capsys.readouterr().out
    assert code == invoke.HANDED_BACK_EXIT
    assert "1 record(s) not tried: the function starts an Alipay call only with at least 15 s" in out
    assert "--timeout 16 or more" in out and "ReceiptHandleIsInvalid" not in out
    assert "could not set the retry delay" not in out


@pytest.mark.parametrize(
    "path", ["local/sam-local-env.json", "template.yaml", "pyproject.toml"], ids=["env", "yaml", "toml"]
)
def test_make_invoke_refuses_what_is_not_an_sqs_event_in_one_line(path: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "local.invoke", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == invoke.NOT_AN_EVENT and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert path in line and "events/cancel-by-out-trade-no.json" in line


# --- the demo's example -----------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_the_readme_demo_example_passes(tmp_path: Path) -> None:
    """The README's own options (200 messages, 30 % faults, seed 7), on whatever machine runs the tests."""
    from local.demo.run import run_demo

    match = re.search(r'make demo DEMO_ARGS="([^"]+)"', README)
    assert match
    args = dict(zip(*[iter(shlex.split(match.group(1)))] * 2, strict=True))
    out = io.StringIO()
    result = run_demo(
        messages=int(args["--messages"]),
        fault_rate=float(args["--fault-rate"]),
        seed=int(args["--seed"]),
        deadline_seconds=500,
        out=out,
        log_path=tmp_path / "function.log",
    )
    text = out.getvalue()
    assert result.ok, text[-6000:]
    assert "RESULT: OK" in text and "expected" in text.split("Messages by scenario")[1].splitlines()[1]


# --- the key tool and the emulator ---------------------------------------------------------------------


def test_the_deploy_guide_key_tool_command_makes_a_secret_the_function_loads(tmp_path: Path) -> None:
    line = next(
        line.strip()
        for line in DEPLOY.splitlines()
        if line.strip().startswith(".venv/bin/python -m local.keygen")  # the project's venv: a fresh
    )  # clone's own python may lack cryptography, and the tool loads the key with the function's code
    alipay = generate_rsa_key_pair()  # stands for the key Alipay's console shows
    (tmp_path / "alipay_public_key.txt").write_text(pem_to_bare_base64(alipay.public_pem))
    words = shlex.split(line)[1:]
    words[words.index("--out") + 1] = str(tmp_path / "out")
    words[words.index("--alipay-public-key") + 1] = str(tmp_path / "alipay_public_key.txt")
    done = subprocess.run(  # from the checkout's root, as the guide runs it
        [sys.executable, *words], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    secret = json.loads((out / "secret.json").read_text())
    assert set(secret) == {"app_id", "private_key", "alipay_public_key"}
    assert load_signing_material(secret).app_id == secret["app_id"]
    assert stat.S_IMODE((out / "secret.json").stat().st_mode) == 0o600
    assert "-----" not in (out / "app_public_key.txt").read_text()  # bare base64, as the console takes it
    wrong = tmp_path / "not-a-key.txt"
    wrong.write_text("this is not a key")
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.keygen",
            "--out",
            str(tmp_path / "x"),
            "--alipay-public-key",
            str(wrong),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "alipay_public_key" in refused.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(120)
def test_the_readme_emulator_commands_start_an_emulator(tmp_path: Path) -> None:
    keygen = re.search(r"python -m local\.keygen (--out \S+)", README)
    gateway = re.search(r'make gateway GATEWAY_ARGS="([^"]+)"', README)
    assert keygen and gateway
    keys = tmp_path / "keys"
    subprocess.run(
        [sys.executable, "-m", "local.keygen", "--out", str(keys)], cwd=ROOT, check=True, capture_output=True
    )
    port = _free_port()
    args = gateway.group(1).replace(".local-keys", str(keys)).replace("8089", str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.alipay_gateway", *shlex.split(args)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            try:
                if requests.get(f"http://127.0.0.1:{port}/__admin/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise AssertionError("the emulator did not answer")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# --- the CLI lines of the README and docs/operations.md ------------------------------------------------


def _cli_lines(text: str) -> list[str]:
    return [
        line.split("#")[0].strip() for line in text.splitlines() if line.strip().startswith("alipay-cancel ")
    ]


DOC_LINES = sorted(set(_cli_lines(README) + _cli_lines(OPERATIONS)))
# Placeholders stay parsed only; the local stack's own names run against it (test_local_stack_cli.py).
RUNNABLE = [
    line for line in DOC_LINES if not re.search(r"[\[<]|\bK\b|\bC\b|--version|--help|alipay-cancel-", line)
]


@pytest.mark.parametrize("line", DOC_LINES)
def test_every_documented_cli_line_parses(line: str) -> None:
    from alipay_cancel_ops.cli import parser

    words = [w.strip("[]") for w in shlex.split(line)[1:] if w not in ("[", "]")]
    words = ["terminal" if w == "C" else w for w in words]
    if "--version" in words or "--help" in words:
        return
    parser().parse_args(words)


@pytest.mark.parametrize("line", RUNNABLE)
def test_every_documented_cli_line_without_placeholders_runs(
    line: str, sqs: Any, queues: tuple[str, str], table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against moto, with the exports docs/operations.md describes; exit 0 (an empty answer too)."""
    fill_dead_letters(sqs, queues[1])
    stdin = io.StringIO("202510BBq7Zx9kTokenValue0001\n")  # `--app-auth-token-file -`
    argv = shlex.split(line)[1:]
    if "redrive" in argv or "discard" in argv:
        assert "--dry-run" in argv, f"{line}: a documented example that changes things should be a dry run"
    wait = ["--wait-seconds", "0"] if argv[0] in ("dead-letters", "redrive", "discard") else []
    code, out, err = run(*argv, *wait, stdin=stdin)
    assert code == 0, (line, out, err)
    assert "202510BBq7Zx9kTokenValue0001" not in out + err
