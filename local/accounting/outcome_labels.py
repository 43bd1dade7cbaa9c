"""The ledger's state names as the local runs read them, and the short outcome labels they expect and
report ("CLOSED", "FAILED/ACQ.TRADE_HAS_FINISHED", "DEAD/bad_message").

The one place the demo, the accounting and the summary take state names from: the names are the
ledger's own (``alipay_cancel.shared.ledger_item.Status``, docs/ledger.md), and the runs' expectations
(built from the names below) follow them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alipay_cancel.shared.ledger_item import SETTLED, Status

# A settled trade's label is its state (docs/settle.md: how each is reached).
CLOSED = Status.CLOSED.value
REFUNDED = Status.REFUNDED.value
KEPT = Status.KEPT.value  # the buyer paid and the policy keeps the sale
NOT_FOUND = Status.NOT_FOUND.value  # Alipay knows no such trade: nothing to cancel
FAILED = Status.FAILED.value  # ended without settling: terminal, exhausted
RETRYING = Status.RETRYING.value  # in flight
LEGACY_SUCCEEDED = Status.SUCCEEDED.value  # written by releases before the ledger (with ``action``)
SETTLED_STATUSES = frozenset(status.value for status in SETTLED)
FINAL_STATUSES = SETTLED_STATUSES | {FAILED}
DEAD = "DEAD"  # a dead letter without a ledger item to go with it
# What the emulator's trade may be for each state the ledger settles it as.
EMULATOR_STATE = {
    CLOSED: frozenset({"closed"}),
    REFUNDED: frozenset({"refunded"}),
    KEPT: frozenset({"paid", "finished", "frozen"}),
}


def failed(code_or_class: str) -> str:
    """A FAILED item: the business code for a terminal answer, else the outcome class."""
    return f"{FAILED}/{code_or_class}"


def dead(outcome_class: str) -> str:
    return f"{DEAD}/{outcome_class}"


EXHAUSTED = frozenset({failed("exhausted"), dead("exhausted")})
# A bad message writes nothing to the ledger (not even under a key it seems to name): dead letter only.
BAD_MESSAGE = frozenset({dead("bad_message")})


def is_settled(record: Mapping[str, Any] | None) -> bool:
    return record is not None and record.get("status") in SETTLED_STATUSES


def is_final(record: Mapping[str, Any] | None) -> bool:
    return record is not None and record.get("status") in FINAL_STATUSES


def outcome_label(record: Mapping[str, Any] | None, dead_letter_class: str | None) -> str:
    """One short label per message: what the ledger item says, else what its dead letter says
    (``dead_letter_class``: the dead letter's outcome_class, "" when it has none)."""
    status = None if record is None else record.get("status")
    if record is not None and status == LEGACY_SUCCEEDED:
        return f"{LEGACY_SUCCEEDED}/{record.get('action') or 'none'}"
    if status in SETTLED_STATUSES:
        return str(status)
    if record is not None and status == FAILED:
        if record.get("outcome_class") == "terminal":  # Alipay said no: its code says why
            # The business code: sub_code in the seed's envelope shape (code 40004), code in v3's.
            return failed(str(record.get("error_sub_code") or record.get("error_code") or "terminal"))
        return failed(str(record.get("outcome_class")))
    if dead_letter_class is not None:
        return dead(dead_letter_class or "redriven")
    if record is not None:
        return f"{status}/{record.get('outcome_class')}"
    return "MISSING"
