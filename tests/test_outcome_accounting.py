"""The after-run check of events against the ledger (local.accounting.outcome_accounting) finds what a
lost, wrong or invented event looks like, and tells legitimate repeats and earlier failures apart."""

from __future__ import annotations

from typing import Any

from local.accounting.outcome_accounting import FinalWrite, StateCount, account_events, final_writes

from alipay_cancel.shared.ledger_item import event_id

DETAIL_TYPE = {"CLOSED": "Trade Closed", "FAILED": "Trade Failed", "KEPT": "Trade Kept"}


def _item(trade_key: str, status: str) -> dict[str, Any]:
    item: dict[str, Any] = {"trade_key": trade_key, "status": status}
    if status != "RETRYING":
        item["event_id"] = event_id(trade_key, status)
    return item


def _event(trade_key: str, status: str, **detail: Any) -> dict[str, Any]:
    return {
        "source": "alipay-cancel",
        "detail-type": DETAIL_TYPE[status],
        "detail": {
            "event_id": event_id(trade_key, status),
            "trade_key": trade_key,
            "state": status,
            **detail,
        },
    }


def test_every_final_state_with_its_event_is_accounted_for_and_other_sources_are_ignored() -> None:
    items = [_item("A", "CLOSED"), _item("B", "KEPT"), _item("C", "RETRYING")]
    other = {"source": "someone-else", "detail-type": "x", "detail": {}}
    account = account_events(items, [_event("A", "CLOSED"), _event("B", "KEPT"), other])
    assert account.ok and (account.final_items, account.events) == (2, 2), account.summary()


def test_a_lost_event_is_missing() -> None:
    account = account_events([_item("A", "CLOSED"), _item("B", "KEPT")], [_event("A", "CLOSED")])
    assert not account.ok and account.missing == ["B"]


def test_an_event_with_the_right_id_but_other_contents_is_mismatched() -> None:
    wrong = _event("A", "CLOSED")
    wrong["detail-type"] = "Trade Kept"
    account = account_events([_item("A", "CLOSED")], [wrong])
    assert not account.ok and account.mismatched == ["A"]


def test_an_event_no_final_state_explains_is_unexpected_but_an_earlier_failure_is_superseded() -> None:
    items = [_item("A", "CLOSED"), _item("B", "RETRYING")]
    events = [
        _event("A", "CLOSED"),
        _event("A", "FAILED"),
        _event("B", "FAILED"),
        _event("Z", "KEPT"),
        _event("A", "KEPT"),
    ]
    account = account_events(items, events)
    assert sorted(account.superseded) == sorted([event_id("A", "FAILED"), event_id("B", "FAILED")])
    assert sorted(account.unexpected) == sorted([event_id("Z", "KEPT"), event_id("A", "KEPT")])
    assert not account.ok


def test_repeats_are_counted_by_event_id_and_do_not_make_the_run_wrong() -> None:
    events = [_event("A", "CLOSED"), _event("A", "CLOSED"), _event("A", "CLOSED")]
    account = account_events([_item("A", "CLOSED")], events)
    assert account.ok and account.duplicates == {event_id("A", "CLOSED"): 3}
    assert "2 duplicates (of 1 events)" in account.summary()


# --- with the stream as a witness: final states written and replaced since ----------------------


def _write(trade_key: str, status: str, sequence: int) -> FinalWrite:
    return FinalWrite(trade_key, status, event_id(trade_key, status), sequence)


def test_a_replaced_final_state_the_stream_recorded_needs_its_event_too() -> None:
    """A trade FAILED, a redrive claimed it again and closed it: the ledger shows CLOSED only; the
    stream shows both final writes, and a lost Trade Failed is found."""
    items = [_item("A", "CLOSED")]
    written = [_write("A", "FAILED", 1), _write("A", "CLOSED", 3)]
    both = account_events(items, [_event("A", "FAILED"), _event("A", "CLOSED")], written)
    assert both.ok and both.superseded == [event_id("A", "FAILED")] and both.final_writes == 2
    lost = account_events(items, [_event("A", "CLOSED")], written)
    assert not lost.ok and lost.lost == ["A FAILED"] and lost.missing == []
    assert "1 missing" in lost.summary() and "(2 final writes on the stream)" in lost.summary()
    # Without the witness the same loss goes unseen: the ledger alone no longer shows the FAILED.
    assert account_events(items, [_event("A", "CLOSED")]).ok


def test_with_the_witness_an_event_of_a_state_never_written_is_unexpected_even_a_failure() -> None:
    items = [_item("A", "CLOSED")]
    account = account_events(
        items, [_event("A", "CLOSED"), _event("A", "FAILED")], [_write("A", "CLOSED", 1)]
    )
    assert not account.ok and account.unexpected == [event_id("A", "FAILED")] and account.superseded == []


def test_the_same_failure_written_twice_is_one_outcome_with_one_id() -> None:
    items = [_item("A", "FAILED")]
    written = [_write("A", "FAILED", 1), _write("A", "FAILED", 5)]
    account = account_events(items, [_event("A", "FAILED"), _event("A", "FAILED")], written)
    assert account.ok and account.duplicates == {event_id("A", "FAILED"): 2}
    assert account.duplicate_trades == {event_id("A", "FAILED"): "A"}


def test_counts_per_state_are_trades_events_and_distinct_ids() -> None:
    items = [_item("A", "CLOSED"), _item("B", "CLOSED"), _item("C", "KEPT"), _item("D", "RETRYING")]
    events = [_event("A", "CLOSED"), _event("A", "CLOSED"), _event("B", "CLOSED"), _event("C", "KEPT")]
    account = account_events(items, events)
    assert account.by_state == {"CLOSED": StateCount(2, 3, 2), "KEPT": StateCount(1, 1, 1)}


def test_final_writes_are_the_records_that_gain_an_event_id() -> None:
    def record(sequence: int, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
        change: dict[str, Any] = {"SequenceNumber": str(sequence)}
        for name, image in (("OldImage", old), ("NewImage", new)):
            if image is not None:
                change[name] = {k: {"S": v} for k, v in image.items()}
        return {"dynamodb": change}

    claimed = {"trade_key": "A", "status": "RETRYING"}
    closed = {**claimed, "status": "CLOSED", "event_id": event_id("A", "CLOSED")}
    noted = {**closed, "note": "x"}
    records = [
        record(1, None, claimed),  # a claim
        record(2, claimed, closed),  # the final write
        record(3, closed, noted),  # a note on a final item
        record(4, None, {"trade_key": "B", "status": "KEPT", "event_id": event_id("B", "KEPT")}),
        record(5, closed, None),  # removed
    ]
    assert final_writes(records) == [_write("A", "CLOSED", 2), _write("B", "KEPT", 4)]
