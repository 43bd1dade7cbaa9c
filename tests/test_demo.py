"""``make demo`` end to end, and its plan: every message accounted for, the summary's contents and its
"expected" column, every final state's outcome event received and a scheduled cancel fired (another
unscheduled in time), what ``--seed`` fixes, the horizon scaled to the backlog, Ctrl-C in one line, no
temporary folder and no process left behind."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from local.accounting.messages import Enqueued, Snapshot
from local.aws.template_settings import read_template_settings
from local.demo.events import FIRED_SCENARIO, FIRED_TRADE, UNSCHEDULED_TRADE, ScheduleStory, violations
from local.demo.plan import demo_parameters
from local.demo.run import run_demo

from alipay_cancel.decisions.retry_policy import RetrySchedule
from alipay_cancel.shared.ledger_item import event_id
from tests.process_support import PYTHONPATH, REPO, our_moto_children, wait_gone

# --- the demo, end to end -------------------------------------------------------------------------


@pytest.mark.timeout(150)
def test_demo_accounts_for_every_message_and_leaves_no_process(tmp_path: Path) -> None:
    out = io.StringIO()
    log = tmp_path / "function.log"
    result = run_demo(messages=32, fault_rate=0.1, seed=11, out=out, deadline_seconds=120, log_path=log)
    text = out.getvalue()

    assert result.drive.drained, text
    assert len(result.enqueued) == 33  # the 32 sent, and the scheduled cancel that fired
    assert result.ok, text
    assert "RESULT: OK" in text and "VIOLATION" not in text and "UNEXPECTED" not in text
    assert "Accounting: 33/33 messages accounted for" in text
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
        "paid, outside the cancel window: refunded",
        "paid, kept (if_paid keep)",
        "unpaid, outside the cancel window: closed",
        "unknown to Alipay, by trade_no only",
        "outside the cancel window, refund answer lost",
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

    # What cancel cannot settle (docs/settle.md): refunded by the refund API, kept, closed, not found.
    def only(scenario: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        (m,) = by_scenario[scenario]
        key = m.trade_key or ""
        return snapshot.results[key], snapshot.trades.get(key, {}), per_trade.get(key, {})

    record, trade, calls = only("paid, outside the cancel window: refunded")
    assert (record["status"], record["money_moved"], trade["state"]) == ("REFUNDED", True, "refunded")
    assert calls["refund_calls"] >= 1 and record["out_request_no"] in trade["refunds"]
    record, trade, calls = only("paid, kept (if_paid keep)")
    assert (record["status"], record["if_paid"], trade["state"]) == ("KEPT", "keep", "paid")
    assert calls["cancel_calls"] == 0 and "refund_calls" not in calls  # no money moved
    record, trade, calls = only("unpaid, outside the cancel window: closed")
    assert (record["status"], trade["state"], calls["close_calls"]) == ("CLOSED", "closed", 1)
    record, _, _ = only("unknown to Alipay, by trade_no only")
    assert record["status"] == "NOT_FOUND" and record["history"][-1]["op"] == "query"
    record, trade, calls = only("outside the cancel window, refund answer lost")
    assert (record["status"], record["money_moved"], calls["refund_calls"]) == ("REFUNDED", True, 1)
    assert calls["refund_query_calls"] >= 1 and trade["refund_fee"] == trade["total_amount"]

    # Two ISV merchants' orders share one out_trade_no: two trades, two Alipay cancels, two records.
    isv = by_scenario["ISV merchant, out_trade_no shared with another merchant"]
    keys = {m.trade_key or "" for m in isv}
    assert len(isv) == 2 and len(keys) == 2 and len({k.split(" ")[-1] for k in keys}) == 1
    for key in keys:
        assert snapshot.results[key]["status"] in ("CLOSED", "REFUNDED")
        assert per_trade[key]["cancel_calls"] >= 1
    assert {snapshot.trades[k]["state"] for k in keys} == {"refunded", "closed"}
    # The second app's trade was cancelled at the emulator under that app (its own keys verified it).
    (second,) = by_scenario["second Alipay app"]
    assert snapshot.results[second.trade_key or ""]["action"] == "close"
    assert snapshot.trades[second.trade_key or ""]["app_id"] == "2021000000000002"

    # Every final state's event reached the order system's queue, one distinct event_id each.
    events = result.events
    assert events is not None and events.account is not None
    account = events.account
    final = {k: r for k, r in snapshot.results.items() if r.get("event_id")}
    assert account.ok and account.final_items == len(final) >= 20, account.summary()
    assert account.distinct_received == account.distinct_written, account.summary()
    assert {e["detail"]["event_id"] for e in events.routes.received} >= {
        r["event_id"] for r in final.values()
    }
    section = text.split("Outcome events (bus ")[1]
    assert f"every final state has its event: {len(final)}/{len(final)} trades" in section
    assert "one distinct event_id per final state written:" in section and "(yes)" in section
    for state in {r["status"] for r in final.values()}:
        assert re.search(rf"\n  {state} +Trade [A-Za-z ]+ +\d+ +\d+ +\d+\n", section), state
    # One scheduled cancel fired during the run and went through the pipeline; the other, unscheduled
    # before its time, never fired (the runner's clock passed its deadline at the end).
    (fired,) = by_scenario[FIRED_SCENARIO]
    assert fired.trade_key == FIRED_TRADE and snapshot.results[FIRED_TRADE]["status"] == "CLOSED"
    assert events.story.fired[0].message_id == fired.message_id and events.story.fired[0].deleted
    assert events.story.unscheduled is True and events.story.fired_at_the_end == []
    assert events.story.left_in_group == []
    assert UNSCHEDULED_TRADE not in snapshot.results and UNSCHEDULED_TRADE not in per_trade
    closed = event_id(FIRED_TRADE, "CLOSED")
    assert any(e["detail"]["event_id"] == closed for e in events.routes.received)
    assert f"- {FIRED_TRADE}: due " in section and "s into the run when the runner's clock" in section
    assert f"- {UNSCHEDULED_TRADE}: due " in section and "unscheduled before its time" in section

    # No process left behind: the moto server subprocess is gone, and so is any other of ours.
    assert result.moto_pid is not None and wait_gone(result.moto_pid)
    assert our_moto_children() == []


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
    # One count of what is unfinished, wherever it is said; the queue's copies are counted apart.
    said = re.search(r"queue drained: (\d+) message\(s\) unfinished", text)
    listed = re.search(r"Still in flight at the 4s deadline \((\d+);", text)
    incomplete = re.search(r"with (\d+) message\(s\) still in flight", text)
    assert said and listed and incomplete
    assert said.group(1) == listed.group(1) == incomplete.group(1)
    assert int(said.group(1)) == len(text.split("Still in flight")[1].split("RESULT")[0].splitlines()) - 1


@pytest.mark.timeout(120)
def test_a_lost_outcome_event_fails_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The order system's queue loses the events of one trade: the demo says which and fails."""
    from local.stack.events_and_schedules import EventsAndSchedules

    drain = EventsAndSchedules.received_events

    def losing(self: EventsAndSchedules) -> list[dict[str, Any]]:
        return [e for e in drain(self) if e["detail"]["trade_key"] != FIRED_TRADE]

    monkeypatch.setattr(EventsAndSchedules, "received_events", losing)
    out = io.StringIO()
    result = run_demo(messages=6, fault_rate=0.0, seed=3, out=out, log_path=tmp_path / "f.log")
    text = out.getvalue()
    assert result.drive.drained and not result.ok, text
    assert f"VIOLATION: events: the final state of trade {FIRED_TRADE} has no event" in text
    assert "RESULT: FAILED" in text and "(NO)" in text


