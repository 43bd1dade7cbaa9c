"""The results table's state names as the local runs read them, and the short outcome labels they
expect and report ("SUCCEEDED/close", "FAILED/ACQ.TRADE_HAS_FINISHED", "DEAD/bad_message").

The one place the demo, the accounting and the summary take state names from: when the table's
states change, this module changes, and the runs' expectations (built from the names below) follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUCCEEDED = "SUCCEEDED"  # a verified success (action close / refund / none)
FAILED = "FAILED"  # final failure: terminal, exhausted, or a bad message with a trade key
RETRYING = "RETRYING"  # in flight
FINAL_STATUSES = (SUCCEEDED, FAILED)
DEAD = "DEAD"  # a dead letter without a record to go with it
# The emulator's states of a trade someone really cancelled.
CANCELLED_TRADE_STATES = ("closed", "refunded")

CLOSED = f"{SUCCEEDED}/close"
REFUNDED = f"{SUCCEEDED}/refund"
NOT_FOUND = f"{SUCCEEDED}/none"  # Alipay knows no such trade: nothing to cancel


def failed(code_or_class: str) -> str:
    """A FAILED record: the business code for a terminal answer, else the outcome class."""
    return f"{FAILED}/{code_or_class}"


def dead(outcome_class: str) -> str:
    return f"{DEAD}/{outcome_class}"


EXHAUSTED = frozenset({failed("exhausted"), dead("exhausted")})
BAD_MESSAGE = frozenset({dead("bad_message"), failed("bad_message")})


def is_success(record: Mapping[str, Any] | None) -> bool:
    return record is not None and record.get("status") == SUCCEEDED


def is_final(record: Mapping[str, Any] | None) -> bool:
    return record is not None and record.get("status") in FINAL_STATUSES


def outcome_label(record: Mapping[str, Any] | None, dead_letter_class: str | None) -> str:
    """One short label per message: what the record says, else what its dead letter says
    (``dead_letter_class``: the dead letter's outcome_class, "" when it has none)."""
    if record is not None and record.get("status") == SUCCEEDED:
        return f"{SUCCEEDED}/{record.get('action') or 'none'}"
    if record is not None and record.get("status") == FAILED:
        if record.get("outcome_class") == "terminal":  # Alipay said no: its code says why
            # The business code: sub_code in the seed's envelope shape (code 40004), code in v3's.
            return failed(str(record.get("error_sub_code") or record.get("error_code") or "terminal"))
        return failed(str(record.get("outcome_class")))
    if dead_letter_class is not None:
        return dead(dead_letter_class or "redriven")
    if record is not None:
        return f"{record.get('status')}/{record.get('outcome_class')}"
    return "MISSING"
