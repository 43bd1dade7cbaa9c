"""The after-run check of events against the ledger (local.outcome_accounting) finds what a lost,
wrong or invented event looks like, and tells legitimate repeats and earlier failures apart."""

from __future__ import annotations

from typing import Any

from local.outcome_accounting import account_events

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
