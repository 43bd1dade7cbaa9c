"""One results-table stream record -> the outcome event it announces (pure): which writes announce
an outcome, the event's detail-type and detail per final state, nulls for what the item lacks,
exact strings, and never the token."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alipay_cancel.shared.ledger_item import event_id
from alipay_cancel_events.contract import DETAIL_FIELDS, SOURCE, FinalState
from alipay_cancel_events.outcome_event import NotAnOutcome, announces_outcome, outcome_event
from tests.fixtures.ledger_items import FACTS, FINAL_STATES, typed_image

TRADE = "app:2021000000000002 merchant:2088000000000001 ORDER-1001"
DETAIL_TYPES = {
    "CLOSED": "Trade Closed",
    "REFUNDED": "Trade Refunded",
    "KEPT": "Trade Kept",
    "NOT_FOUND": "Trade Not Found",
    "FAILED": "Trade Failed",
}


def _record(
    old: dict[str, Any] | None, new: dict[str, Any] | None, event_name: str = "MODIFY"
) -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"trade_key": {"S": TRADE}}, "SequenceNumber": "100"}
    if old is not None:
        change["OldImage"] = typed_image(old)
    if new is not None:
        change["NewImage"] = typed_image(new)
    return {"eventName": event_name, "dynamodb": change}


def _in_flight() -> dict[str, Any]:
    return {"trade_key": TRADE, "status": "RETRYING", "lease_holder": "r:m", "attempts": 1}


def _final(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "trade_key": TRADE,
        "status": status,
        "app_id": "2021000000000002",
        "merchant_id": "2088000000000001",
        "out_trade_no": "ORDER-1001",
        "trade_no": "2024050122001400000000000001",
        "alipay_trace_id": "0b2c3d4e5f",
        "settled_by": "message-1",
        "finished_at": "2024-05-01T12:00:02.345Z",
        "event_id": event_id(TRADE, status),
        "attempts": 1,
        "history": [{"op": "cancel", "result": "ok"}],
        **FACTS[status],
        **extra,
    }


@pytest.mark.parametrize("status", FINAL_STATES)
def test_each_final_write_announces_one_event_of_its_detail_type(status: str) -> None:
    record = _record(_in_flight(), _final(status))
    assert announces_outcome(record)
    event = outcome_event(record["dynamodb"]["NewImage"])
    assert event.detail_type == DETAIL_TYPES[status] == FinalState(status).detail_type
    assert list(event.detail) == list(DETAIL_FIELDS)
    assert event.detail["version"] == "1"
    assert event.detail["state"] == status
    assert event.event_id == event_id(TRADE, status)
    assert event.detail["trade_key"] == TRADE
    for name in ("app_id", "merchant_id", "out_trade_no", "trade_no", "alipay_trace_id", "settled_by"):
        assert event.detail[name] == _final(status)[name]
    for name, value in FACTS[status].items():
        if name in DETAIL_FIELDS:
            assert event.detail[name] == value, name


def test_what_the_item_lacks_is_null_and_money_moved_stays_a_boolean() -> None:
    event = outcome_event(
        typed_image({"trade_key": "T1", "status": "NOT_FOUND", "event_id": "e1", "money_moved": False})
    )
    assert event.detail["money_moved"] is False
    assert {k for k, v in event.detail.items() if v is None} == set(DETAIL_FIELDS) - {
        "version",
        "event_id",
        "trade_key",
        "state",
        "money_moved",
    }
    refunded = outcome_event(typed_image(_final("REFUNDED")))
    assert refunded.detail["money_moved"] is True
    assert (refunded.detail["refund_amount"], refunded.detail["refund_fee"]) == ("88.88", "88.88")


def test_an_amount_written_as_a_number_keeps_its_exact_text() -> None:
    image = typed_image(_final("CLOSED"))
    image["total_amount"] = {"N": "0.10"}
    assert outcome_event(image).detail["total_amount"] == "0.10"


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (None, {"trade_key": TRADE, "status": "RETRYING"}, "the claim creates the item"),
        ({"trade_key": TRADE}, _in_flight(), "the claim of a known trade"),
        (_in_flight(), {**_in_flight(), "error_code": "20000"}, "a retryable ending releases the lease"),
        (_final("CLOSED"), {**_final("CLOSED"), "discarded": [{"by": "on-call"}]}, "a note on a final item"),
        (_final("FAILED"), {**_in_flight(), "attempts": 2}, "a redrive claims a FAILED trade again"),
        (_final("CLOSED"), None, "the item is deleted"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_writes_that_are_not_a_final_state_announce_nothing(
    old: dict[str, Any] | None, new: dict[str, Any] | None, why: str
) -> None:
    assert not announces_outcome(_record(old, new)), why


def test_a_final_item_inserted_in_one_write_announces_its_outcome() -> None:
    assert announces_outcome(_record(None, _final("KEPT"), event_name="INSERT"))


def test_a_failed_trade_redriven_and_closed_announces_both_with_their_own_ids() -> None:
    failed = _record(_in_flight(), _final("FAILED"))
    closed = _record({**_in_flight(), "attempts": 2}, _final("CLOSED"))
    ids = [
        outcome_event(r["dynamodb"]["NewImage"]).event_id for r in (failed, closed) if announces_outcome(r)
    ]
    assert ids == [event_id(TRADE, "FAILED"), event_id(TRADE, "CLOSED")]


def test_the_token_and_other_item_attributes_never_reach_the_event() -> None:
    token = "202405BB0123456789abcdef0123456789abcdef"
    image = typed_image(_final("REFUNDED", app_auth_token=token, lease_holder="r:m", remedy="call support"))
    entry = outcome_event(image).put_events_entry("bus")
    assert token not in json.dumps(entry, default=str)
    assert set(json.loads(entry["Detail"])) == set(DETAIL_FIELDS)


@pytest.mark.parametrize("status", ["RETRYING", "SUCCEEDED", "closed", ""])
def test_an_event_id_on_an_item_that_is_not_in_a_final_state_is_a_defect_named_without_values(
    status: str,
) -> None:
    image = typed_image({"trade_key": "SECRET-ORDER", "status": status, "event_id": "e1"})
    with pytest.raises(NotAnOutcome) as raised:
        outcome_event(image)
    assert "SECRET-ORDER" not in str(raised.value) and (not status or status not in str(raised.value))


def test_the_put_events_entry_names_source_detail_type_bus_and_the_time_the_trade_ended() -> None:
    entry = outcome_event(typed_image(_final("CLOSED"))).put_events_entry(
        "arn:aws:events:us-east-1:1:event-bus/b"
    )
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        SOURCE,
        "Trade Closed",
        "arn:aws:events:us-east-1:1:event-bus/b",
    )
    assert entry["Time"] == dt.datetime(2024, 5, 1, 12, 0, 2, 345000, tzinfo=dt.UTC)
    assert json.loads(entry["Detail"])["finished_at"] == "2024-05-01T12:00:02.345Z"
    unparsable = outcome_event(typed_image(_final("CLOSED", finished_at="yesterday"))).put_events_entry("b")
    assert "Time" not in unparsable


# Ids are printable ASCII: quotes and backslashes included (an input template that does not escape
# them would produce broken JSON; the detail is serialised, not templated).
_printable = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)


@given(
    out_trade_no=_printable,
    trade_no=st.one_of(st.none(), _printable),
    trace=st.one_of(st.none(), st.text(max_size=40)),
    status=st.sampled_from(FINAL_STATES),
)
def test_any_ids_round_trip_exactly_through_the_detail_json(
    out_trade_no: str, trade_no: str | None, trace: str | None, status: str
) -> None:
    values: dict[str, Any] = {
        "trade_key": out_trade_no,
        "status": status,
        "event_id": "e",
        "out_trade_no": out_trade_no,
    }
    if trade_no is not None:
        values["trade_no"] = trade_no
    if trace is not None:
        values["alipay_trace_id"] = trace
    detail = json.loads(outcome_event(typed_image(values)).put_events_entry("b")["Detail"])
    assert (detail["out_trade_no"], detail["trade_no"], detail["alipay_trace_id"]) == (
        out_trade_no,
        trade_no,
        trace,
    )


@pytest.mark.parametrize(
    ("finished_at", "time"),
    [
        ("2024-05-01T20:00:02.345+08:00", dt.datetime(2024, 5, 1, 12, 0, 2, 345000, tzinfo=dt.UTC)),
        ("2024-05-01T12:00:02.345", dt.datetime(2024, 5, 1, 12, 0, 2, 345000, tzinfo=dt.UTC)),  # read as UTC
    ],
)
def test_the_event_time_is_the_moment_the_trade_ended_whatever_its_offset(
    finished_at: str, time: dt.datetime
) -> None:
    entry_time = outcome_event(typed_image(_final("KEPT", finished_at=finished_at))).put_events_entry("b")[
        "Time"
    ]
    assert entry_time == time and entry_time.utcoffset() is not None


def test_the_detail_is_compact_json_with_text_as_written() -> None:
    """The entry a dead letter carries (and an operator reads and replays) holds the detail as compact
    JSON, non-ASCII text as it is: no spaces, no \\u escapes."""
    image = typed_image(
        {
            "trade_key": "订单-1",
            "status": "NOT_FOUND",
            "event_id": "e1",
            "money_moved": False,
            "out_trade_no": "订单-1",
        }
    )
    detail = outcome_event(image).put_events_entry("b")["Detail"]
    assert detail.startswith('{"version":"1","event_id":"e1","trade_key":"订单-1","app_id":null,')
    assert '"out_trade_no":"订单-1",' in detail and '"money_moved":false,' in detail
    assert " " not in detail and "\\u" not in detail
