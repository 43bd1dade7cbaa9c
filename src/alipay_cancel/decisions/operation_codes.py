"""The business codes of the settle flow's operations as data: what each one means for a timed-out
payment (docs/settle.md, "Alipay's codes").

Cancel's own table is ``alipay_codes.BUSINESS_RULES``. Here, beside it: query, close, refund and the
refund query, each code with the class Alipay's documentation gives it for us (retry; retry slowly,
someone must act first; terminal, no call can settle it), what happened and what a person should do.
The gateway's common codes (rate limits, our keys, the merchant's token, ...) mean the same for every
operation and stay in ``alipay_codes.GATEWAY_RULES``.

``SETTLE_CODES`` are the codes after which the flow knows more than the code says, per operation: a
*verified* answer with one of them is the flow's to act on (``settle_flow``): the trade's state is read
again with a query (cancel cannot settle it; a close or refund met a state other than the one the
query showed), or, for the query itself, the trade does not exist. Each also has a rule in its
operation's table, which applies only when the flow does not act on it: an answer whose signature did
not verify (never trusted enough to settle a trade on) reads as that rule says.
"""

from __future__ import annotations

from alipay_cancel.decisions.alipay_codes import REDRIVE, SETTLED_BY_QUERY, Rule
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import Op

_R = Ending.RETRY
_T = Ending.TERMINAL

RETRIED = "Nothing to do: retried automatically with the same request."
_OUR_DEFECT = (
    "Compare the ids in the dead-letter body with the payment record (typos, wrong merchant, missing or "
    "wrong app_auth_token for ISV calls) and fix the producer; send a corrected message rather than "
    "redriving this one."
)
_CANNOT = "Redriving this message cannot succeed."

# The refund's codes that mean: this refund cannot go through Alipay for this trade (the buyer's
# account, vouchers, the merchant's contract). The buyer is owed the money; only a person can return it.
_OFFLINE = (
    "Alipay will not refund this trade through its refund API. The buyer is still owed the payment: the "
    "merchant must return it another way (offline, or through Alipay support, as Alipay's answer says). "
    + _CANNOT
)
_OUR_REFUND_REQUEST = (
    "This service sent a refund request Alipay does not accept: escalate to the owners of this service "
    "with the trade key and the Alipay trace id. " + _CANNOT
)

QUERY_RULES: dict[str, Rule] = {
    "ACQ.SYSTEM_ERROR": Rule(_R, "Alipay had a system error answering the query", RETRIED),
    "ACQ.ENTERPRISE_PAY_BIZ_ERROR": Rule(
        _R,
        "Alipay's enterprise payment (因公付) service failed to answer the query",
        RETRIED + " If it persists until the message is dead-lettered, contact Alipay support with the "
        "Alipay trace id, " + REDRIVE + ".",
    ),
    "ACQ.INVALID_PARAMETER": Rule(_T, "Alipay rejected the query's parameters (the trade ids)", _OUR_DEFECT),
    "ACQ.TRADE_NOT_EXIST": Rule(_T, "Alipay's query found no such trade", SETTLED_BY_QUERY),
}

CLOSE_RULES: dict[str, Rule] = {
    "ACQ.SYSTEM_ERROR": Rule(_R, "Alipay had a system error closing the trade", RETRIED),
    "ACQ.INVALID_PARAMETER": Rule(_T, "Alipay rejected the close's parameters (the trade ids)", _OUR_DEFECT),
    "ACQ.TRADE_NOT_EXIST": Rule(_T, "Alipay found no such trade to close", SETTLED_BY_QUERY),
    "ACQ.TRADE_STATUS_ERROR": Rule(
        _T, "Alipay closes only a trade waiting for payment, and this one is not", SETTLED_BY_QUERY
    ),
    "ACQ.REASON_TRADE_STATUS_INVALID": Rule(
        _T, "Alipay closes only a trade waiting for payment, and this one is not", SETTLED_BY_QUERY
    ),
    "ACQ.REASON_ILLEGAL_STATUS": Rule(
        _T, "Alipay closes only a trade waiting for payment, and this one is not", SETTLED_BY_QUERY
    ),
}

