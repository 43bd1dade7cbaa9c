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
    CLOSED = "CLOSED"  # closed, never paid (cancel's action close, a close, or a query of it)
    REFUNDED = "REFUNDED"  # the buyer's money went back (cancel's action refund, a refund, a query)
    KEPT = "KEPT"  # a paid trade kept by policy (if_paid keep)
    NOT_FOUND = "NOT_FOUND"  # Alipay knows no such trade (cancel without an action, or the query)
    FAILED = "FAILED"  # ended without settling (dead-lettered); a later delivery may claim it again
    SUCCEEDED = "SUCCEEDED"  # written by earlier releases only (with ``action``): read as settled


# Never changed again by any delivery. A status this release does not know (a later release's) is
# treated the same way: never overwritten.
SETTLED = frozenset({Status.CLOSED, Status.REFUNDED, Status.KEPT, Status.NOT_FOUND, Status.SUCCEEDED})
# States a delivery may claim: "failures are never remembered", so a redrive calls Alipay again.
CLAIMABLE = frozenset({Status.RETRYING, Status.FAILED})

HISTORY_LIMIT = 20  # entries kept; older ones are dropped and counted in ``history_dropped``


class Op(StrEnum):
    """An Alipay operation the ledger records (history ``op``, ``pending.op``)."""

    CANCEL = "cancel"
    QUERY = "query"
    CLOSE = "close"
    REFUND = "refund"
    REFUND_QUERY = "refund_query"


class CallResult(StrEnum):
    OK = "ok"  # Alipay answered with a verified success
    ERROR = "error"  # anything else came back (an error, a timeout, an answer not trusted)
    UNKNOWN = "unknown"  # sent (or about to be), and its answer was never recorded


class Pending(NamedTuple):
    """The call sent, or about to be sent, under the lease (item attribute ``pending``)."""

    op: str
    at: str  # ISO UTC, ms: when it was about to be sent
    delivery: str  # the SQS message id of the delivery making it
    # A refund or refund query: this service's refund request (sent unchanged on every try).
    out_request_no: str | None = None
    refund_amount: str | None = None


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
    # This service's refund request, once one was sent (a claimable item: not confirmed yet).
    out_request_no: str | None = None
    refund_request_amount: str | None = None

    def lease_live(self, now_ms: int) -> bool:
        return self.lease_holder is not None and self.lease_until is not None and self.lease_until >= now_ms


# Alipay's facts the item keeps (accumulating: a later answer without one keeps the value learnt
# earlier), and the last error (replaced by every write, removed when absent). docs/settle.md says
# what each of the settle flow's facts means.
ALIPAY_FIELDS = (
    "out_trade_no",
    "trade_no",
    "action",
    "gmt_refund_pay",
    "refund_settlement_id",
    "retry_flag",
    "trade_status",
    "total_amount",
    "refund_amount",
    "refund_fee",
    "out_request_no",
    "refund_request_amount",
)
ERROR_FIELDS = ("error_code", "error_sub_code", "error_message", "remedy")
# The latest outcome's only: each write sets them or removes them (what went wrong, or why it settled).
OUTCOME_FIELDS = (*ERROR_FIELDS, "settled_reason")


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
    trade_status: str | None = None  # Alipay's, as last queried
    total_amount: str | None = None  # the order amount
    refund_amount: str | None = None  # REFUNDED: what this service's refund request refunded
    refund_fee: str | None = None  # Alipay's cumulative refunded amount, as a refund answer said
    out_request_no: str | None = None  # this service's refund request number, once sent
    refund_request_amount: str | None = None  # that request's amount
    error_code: str | None = None
    error_sub_code: str | None = None
    error_message: str | None = None
    remedy: str | None = None
    alipay_trace_id: str | None = None
    money_moved: bool | None = None  # a final state: Alipay said money went back because of our call
    if_paid: str | None = None  # the paid-trade policy this delivery applied (refund | keep)
    settled_reason: str | None = None  # a settled state: why Alipay's answers settle it so

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
