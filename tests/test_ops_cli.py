"""The alipay-cancel CLI against a real moto server subprocess on 127.0.0.1 (a free port), like the local
stack."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import Ending
from alipay_cancel.stores.dead_letters import DeadLetterSender
from alipay_cancel_ops.masking import mask_token
from tests.fixtures.ops_cli import (
    BODY_BAD,
    BODY_SLOW,
    BODY_TERMINAL,
    REGION,
    TOKEN,
    Terminal,
    counts,
    fill_dead_letters,
    receive_all,
    run,
    send_earlier_release_letter,
)

# ------------------------------------------------------------------------------------------ enqueue


def test_enqueue_sends_a_message_the_lambda_accepts(sqs: Any, queues: tuple[str, str]) -> None:
    cancel, _ = queues
    code, out, err = run("enqueue", "--out-trade-no", "20150320010101001", "--trade-no", "2014112611001")
    assert (code, err) == (0, "")
    assert "trade_key=20150320010101001" in out
    [message] = receive_all(sqs, cancel)
    assert json.loads(message["Body"]) == {"out_trade_no": "20150320010101001", "trade_no": "2014112611001"}
    assert f"message_id={message['MessageId']}" in out


def test_enqueue_with_token_never_prints_it(sqs: Any, queues: tuple[str, str], tmp_path: Path) -> None:
    cancel, _ = queues
    code, out, _ = run("enqueue", "--trade-no", "t-1", "--merchant-id", "2088A", "--app-auth-token", TOKEN)
    assert code == 0 and TOKEN not in out and "***" in out
    assert "trade_key=merchant:2088A t-1" in out
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    code, out, _ = run(
        "enqueue", "--trade-no", "t-2", "--merchant-id", "2088B", "--app-auth-token-file", str(token_file)
    )
    assert code == 0 and TOKEN not in out
    bodies = sorted((json.loads(m["Body"]) for m in receive_all(sqs, cancel)), key=lambda b: b["trade_no"])
    assert bodies == [
        {"trade_no": "t-1", "merchant_id": "2088A", "app_auth_token": TOKEN},
        {"trade_no": "t-2", "merchant_id": "2088B", "app_auth_token": TOKEN},
    ]


def test_enqueue_for_another_app_and_the_default_app(sqs: Any, queues: tuple[str, str]) -> None:
    code, out, _ = run("enqueue", "--out-trade-no", "o-1", "--app-id", "2021000000000002")
    assert code == 0 and "trade_key=app:2021000000000002 o-1" in out
    code, out, _ = run(
        "enqueue",
        "--out-trade-no",
        "o-1",
        "--app-id",
        "2021000000000001",
        "--default-app-id",
        "2021000000000001",
    )
    assert code == 0 and "trade_key=o-1 " in out  # naming the default app: the same trade as naming none


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ((), "neither out_trade_no nor trade_no"),
        (("--out-trade-no", "has space"), "out_trade_no contains U+0020"),
        (("--trade-no", "x" * 65), "at most 64"),
        (("--trade-no", "t", "--merchant-id", "m", "--app-auth-token", "bad token"), "app_auth_token"),
        (("--trade-no", "t", "--app-auth-token", "tok"), "without merchant_id"),
        (("--trade-no", "t", "--app-id", "no/such app"), "app_id must be"),
    ],
)
def test_enqueue_refuses_what_the_lambda_would_dead_letter(
    sqs: Any, queues: tuple[str, str], argv: tuple[str, ...], fragment: str
) -> None:
    code, out, err = run("enqueue", *argv)
    assert code == 2 and fragment in err and out == ""
    assert "bad token" not in err
    assert receive_all(sqs, queues[0]) == []


def test_enqueue_without_queue_names_the_variable(aws_env: str) -> None:
    code, _, err = run("enqueue", "--trade-no", "t")
    assert code == 2 and "--queue-url" in err and "CANCEL_QUEUE_URL" in err


def test_flags_win_over_environment_and_work_after_the_command(
    sqs: Any, queues: tuple[str, str], moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = sqs.create_queue(QueueName=f"other-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: the flag must win
    code, _, err = run(
        "enqueue",
        "--endpoint-url",
        moto_url,
        "--region",
        REGION,
        "--queue-url",
        other,
        "--trade-no",
        "t-flag",
    )
    assert (code, err) == (0, "")
    assert [json.loads(m["Body"]) for m in receive_all(sqs, other)] == [{"trade_no": "t-flag"}]
    assert receive_all(sqs, queues[0]) == []


# ------------------------------------------------------------------------------------------ result


def test_result_prints_the_record_readably(table: str) -> None:
    code, out, _ = run("result", "o-77")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["trade_key", "o-77"]
    assert lines[1].split() == ["status", "FAILED"]
    assert any(line.split() == ["attempts", "3"] for line in lines)
    assert "ACQ.TRADE_CANCEL_TIME_OUT" in out
    assert "\x1b" not in out  # stored text cannot drive the terminal


def test_result_shows_the_ledgers_calls_lease_pending_and_history(table: str, aws_env: str) -> None:
    """One strongly consistent read answers "what happened to this trade": every call, the one in
    flight, and whether its holder is gone (then its answer is unknown and the next delivery resumes)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws_env)

    def call(at: str, result: str, **more: str) -> dict[str, Any]:
        return {
            "M": {
                k: {"S": v}
                for k, v in {"op": "cancel", "at": at, "delivery": "m1", "result": result, **more}.items()
            }
        }

    dynamodb.put_item(
        TableName=table,
        Item={
            "trade_key": {"S": "o-78"},
            "status": {"S": "RETRYING"},
            "attempts": {"N": "4"},
            "lease_holder": {"S": "req-9:m2"},
            "lease_until": {"N": "1000"},  # long past: its holder is gone
            "pending": {
                "M": {"op": {"S": "cancel"}, "at": {"S": "2027-01-01T00:00:03.000Z"}, "delivery": {"S": "m2"}}
            },
            "history": {
                "L": [
                    call("2027-01-01T00:00:01.000Z", "error", code="20000"),
                    call("2027-01-01T00:00:02.000Z", "unknown"),
                ]
            },
            "history_dropped": {"N": "1"},
        },
    )
    code, out, _ = run("result", "o-78")
    assert code == 0
    assert "held by req-9:m2 until 1970-01-01T00:00:01.000Z (expired: its holder is gone)" in out
    assert "cancel at 2027-01-01T00:00:03.000Z by delivery m2 (sent, answer unknown" in out
    assert "2 calls, 1 earlier ones dropped" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["2.", "2027-01-01T00:00:01.000Z", "cancel", "error", "delivery", "m1", "20000"] in lines
    assert ["3.", "2027-01-01T00:00:02.000Z", "cancel", "unknown", "delivery", "m1"] in lines
    code, out, _ = run("result", "o-78", "--json")
    assert json.loads(out)["pending"]["delivery"] == "m2" and json.loads(out)["attempts"] == 4


