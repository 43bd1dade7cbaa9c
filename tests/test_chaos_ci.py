"""The chaos run (``make chaos``), CI-sized: a few hundred messages through the real local pipeline
(moto server subprocess, gateway emulator, ESM driver, handler) with Alipay faults of every kind on
>= 25 % of calls, AWS errors and throttling on ~2 % of the function's calls, a key rotation,
duplicates and bad messages; every invariant must hold.

Run as a subprocess, exactly as ``make chaos CHAOS_ARGS=...`` does: the handler's module state,
environment and loggers stay out of this pytest process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from local.alipay_gateway.faults import FAULT_KINDS

REPO = Path(__file__).resolve().parent.parent
MESSAGES = 250

# Known-gap allowance, now off: an AWS error on the LAST allowed receive of a message (idempotency store,
# results write) used to leave the record RETRYING and the queue's redrive moved the message to the
# dead-letter queue without a reason. The handler now dead-letters it with a reason itself
# (cancel_service.py; tests/test_handler_last_receive.py). With True, messages that did not finish AND
# whose trade had a logged AWS failure would make this test XFAIL (loudly, naming them) instead of failing.
ALLOW_KNOWN_HANDLER_GAPS = False


def _run(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "chaos.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.chaos",
            "--messages",
            str(MESSAGES),
            "--seed",
            "11",
            "--visibility-timeout",
            "15",
            "--function-timeout",
            "12",
            "--deadline",
            "200",
            "--quiet",
            "--json",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert out.exists(), (
        f"no summary written (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc, json.loads(out.read_text())


def _known(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in summary["unfinished_messages"] if m["infra_failure_logged"]]


def _unexplained(summary: dict[str, Any]) -> list[str]:
    """Violations that do not name a message/trade of the known gaps."""
    names = {m["message_id"] for m in _known(summary)}
    names |= {f"trade {m['trade_key']} " for m in _known(summary) if m["trade_key"]}
    return [
        f"[{check}] {v}"
        for check, found in summary["violations"].items()
        for v in found
        if not (ALLOW_KNOWN_HANDLER_GAPS and any(n in v for n in names))
    ]


@pytest.mark.timeout(300)
def test_chaos_run_ci_sized_holds_every_invariant(tmp_path: Path) -> None:
    proc, summary = _run(tmp_path)

    # The run really did what it claims (else a clean result would prove nothing).
    assert summary["messages"]["enqueued"] >= MESSAGES
    assert summary["messages"]["bad"] >= 30
    faults = summary["alipay_faults"]
    assert faults["faulted share"] >= 0.25
    assert set(faults["by kind"]) == FAULT_KINDS
    assert summary["aws_faults"]["faults injected"] > 0
    assert summary["duplicates"]["trades sent more than once"] > 0
    assert summary["key_rotation"]["probe cancels after the grace"]["new"] == "accepted"
    assert summary["checks"]["no SUCCEEDED without a real, verified cancel"]["SUCCEEDED records"] > 100

    unexplained = _unexplained(summary)
    assert not unexplained, "chaos violations:\n" + "\n".join(unexplained) + "\n" + proc.stdout[-6000:]
    if summary["violations_total"]:
        pytest.xfail(
            "known handler gaps after AWS failures (see ALLOW_KNOWN_HANDLER_GAPS): "
            + "; ".join(
                f"{m['trade_key']} record {m['record_status']}, dead letter {m['dead_letter']}: "
                + " / ".join(m["function_said"])
                for m in _known(summary)
            )
        )
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert summary["result"] == "OK"
