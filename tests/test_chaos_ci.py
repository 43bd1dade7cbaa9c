"""The chaos run (``make chaos``), CI-sized: a few hundred messages through the real local pipeline
(atomic moto server subprocess, gateway emulator, ESM driver, the function in awslambdaric
environments) with Alipay faults of every kind on >= 25 % of calls, AWS errors and throttling on ~2 %
of the function's calls, environments killed at every crash point and at the timeout, a key rotation,
duplicates and bad messages, outcome events published all along with the publisher dying before and
after PutEvents, the bus refusing and the stream reader restarted; every invariant must hold, and
every final state must have reached the order system's queue as an event.

Run as a subprocess, exactly as ``make chaos CHAOS_ARGS=...`` does: the handler's module state,
environment and loggers stay out of this pytest process.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from local.accounting.messages import DeadLetterSeen, Enqueued, Snapshot
from local.alipay_gateway.faults import FAULT_KINDS
from local.chaos.aws_faults import AwsFaultInjector
from local.chaos.checks import check_accounted, check_drained, check_ledger, receipts_hit_by_aws_faults
from local.chaos.events import CHECK_NAME, CRASH_AFTER, CRASH_BEFORE, REFUSED, RESTART_AT
from moto import mock_aws

REPO = Path(__file__).resolve().parent.parent
MESSAGES = 250

# Known-gap allowance, now off: an AWS error on the LAST allowed receive of a message (the ledger's claim
# or final write) could leave the trade RETRYING and the queue's redrive move the message to the
# dead-letter queue without a reason. The handler dead-letters it with a reason itself
# (decisions/last_receive.py; tests/test_handler_last_receive.py). With True, messages that did not finish AND
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
    settled = summary["checks"]["every settled trade: a verified answer says so, and Alipay's truth agrees"]
    assert settled["settled trades"] > 100
    # The settle flow's paths all ran: by query, close, refund and the refund query, and kept trades.
    by = settled["settled by (state by the answer's operation)"]
    for path in ("CLOSED by close", "REFUNDED by refund", "KEPT by query", "NOT_FOUND by query"):
        assert by.get(path), (path, by)
    money = summary["checks"][
        "money: never refunded beyond the payment, one request per trade, nothing for keep"
    ]
    assert (
        money["keep trades recorded KEPT"] > 0
        and money["refund requests of this service at the emulator"] > 0
    )
    # Answers lost at the settle flow's own steps, too.
    assert faults["by variant"].get("refund: refunded, answer lost"), faults["by variant"]
    # AWS faults hit the ledger's claim and its final write, besides the random ones
    assert all(
        summary["aws_faults"]["on the ledger's claim / final write (every n-th of each environment)"].values()
    )
    ledger = summary["checks"]["the ledger's invariants hold"]
    assert ledger["trades whose counted calls equal the calls Alipay saw"] > 100
    # Environments killed at every planned point, and at the timeout. Counts, not a share: how many
    # invocations a run takes depends on how full the batches were (timing); `make chaos` at full
    # size reports the share.
    crashes = summary["crashes"]
    assert all(crashes["kills by point"].values()) and len(crashes["kills by point"]) == 6, crashes
    assert crashes["held store writes (timeout rule) acted"] >= 1, crashes
    assert crashes["killed at the function timeout"] >= 1, crashes
    # Every final state the ledger holds, and every one the table's stream says was written, reached the
    # order system's queue through a publisher that died before and after PutEvents, a bus that refused
    # and a reader restarted twice; the repeats those deaths cause are identified by event_id.
    events = summary["checks"][CHECK_NAME]
    assert events["ok"], summary["violations"][CHECK_NAME]
    assert events["final states in the ledger"] > 100
    assert events["final writes on the table's stream"] >= events["final states in the ledger"]
    received, written = events["distinct event_ids received / distinct final states written"].split(" / ")
    assert received == written
    assert set(events["publisher faults"]) == {CRASH_BEFORE, CRASH_AFTER, REFUSED}, events
    assert all(n >= 1 for n in events["publisher faults"].values()), events
    assert events["stream reader restarts (from its checkpoints, fresh runtime)"] == len(RESTART_AT)
    assert events["repeats, identified by event_id"] >= events["publisher faults"][CRASH_AFTER]

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


# --- the pieces behind "bad message dead-lettered on its first receipt" (fast, no stack) ----------


class _Draws(random.Random):
    """random() answers from a script: which draws inject a fault."""

    def __init__(self, draws: list[float]) -> None:
        super().__init__(0)
        self._draws = list(draws)

    def random(self) -> float:
        return self._draws.pop(0) if self._draws else 0.99


def _sqs(attempts: int) -> Any:
    return boto3.client(
        "sqs",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def test_injector_keeps_only_the_injected_errors_the_caller_received_with_its_context() -> None:
    context = {"message_id": "m-1", "receive_count": 1}
    with mock_aws():
        # call level: the API call fails at once
        injector = AwsFaultInjector(call_rate=1.0, wire_rate=0.0, seed=1, context=lambda: context)
        client = _sqs(attempts=2)
        injector.install(client)
        with pytest.raises(ClientError):
            client.list_queues()
        injector.uninstall()
        [failed] = injector.failed_calls()
        assert (failed.service, failed.operation, failed.level) == ("sqs", "ListQueues", "call")
        assert failed.context == context

        # wire level, the SDK's retry succeeds: injected, but the caller never saw it
        context = {"message_id": "m-2", "receive_count": 3}
        injector = AwsFaultInjector(call_rate=0.0, wire_rate=0.5, seed=1, context=lambda: context)
        injector._rng = _Draws([0.0, 0.0, 0.99])  # call draw, 1st attempt faulted, 2nd attempt clean
        injector.install(client)
        client.list_queues()
        assert injector.stats().total_injected == 1
        assert injector.failed_calls() == []
        assert injector.stats().received_by_caller == 0

        # wire level, every attempt faulted: the caller gets the injected error
        injector._rng = _Draws([0.99, 0.0, 0.0, 0.0, 0.0])
        with pytest.raises(ClientError):
            client.list_queues()
        injector.uninstall()
        [failed] = injector.failed_calls()
        assert (failed.level, failed.context) == ("wire", {"message_id": "m-2", "receive_count": 3})
        assert injector.stats().received_by_caller == 1
    assert receipts_hit_by_aws_faults(injector.failed_calls()) == {"m-2": {3}}


def _bad_message_dead_lettered_on(attempts: int) -> tuple[list[Enqueued], Snapshot]:
    body = '{"out_trade_no": 7}'
    letter = DeadLetterSeen(
        "dlq-1",
        body,
        {
            "reason": "Bad message, not retried: out_trade_no must be a string.",
            "outcome_class": "bad_message",
            "source_message_id": "m-1",
            "attempts": str(attempts),
        },
    )
    return [Enqueued("m-1", body, None, "bad: wrong type")], Snapshot({}, [letter], {}, {})


def test_bad_message_dead_lettered_late_is_a_violation_unless_aws_faults_hit_every_earlier_receipt() -> None:
    enqueued, snapshot = _bad_message_dead_lettered_on(1)
    assert check_accounted(enqueued, snapshot, {"m-1"}).ok

    enqueued, snapshot = _bad_message_dead_lettered_on(3)
    for faulted, ok in [
        ({}, False),  # nothing explains the retries: a handler bug
        ({"m-1": {1}}, False),  # receipt 2 unexplained
        ({"other": {1, 2}}, False),  # faults hit another message
        ({"m-1": {1, 2}}, True),
    ]:
        result = check_accounted(enqueued, snapshot, {"m-1"}, faulted)
        assert result.ok is ok, (faulted, result.violations)
        if not ok:
            assert "dead-lettered on receipt 3, not the first" in result.violations[0]
    assert result.facts["bad messages dead-lettered on first receipt"] == "0/1"
    late = "bad messages dead-lettered later, every earlier receipt hit by an injected AWS failure or a crash"
    assert result.facts[late] == 1


# --- crash faults: the pieces (fast, no stack) -----------------------------------------------------


def _reasonless_letter(message_id: str) -> Snapshot:
    letter = DeadLetterSeen(message_id, '{"out_trade_no": "T-1"}', {})  # moved by the queue's redrive
    return Snapshot({"T-1": {"status": "NOT_FOUND"}}, [letter], {}, {})


def test_a_redrive_without_reason_is_excused_only_when_the_last_allowed_delivery_was_killed() -> None:
    from local.chaos.verdict import crash_redriven

    snapshot = _reasonless_letter("m-1")
    enqueued = [Enqueued("m-1", '{"out_trade_no": "T-1"}', "T-1", "dup")]
    assert not check_accounted(enqueued, snapshot, set()).ok  # a reasonless dead letter is a violation
    assert crash_redriven(snapshot, {"m-1": {3, 4}}, max_receive_count=8) == set()  # killed earlier only
    excused = crash_redriven(snapshot, {"m-1": {8}}, max_receive_count=8)
    assert excused == {"m-1"}
    result = check_accounted(enqueued, snapshot, set(), crash_redriven=excused)
    assert result.ok, result.violations
    moved = "moved by the queue's redrive after a crash or AWS failure on the last allowed receive"
    assert result.facts[moved] == 1
    # the previous delivery left the record RETRYING: the crash, not the function, kept it there
    snapshot.results["T-1"] = {"status": "RETRYING"}
    assert not check_accounted(enqueued, snapshot, set()).ok
    assert check_accounted(enqueued, snapshot, set(), crash_redriven=excused).ok
    assert not check_drained(True, snapshot).ok
    drained = check_drained(True, snapshot, crash_redriven_keys={"T-1"})
    assert drained.ok and drained.facts["RETRYING trades left"] == 0
    # its last delivery's call is left pending: no delivery is left to resume it
    pending = {"op": "cancel", "at": "t", "delivery": "m-1"}
    snapshot.results["T-1"] = {"status": "RETRYING", "attempts": 1, "history": [], "pending": pending}
    assert not check_ledger(snapshot, [], now=0, call_limit_seconds=3).ok
    assert check_ledger(snapshot, [], now=0, call_limit_seconds=3, crash_redriven_keys={"T-1"}).ok


def test_an_unfinished_message_says_whether_the_function_logged_a_failed_aws_call_for_its_trade() -> None:
    """Told by the log line's ``error`` (every line about a failed AWS call carries it), not by words:
    an Alipay connection problem ("could not connect") is not an AWS failure."""
    from local.chaos.summary import unfinished_messages

    snapshot = Snapshot(
        results={"T-1": {"status": "RETRYING"}, "T-2": {"status": "RETRYING"}},
        dead_letters=[],
        trades={},
        counts={},
    )
    enqueued = [Enqueued("m-1", "{}", "T-1", "s"), Enqueued("m-2", "{}", "T-2", "s")]
    lines = [
        json.dumps(
            {"trade_key": "T-1", "receive_count": 1, "message": "ledger write failed", "error": "Throttled"}
        ),
        json.dumps(
            {"trade_key": "T-2", "receive_count": 1, "message": "could not connect to Alipay; retrying"}
        ),
        "not a log line",
    ]
    found = {m["trade_key"]: m for m in unfinished_messages(enqueued, snapshot, lines)}
    assert (found["T-1"]["infra_failure_logged"], found["T-2"]["infra_failure_logged"]) == (True, False)
    assert found["T-1"]["function_said"] == ["receive 1: ledger write failed (Throttled)"]


def test_crash_plan_is_a_pure_function_of_the_seed_and_the_tap_kills_each_planned_trade_once() -> None:
    from local.chaos.crashes import AFTER_ALIPAY, BEFORE_ALIPAY, TapCrashes, build_crash_plan
    from local.chaos.wiretap import Exchange

    keys = [f"T{n:04d}" for n in range(1000)]
    kwargs: dict[str, Any] = {
        "seed": 3,
        "crash_rate": 0.07,
        "function_timeout": 12,
        "dlq_name": "dlq",
    }
    plan = build_crash_plan(keys, **kwargs)
    assert plan == build_crash_plan(keys, **kwargs)
    assert plan.before_alipay and plan.after_alipay and not plan.before_alipay & plan.after_alipay
    assert {r["action"] for r in plan.moto_rules} == {"kill", "stall"}
    assert build_crash_plan(keys, **{**kwargs, "crash_rate": 0}).moto_rules == []

    trade = sorted(plan.before_alipay)[0]
    killed: list[str] = []

    def kill_where(predicate: Any, reason: str) -> int:
        events = [  # the planned trade, another whose id starts the same, and none
            {"Records": [{"body": f'{{"out_trade_no": "{trade}"}}'}]},
            {"Records": [{"body": f'{{"out_trade_no": "{trade}9"}}'}]},
            {"Records": [{"body": "{}"}]},
        ]
        hits = [e for e in events if predicate(e)]
        killed.extend(reason for _ in hits)
        return len(hits)

    hook = TapCrashes(plan, kill_where)
    exchange = Exchange(seq=0, received_at=0.0, out_trade_no=trade, trade_no=None, signer="old")
    assert hook("before", exchange) is True
    assert hook("before", exchange) is False  # once per planned trade
    assert hook("after", exchange) is False  # planned before, not after
    assert killed == [f"chaos: {BEFORE_ALIPAY}"] and hook.killed[BEFORE_ALIPAY] == 1
    assert AFTER_ALIPAY not in hook.killed


# --- the ledger's invariants and the faults on its writes (fast, no stack) -------------------------


ANSWERED_ERROR = "error, answered"  # an error Alipay answered (its trace id recorded)


def _item(attempts: int, *results: str, pending: bool = False) -> dict[str, Any]:
    """``results``: each call's; an ``ok`` and an ``ANSWERED_ERROR`` carry Alipay's trace id, a bare
    ``error`` none (no answer came back: a timeout, a connection that could not be made)."""
    history = [
        {"op": "cancel", "at": "t", "delivery": "m", "result": r.split(",")[0]}
        | ({"trace_id": "tr"} if r in ("ok", ANSWERED_ERROR) else {})
        for r in results
    ]
    item: dict[str, Any] = {
        "status": "RETRYING" if pending else "CLOSED",
        "attempts": attempts,
        "history": history,
    }
    if pending:
        item["pending"] = {"op": "cancel", "at": "t", "delivery": "m"}
    return item


@pytest.mark.parametrize(
    ("item", "seen", "ok"),
    [
        (_item(1, "ok"), 1, True),
        (_item(2, "error", "ok"), 2, True),
        (_item(2, "unknown", "ok"), 1, True),  # a holder died between its claim and the send
        (_item(2, "unknown", "ok"), 2, True),  # ... or after the send: Alipay saw both
        (_item(2, "unknown", "ok"), 3, False),  # Alipay saw a call the ledger never counted
        (_item(2, ANSWERED_ERROR, "ok"), 1, False),  # answered, yet Alipay never saw it
        (_item(2, "error", "ok"), 1, True),  # no answer came back: it may never have reached Alipay
        (_item(3, "error", "error", "ok"), 1, True),
        (_item(3, "error", "ok", "ok"), 1, False),  # one call without an answer cannot explain two
        (_item(2, "error", "ok"), 3, False),  # Alipay saw a call the ledger never counted
        (_item(3, "error", "ok"), 3, False),  # a counted call missing from the history
        (_item(1, pending=True), 0, True),  # left pending: only where no delivery was left (below)
    ],
)
def test_the_ledger_counts_the_calls_alipay_saw_up_to_those_that_may_not_have_reached_it(
    item: dict[str, Any], seen: int, ok: bool
) -> None:
    snapshot = Snapshot({"T-1": item}, [], {}, {"per_trade": {"T-1": {"requests": seen}}})
    result = check_ledger(snapshot, [], now=0, call_limit_seconds=3, crash_redriven_keys={"T-1"})
    assert result.ok is ok, result.violations


def test_two_calls_of_one_trade_in_flight_at_once_are_two_live_leases() -> None:
    from local.chaos.wiretap import Exchange

    def call(seq: int, at: float, answered: float | None) -> Exchange:
        return Exchange(
            seq=seq, received_at=at, out_trade_no="T-1", trade_no=None, signer="old", answered_at=answered
        )

    snapshot = Snapshot({"T-1": _item(2, "error", "ok")}, [], {}, {"per_trade": {"T-1": {"requests": 2}}})
    one_after_the_other = [call(1, 10.0, 10.5), call(2, 11.0, 11.2)]
    assert check_ledger(snapshot, one_after_the_other, now=0, call_limit_seconds=3).ok
    # the first given up by its client at its bound (3 s), its answer later: not in flight for it
    after_the_bound = [call(1, 10.0, 14.0), call(2, 13.5, 13.7)]
    assert check_ledger(snapshot, after_the_bound, now=0, call_limit_seconds=3).ok
    overlapping = [call(1, 10.0, 10.5), call(2, 10.2, 10.6)]
    result = check_ledger(snapshot, overlapping, now=0, call_limit_seconds=3)
    assert not result.ok and "before the previous one was over" in result.violations[0]


def test_every_nth_ledger_claim_and_final_write_fail_and_are_told_apart() -> None:
    from local.chaos.aws_faults import ledger_write_kind

    assert ledger_write_kind({"UpdateExpression": "SET #lease_holder = :lease_holder"}) == "claim"
    assert ledger_write_kind({"ConditionExpression": "#lease_holder = :holder"}) == "final"
    step = "#lease_holder = :holder AND #pending.#at = :previous_at"
    assert ledger_write_kind({"ConditionExpression": step}) == "step"
    assert ledger_write_kind({"ConditionExpression": "attribute_not_exists(#trade_key) OR x"}) == "note"
    with mock_aws():
        ddb = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        injector = AwsFaultInjector(call_rate=0, wire_rate=0, seed=1, ledger_every={"claim": 2})
        injector.install(ddb)
        claim = {
            "TableName": "t",
            "Key": {"k": {"S": "a"}},
            "UpdateExpression": "SET #lease_holder = :lease_holder",
            "ExpressionAttributeNames": {"#lease_holder": "lease_holder"},
            "ExpressionAttributeValues": {":lease_holder": {"S": "me"}},
        }
        ddb.update_item(**claim)
        with pytest.raises(ClientError):
            ddb.update_item(**claim)  # the second claim
        ddb.update_item(**claim)
        injector.uninstall()
    assert injector.stats().injected == Counter(
        {("dynamodb", "UpdateItem", "ledger claim", "ProvisionedThroughputExceededException"): 1}
    )


# --- the publisher's faults (fast, no stack) -------------------------------------------------------


def test_the_publisher_faults_follow_the_run_s_putevents_count_across_reader_restarts() -> None:
    from local.chaos.events import (
        CRASH_AFTER_EVERY,
        CRASH_BEFORE_EVERY,
        REFUSE_EVERY,
        PublisherDied,
        PublisherFaults,
    )

    faults = PublisherFaults()
    outcomes: list[str] = []
    entry = {
        "Source": "alipay-cancel",
        "DetailType": "Trade Closed",
        "Detail": "{}",
        "EventBusName": "default",
    }
    with mock_aws():
        for _restart in range(2):  # a restarted reader's new client counts on
            client = boto3.client(
                "events", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
            )
            # What install reads of a stream reader: its runtime's publisher's EventBridge client.
            faults.install(
                SimpleNamespace(runtime=SimpleNamespace(publisher=SimpleNamespace(events_client=client)))
            )  # type: ignore[arg-type]
            for _ in range(20):
                try:
                    client.put_events(Entries=[entry])
                    outcomes.append("published")
                except PublisherDied as died:
                    outcomes.append(str(died))
                except ClientError as refused:
                    outcomes.append(refused.response["Error"]["Code"])
    assert len(outcomes) == faults.calls == 40
    for n, outcome in enumerate(outcomes, start=1):
        if n % CRASH_BEFORE_EVERY == 0:
            assert outcome == CRASH_BEFORE, n
        elif n % REFUSE_EVERY == 0:
            assert outcome == "ThrottlingException", n
        elif n % CRASH_AFTER_EVERY == 0:
            assert outcome == CRASH_AFTER, n
        else:
            assert outcome == "published", n
    assert faults.injected == Counter({CRASH_BEFORE: 2, REFUSED: 3, CRASH_AFTER: 3})


@pytest.mark.parametrize(
    ("status", "code", "ok"),
    [
        (401, "invalid-signature", True),  # refused, as a retired key must be
        (None, None, True),  # no answer (the caller killed, the tap's wait ended): nothing accepted
        (200, None, False),  # the emulator ran the call: the retired key was accepted
        (503, None, False),  # a fault's answer: given only after the signature verified
    ],
)
def test_a_retired_key_is_accepted_only_when_the_emulator_answered_otherwise_than_refusing_it(
    status: int | None, code: str | None, ok: bool
) -> None:
    from local.chaos.checks import check_rotation
    from local.chaos.wiretap import Exchange

    after = Exchange(seq=1, received_at=20.0, out_trade_no="T-1", trade_no=None, signer="old", op="cancel")
    after.status, after.code = status, code
    new = Exchange(seq=2, received_at=20.0, out_trade_no="T-2", trade_no=None, signer="new", op="cancel")
    new.status = 200
    probes = {"old": "refused: HTTP 401 invalid-signature", "new": "accepted"}
    result = check_rotation([after, new], rotated_at=10.0, retire_at=11.0, probes=probes)
    assert result.ok is ok, result.violations