REFUND_RULES: dict[str, Rule] = {
    # The refund may have happened: a retry sends the same out_request_no and amount (at most once).
    "ACQ.SYSTEM_ERROR": Rule(
        _R,
        "Alipay had a system error refunding; whether the refund happened is unknown",
        "Nothing to do: the refund is confirmed with Alipay's refund query, and sent again with the same "
        "request number and amount only if it did not happen (it cannot refund twice).",
    ),
    "ACQ.REFUND_CHARGE_ERROR": Rule(_R, "Alipay failed to process the refund's fees", RETRIED),
    "ACQ.SELLER_BALANCE_NOT_ENOUGH": Rule(
        _R,
        "the merchant's Alipay balance is too low for the refund",
        "The merchant must top up the Alipay account that received the payment; the refund is retried "
        "automatically with long delays. If it was dead-lettered meanwhile, top up first, " + REDRIVE + ".",
        slow=True,
    ),
    "ACQ.REFUNDALLOC_UNAUTH_LIMIT": Rule(
        _R,
        "a royalty receiver of the trade has not enabled royalty returns, so Alipay cannot refund it",
        "The royalty receiver must enable royalty returns in Alipay; the refund is retried automatically "
        "with long delays. If it was dead-lettered meanwhile, enable them first, " + REDRIVE + ".",
        slow=True,
    ),
    "ACQ.REASON_TRADE_BEEN_FREEZEN": Rule(
        _T,
        "the trade is frozen by Alipay, so it cannot be refunded now",
        "Contact Alipay support (Alipay's documented remedy) with the trade number and the Alipay trace "
        "id to learn why it is frozen; once Alipay has released it, " + REDRIVE + ".",
    ),
    # The refund asked for what Alipay says is left; only a refund by someone else explains it (ours
    # is the order amount, under one number).
    "ACQ.REASON_TRADE_REFUND_FEE_ERR": Rule(
        _T,
        "Alipay refused to refund the order amount: the trade was already refunded in part, not by this "
        "service, and Alipay's answers do not say how much is left",
        "A person must decide: whoever refunded part of this trade (the merchant's console or another "
        "system) knows how much the buyer is still owed, and must refund the rest there or decide it is "
        "not owed. This service never guesses an amount. " + _CANNOT,
    ),
    "ACQ.DISCORDANT_REPEAT_REQUEST": Rule(
        _T,
        "Alipay has already refunded a different amount under this service's refund request number",
        "This service's request numbers are derived from the trade, so another party used this number, or "
        "the trade's record was changed: escalate with the trade key and the Alipay trace id. Never send "
        "a refund under another number before the refunds already made are known. " + _CANNOT,
    ),
    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL": Rule(
        _T,
        "Alipay refused the refund amount (not a full refund, or larger than the order)",
        _OUR_REFUND_REQUEST,
    ),
    "ACQ.REFUND_FEE_ERROR": Rule(_T, "Alipay refused the refund amount", _OUR_REFUND_REQUEST),
    "ACQ.INVALID_PARAMETER": Rule(_T, "Alipay rejected the refund's parameters", _OUR_REFUND_REQUEST),
    "ACQ.CURRENCY_NOT_SUPPORT": Rule(
        _T, "Alipay does not support the refund's currency", _OUR_REFUND_REQUEST
    ),
    "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR": Rule(
        _T, "Alipay refused the refund's royalty amounts", _OUR_REFUND_REQUEST
    ),
    "ACQ.TRADE_SETTLE_ERROR": Rule(_T, "Alipay reports a settlement problem with the trade", _OFFLINE),
    "ACQ.REFUND_ROYALTY_PAYEE_ACCOUNT_NOT_EXIST": Rule(
        _T, "the royalty receiver's Alipay account of the trade does not exist", _OFFLINE
    ),
    "ACQ.REFUND_ACCOUNT_NOT_EXIST": Rule(
        _T, "the Alipay account that would fund the refund does not exist or is abnormal", _OFFLINE
    ),
    "ACQ.OVERDRAFT_AGREEMENT_NOT_MATCH": Rule(
        _T, "the merchant's advance-refund contract does not match the refund", _OFFLINE
    ),
    "ACQ.OVERDRAFT_ASSIGN_ACCOUNT_INVALID": Rule(
        _T, "the merchant's advance-refund account does not match the merchant", _OFFLINE
    ),
    "ACQ.ENTERPRISE_PAY_BIZ_ERROR": Rule(
        _T, "Alipay's enterprise payment (因公付) service refused the refund", _OFFLINE
    ),
    "ACQ.TRADE_NOT_ALLOW_REFUND": Rule(
        _T, "Alipay does not allow this trade to be refunded (its contract or product)", _OFFLINE
    ),
    "ACQ.REASON_TRADE_STATUS_INVALID": Rule(
        _T, "Alipay reports the trade's state as abnormal for a refund", _OFFLINE
    ),
    "ACQ.NOT_ALLOW_PARTIAL_REFUND": Rule(
        _T, "Alipay does not allow a partial refund of this trade", _OFFLINE
    ),
    "ACQ.ONLINE_TRADE_VOUCHER_NOT_ALLOW_REFUND": Rule(
        _T, "a voucher bought with this trade has been used, so Alipay does not refund it", _OFFLINE
    ),
    "ACQ.BUYER_NOT_EXIST": Rule(_T, "the buyer's Alipay account no longer exists", _OFFLINE),
    "ACQ.BUYER_ERROR": Rule(_T, "the buyer's Alipay account is abnormal", _OFFLINE),
    "ACQ.BUYER_ENABLE_STATUS_FORBID": Rule(_T, "the buyer's Alipay account is blocked", _OFFLINE),
    "ACQ.CUSTOMER_VALIDATE_ERROR": Rule(_T, "the buyer's Alipay account is closed or frozen", _OFFLINE),
    "ACQ.USER_NOT_MATCH_ERR": Rule(_T, "Alipay reports a user mismatch for the refund", _OFFLINE),
    "ACQ.TRADE_NOT_EXIST": Rule(_T, "Alipay found no such trade to refund", SETTLED_BY_QUERY),
    "ACQ.TRADE_STATUS_ERROR": Rule(
        _T, "Alipay refunds only a paid trade, and this one is not", SETTLED_BY_QUERY
    ),
    "ACQ.TRADE_HAS_CLOSE": Rule(
        _T, "Alipay reports the trade closed (unpaid, or already fully refunded)", SETTLED_BY_QUERY
    ),
    "ACQ.TRADE_HAS_FINISHED": Rule(
        _T, "Alipay reports the trade finished: its refund period is over", SETTLED_BY_QUERY
    ),
}

