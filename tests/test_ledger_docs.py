"""docs/ledger.md is the contract of the ledger item: its attribute table is what the store writes,
its states are the code's, and what it says of the event id, the history and the costs holds."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.plans import Answered, ClaimFailed, Delivery, SetupBroken
from alipay_cancel.decisions.retry_policy import RetrySchedule
from alipay_cancel.decisions.routing import route
from alipay_cancel.decisions.steps import Answer, Call
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import (
    CLAIMABLE,
    HISTORY_LIMIT,
    SETTLED,
    CallResult,
    HistoryEntry,
    LedgerWrite,
    Op,
    Pending,
    Status,
    TradeRecord,
    event_id,
)
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel.stores.ledger import Lease, Ledger
from alipay_cancel_ops.discard_notes import note_discarded
from tests.fixtures.aws import AwsStack
from tests.settle_support import delivered

DOC = (Path(__file__).resolve().parent.parent / "docs" / "ledger.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n", DOC, re.M)
    assert match, f"docs/ledger.md has no section {title!r}"
    rest = DOC[match.end() :]
    end = re.search(r"^## ", rest, re.M)
    return rest[: end.start()] if end else rest


def _first_column(section: str) -> list[str]:
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [name for row in rows for name in re.findall(r"`([^`]+)`", row.split("|")[1])]


def test_the_attribute_table_is_what_the_ledger_writes(aws_stack: AwsStack) -> None:
    """Every attribute any of the ledger's writes sets (and the note ``alipay-cancel discard`` adds), and
    nothing it never sets."""
    ledger = Ledger(aws_stack.dynamodb, aws_stack.results_table, "2021000000000001")
    request = CancelRequest(out_trade_no="T-1", trade_no=None, app_auth_token="tok", merchant_id="2088A")
    lease = Lease("req:m1", 2**50)
    call = Pending("cancel", "t0", "m1")
    seen: set[str] = set()

    def look() -> None:
        item = aws_stack.result(request.trade_key)
        assert item is not None
        seen.update(item)

    ledger.claim(request, lease, call, "m1")
    look()  # the lease and the pending call
    failed = TradeRecord(
        Status.RETRYING, Ending.RETRY, error_code="c", error_sub_code="s", error_message="m", remedy="r"
    )
    entry = HistoryEntry("cancel", "t0", "m1", CallResult.ERROR, "c", "s", "tr")
    ledger.write(LedgerWrite(request.trade_key, failed, "m1", lease_holder=lease.holder, history=(entry,)))
    look()  # the last error
    ledger.claim(request, lease, call, "m2")
    facts = ("trade_no", "gmt_refund_pay", "refund_settlement_id", "trade_status", "total_amount")
    fields: dict[str, Any] = {n: "x" for n in facts}
    refund = {n: "88.88" for n in ("refund_amount", "refund_fee", "refund_request_amount")}
    closed = TradeRecord(
        Status.REFUNDED, Ending.SUCCEEDED, out_trade_no="T-1", action="refund", retry_flag="N",
        alipay_trace_id="tr", out_request_no="alipay-cancel-x", money_moved=True, if_paid="refund",
        settled_reason="Alipay cancelled the paid trade and refunded the buyer (action refund)",
        **fields, **refund,
    )  # fmt: skip
    many = (entry,) * HISTORY_LIMIT
    ledger.write(
        LedgerWrite(
            request.trade_key, closed, "m2", lease_holder=lease.holder, history=many, history_dropped=1
        )
    )
    look()  # a final state
    note = {"at": "t1", "dead_letter_message_id": "d1", "outcome_class": "terminal"}
    assert note_discarded(aws_stack.dynamodb, aws_stack.results_table, request.trade_key, note)
    look()  # an operator's discard note

    documented = set(_first_column(_section("Attributes")))
    assert documented == seen


def test_the_states_are_the_codes() -> None:
    assert set(_first_column(_section("States"))) == {s.value for s in Status}


def test_the_settled_states_are_the_ones_the_page_names() -> None:
    """Settled: never changed again; claimable: the rest (a redrive may claim a FAILED trade again)."""
    said = re.search(r"^(.*) are \*settled\*", _section("States"), re.M)
    assert said is not None
    assert set(re.findall(r"`([A-Z_]+)`", said.group(1))) == {s.value for s in SETTLED}
    never = {row.split("|")[1].strip(" `") for row in _section("States").splitlines() if "| never" in row}
    assert never == {s.value for s in SETTLED}
    assert {s.value for s in CLAIMABLE} == {s.value for s in Status} - never == {"RETRYING", "FAILED"}


def test_outcome_classes_listed_are_the_ones_a_write_carries() -> None:
    delivery = Delivery("m", "{}", 2, RetrySchedule(86400, 30, 3600, 900, 8))
    last = delivery._replace(receive_count=8)
    request = CancelRequest(out_trade_no="T-1", trade_no=None)
    success = CancelSuccess("close", None, "T-1", None, "N", "1", "tr")
    frozen = AlipayFailure(FailureKind.V3_ERROR, "x", 400, "ACQ.REASON_TRADE_BEEN_FREEZEN", verified=True)
    timeout = AlipayFailure(FailureKind.TIMEOUT, "slow")

    def called(outcome: Any) -> Answered:
        return delivered(Answer(Call(Op.CANCEL), outcome, classify(outcome, Op.CANCEL), "t"))

    written = set()
    for d, happened in [
        (delivery, called(success)),
        (delivery, called(frozen)),
        (delivery, called(timeout)),
        (delivery, SetupBroken("no secret")),
        (last, ClaimFailed("throttled")),
    ]:
        plan = route(d, request, happened)
        assert plan.write is not None
        written.add(plan.write.record.outcome_class.value)
    row = next(line for line in _section("Attributes").splitlines() if line.startswith("| `outcome_class`"))
    assert set(re.findall(r"`([a-z_]+)`", row.split("|")[2])) == written


def test_the_event_id_is_what_the_page_says() -> None:
    assert "first 32 hex characters of sha256 of `<trade_key>\\n<status>`" in DOC
    assert event_id("T-1", "CLOSED") == hashlib.sha256(b"T-1\nCLOSED").hexdigest()[:32]


def test_the_history_keeps_what_the_page_says() -> None:
    assert f"the last {HISTORY_LIMIT} kept" in DOC
    entry = _section("Attributes")
    for name in HistoryEntry._fields:
        assert f"`{name}`" in entry
    for result in CallResult:
        assert f"`{result.value}`" in entry
