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
    LedgerItem,
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
    assert "history_dropped" not in item  # none dropped

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


NOW_MS = int(NOW * 1000)


@pytest.mark.parametrize(("clock", "claimed"), [(NOW, False), (NOW + 0.5, True)])
def test_a_lease_is_live_up_to_its_deadline_exactly(aws_stack: AwsStack, clock: float, claimed: bool) -> None:
    """The ledger's clock at the lease's deadline: still live (no claim, no note); a moment later: not."""
    _put(aws_stack, "T1", status="RETRYING", lease_holder=OTHER.holder, lease_until=NOW_MS, attempts=1)
    ledger = _ledger(aws_stack, now=clock)
    note = LedgerWrite(
        "T1", TradeRecord(Status.RETRYING, Ending.CONFIG_ERROR, error_message="no secret"), "m9"
    )

    assert ledger.write(note) is claimed
    assert isinstance(ledger.claim(REQUEST, ME, CALL, "m1"), Claimed) is claimed
    item = aws_stack.result("T1")
    assert item is not None and item["lease_holder"] == (ME if claimed else OTHER).holder
    assert item["attempts"] == (2 if claimed else 1)


@pytest.mark.parametrize("clock", [NOW, NOW - 5])
def test_a_dead_holders_call_is_not_resumed_while_its_lease_is_live(
    aws_stack: AwsStack, clock: float
) -> None:
    dying = Lease("req-0:m0", NOW_MS)
    _ledger(aws_stack).claim(REQUEST, dying, CALL._replace(delivery="m0"), "m0")
    before = aws_stack.result("T1")
    pending = CALL._replace(delivery="m0")
    unknown = HistoryEntry("cancel", CALL.at, "m0", CallResult.UNKNOWN)

    claim = _ledger(aws_stack, now=clock).claim(REQUEST, ME, CALL, "m1", resuming=pending, history=(unknown,))

    assert isinstance(claim, Refused) and refused(claim.item, ME.holder, NOW_MS) is Refusal.HELD
    assert aws_stack.result("T1") == before


@pytest.mark.parametrize(
    "seen",
    [CALL._replace(delivery="m8"), CALL._replace(at="2027-01-15T07:59:59.000Z")],
    ids=["another delivery", "another time"],
)
def test_a_resume_names_the_dead_call_exactly(aws_stack: AwsStack, seen: Pending) -> None:
    dead = Lease("req-0:m0", NOW_MS - 1)
    _ledger(aws_stack).claim(REQUEST, dead, CALL._replace(delivery="m0"), "m0")
    before = aws_stack.result("T1")
    unknown = HistoryEntry("cancel", seen.at, seen.delivery, CallResult.UNKNOWN)

    claim = _ledger(aws_stack).claim(REQUEST, ME, CALL, "m1", resuming=seen, history=(unknown,))

    assert isinstance(claim, Refused)
    assert aws_stack.result("T1") == before


@pytest.mark.parametrize("status", ["CLOSED", "LATER_STATE"])
def test_a_settled_trade_is_never_resumed(aws_stack: AwsStack, status: str) -> None:
    """Even with a pending call and an expired lease left on it (by an earlier release's bug, say)."""
    pending = {"M": {"op": {"S": "cancel"}, "at": {"S": CALL.at}, "delivery": {"S": "m0"}}}
    aws_stack.dynamodb.put_item(
        TableName=aws_stack.results_table,
        Item={
            "trade_key": {"S": "T1"},
            "status": {"S": status},
            "lease_until": {"N": str(NOW_MS - 1)},
            "pending": pending,
            "attempts": {"N": "1"},
        },
    )
    before = aws_stack.result("T1")
    seen = CALL._replace(delivery="m0")
    unknown = HistoryEntry("cancel", CALL.at, "m0", CallResult.UNKNOWN)

    claim = _ledger(aws_stack).claim(REQUEST, ME, CALL, "m1", resuming=seen, history=(unknown,))

    assert isinstance(claim, Refused) and claim.item.status == status
    assert aws_stack.result("T1") == before


def test_a_resume_counts_the_dropped_history(aws_stack: AwsStack) -> None:
    dead = Lease("req-0:m0", NOW_MS - 1)
    _ledger(aws_stack).claim(REQUEST, dead, CALL._replace(delivery="m0"), "m0")
    seen = CALL._replace(delivery="m0")
    unknown = HistoryEntry("cancel", CALL.at, "m0", CallResult.UNKNOWN)

    claim = _ledger(aws_stack).claim(
        REQUEST, ME, CALL, "m1", resuming=seen, history=(unknown,), history_dropped=2
    )

    assert isinstance(claim, Claimed)
    item = aws_stack.result("T1")
    assert item is not None and item["history_dropped"] == 2 and item["attempts"] == 2