def test_result_by_parts_finds_each_merchants_and_apps_record(table: str, aws_env: str) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws_env)
    keys = {
        "ORDER-1": "default app",
        "merchant:2088A ORDER-1": "merchant A",
        "merchant:2088B ORDER-1": "merchant B",
        "app:2021000000000002 merchant:2088A ORDER-1": "app 2, merchant A",
    }
    for key, who in keys.items():
        dynamodb.put_item(
            TableName=table,
            Item={"trade_key": {"S": key}, "status": {"S": "SUCCEEDED"}, "remedy": {"S": who}},
        )
    for argv, who in (
        (("--out-trade-no", "ORDER-1"), "default app"),
        (
            (
                "--out-trade-no",
                "ORDER-1",
                "--app-id",
                "2021000000000001",
                "--default-app-id",
                "2021000000000001",
            ),
            "default app",
        ),
        (("--out-trade-no", "ORDER-1", "--merchant-id", "2088A"), "merchant A"),
        (("--out-trade-no", "ORDER-1", "--merchant-id", "2088B"), "merchant B"),
        (
            ("--out-trade-no", "ORDER-1", "--app-id", "2021000000000002", "--merchant-id", "2088A"),
            "app 2, merchant A",
        ),
    ):
        code, out, _ = run("result", *argv, "--json")
        assert code == 0, argv
        assert json.loads(out)["remedy"] == who, argv
    code, out, _ = run("result", "--out-trade-no", "ORDER-1", "--app-id", "2021000000000002")
    assert code == 0 and "no record for trade_key 'app:2021000000000002 ORDER-1'" in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ((), "give a trade_key"),
        (("o-77", "--merchant-id", "m"), "or its parts"),
        (("--out-trade-no", "o", "--merchant-id", "has space"), "--merchant-id has a character"),
        (("--out-trade-no", "o", "--app-id", "a/b"), "--app-id must be"),
    ],
)
def test_result_refuses_unusable_parts(table: str, argv: tuple[str, ...], fragment: str) -> None:
    code, _, err = run("result", *argv)
    assert code == 2 and fragment in err


