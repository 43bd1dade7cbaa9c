"""alipay-cancel discard against a real moto server: what is removed, what is noted in the trade's
record (and what never is), the dry run, the question before a large discard, and failures."""

from __future__ import annotations

import argparse
import json
from typing import Any

import boto3
import pytest

from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import Ending
from alipay_cancel.stores.dead_letters import DeadLetterSender
from alipay_cancel_ops.queues import DeadLetterView
from alipay_cancel_ops.selection import duration, filters_from
from tests.fixtures.ops_cli import REGION, TOKEN, Terminal, counts, receive_all, run

EVENT_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def dynamodb(aws_env: str) -> Any:
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=aws_env)


def _item(dynamodb: Any, table: str, key: str) -> dict[str, Any] | None:
    item = dynamodb.get_item(TableName=table, Key={"trade_key": {"S": key}}, ConsistentRead=True).get("Item")
    return item  # type: ignore[no-any-return]


def _final_trade(dynamodb: Any, table: str, key: str, status: str = "FAILED") -> None:
    dynamodb.put_item(
        TableName=table,
        Item={
            "trade_key": {"S": key},
            "status": {"S": status},
            "outcome_class": {"S": "terminal"},
            "event_id": {"S": EVENT_ID},
            "updated_at": {"S": "2024-05-01T12:00:00.000Z"},
        },
    )


def _letter(sqs: Any, dlq: str, key: str | None, outcome_class: str | None, body: str | None = None) -> None:
    DeadLetterSender(sqs, dlq).send(
        DeadLetter(
            body=body
            or json.dumps({"out_trade_no": key or "x", "merchant_id": "m", "app_auth_token": TOKEN}),
            reason=f"the reason for {key}: use alipay.trade.refund instead",
            source_message_id=f"src-{key}",
            outcome_class=Ending(outcome_class) if outcome_class else None,
            trade_key=key,
            attempts=1,
        )
    )


def test_discard_by_trade_key_notes_it_and_changes_nothing_else(
    sqs: Any, queues: tuple[str, str], table: str, dynamodb: Any
) -> None:
    _, dlq = queues
    _final_trade(dynamodb, table, "o-1")
    _letter(sqs, dlq, "o-1", "terminal")
    _letter(sqs, dlq, "o-2", "terminal")
    before = _item(dynamodb, table, "o-1")
    code, out, err = run("discard", "--wait-seconds", "0", "--trade-key", "o-1", "--note", "TICKET-42")
    assert (code, err) == (0, ""), out
    assert "1 discarded, 1 left (did not match), 0 failed" in out and "noted in its results record" in out
    assert [json.loads(m["Body"])["out_trade_no"] for m in receive_all(sqs, dlq)] == ["o-2"]
    after = _item(dynamodb, table, "o-1")
    assert after is not None and before is not None
    notes = after.pop("discarded")["L"]
    assert after == before  # status, event_id, everything else untouched
    (entry,) = [note["M"] for note in notes]
    assert set(entry) == {
        "at",
        "dead_letter_message_id",
        "source_message_id",
        "outcome_class",
        "reason",
        "reason_sha256",
        "note",
    }
    assert entry["outcome_class"] == {"S": "terminal"} and entry["note"] == {"S": "TICKET-42"}
    assert entry["source_message_id"] == {"S": "src-o-1"}
    assert entry["reason"]["S"].startswith("the reason for o-1") and len(entry["reason_sha256"]["S"]) == 64
    stored = json.dumps(after) + json.dumps(notes)
    assert TOKEN not in stored and "out_trade_no" not in stored  # never the body or the token


def test_discard_notes_accumulate_and_a_trade_without_a_record_gets_none(
    sqs: Any, queues: tuple[str, str], table: str, dynamodb: Any
) -> None:
    _, dlq = queues
    _final_trade(dynamodb, table, "o-1")
    _letter(sqs, dlq, "o-1", "exhausted")
    _letter(sqs, dlq, "o-1", "exhausted")
    _letter(sqs, dlq, "o-none", "exhausted")
    _letter(sqs, dlq, None, "bad_message", body="garbage, not a message")
    code, out, _ = run(
        "discard", "--wait-seconds", "0", "--outcome-class", "exhausted", "--outcome-class", "bad_message"
    )
    assert code == 0 and "4 discarded" in out
    assert "no trade key: nothing to note" in out
    assert "the trade has no results record: nothing to note" in out
    assert counts(sqs, dlq) == (0, 0)
    item = _item(dynamodb, table, "o-1")
    assert item is not None and len(item["discarded"]["L"]) == 2
    assert _item(dynamodb, table, "o-none") is None  # no item is ever created


