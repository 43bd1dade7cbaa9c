"""The ledger store against moto: the claim, the resume, the step and the writes, each a conditional
UpdateItem; what a refused claim returns; items written by earlier releases honoured as they are."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from alipay_cancel.decisions.steps import Refusal, refused
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import (
    CallResult,
    HistoryEntry,
    LedgerWrite,
    Pending,
    Status,
    TradeRecord,
    event_id,
)
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel.stores.ledger import Claimed, Lease, Ledger, NotLeaseHolder, Refused
from tests.fixtures.aws import AwsStack

NOW = 1_800_000_000.0  # the store's clock: every write's time, and "now" for leases
DEFAULT_APP = "2021000000000001"
REQUEST = CancelRequest(out_trade_no="T1", trade_no=None)
ME = Lease("req-1:m1", int(NOW * 1000) + 60_000)
OTHER = Lease("req-2:m2", int(NOW * 1000) + 60_000)
CALL = Pending("cancel", "2027-01-15T08:00:00.000Z", "m1")


def _ledger(stack: AwsStack, now: float = NOW) -> Ledger:
    return Ledger(stack.dynamodb, stack.results_table, DEFAULT_APP, clock=lambda: now)


def _put(stack: AwsStack, key: str, **attributes: Any) -> None:
    """An item as another delivery, or an earlier release, left it."""
    item: dict[str, Any] = {"trade_key": {"S": key}}
    for name, value in attributes.items():
        item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    stack.dynamodb.put_item(TableName=stack.results_table, Item=item)


def _final(key: str, status: Status, lease: Lease | None, **record: Any) -> LedgerWrite:
    return LedgerWrite(
        trade_key=key,
        record=TradeRecord(
            status, Ending.SUCCEEDED if status in (Status.CLOSED,) else Ending.RETRY, **record
        ),
        message_id=lease.holder.split(":")[1] if lease else "m9",
        lease_holder=lease.holder if lease else None,
        history=(HistoryEntry("cancel", CALL.at, "m1", CallResult.OK, trace_id="tr-1"),) if lease else (),
    )


def test_a_new_trade_is_claimed_with_the_call_pending_and_counted(aws_stack: AwsStack) -> None:
    claim = _ledger(aws_stack).claim(REQUEST, ME, CALL, "m1")

    assert claim == Claimed(prior=None)
    item = aws_stack.result("T1")
    assert item == {
        "trade_key": "T1",
        "status": "RETRYING",
        "lease_holder": "req-1:m1",
        "lease_until": ME.until_ms,
        "pending": {"op": "cancel", "at": CALL.at, "delivery": "m1"},
        "attempts": 1,
        "message_id": "m1",
        "app_id": DEFAULT_APP,  # the default app, written by its id
        "out_trade_no": "T1",
        "created_at": "2027-01-15T08:00:00.000Z",
        "updated_at": "2027-01-15T08:00:00.000Z",
    }


def test_a_live_lease_refuses_a_second_claim_and_says_so(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    before = aws_stack.result("T1")

    claim = ledger.claim(REQUEST, OTHER, CALL._replace(delivery="m2"), "m2")

    assert isinstance(claim, Refused)
    assert refused(claim.item, OTHER.holder, int(NOW * 1000)) is Refusal.HELD
    assert refused(claim.item, ME.holder, int(NOW * 1000)) is Refusal.OURS  # an SDK retry of its own
    assert aws_stack.result("T1") == before


@pytest.mark.parametrize("status", ["CLOSED", "REFUNDED", "NOT_FOUND", "KEPT", "SUCCEEDED", "LATER_STATE"])
def test_a_settled_trade_is_never_claimed_and_the_refusal_returns_it(
    aws_stack: AwsStack, status: str
) -> None:
    """Settled states, an earlier release's SUCCEEDED, and a state this release does not know."""
    _put(aws_stack, "T1", status=status, action="close", attempts=1, message_id="m0")
    before = aws_stack.result("T1")

    claim = _ledger(aws_stack).claim(REQUEST, ME, CALL, "m1")

    assert isinstance(claim, Refused) and claim.item.status == status
    assert refused(claim.item, ME.holder, int(NOW * 1000)) is Refusal.SETTLED
    assert aws_stack.result("T1") == before