def test_a_claim_writes_the_apps_and_merchants_trade_and_keeps_alipays_trade_no(aws_stack: AwsStack) -> None:
    isv = CancelRequest(
        out_trade_no="T1",
        trade_no="2027A",
        app_auth_token="tok",
        app_id="2021000000000002",
        merchant_id="2088M",
    )
    _put(aws_stack, isv.trade_key, status="RETRYING", attempts=1, trade_no="2027ALIPAY", out_trade_no="T1")

    assert isinstance(_ledger(aws_stack).claim(isv, ME, CALL, "m1"), Claimed)

    item = aws_stack.result(isv.trade_key)
    assert item is not None
    assert (item["app_id"], item["merchant_id"], item["out_trade_no"], item["trade_no"]) == (
        "2021000000000002",
        "2088M",
        "T1",
        "2027ALIPAY",  # Alipay's, learnt earlier: the request's does not replace it
    )
    fresh = CancelRequest(out_trade_no=None, trade_no="2027B")
    assert isinstance(_ledger(aws_stack).claim(fresh, ME, CALL, "m2"), Claimed)
    item = aws_stack.result(fresh.trade_key)
    assert item is not None and item["trade_no"] == "2027B" and "out_trade_no" not in item
    assert "merchant_id" not in item and item["app_id"] == DEFAULT_APP


