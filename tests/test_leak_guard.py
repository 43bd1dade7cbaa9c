"""The session-wide log guard really fails a run, and tokens/keys stay out of every log line."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

from alipay_cancel.observability import logger
from tests.fixtures.aws import (
    LeakGuard,
    Pipeline,
    PowertoolsLines,
    cancel_body,
    install_guard,
    uninstall_guard,
)

ROOT = Path(__file__).resolve().parents[1]


def test_guard_finds_a_planted_token_and_a_planted_key_line() -> None:
    guard = LeakGuard()
    token = "planted-" + secrets.token_hex(16)
    body_line = secrets.token_urlsafe(48)[:64]
    guard.watch(token)
    guard.watch(f"-----BEGIN TEST KEY-----\n{body_line}\n-----END TEST KEY-----\n")
    installed = install_guard(guard)
    try:
        logger.info("harmless line")
        assert guard.find_leaks() == []
        logger.info("oops", extra={"detail": {"nested": [token]}})
        logging_leak = guard.find_leaks()
        logger.warning(f"key material: {body_line}")
    finally:
        uninstall_guard(installed)
    # (each line is seen twice: the Powertools stream tee, and the root handler it propagates to)
    assert len(logging_leak) >= 1
    assert len(guard.find_leaks()) > len(logging_leak)
    assert token not in "".join(guard.find_leaks())  # the report never repeats the secret


def _run_session(tmp_path: Path, test_source: str) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_planted.py"
    test_file.write_text(textwrap.dedent(test_source))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.fixtures.aws",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(ROOT),
            "-p",
            "no:cacheprovider",
            str(test_file),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_session_guard_fails_the_run_on_a_planted_leak_and_passes_without(tmp_path: Path) -> None:
    leaking = _run_session(
        tmp_path,
        """
        def test_leaks(leak_guard):
            leak_guard.watch("app-auth-token-PLANTED-0123456789")
            from alipay_cancel.observability import logger
            logger.info("calling with app-auth-token-PLANTED-0123456789")
        """,
    )
    assert leaking.returncode != 0, leaking.stdout
    assert "key material or tokens reached the logs" in leaking.stdout

    clean = _run_session(
        tmp_path,
        """
        def test_clean(leak_guard):
            leak_guard.watch("app-auth-token-PLANTED-0123456789")
            from alipay_cancel.observability import logger
            logger.info("calling with a masked token")
        """,
    )
    assert clean.returncode == 0, clean.stdout


def test_app_auth_token_reaches_alipay_but_no_log_line_or_dead_letter_attribute(
    pipeline: Pipeline, powertools_lines: PowertoolsLines, leak_guard: LeakGuard
) -> None:
    good, bad = "tok-good-" + secrets.token_hex(12), "tok-bad-" + secrets.token_hex(12)
    leak_guard.watch(good)
    leak_guard.watch(bad)
    admin = pipeline.gateway.admin
    admin.settings(app_auth_tokens=[good])
    admin.set_token(good, user_id="2088A")  # Alipay knows whose it is; the bad one it never issued
    admin.seed_trade("TOK-1", state="unpaid", merchant_id="2088A")
    admin.seed_trade("TOK-2", state="unpaid")
    pipeline.aws.send(cancel_body("TOK-1", app_auth_token=good, merchant_id="2088A"))
    pipeline.aws.send(cancel_body("TOK-2", app_auth_token=bad, merchant_id="2088B"))
    _, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    closed = pipeline.aws.result("merchant:2088A TOK-1")
    assert closed is not None and closed["status"] == "CLOSED" and good not in json.dumps(closed)
    # The bad token's merchant could not be confirmed: the token ending, and nothing recorded.
    assert pipeline.aws.result("merchant:2088B TOK-2") is None
    [letter] = pipeline.aws.dead_letters()
    assert letter["attributes"]["outcome_class"] == "terminal"
    assert bad in letter["body"]  # the body is kept byte for byte so a redrive replays it
    assert bad not in json.dumps(letter["attributes"])
    text = "\n".join(powertools_lines.lines)
    assert "TOK-2" in text and good not in text and bad not in text