def test_discard_by_class_leaves_the_others(sqs: Any, queues: tuple[str, str], table: str) -> None:
    _, dlq = queues
    _letter(sqs, dlq, "t-1", "terminal")
    _letter(sqs, dlq, "b-1", "bad_message")
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"out_trade_no": "q-1"}))  # moved by the queue
    code, out, _ = run("discard", "--wait-seconds", "0", "--outcome-class", "none", "--json")
    document = json.loads(out)
    assert code == 0 and [d["trade_key"] for d in document["discarded"]] == ["q-1"]
    assert document["looked_at"] == 3 and document["not_matching"] == 2
    assert document["discarded"][0]["noted"] is False  # the trade has no record
    assert sorted(json.loads(m["Body"])["out_trade_no"] for m in receive_all(sqs, dlq)) == ["b-1", "t-1"]


def test_discard_dry_run_removes_and_notes_nothing(
    sqs: Any, queues: tuple[str, str], table: str, dynamodb: Any
) -> None:
    _, dlq = queues
    _final_trade(dynamodb, table, "o-1")
    _letter(sqs, dlq, "o-1", "terminal")
    code, out, _ = run("discard", "--wait-seconds", "0", "--all", "--dry-run")
    assert code == 0 and "1 would be discarded; nothing was discarded" in out
    assert "would discard" in out and "o-1" in out
    assert counts(sqs, dlq) == (1, 0)
    assert "discarded" not in (_item(dynamodb, table, "o-1") or {})


def test_discard_by_age(sqs: Any, queues: tuple[str, str], table: str) -> None:
    _, dlq = queues
    _letter(sqs, dlq, "o-1", "terminal")
    code, out, _ = run("discard", "--wait-seconds", "0", "--older-than", "7d")
    assert code == 0 and "0 would be discarded" in out and counts(sqs, dlq) == (1, 0)
    code, out, _ = run("discard", "--wait-seconds", "0", "--older-than", "0")
    assert code == 0 and "1 discarded" in out and counts(sqs, dlq) == (0, 0)


def test_age_filter_counts_from_when_the_dead_letter_arrived() -> None:
    def letter(sent_ms: int | None) -> DeadLetterView:
        attributes = {"SentTimestamp": str(sent_ms)} if sent_ms is not None else {}
        return DeadLetterView("m", "r", "{}", {}, attributes)

    now = 10 * 86400 * 1000
    args = argparse.Namespace(trade_key=None, outcome_class=None, older_than=duration("7d"))
    wanted = filters_from(args, now_ms=now)
    assert wanted.match(letter(now - 8 * 86400 * 1000))
    assert not wanted.match(letter(now - 6 * 86400 * 1000))
    assert not wanted.match(letter(None))  # unknown age: never taken as old
    assert [duration(t) for t in ("90", "90s", "15m", "12h", "7d")] == [90, 90, 900, 43200, 604800]
    with pytest.raises(argparse.ArgumentTypeError):
        duration("a week")


def test_discard_needs_a_filter_or_all(queues: tuple[str, str], table: str) -> None:
    code, _, err = run("discard", "--wait-seconds", "0")
    assert code == 2 and "--trade-key, --outcome-class, --older-than, or --all" in err


def test_a_large_discard_asks_first(sqs: Any, queues: tuple[str, str], table: str) -> None:
    _, dlq = queues
    for i in range(3):
        _letter(sqs, dlq, f"o-{i}", "exhausted")
    code, _, err = run("discard", "--wait-seconds", "0", "--all", "--ask-above", "2")  # no terminal
    assert code == 2 and "no terminal to ask, add --yes" in err and counts(sqs, dlq) == (3, 0)
    code, _, err = run("discard", "--wait-seconds", "0", "--all", "--ask-above", "2", stdin=Terminal("no\n"))
    assert code == 3 and "Discard 3 dead letters" in err and counts(sqs, dlq) == (3, 0)
    code, out, _ = run("discard", "--wait-seconds", "0", "--all", "--ask-above", "2", stdin=Terminal("yes\n"))
    assert code == 0 and "3 discarded" in out and counts(sqs, dlq) == (0, 0)


def test_a_note_that_cannot_be_written_keeps_the_dead_letter(sqs: Any, queues: tuple[str, str]) -> None:
    _, dlq = queues
    _letter(sqs, dlq, "o-1", "terminal")
    code, out, _ = run("discard", "--wait-seconds", "0", "--all", "--table", "no-such-table")
    assert code == 1 and "NOT discarded" in out and "0 discarded" in out
    assert counts(sqs, dlq) == (1, 0)  # nothing lost, visible again
