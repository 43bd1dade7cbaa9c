"""The outcome-event contract consumers rely on: source, detail-types, detail fields, version.

Changing anything here changes what order systems receive: add fields (consumers ignore unknown
ones), never rename or drop one without a new ``DETAIL_VERSION``.
"""

from __future__ import annotations

from enum import StrEnum

SOURCE = "alipay-cancel"
DETAIL_VERSION = "1"


class FinalState(StrEnum):
    """The ledger's final states (its ``status`` attribute); each is one detail-type."""

    CLOSED = "CLOSED"
    REFUNDED = "REFUNDED"
    KEPT = "KEPT"
    NOT_FOUND = "NOT_FOUND"
    FAILED = "FAILED"

    @property
    def detail_type(self) -> str:
        return _DETAIL_TYPES[self]


_DETAIL_TYPES = {
    FinalState.CLOSED: "Trade Closed",
    FinalState.REFUNDED: "Trade Refunded",
    FinalState.KEPT: "Trade Kept",
    FinalState.NOT_FOUND: "Trade Not Found",
    FinalState.FAILED: "Trade Failed",
}

# Detail fields in documented order. Every event carries every field; what the ledger item lacks is
# null. ``version`` is DETAIL_VERSION, ``state`` the item's ``status``, the rest are the ledger
# attributes of the same name. Never the app_auth_token: the detail is built from this list only.
DETAIL_FIELDS = (
    "version",
    "event_id",
    "trade_key",
    "app_id",
    "merchant_id",
    "out_trade_no",
    "trade_no",
    "state",
    "action",
    "total_amount",
    "refund_amount",
    "refund_fee",
    "money_moved",
    "gmt_refund_pay",
    "alipay_trace_id",
    "error_code",
    "error_sub_code",
    "finished_at",
    "settled_by",
)
BOOLEAN_FIELDS = frozenset({"money_moved"})  # true / false / null; every other field a string or null