def test_result_json(table: str) -> None:
    code, out, _ = run("result", "--table", table, "o-77", "--json")
    item = json.loads(out)
    assert code == 0 and item["attempts"] == 3 and item["status"] == "FAILED"


def test_result_missing_trade_is_an_answer_not_an_error(table: str) -> None:
    code, out, _ = run("result", "nope")
    assert code == 0 and "no record for trade_key 'nope'" in out
    code, out, _ = run("result", "nope", "--json")
    assert code == 0 and json.loads(out) is None


def test_result_aws_error_is_reported_not_raised(aws_env: str) -> None:
    code, _, err = run("result", "--table", "does-not-exist", "o-1")
    assert code == 1 and "AWS call failed" in err


# ------------------------------------------------------------------------------------------ dead letters


def test_dead_letters_lists_reasons_and_leaves_them_visible(sqs: Any, queues: tuple[str, str]) -> None:
    _, dlq = queues
    fill_dead_letters(sqs, dlq)
    code, out, _ = run("dead-letters", "--wait-seconds", "0")
    assert code == 0
    assert "3 dead letter(s) shown; none were removed" in out
    assert "the trade is finished (TRADE_FINISHED)" in out and "ACQ.SELLER_BALANCE_NOT_ENOUGH" in out
    assert "trade_key       订单-1" in out and "attempts        8" in out
    assert TOKEN not in out
    assert counts(sqs, dlq) == (3, 0)  # still there, and visible again right away


HOSTILE_BODIES = [
    BODY_BAD,
    '{"app_auth_token"   :    \n  "' + TOKEN + '", "trade_no": "t"',  # spaces and a newline, cut short
    '{"app_auth_\\u0074oken": "' + TOKEN + '", "trade_no": ',  # an escaped letter in the key
    "APP-AUTH-TOKEN\n=\n" + TOKEN,
    json.dumps({"Type": "Notification", "Message": "app_auth_token : " + TOKEN}),  # JSON holding text
]


def test_dead_letters_never_print_a_token_in_any_body_shape(sqs: Any, queues: tuple[str, str]) -> None:
    """Bodies that are not JSON are shown as size and digest unless asked; asked, they are masked."""
    _, dlq = queues
    sender = DeadLetterSender(sqs, dlq)
    for i, body in enumerate(HOSTILE_BODIES):
        sender.send(DeadLetter(body=body, reason="body is not valid JSON", source_message_id=f"s-{i}"))
    for flags in ((), ("--json",), ("--show-unparseable-bodies",), ("--show-unparseable-bodies", "--json")):
        code, out, err = run("dead-letters", "--wait-seconds", "0", *flags)
        assert code == 0 and f"{TOKEN[:8]}" not in out + err, flags
        if "--json" in flags:
            rows = [json.loads(line) for line in out.splitlines()]
            assert len(rows) == len(HOSTILE_BODIES)
            unparsed = [r for r in rows if not r["body_is_json"]]
            assert len(unparsed) == len(HOSTILE_BODIES) - 1 and all(len(r["body_sha256"]) == 64 for r in rows)
            shown = [r["body"] is not None for r in unparsed]
            assert all(shown) if "--show-unparseable-bodies" in flags else not any(shown)
        elif "--show-unparseable-bodies" in flags:
            assert "not json at all, app_auth_token=***" in out and "not shown" not in out
        else:
            assert out.count("(not JSON, not shown: ") == len(HOSTILE_BODIES) - 1
            assert f"{len(BODY_BAD.encode())} bytes, sha256 " in out


