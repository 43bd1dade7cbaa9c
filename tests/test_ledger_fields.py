"""Every fact a delivery's record carries reaches the trade's ledger item: the store writes the record's
fields by these lists, so a field missing from them would silently never be written."""

from __future__ import annotations

import re
from pathlib import Path

from alipay_cancel.shared.ledger_item import ALIPAY_FIELDS, OUTCOME_FIELDS, Op, TradeRecord

# Written by the store by name, outside the two lists.
_OWN_WRITES = {"status", "outcome_class", "alipay_trace_id", "if_paid", "money_moved"}


def test_the_store_lists_name_every_field_of_a_record_exactly_once() -> None:
    listed = [*ALIPAY_FIELDS, *OUTCOME_FIELDS]
    assert len(listed) == len(set(listed))
    assert set(listed) | _OWN_WRITES == set(TradeRecord._fields)
    assert not set(listed) & _OWN_WRITES


def test_a_history_entry_names_its_operation_as_the_ledger_page_says() -> None:
    """The `op` values stored in every history entry (the CLI and people read them) are the page's."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "ledger.md").read_text()
    listed = re.search(r"A `history` entry: `op` \(([^)]*)\)", page)
    assert listed is not None
    assert re.findall(r"`([a-z_]+)`", listed.group(1)) == [op.value for op in Op]