@pytest.mark.parametrize("status", ["RETRYING", "FAILED"])
def test_an_earlier_releases_unsettled_item_is_claimed_counting_on(aws_stack: AwsStack, status: str) -> None:
    """Items of releases before the ledger: no lease, no pending; attempts counted Alipay calls."""
    _put(aws_stack, "T1", status=status, attempts=3, outcome_class="retry", error_code="20000")

    claim = _ledger(aws_stack).claim(REQUEST, ME, CALL, "m1")

    assert isinstance(claim, Claimed) and claim.prior is not None
    assert (claim.prior.status, claim.prior.attempts, claim.prior.pending) == (status, 3, None)
    item = aws_stack.result("T1")
    assert item is not None and (item["status"], item["attempts"], item["lease_holder"]) == (
        "RETRYING",
        4,
        ME.holder,
    )
    assert item["error_code"] == "20000"  # the latest error stays until an answer replaces it


def test_claiming_a_failed_trade_removes_its_event_id_and_end(aws_stack: AwsStack) -> None:
    _put(aws_stack, "T1", status="FAILED", attempts=1, event_id="e", finished_at="t", settled_by="m0")
    assert isinstance(_ledger(aws_stack).claim(REQUEST, ME, CALL, "m1"), Claimed)
    item = aws_stack.result("T1")
    assert item is not None and not {"event_id", "finished_at", "settled_by"} & set(item)


def test_a_dead_holders_pending_call_is_resumed_and_recorded_as_unknown(aws_stack: AwsStack) -> None:
    dead = Lease("req-0:m0", int(NOW * 1000) - 1)  # its invocation's deadline has passed
    _ledger(aws_stack).claim(REQUEST, dead, CALL._replace(delivery="m0"), "m0")

    ledger = _ledger(aws_stack)
    claim = ledger.claim(REQUEST, ME, CALL, "m1")
    assert isinstance(claim, Refused) and claim.item.pending is not None
    assert refused(claim.item, ME.holder, int(NOW * 1000)) is Refusal.UNANSWERED

    unknown = HistoryEntry("cancel", CALL.at, "m0", CallResult.UNKNOWN)
    resumed = ledger.claim(REQUEST, ME, CALL, "m1", resuming=claim.item.pending, history=(unknown,))
    assert isinstance(resumed, Claimed) and resumed.prior is not None and resumed.prior.attempts == 1
    item = aws_stack.result("T1")
    assert item is not None
    assert (item["attempts"], item["pending"]["delivery"], item["lease_holder"]) == (2, "m1", ME.holder)
    assert item["history"] == [{"op": "cancel", "at": CALL.at, "delivery": "m0", "result": "unknown"}]

    # a second resumer that saw the same dead call finds it resumed already: refused, held
    again = ledger.claim(REQUEST, OTHER, CALL, "m2", resuming=claim.item.pending, history=(unknown,))
    assert isinstance(again, Refused) and refused(again.item, OTHER.holder, int(NOW * 1000)) is Refusal.HELD


