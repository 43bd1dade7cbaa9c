"""The ledger: one item per trade in the results table (docs/ledger.md). Its states, the calls it
records (the one in flight under the lease, and the history of answered ones), what a write puts in it,
and the ``event_id`` of a final state. Values only: ``stores.ledger`` reads and writes DynamoDB.

Attribute names are a contract (the events pipe reads ``event_id``/``status`` from the table's
stream; ``ops`` renders the item), so each is written here once, as a field name.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import NamedTuple

from alipay_cancel.shared.endings import Ending


class Status(StrEnum):
    RETRYING = "RETRYING"  # in flight, or left for a later delivery
    CLOSED = "CLOSED"  # cancel closed the unpaid trade (action close)
    REFUNDED = "REFUNDED"  # cancel refunded the paid trade (action refund)
    KEPT = "KEPT"  # a paid trade kept by policy (the settle flow)
    NOT_FOUND = "NOT_FOUND"  # Alipay knows no such trade (cancel answered without an action)
    FAILED = "FAILED"  # ended without settling (dead-lettered); a later delivery may claim it again
    SUCCEEDED = "SUCCEEDED"  # written by earlier releases only (with ``action``): read as settled


# Never changed again by any delivery. A status this release does not know (a later release's) is
# treated the same way: never overwritten.
SETTLED = frozenset({Status.CLOSED, Status.REFUNDED, Status.KEPT, Status.NOT_FOUND, Status.SUCCEEDED})
# States a delivery may claim: "failures are never remembered", so a redrive calls Alipay again.
CLAIMABLE = frozenset({Status.RETRYING, Status.FAILED})
# What cancel's ``action`` settles a trade as (no action: Alipay found no such trade).
CANCEL_ACTIONS = {"close": Status.CLOSED, "refund": Status.REFUNDED, None: Status.NOT_FOUND}

HISTORY_LIMIT = 20  # entries kept; older ones are dropped and counted in ``history_dropped``


class Op(StrEnum):
    """An Alipay operation the ledger records (history ``op``). The settle flow adds query, close,
    refund and refund_query."""

    CANCEL = "cancel"


class CallResult(StrEnum):
    OK = "ok"  # Alipay answered with a verified success
    ERROR = "error"  # anything else came back (an error, a timeout, an answer not trusted)
    UNKNOWN = "unknown"  # sent (or about to be), and its answer was never recorded


class Pending(NamedTuple):
    """The call sent, or about to be sent, under the lease (item attribute ``pending``)."""

    op: str
    at: str  # ISO UTC, ms: when it was about to be sent
    delivery: str  # the SQS message id of the delivery making it


class HistoryEntry(NamedTuple):
    """One Alipay call (an item of the ``history`` list)."""

    op: str
    at: str
    delivery: str
    result: str  # a CallResult
    code: str | None = None
    sub_code: str | None = None
    trace_id: str | None = None


class LedgerItem(NamedTuple):
    """What a delivery needs to know of a trade's item (as the claim found it)."""

    status: str | None  # a Status value; None: no item
    lease_holder: str | None = None
    lease_until: int | None = None  # epoch ms: the holder's invocation deadline
    pending: Pending | None = None
    attempts: int = 0
    history: tuple[HistoryEntry, ...] = ()
    history_dropped: int = 0
    message_id: str | None = None

    def lease_live(self, now_ms: int) -> bool:
        return self.lease_holder is not None and self.lease_until is not None and self.lease_until >= now_ms


# The six fields of Alipay's cancel answer that the item keeps (accumulating: a later answer without
# one keeps the value learnt earlier), and the last error (replaced by every write, removed when absent).
ALIPAY_FIELDS = ("out_trade_no", "trade_no", "action", "gmt_refund_pay", "refund_settlement_id", "retry_flag")
ERROR_FIELDS = ("error_code", "error_sub_code", "error_message", "remedy")


class TradeRecord(NamedTuple):
    """What one delivery says about the trade: its state and Alipay's facts."""

    status: Status
    outcome_class: Ending  # ENDINGS[ending].outcome_class
    out_trade_no: str | None = None
    trade_no: str | None = None
    action: str | None = None
    gmt_refund_pay: str | None = None
    refund_settlement_id: str | None = None
    retry_flag: str | None = None
    error_code: str | None = None
    error_sub_code: str | None = None
    error_message: str | None = None
    remedy: str | None = None
    alipay_trace_id: str | None = None

    @property
    def final(self) -> bool:
        return self.status is not Status.RETRYING


class LedgerWrite(NamedTuple):
    """One write a plan makes: under this delivery's lease (it ends the lease and records the calls
    answered since the last write), or, with no lease held, a note that never touches a settled item, a
    live lease or the calls (e.g. a configuration error found before any call)."""

    trade_key: str
    record: TradeRecord
    message_id: str
    app_id: str | None = None  # the trade's app (None: the default app, written by its id)
    merchant_id: str | None = None  # ISV: the merchant the trade is for
    lease_holder: str | None = None  # None: a note
    history: tuple[HistoryEntry, ...] = ()  # under a lease: the whole (bounded) history to keep
    history_dropped: int = 0  # entries this write drops from the front


def event_id(trade_key: str, status: str) -> str:
    """Stable per (trade, state): consumers of the outcome events deduplicate on it."""
    return hashlib.sha256(f"{trade_key}\n{status}".encode()).hexdigest()[:32]