REFUND_QUERY_RULES: dict[str, Rule] = {
    "ACQ.SYSTEM_ERROR": Rule(_R, "Alipay had a system error answering the refund query", RETRIED),
    "ACQ.ENTERPRISE_PAY_BIZ_ERROR": Rule(
        _R,
        "Alipay's enterprise payment (因公付) service failed to answer the refund query",
        RETRIED + " If it persists until the message is dead-lettered, contact Alipay support with the "
        "Alipay trace id, " + REDRIVE + ".",
    ),
    "ACQ.INVALID_PARAMETER": Rule(_T, "Alipay rejected the refund query's parameters", _OUR_REFUND_REQUEST),
    # Both spellings: Alipay's table has it unprefixed, the v3 SDK's enum prefixed.
    "TRADE_NOT_EXIST": Rule(_T, "Alipay's refund query found no such trade", SETTLED_BY_QUERY),
    "ACQ.TRADE_NOT_EXIST": Rule(_T, "Alipay's refund query found no such trade", SETTLED_BY_QUERY),
}

# Per operation, the codes a verified answer settles by what the flow does next (module docstring).
SETTLE_CODES: dict[Op, frozenset[str]] = {
    # Cancel cannot settle these: outside its window, not allowed, already paid, already refunded.
    Op.CANCEL: frozenset(
        {
            "ACQ.TRADE_CANCEL_TIME_OUT",
            "ACQ.CANCEL_NOT_ALLOWED",
            "ACQ.TRADE_HAS_SUCCESS",
            "ACQ.REASON_TRADE_REFUND_FEE_ERR",
        }
    ),
    Op.QUERY: frozenset({"ACQ.TRADE_NOT_EXIST"}),
    Op.CLOSE: frozenset(
        {
            "ACQ.TRADE_NOT_EXIST",
            "ACQ.TRADE_STATUS_ERROR",
            "ACQ.REASON_TRADE_STATUS_INVALID",
            "ACQ.REASON_ILLEGAL_STATUS",
        }
    ),
    Op.REFUND: frozenset(
        {"ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_STATUS_ERROR", "ACQ.TRADE_HAS_CLOSE", "ACQ.TRADE_HAS_FINISHED"}
    ),
    Op.REFUND_QUERY: frozenset({"TRADE_NOT_EXIST", "ACQ.TRADE_NOT_EXIST"}),
}

# Each operation's own business codes (cancel's are alipay_codes.BUSINESS_RULES).
OPERATION_RULES: dict[Op, dict[str, Rule]] = {
    Op.QUERY: QUERY_RULES,
    Op.CLOSE: CLOSE_RULES,
    Op.REFUND: REFUND_RULES,
    Op.REFUND_QUERY: REFUND_QUERY_RULES,
}
