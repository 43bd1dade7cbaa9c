"""The outcome-event function (``alipay_cancel_events``: deployed as a function of its own, it imports
nothing of ``alipay_cancel``) agrees with the ledger whose stream it reads: the same final states, the
same ``event_id`` rule, the same attribute names, and the ledger's own writes, read back from the
table's stream, announce each final state exactly once (a claim, a retry, a redrive's claim and a
discard note announce nothing, and neither the claim nor the final write drops a discard note)."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alipay_cancel.shared.ledger_item import SETTLED, Status, TradeRecord, event_id
from alipay_cancel_events.contract import DETAIL_FIELDS, FinalState
from alipay_cancel_events.outcome_event import announces_outcome, outcome_event
from tests.fixtures.aws import REGION, AwsStack
from tests.fixtures.ledger_items import (
    DEFAULT_APP_ID,
    FACTS,
    FINAL_STATES,
    TRACE_ID,
    Ledger,
)

# What the ledger writes besides Alipay's facts (``stores.ledger``), by the names the detail uses.
LEDGER_WRITES = {"trade_key", "app_id", "merchant_id", "event_id", "finished_at", "settled_by"}


def test_the_events_final_states_are_the_states_the_ledger_ends_a_trade_in() -> None:
    # SUCCEEDED: written by releases before the ledger (read as settled, never written again).
    assert [s.value for s in FinalState] == [
        s.value for s in Status if s not in (Status.RETRYING, Status.SUCCEEDED)
    ]
    assert FINAL_STATES == tuple(s.value for s in FinalState)
    settled = {s.value for s in FinalState if s is not FinalState.FAILED}
    assert settled == {s.value for s in SETTLED if s is not Status.SUCCEEDED}


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80),
    st.sampled_from(list(FinalState)),
)
def test_the_ledgers_event_id_is_the_rule_the_events_contract_documents(
    trade_key: str, state: FinalState
) -> None:
    documented = hashlib.sha256(f"{trade_key}\n{state.value}".encode()).hexdigest()[:32]
    assert event_id(trade_key, state.value) == documented


def test_every_detail_field_is_a_ledger_attribute() -> None:
    for name in DETAIL_FIELDS:
        if name in ("version", "state"):  # the contract's version; state is the item's ``status``
            continue
        assert name in TradeRecord._fields or name in LEDGER_WRITES, name
    for state, facts in FACTS.items():
        for name in facts:
            assert name in TradeRecord._fields, (state, name)


def _stream_records(stack: AwsStack) -> list[dict[str, Any]]:
    """Every record of the results table's stream so far, oldest first."""
    arn = stack.dynamodb.describe_table(TableName=stack.results_table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name=REGION)  # inside the stack's mock_aws
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    return records


@pytest.fixture
def ledger(aws_stack: AwsStack) -> Ledger:
    aws_stack.dynamodb.update_table(  # as the template declares it
        TableName=aws_stack.results_table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return Ledger(aws_stack.dynamodb, aws_stack.results_table)


@pytest.mark.parametrize("status", FINAL_STATES)
def test_the_ledgers_own_writes_announce_each_final_state_once(
    aws_stack: AwsStack, ledger: Ledger, status: str
) -> None:
    ledger.claim("T-1", "message-1")
    ledger.release("T-1", "message-1")  # a retryable ending: no event
    written = ledger.settle("T-1", status, "message-2")  # the next delivery's claim and final write
    ledger.discard_note("T-1")  # an operator's note afterwards: no second event

    records = _stream_records(aws_stack)
    note = records[-1]["dynamodb"]  # the discard note: the event_id on both sides, so not announced
    assert note["OldImage"]["event_id"] == note["NewImage"]["event_id"] and "discarded" in note["NewImage"]
    announced = [r for r in records if announces_outcome(r)]
    assert [r["dynamodb"]["NewImage"]["status"]["S"] for r in announced] == [status]
    event = outcome_event(announced[0]["dynamodb"]["NewImage"])
    assert event.detail_type == FinalState(status).detail_type
    assert event.event_id == written == event_id("T-1", status)
    detail = event.detail
    assert detail["state"] == status and detail["trade_key"] == "T-1" and detail["out_trade_no"] == "T-1"
    assert detail["app_id"] == DEFAULT_APP_ID  # the default app, written by its id
    assert detail["settled_by"] == "message-2" and detail["alipay_trace_id"] == TRACE_ID
    assert detail["finished_at"] == "2024-05-01T12:00:02.345Z"
    for name, value in FACTS[status].items():
        if name in TradeRecord._fields and name in DETAIL_FIELDS:
            assert detail[name] == value, name
    item = aws_stack.result("T-1")
    assert item is not None
    assert item["status"] == status and item["event_id"] == written and len(item["discarded"]) == 1


def test_a_redriven_failure_announces_its_new_ending_and_keeps_the_discard_note(
    aws_stack: AwsStack, ledger: Ledger
) -> None:
    failed = ledger.settle("T-2", "FAILED", "message-1")
    ledger.discard_note("T-2")  # the operator removed its dead letter...
    ledger.claim("T-2", "message-2")  # ...and a redrive of another copy claims it again
    claimed = aws_stack.result("T-2")
    assert claimed is not None
    assert claimed["status"] == "RETRYING" and "event_id" not in claimed and len(claimed["discarded"]) == 1
    closed = ledger.finish("T-2", "CLOSED", "message-2")

    announced = [r for r in _stream_records(aws_stack) if announces_outcome(r)]
    assert [outcome_event(r["dynamodb"]["NewImage"]).event_id for r in announced] == [failed, closed]
    item = aws_stack.result("T-2")
    assert item is not None
    assert item["status"] == "CLOSED" and item["attempts"] == 2 and len(item["discarded"]) == 1