def test_a_step_records_the_dropped_history_and_refuses_a_call_it_did_not_set(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    answered = (HistoryEntry("cancel", CALL.at, "m1", CallResult.ERROR, code="20000", sub_code="isp.busy"),)
    following = Pending("refund", "2027-01-15T08:00:01.000Z", "m1", out_request_no="R1", refund_amount="8.80")

    ledger.step("T1", ME, answered, 3, CALL, following)

    item = aws_stack.result("T1")
    assert item is not None and (item["history_dropped"], item["attempts"]) == (3, 2)
    assert item["pending"] == {
        "op": "refund",
        "at": following.at,
        "delivery": "m1",
        "out_request_no": "R1",
        "refund_amount": "8.80",
    }
    assert item["history"] == [
        {
            "op": "cancel",
            "at": CALL.at,
            "delivery": "m1",
            "result": "error",
            "code": "20000",
            "sub_code": "isp.busy",
        }
    ]
    # the same holder, but not the previous call pending, and not this very write retried: refused
    other_call = following._replace(at="2027-01-15T08:00:02.000Z")
    with pytest.raises(NotLeaseHolder):
        ledger.step("T1", ME, answered, 0, CALL, other_call)
    assert aws_stack.result("T1") == item


def test_a_repoint_replaces_the_claimed_call_uncounted_once(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    confirm = Pending(
        "refund_query", "2027-01-15T08:00:00.500Z", "m1", out_request_no="R1", refund_amount="8.80"
    )

    ledger.repoint("T1", ME, CALL, confirm)
    ledger.repoint("T1", ME, CALL, confirm)  # the SDK's retry of the same write

    item = aws_stack.result("T1")
    assert item is not None and item["attempts"] == 1 and item["pending"]["op"] == "refund_query"
    with pytest.raises(NotLeaseHolder):
        ledger.repoint("T1", OTHER, confirm, CALL)
    with pytest.raises(NotLeaseHolder):
        ledger.repoint("T1", ME, CALL, CALL._replace(op="query"))  # not the claimed call any more
    assert aws_stack.result("T1") == item


def test_a_refused_claim_reads_the_whole_item(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    answered = HistoryEntry("cancel", CALL.at, "m1", CallResult.ERROR, "40004", "ACQ.X", "tr-9")
    refund = Pending("refund", "2027-01-15T08:00:01.000Z", "m1", out_request_no="R1", refund_amount="8.80")
    ledger.step("T1", ME, (answered,), 4, CALL, refund)
    aws_stack.dynamodb.update_item(
        TableName=aws_stack.results_table,
        Key={"trade_key": {"S": "T1"}},
        UpdateExpression="SET out_request_no = :n, refund_request_amount = :a",
        ExpressionAttributeValues={":n": {"S": "R1"}, ":a": {"S": "8.80"}},
    )

    claim = ledger.claim(REQUEST, OTHER, CALL, "m2")

    assert claim == Refused(
        LedgerItem(
            status="RETRYING",
            lease_holder=ME.holder,
            lease_until=ME.until_ms,
            pending=refund,
            attempts=2,
            history=(answered,),
            history_dropped=4,
            message_id="m1",
            out_request_no="R1",
            refund_request_amount="8.80",
        )
    )


def test_a_later_answer_keeps_the_facts_it_lacks_and_writes_those_it_has(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    ledger.write(
        _final("T1", Status.RETRYING, ME, trade_no="2027X", alipay_trace_id="tr-1", if_paid="refund")
    )
    ledger.claim(REQUEST, OTHER, CALL._replace(delivery="m2"), "m2")
    done = _final("T1", Status.REFUNDED, OTHER, action="refund", money_moved=True, settled_reason="refunded")

    assert ledger.write(done._replace(history_dropped=1))

    item = aws_stack.result("T1")
    assert item is not None
    assert (item["trade_no"], item["alipay_trace_id"], item["if_paid"], item["action"]) == (
        "2027X",
        "tr-1",
        "refund",
        "refund",
    )
    assert item["money_moved"] is True and item["settled_reason"] == "refunded"
    assert (item["history_dropped"], item["settled_by"], item["message_id"]) == (1, "m2", "m2")


def test_a_final_write_not_made_by_this_holder_is_refused_after_the_end(aws_stack: AwsStack) -> None:
    """The SDK-retry check accepts only this very write: same delivery, same state, lease gone."""
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")
    assert ledger.write(_final("T1", Status.CLOSED, ME, action="close"))
    settled = aws_stack.result("T1")

    with pytest.raises(NotLeaseHolder, match=r"^T1$"):  # the log line names the trade
        ledger.write(_final("T1", Status.REFUNDED, ME, action="refund"))  # same delivery, another state
    with pytest.raises(NotLeaseHolder):
        ledger.write(_final("T1", Status.CLOSED, OTHER, action="close"))  # another delivery, same state
    assert aws_stack.result("T1") == settled

    # a live lease of another delivery whose item says the same message and state: not ours either
    _put(
        aws_stack,
        "T2",
        status="RETRYING",
        lease_holder=OTHER.holder,
        lease_until=OTHER.until_ms,
        message_id="m1",
    )
    with pytest.raises(NotLeaseHolder):
        ledger.write(_final("T2", Status.RETRYING, ME))


def test_a_note_writes_its_app_merchant_and_ids_and_keeps_the_count(aws_stack: AwsStack) -> None:
    _put(aws_stack, "T1", status="FAILED", attempts=3, trade_no="2027ALIPAY")
    note = LedgerWrite(
        "T1",
        TradeRecord(
            Status.RETRYING, Ending.CONFIG_ERROR, out_trade_no="T1", trade_no="2027N", error_message="no"
        ),
        "m1",
        app_id="2021000000000002",
        merchant_id="2088M",
    )

    assert _ledger(aws_stack).write(note)  # a FAILED item is claimable: a note may go over it

    item = aws_stack.result("T1")
    assert item is not None
    assert (item["status"], item["attempts"], item["app_id"], item["merchant_id"]) == (
        "RETRYING",
        3,
        "2021000000000002",
        "2088M",
    )
    assert (item["trade_no"], item["out_trade_no"]) == ("2027ALIPAY", "T1")


def test_dynamodb_errors_of_every_write_propagate(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    ledger.claim(REQUEST, ME, CALL, "m1")

    def throttle(**_: object) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "UpdateItem",
        )

    aws_stack.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", throttle)
    following = Pending("cancel", "2027-01-15T08:00:01.000Z", "m1")
    with pytest.raises(ClientError):
        ledger.step("T1", ME, (), 0, CALL, following)
    with pytest.raises(ClientError):
        ledger.write(_final("T1", Status.CLOSED, ME))
    with pytest.raises(ClientError):
        ledger.write(LedgerWrite("T1", TradeRecord(Status.RETRYING, Ending.CONFIG_ERROR), "m2"))


def test_a_trade_noted_before_any_call_is_claimed_from_no_call(aws_stack: AwsStack) -> None:
    ledger = _ledger(aws_stack)
    assert ledger.write(LedgerWrite("T1", TradeRecord(Status.RETRYING, Ending.CONFIG_ERROR), "m0"))

    claim = ledger.claim(REQUEST, ME, CALL, "m1")

    assert claim == Claimed(LedgerItem(status="RETRYING", attempts=0, message_id="m0"))
    item = aws_stack.result("T1")
    assert item is not None and item["attempts"] == 1 and "history_dropped" not in item


def test_a_note_over_a_failed_trade_removes_its_end(aws_stack: AwsStack) -> None:
    """A FAILED trade noted as RETRYING again (a redrive found no secret) is no final state any more."""
    _put(aws_stack, "T1", status="FAILED", attempts=1, event_id="e", finished_at="t", settled_by="m0")
    note = LedgerWrite(
        "T1", TradeRecord(Status.RETRYING, Ending.CONFIG_ERROR, error_message="no secret"), "m1"
    )

    assert _ledger(aws_stack).write(note)

    item = aws_stack.result("T1")
    assert item is not None and item["status"] == "RETRYING"
    assert not {"event_id", "finished_at", "settled_by"} & set(item)


def test_a_dynamodb_error_without_an_error_map_propagates_as_it_is(aws_stack: AwsStack) -> None:
    def bare(**_: object) -> None:
        raise ClientError({}, "UpdateItem")

    aws_stack.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", bare)
    with pytest.raises(ClientError):
        _ledger(aws_stack).claim(REQUEST, ME, CALL, "m1")