def test_the_final_write_needs_the_lease_ends_it_and_names_the_state_once(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    with pytest.raises(NotLeaseHolder):
        ledger.write(_final("T1", Status.CLOSED, OTHER, action="close"))

    assert ledger.write(_final("T1", Status.CLOSED, ME, action="close", trade_no="2027X"))
    item = aws_stack.result("T1")
    assert item is not None
    assert not {"lease_holder", "lease_until", "pending"} & set(item)
    assert (item["status"], item["action"], item["trade_no"], item["attempts"]) == (
        "CLOSED",
        "close",
        "2027X",
        1,
    )
    assert item["event_id"] == event_id("T1", "CLOSED") and len(item["event_id"]) == 32
    assert item["settled_by"] == "m1" and item["finished_at"] == "2027-01-15T08:00:00.000Z"
    assert item["history"] == [
        {"op": "cancel", "at": CALL.at, "delivery": "m1", "result": "ok", "trace_id": "tr-1"}
    ]
    # the same write again (as the SDK retries one whose answer was lost): it went through, nothing changes
    assert ledger.write(_final("T1", Status.CLOSED, ME, action="close", trade_no="2027X"))
    assert aws_stack.result("T1") == item


def test_a_release_leaves_the_trade_retrying_without_an_end(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    ledger.write(_final("T1", Status.RETRYING, ME, error_code="20000", error_message="busy"))
    item = aws_stack.result("T1")
    assert item is not None and item["status"] == "RETRYING" and item["error_code"] == "20000"
    assert not {"lease_holder", "pending", "event_id", "finished_at", "settled_by"} & set(item)
    # the next delivery claims it at once; a later answer without an error clears the error
    ledger.claim(REQUEST, OTHER, CALL._replace(delivery="m2"), "m2")
    ledger.write(_final("T1", Status.CLOSED, OTHER, action="close"))
    item = aws_stack.result("T1")
    assert item is not None and "error_code" not in item and item["attempts"] == 2


def test_a_step_counts_the_next_call_once_even_when_retried(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    answered = (HistoryEntry("cancel", CALL.at, "m1", CallResult.ERROR),)
    following = Pending("cancel", "2027-01-15T08:00:01.000Z", "m1")
    ledger.step("T1", ME, answered, 0, CALL, following)
    ledger.step("T1", ME, answered, 0, CALL, following)  # the SDK's retry of the same step
    item = aws_stack.result("T1")
    assert item is not None and item["attempts"] == 2 and item["pending"]["at"] == following.at
    assert len(item["history"]) == 1
    with pytest.raises(NotLeaseHolder):
        ledger.step("T1", OTHER, answered, 0, following, CALL)


def test_a_note_never_touches_a_settled_item_or_a_live_lease(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    note = LedgerWrite(
        "T1",
        TradeRecord(Status.RETRYING, Ending.CONFIG_ERROR, out_trade_no="T1", error_message="no secret"),
        "m1",
    )
    assert ledger.write(note)
    item = aws_stack.result("T1")
    assert item is not None and (item["status"], item["attempts"], item["app_id"]) == (
        "RETRYING",
        0,
        DEFAULT_APP,
    )

    ledger.claim(REQUEST, ME, CALL, "m2")
    assert ledger.write(note._replace(message_id="m3")) is False  # leased
    ledger.write(_final("T1", Status.CLOSED, ME, action="close"))
    settled = aws_stack.result("T1")
    assert ledger.write(note._replace(message_id="m4")) is False  # settled
    assert aws_stack.result("T1") == settled

    failed = LedgerWrite("T2", TradeRecord(Status.FAILED, Ending.EXHAUSTED, error_message="gave up"), "m5")
    assert ledger.write(failed)
    item = aws_stack.result("T2")
    assert item is not None and item["event_id"] == event_id("T2", "FAILED") and "settled_by" not in item


def test_history_pending_and_attempts_agree(aws_stack: AwsStack) -> None:
    """Every counted call is in the history, or is the one pending: len(history) + dropped (+1 while a
    call is pending) == attempts."""
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    first = HistoryEntry("cancel", CALL.at, "m1", CallResult.ERROR)
    following = Pending("cancel", "2027-01-15T08:00:01.000Z", "m1")
    ledger.step("T1", ME, (first,), 0, CALL, following)
    item = aws_stack.result("T1")
    assert item is not None and len(item["history"]) + 1 == item["attempts"] == 2
    second = HistoryEntry("cancel", following.at, "m1", CallResult.OK)
    ledger.write(_final("T1", Status.CLOSED, ME)._replace(history=(first, second)))
    item = aws_stack.result("T1")
    assert item is not None and len(item["history"]) == item["attempts"] == 2 and "pending" not in item


def test_dynamodb_errors_propagate(aws_stack: AwsStack) -> None:
    def throttle(**_: object) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "UpdateItem",
        )

    aws_stack.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", throttle)
    with pytest.raises(ClientError):
        _ledger(aws_stack).claim(REQUEST, ME, CALL, "m1")