def test_dead_letters_filters_and_json(sqs: Any, queues: tuple[str, str]) -> None:
    _, dlq = queues
    fill_dead_letters(sqs, dlq)
    code, out, _ = run("dead-letters", "--wait-seconds", "0", "--outcome-class", "terminal", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 1
    assert rows[0]["trade_key"] == "订单-1"
    assert rows[0]["attributes"]["error_sub_code"] == "ACQ.TRADE_HAS_FINISHED"
    assert json.loads(rows[0]["body"])["app_auth_token"] == "***"
    code, out, _ = run("dead-letters", "--wait-seconds", "0", "--trade-key", "t-slow", "--trade-key", "x")
    assert code == 0 and "1 dead letter(s) shown" in out and "t-slow" in out
    code, out, _ = run("dead-letters", "--wait-seconds", "0", "--trade-key", "absent")
    assert code == 0 and "0 dead letter(s) shown" in out
    assert counts(sqs, dlq) == (3, 0)


def test_dead_letters_empty_queue_is_the_healthy_state(sqs: Any, queues: tuple[str, str]) -> None:
    code, out, _ = run("dead-letters", "--wait-seconds", "0")
    assert code == 0 and "0 dead letter(s)" in out
    code, out, _ = run("dead-letters", "--wait-seconds", "0", "--json")
    assert (code, out) == (0, "")


# ------------------------------------------------------------------------------------------ redrive


def test_redrive_by_outcome_class_moves_body_unchanged(sqs: Any, queues: tuple[str, str]) -> None:
    cancel, dlq = queues
    fill_dead_letters(sqs, dlq)
    # Naming the class asks for it explicitly, although a redrive cannot succeed for it.
    code, out, _ = run("redrive", "--wait-seconds", "0", "--outcome-class", "terminal")
    assert code == 0
    assert "1 moved, 0 left (cannot succeed), 2 left (did not match), 0 failed" in out
    [moved] = receive_all(sqs, cancel)
    assert moved["Body"] == BODY_TERMINAL  # byte for byte, token included: the replay is as it was
    assert "MessageAttributes" not in moved  # the dead letter's reason attributes stay behind
    assert counts(sqs, dlq) == (2, 0)
    remaining = {m["Body"] for m in receive_all(sqs, dlq)}
    assert remaining == {BODY_BAD, BODY_SLOW}


def test_redrive_by_trade_key_including_keys_read_from_the_body(sqs: Any, queues: tuple[str, str]) -> None:
    cancel, dlq = queues
    fill_dead_letters(sqs, dlq)
    extra = json.dumps({"out_trade_no": "o-no-attr"})
    sqs.send_message(QueueUrl=dlq, MessageBody=extra)  # no attributes at all
    code, out, _ = run("redrive", "--wait-seconds", "0", "--trade-key", "t-slow", "--trade-key", "o-no-attr")
    assert code == 0 and "2 moved" in out
    assert sorted(m["Body"] for m in receive_all(sqs, cancel)) == sorted([BODY_SLOW, extra])
    assert counts(sqs, dlq) == (2, 0)


def test_redrive_shows_the_plan_by_class_and_leaves_what_cannot_succeed(
    sqs: Any, queues: tuple[str, str]
) -> None:
    cancel, dlq = queues
    fill_dead_letters(sqs, dlq)
    code, out, _ = run("redrive", "--wait-seconds", "0")
    assert code == 0
    plan = out.split("moved ")[0]  # shown before anything moved
    rows = {line.split()[0]: line.split()[1:] for line in plan.splitlines() if line.startswith("  ")}
    assert rows["exhausted"] == ["1", "1", "0"]  # matching, redrive, leave
    assert rows["terminal"] == ["1", "0", "1"]
    assert rows["bad_message"] == ["1", "0", "1"]
    assert rows["total"] == ["3", "1", "2"]
    assert "a bad message: the same body fails the same way" in plan
    assert "Alipay's answer is final for this trade" in plan and "--include-unredrivable" in plan
    assert "1 moved, 2 left (cannot succeed)" in out
    assert [m["Body"] for m in receive_all(sqs, cancel)] == [BODY_SLOW]
    assert sorted(m["Body"] for m in receive_all(sqs, dlq)) == sorted([BODY_TERMINAL, BODY_BAD])


def test_redrive_takes_an_earlier_releases_cancel_window_letter_the_settle_flow_now_settles(
    sqs: Any, queues: tuple[str, str]
) -> None:
    cancel, dlq = queues
    old_body = json.dumps({"out_trade_no": "o-old"})
    send_earlier_release_letter(sqs, dlq, old_body)  # its reason says a redrive cannot succeed
    fill_dead_letters(sqs, dlq)
    code, out, _ = run("redrive", "--wait-seconds", "0")
    assert code == 0
    plan = out.split("moved ")[0]
    rows = {line.split()[0]: line.split()[1:] for line in plan.splitlines() if line.startswith("  ")}
    assert rows["terminal"] == ["2", "1", "1"]  # the old cancel-window letter goes, the finished one stays
    assert sorted(m["Body"] for m in receive_all(sqs, cancel)) == sorted([old_body, BODY_SLOW])


def test_redrive_everything_when_asked_explicitly(sqs: Any, queues: tuple[str, str]) -> None:
    cancel, dlq = queues
    fill_dead_letters(sqs, dlq)
    code, out, _ = run("redrive", "--wait-seconds", "0", "--include-unredrivable")
    assert code == 0 and "3 moved" in out
    assert sorted(m["Body"] for m in receive_all(sqs, cancel)) == sorted([BODY_TERMINAL, BODY_BAD, BODY_SLOW])
    assert counts(sqs, dlq) == (0, 0)


def test_a_terminal_whose_remedy_says_redrive_is_redriven(sqs: Any, queues: tuple[str, str]) -> None:
    cancel, dlq = queues
    body = json.dumps({"out_trade_no": "frozen-1"})
    DeadLetterSender(sqs, dlq).send(
        DeadLetter(
            body=body,
            reason="the trade is frozen by Alipay. Contact Alipay support; once Alipay has released it, "
            "then redrive the dead letter (alipay-cancel redrive --trade-key <trade_key>).",
            source_message_id="src-f",
            outcome_class=Ending.TERMINAL,
            error_sub_code="ACQ.REASON_TRADE_BEEN_FREEZEN",
            trade_key="frozen-1",
            attempts=1,
        )
    )
    code, out, _ = run("redrive", "--wait-seconds", "0", "--trade-key", "frozen-1")
    assert code == 0 and "1 moved, 0 left (cannot succeed)" in out
    assert [m["Body"] for m in receive_all(sqs, cancel)] == [body]


def _many_exhausted(sqs: Any, dlq: str, count: int) -> None:
    sender = DeadLetterSender(sqs, dlq)
    for i in range(count):
        sender.send(
            DeadLetter(
                body=json.dumps({"out_trade_no": f"x-{i}"}),
                reason="Gave up after 60 deliveries. Last error: Alipay had a system error",
                source_message_id=f"src-{i}",
                outcome_class=Ending.EXHAUSTED,
                trade_key=f"x-{i}",
                attempts=60,
            )
        )


def test_a_large_redrive_without_a_terminal_is_refused_unless_yes(sqs: Any, queues: tuple[str, str]) -> None:
    cancel, dlq = queues
    _many_exhausted(sqs, dlq, 12)
    code, out, err = run("redrive", "--wait-seconds", "0", "--max", "50")  # stdin: not a terminal
    assert code == 2 and "Redrive 12 dead letters" in err and "no terminal to ask, add --yes" in err
    assert "exhausted" in out  # the plan was shown
    assert receive_all(sqs, cancel) == [] and counts(sqs, dlq) == (12, 0)
    code, out, _ = run("redrive", "--wait-seconds", "0", "--max", "50", "--yes")
    assert code == 0 and "12 moved" in out
    assert counts(sqs, dlq) == (0, 0) and counts(sqs, cancel)[0] == 12


@pytest.mark.parametrize(("answer", "moved"), [("yes\n", True), ("no\n", False), ("", False)])
def test_a_large_redrive_asks_at_a_terminal(
    sqs: Any, queues: tuple[str, str], answer: str, moved: bool
) -> None:
    cancel, dlq = queues
    _many_exhausted(sqs, dlq, 3)
    code, out, err = run("redrive", "--wait-seconds", "0", "--ask-above", "2", stdin=Terminal(answer))
    assert "Redrive 3 dead letters to" in err
    if moved:
        assert code == 0 and "3 moved" in out and counts(sqs, dlq) == (0, 0)
    else:
        assert code == 3 and "not confirmed: nothing was changed" in err
        assert counts(sqs, dlq) == (3, 0) and receive_all(sqs, cancel) == []


def test_a_small_redrive_does_not_ask(sqs: Any, queues: tuple[str, str]) -> None:
    _, dlq = queues
    _many_exhausted(sqs, dlq, 2)
    code, out, err = run("redrive", "--wait-seconds", "0")
    assert code == 0 and "2 moved" in out and err == ""


def test_redrive_dry_run_moves_nothing(sqs: Any, queues: tuple[str, str]) -> None:
    cancel, dlq = queues
    fill_dead_letters(sqs, dlq)
    code, out, _ = run("redrive", "--wait-seconds", "0", "--dry-run", "--outcome-class", "bad_message")
    assert code == 0 and "1 would move; nothing was moved" in out
    assert receive_all(sqs, cancel) == []
    assert counts(sqs, dlq) == (3, 0)


def test_redrive_keeps_the_dead_letter_when_the_send_fails(sqs: Any, queues: tuple[str, str]) -> None:
    _, dlq = queues
    fill_dead_letters(sqs, dlq)
    missing = queues[0].rsplit("/", 1)[0] + "/no-such-queue"
    code, out, _ = run("redrive", "--wait-seconds", "0", "--to-queue-url", missing, "--include-unredrivable")
    assert code == 1
    assert out.count("NOT moved") == 3 and "0 moved" in out
    assert counts(sqs, dlq) == (3, 0)  # nothing lost, all visible again


def test_redrive_refuses_same_queue(sqs: Any, queues: tuple[str, str]) -> None:
    code, _, err = run("redrive", "--to-queue-url", queues[1])
    assert code == 2 and "same" in err


def test_unknown_outcome_class_is_a_usage_error(queues: tuple[str, str]) -> None:
    with pytest.raises(SystemExit) as info:
        run("redrive", "--outcome-class", "nonsense")
    assert info.value.code == 2


# ------------------------------------------------------------------------------------------ as a program


def test_the_installed_command_runs_anywhere_with_the_endpoint_flag(
    sqs: Any, queues: tuple[str, str], moto_url: str, tmp_path: Path
) -> None:
    """`alipay-cancel` as the venv installs it, outside the checkout and without PYTHONPATH."""
    _, dlq = queues
    fill_dead_letters(sqs, dlq)
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DEAD_LETTER_QUEUE_URL": dlq,
    }
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "alipay-cancel"),
            "--endpoint-url",
            moto_url,
            "--region",
            REGION,
            "dead-letters",
            "--wait-seconds",
            "0",
            "--outcome-class",
            "exhausted",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "1 dead letter(s) shown" in completed.stdout and "t-slow" in completed.stdout