def _story(**changes: Any) -> ScheduleStory:
    from local.aws.schedule_runner import Fired

    fired = Fired("cancel-DEMO-SCHEDULED-0001-x", "arn:aws:sqs:us-east-1:1:q", "m-1", deleted=True)
    story = ScheduleStory(fired_at_run_second=1.5, fired=[fired], unscheduled=True)
    for name, value in changes.items():
        setattr(story, name, value)
    return story


@pytest.mark.parametrize(
    ("story", "snapshot", "drained", "found"),
    [
        (_story(), Snapshot({}, [], {}, {}), True, None),
        (
            _story(fired=[]),
            Snapshot({}, [], {}, {}),
            True,
            "0 scheduled cancels of DEMO-SCHEDULED-0001 fired",
        ),
        (_story(fired=[], fired_at_run_second=None, unscheduled=None), Snapshot({}, [], {}, {}), False, None),
        (_story(unscheduled=False), Snapshot({}, [], {}, {}), True, "had no schedule left to delete"),
        (_story(fired_at_the_end=_story().fired), Snapshot({}, [], {}, {}), True, "fired after it was"),
        (_story(left_in_group=["cancel-x"]), Snapshot({}, [], {}, {}), True, "left in the group"),
        (_story(), Snapshot({UNSCHEDULED_TRADE: {}}, [], {}, {}), True, "yet has a ledger item"),
        (
            _story(),
            Snapshot({}, [], {}, {"per_trade": {UNSCHEDULED_TRADE: {"requests": 1}}}),
            True,
            "yet Alipay was called for it",
        ),
    ],
)
def test_what_a_schedule_must_do_for_the_demo_to_pass(
    story: ScheduleStory, snapshot: Snapshot, drained: bool, found: str | None
) -> None:
    from local.accounting.outcome_accounting import EventAccount

    said = violations(EventAccount(), story, snapshot, drained=drained)
    assert (said == []) if found is None else (len(said) == 1 and found in said[0]), said


# --- the demo's plan: what --seed fixes, and what an outcome is expected to be --------------------


def test_the_seed_fixes_the_trades_the_faults_and_the_order() -> None:
    from local.demo.plan import build_plan

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


def _demo(tmp: Path, *args: str) -> subprocess.Popen[str]:
    """`python -m local.demo` with its temporary files confined to ``tmp`` (TMPDIR), to see what is left."""
    tmp.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "local.demo", "--log-file", str(tmp.parent / "function.log"), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": PYTHONPATH},
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
    assert moto_pid is not None and wait_gone(moto_pid)
    assert our_moto_children() == []
    assert list((tmp_path / "tmp").iterdir()) == []
