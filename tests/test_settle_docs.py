"""docs/settle.md says what the settle flow does: its promises, checked against the code that keeps
them (the flow's table of answers against the code tables, the refund number, the bound on calls, the
item's attributes and the final states)."""

from __future__ import annotations

import hashlib
import re

from alipay_cancel.decisions.operation_codes import SETTLE_CODES
from alipay_cancel.decisions.refund_request import request_number
from alipay_cancel.decisions.steps import MAX_CALLS, REFUND_CONFIRM_SECONDS
from alipay_cancel.shared.ledger_item import ALIPAY_FIELDS, SETTLED, Op, Status, TradeRecord
from tests.template_support import ROOT

DOC = (ROOT / "docs" / "settle.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert match, f"docs/settle.md has no section {title!r}"
    return match.group(1)


def _rows(section: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not line.startswith("| ---")
    ][1:]


def test_every_code_the_flow_settles_by_is_in_the_page_with_its_operation() -> None:
    rows = _rows(_section("What each delivery does"))
    named: dict[str, set[str]] = {}
    for call, answer, _next in rows:
        named.setdefault(call.replace(" ", "_"), set()).update(re.findall(r"`((?:ACQ\.)?[A-Z_]+)`", answer))
    for op, codes in SETTLE_CODES.items():
        assert codes <= named[op.value], (op, codes - named[op.value])


def test_the_refund_number_is_what_the_page_says() -> None:
    assert (
        "`alipay-cancel-` followed by the first 32 hex characters of\n  sha256 of the trade's `trade_key`"
        in DOC
    )
    number = request_number("ORDER-1")
    assert number == "alipay-cancel-" + hashlib.sha256(b"ORDER-1").hexdigest()[:32]
    assert f"({len(number)} characters; Alipay allows 64)" in DOC


def test_the_bounds_are_the_ones_the_code_keeps() -> None:
    assert f"At most {MAX_CALLS} calls are made\nper delivery" in DOC
    assert f"at least {REFUND_CONFIRM_SECONDS} s after the refund" in DOC


def test_the_final_states_are_the_ledgers() -> None:
    states = {row[0].strip("`") for row in _rows(_section("Final states"))}
    assert states == {s.value for s in Status if s not in (Status.RETRYING, Status.SUCCEEDED)}
    assert {s.value for s in SETTLED} - states == {Status.SUCCEEDED.value}


def test_the_attributes_it_adds_are_the_records_and_say_what_they_mean() -> None:
    listed = {row[0].strip("`") for row in _rows(_section("Item attributes the settle flow adds"))}
    settle_facts = set(ALIPAY_FIELDS[6:]) | {"money_moved", "if_paid"}
    assert listed == settle_facts
    assert listed <= set(TradeRecord._fields)
    operations = re.search(r"`history` entries name the operation \(([^)]*)\)", DOC)
    assert operations and set(re.findall(r"`(\w+)`", operations.group(1))) == {op.value for op in Op}