# ------------------------------------------------------------------------------------------ masking


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"trade_no": "t", "app_auth_token": TOKEN}),
        json.dumps(
            {"Type": "Notification", "Message": json.dumps({"trade_no": "t", "app_auth_token": TOKEN})}
        ),
        '{"trade_no": "t", "app_auth_token": "' + TOKEN + '"',  # broken JSON
        "app_auth_token=" + TOKEN,
        "app_auth_token: " + TOKEN + "; trade_no=t",
    ],
)
def test_mask_token(body: str) -> None:
    masked = mask_token(body)
    assert TOKEN not in masked and "***" in masked


# ------------------------------------------------------------------------------------------ conventions


def _commands() -> dict[str, argparse.ArgumentParser]:
    from alipay_cancel_ops.cli import parser

    (subparsers,) = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


ENVIRONMENT_DEFAULTS = {  # option dest -> the variables its default may come from
    "queue_url": ("CANCEL_QUEUE_URL", "DEAD_LETTER_QUEUE_URL"),
    "to_queue_url": ("CANCEL_QUEUE_URL",),
    "table": ("RESULTS_TABLE_NAME",),
    "default_app_id": ("ALIPAY_DEFAULT_APP_ID",),
}


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_has_help_and_names_its_environment_default(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variables in ENVIRONMENT_DEFAULTS.values():
        for variable in variables:
            monkeypatch.setenv(variable, f"from-{variable}")
    sub = _commands()[command]
    for action in sub._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help and action.help.strip(), (command, action.option_strings)
        if action.dest in ENVIRONMENT_DEFAULTS:
            (variable,) = [v for v in ENVIRONMENT_DEFAULTS[action.dest] if action.default == f"from-{v}"]
            assert f"(default: ${variable})" in action.help, (command, action.option_strings)
    help_text = " ".join(sub.format_help().split())
    assert "--json" in help_text and "exit codes:" in help_text
    assert "(default: $AWS_ENDPOINT_URL" in help_text and "(default: $AWS_REGION" in help_text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    with pytest.raises(SystemExit) as done:
        run("--version")
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"alipay-cancel {metadata.version('alipay-cancel')}"


def test_json_before_or_after_the_command(sqs: Any, queues: tuple[str, str]) -> None:
    for argv in (("--json", "enqueue", "--trade-no", "t-j"), ("enqueue", "--trade-no", "t-j2", "--json")):
        code, out, _ = run(*argv)
        document = json.loads(out)
        assert code == 0 and document["trade_key"] == argv[-1 if argv[0] == "--json" else -2]
        assert set(document) == {"trade_key", "message_id", "queue_url", "body"}
    code, out, _ = run("redrive", "--wait-seconds", "0", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["selected"] == []


def test_ctrl_c_ends_with_one_line(queues: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from alipay_cancel_ops.commands import dead_letters

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(dead_letters, "browse_dead_letters", interrupted)
    code, out, err = run("dead-letters")
    assert code == 130 and out == "" and err.strip() == "alipay-cancel: interrupted"


def test_outcome_class_choices_are_the_classes_a_dead_letter_can_have() -> None:
    """Every routing row's dead letter (the function's routing table, tests/test_routing.py), plus
    "none" for what the queue's redrive policy moves without attributes; nothing else."""
    from alipay_cancel_ops.queues import DEAD_LETTER_CLASSES, UNCLASSIFIED
    from tests.test_routing import ROWS

    letters = {row.letter for row in ROWS if row.letter is not None}
    assert set(DEAD_LETTER_CLASSES) == letters | {UNCLASSIFIED}
    assert "succeeded" not in DEAD_LETTER_CLASSES and "retry" not in DEAD_LETTER_CLASSES
    for command in ("dead-letters", "redrive", "discard"):
        with pytest.raises(SystemExit) as refused:
            run(command, "--outcome-class", "retry")
        assert refused.value.code == 2
