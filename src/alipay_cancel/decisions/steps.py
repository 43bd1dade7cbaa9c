"""What a delivery does with a trade, step by step: pure rules over the trade's ledger item, the policy
for a paid trade and Alipay's answers so far (docs/settle.md tells the same story for a reader).

A delivery claims the trade's ledger item, then asks ``next_step`` what to do: call an operation, or
stop with a state (a final one, or RETRYING: left for a later delivery). After each call it asks again
with the answers so far. In short:

- **First call.** An unconfirmed refund of ours comes first: the refund query, with its recorded
  number. A call a dead holder sent and never recorded the answer of resumes as a query (cancel and
  close change the trade; the query says what they did). Otherwise policy ``refund`` cancels (as
  before the settle flow) and ``keep`` queries first.
- **Cancel** settles by its action (close: CLOSED, refund: REFUNDED, none: NOT_FOUND). When it cannot
  (a settle code: outside its window, not allowed, already paid or refunded; or a signed answer that
  cannot be bound to the trade, as for a trade known only by ``trade_no`` that Alipay does not know),
  the trade is queried.
- **Query** decides by the trade's state: waiting for payment, close (under both policies: a buyer
  paying meanwhile is then kept or refunded, never cancelled behind the policy's back); paid, refund
  what is left (``refund``) or KEPT (``keep``); finished, FAILED (``refund``: no call can return the
  money) or KEPT; closed, what Alipay's answer and ours say (our confirmed refund: REFUNDED; a closed
  trade showing a payment: REFUNDED by someone, no money moved by us; otherwise CLOSED); unknown
  trade, NOT_FOUND.
- **Close** settles CLOSED; met a trade not waiting for payment (a buyer paid meanwhile), query again.
- **Refund** with ``fund_change: Y`` settles REFUNDED; anything else leaves the message on the queue
  for at least 10 s (Alipay's refund query may not know a younger refund), after which the next
  delivery confirms it; refused for the trade's state, query again. A dead holder's refund is resumed
  no sooner either: its lease outlived the call by more than the call's budget.
- **Refund query**: ``REFUND_SUCCESS``, REFUNDED; no refund, send the same refund again (same number,
  same amount: it cannot refund twice).
- Once a refund of ours was sent, it is finished (confirmed, or sent again) whatever the policy: a
  refund request Alipay did not confirm may still be carried out.
- A signature problem repeats the same call once with the app's secret re-read. Every other failure
  ends the delivery as its classification says (retried later, or FAILED with a dead letter). At most
  ``MAX_CALLS`` calls per delivery; then the message is left for a later one.

``refused`` reads the item a failed claim returned: settled (a duplicate: nothing to do), held by a
live lease (in progress elsewhere), held by this very delivery (its own claim, retried by the SDK), or
a dead holder's call left unanswered (claim again and resume it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from alipay_cancel.alipay import (
    AlipayFailure,
    CancelSuccess,
    CloseSuccess,
    FailureKind,
    QuerySuccess,
    RefundQuerySuccess,
    RefundStatus,
    RefundSuccess,
    TradeOutcome,
    TradeStatus,
)
from alipay_cancel.decisions.alipay_codes import FINISHED_REMEDY, RetryDelay
from alipay_cancel.decisions.classification import business_code
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.decisions.operation_codes import SETTLE_CODES
from alipay_cancel.decisions.refund_request import RefundRequest, amount_left, request_number, shows_payment
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import CLAIMABLE, LedgerItem, Op, Pending, Status
from alipay_cancel.shared.trade import PaidTradePolicy

# Longest settling path: cancel, query, close (the buyer paid meanwhile), query, refund; and one repeat
# with the secret re-read. A delivery makes no more calls than this.
MAX_CALLS = 6
# Alipay: query a refund at least 10 s after it, or it may say "not done" for one about to succeed.
REFUND_CONFIRM_SECONDS = 10


class Prior(NamedTuple):
    """The trade's item before this delivery claimed it."""

    item: LedgerItem | None = None  # None: the first delivery of this trade
    unknown: Pending | None = None  # a dead holder's call whose answer was never recorded: resumed


class Start(NamedTuple):
    """What the flow starts from: the trade, the policy applied, and what its ledger item says."""

    trade_key: str
    policy: PaidTradePolicy
    unanswered: Op | None = None  # a dead holder's call whose answer was never recorded
    refund: RefundRequest | None = None  # our refund request, sent before and not confirmed


def start(prior: Prior, trade_key: str, policy: PaidTradePolicy) -> Start:
    """The flow's start from the claimed item: a dead holder's call (an operation this release does
    not know reads as a cancel: the query settles what it did) and our refund request, from the call
    that carried it or the item."""
    unknown = prior.unknown
    unanswered = None
    if unknown is not None:
        unanswered = Op(unknown.op) if unknown.op in Op.__members__.values() else Op.CANCEL
    refund = None
    if unknown is not None and unknown.out_request_no and unknown.refund_amount:
        refund = RefundRequest(unknown.out_request_no, unknown.refund_amount)
    elif prior.item is not None and prior.item.out_request_no and prior.item.refund_request_amount:
        refund = RefundRequest(prior.item.out_request_no, prior.item.refund_request_amount)
    return Start(trade_key, policy, unanswered, refund)


class Call(NamedTuple):
    """Call ``op`` next; a refund and a refund query carry our refund request."""

    op: Op
    refund: RefundRequest | None = None
    fresh_keys: bool = False  # with the app's secret re-read (after a signature problem)


class Answer(NamedTuple):
    """What one call came back with, and its classification (for the call's operation)."""

    call: Call
    outcome: TradeOutcome
    decision: Decision
    sent_at: str = ""  # ISO UTC, ms: when it was about to be sent (the ledger's pending ``at``)


class Finish(NamedTuple):
    """Stop calling: the state the trade is left in, and why (for a settled state, a SUCCEEDED
    decision; otherwise the reason, remedy and delay a record and a dead letter carry)."""

    status: Status
    decision: Decision
    wait_seconds: int = 0  # RETRYING: at least this long before the next delivery
    soon: bool = False  # RETRYING for lack of invocation time: back as soon as a retry can be


class Refusal(StrEnum):
    """Why a claim was refused, from the item it returned."""

    SETTLED = "settled"  # a final state: this delivery is a duplicate
    HELD = "held"  # another delivery holds a live lease
    OURS = "ours"  # this delivery's own lease: its claim went through before (an SDK retry)
    UNANSWERED = "unanswered"  # a dead holder's pending call: claim again, without it, and resume


def refused(item: LedgerItem, holder: str, now_ms: int) -> Refusal:
    if item.status is None:  # gone between the condition and now (deleted by hand): look again later
        return Refusal.HELD
    if item.status not in CLAIMABLE:
        return Refusal.SETTLED
    if item.lease_holder == holder:
        return Refusal.OURS
    if item.lease_live(now_ms):
        return Refusal.HELD
    return Refusal.UNANSWERED


def interrupted(answers: tuple[Answer, ...], next_call: Call) -> Finish:
    """This delivery stops before ``next_call`` (too little invocation time left, or the ledger could
    not record the answers first): RETRYING, back soon; a later delivery goes on from the ledger."""
    decision = _retry(
        f"too little time was left in the invocation for the next call ({next_call.op.value}), or the "
        "ledger could not record the answers before it",
        "Nothing to do: a later delivery goes on from what the ledger recorded.",
    )
    return _left(answers, decision)._replace(soon=True)


def next_step(start: Start, answers: tuple[Answer, ...]) -> Call | Finish:
    """The next call, or how this delivery ends. Total: every input has an answer."""
    if not answers:
        return _first(start)
    last = answers[-1]
    if last.decision.refresh_secret and not any(answer.call.fresh_keys for answer in answers):
        step: Call | Finish = last.call._replace(fresh_keys=True)
    else:
        step = _after(start, answers, last)
    if isinstance(step, Call) and len(answers) >= MAX_CALLS:
        return _left(answers, _TOO_MANY_CALLS)
    return step


def _first(start: Start) -> Call:
    if start.refund is not None:
        return Call(Op.REFUND_QUERY, start.refund)
    if start.unanswered is not None or start.policy is PaidTradePolicy.KEEP:
        return Call(Op.QUERY)
    return Call(Op.CANCEL)


def _after(start: Start, answers: tuple[Answer, ...], last: Answer) -> Call | Finish:
    outcome = last.outcome
    if isinstance(outcome, AlipayFailure):
        return _after_failure(answers, last, outcome)
    if isinstance(outcome, CancelSuccess):
        return _after_cancel(answers, last, outcome)
    if isinstance(outcome, CloseSuccess):
        return Finish(Status.CLOSED, _settled("Alipay closed the unpaid trade (close)"))
    if isinstance(outcome, RefundSuccess):
        if outcome.money_moved:
            return Finish(Status.REFUNDED, _settled("Alipay refunded this service's refund (fund_change Y)"))
        return _left(answers, _REFUND_UNCONFIRMED)
    if isinstance(outcome, RefundQuerySuccess):
        if outcome.refund_status is RefundStatus.REFUND_SUCCESS:
            return Finish(Status.REFUNDED, _settled("Alipay confirmed this service's refund (refund query)"))
        query = _last_query(answers)
        if query is None:  # Alipay: no such refund, so it may be sent again, unchanged
            return Call(Op.REFUND, last.call.refund)
        return _decide(start, answers, query)
    return _decide(start, answers, outcome)


def _after_failure(answers: tuple[Answer, ...], last: Answer, failure: AlipayFailure) -> Call | Finish:
    op = last.call.op
    if settle_code(op, failure) is not None:
        if op is Op.QUERY:
            return Finish(
                Status.NOT_FOUND, _settled("Alipay knows no such trade (query: trade does not exist)")
            )
        return Call(Op.QUERY)  # the trade is not in the state this call needs: read it again
    if op is Op.CANCEL and failure.kind is FailureKind.NOT_OUR_ANSWER:
        return Call(Op.QUERY)  # e.g. a trade known only by trade_no that Alipay does not know
    if last.decision.outcome is Ending.TERMINAL:
        return Finish(Status.FAILED, last.decision)
    return _left(answers, last.decision)


def _after_cancel(answers: tuple[Answer, ...], last: Answer, success: CancelSuccess) -> Finish:
    if last.decision.outcome is not Ending.SUCCEEDED:  # retry_flag Y: cancel again later
        return _left(answers, last.decision)
    status = {"close": Status.CLOSED, "refund": Status.REFUNDED}.get(success.action or "", Status.NOT_FOUND)
    return Finish(status, last.decision)


def _decide(start: Start, answers: tuple[Answer, ...], query: QuerySuccess) -> Call | Finish:
    """What the trade's state, as this delivery last read it, leaves to do. A refund of ours reaching
    here did not happen (a refund query found none, or Alipay refused it for the trade's state)."""
    status = query.trade_status
    if status is TradeStatus.WAIT_BUYER_PAY:
        return Call(Op.CLOSE)
    keep = start.policy is PaidTradePolicy.KEEP
    if status is TradeStatus.TRADE_SUCCESS:
        refund = committed_refund(start, answers)
        if refund is not None:
            return Call(Op.REFUND, refund)
        if keep:
            return Finish(
                Status.KEPT, _settled("the buyer paid (TRADE_SUCCESS) and the policy keeps paid trades")
            )
        amount = amount_left(query)
        if amount is None:
            return _left(answers, _NO_AMOUNT)
        return Call(Op.REFUND, RefundRequest(request_number(start.trade_key), amount))
    if status is TradeStatus.TRADE_FINISHED:
        if keep:
            return Finish(Status.KEPT, _settled("the buyer paid and the trade is finished (TRADE_FINISHED)"))
        return Finish(Status.FAILED, _FINISHED)
    if shows_payment(query):
        return Finish(Status.REFUNDED, _settled(_CLOSED_AFTER_PAYMENT))
    return Finish(Status.CLOSED, _settled("Alipay reports the trade closed (TRADE_CLOSED), never paid"))


def settle_code(op: Op, failure: AlipayFailure) -> str | None:
    """The business code of a *verified* answer that the flow settles by (``SETTLE_CODES``), or None."""
    if not failure.verified:
        return None
    code = business_code(failure)
    return code if code in SETTLE_CODES[op] else None


def committed_refund(start: Start, answers: tuple[Answer, ...]) -> RefundRequest | None:
    """Our refund request, once one was sent (in an earlier delivery or this one): every later refund
    and refund query of the trade uses it unchanged."""
    for answer in reversed(answers):
        if answer.call.refund is not None:
            return answer.call.refund
    return start.refund


def _last_query(answers: tuple[Answer, ...]) -> QuerySuccess | None:
    for answer in reversed(answers):
        if isinstance(answer.outcome, QuerySuccess):
            return answer.outcome
    return None


def _left(answers: tuple[Answer, ...], decision: Decision) -> Finish:
    """RETRYING: a later delivery goes on. A refund sent in this delivery is confirmed no sooner than
    Alipay allows."""
    sent_refund = any(answer.call.op is Op.REFUND for answer in answers)
    return Finish(Status.RETRYING, decision, wait_seconds=REFUND_CONFIRM_SECONDS if sent_refund else 0)


def _settled(reason: str) -> Decision:
    return Decision(Ending.SUCCEEDED, reason)


def _retry(reason: str, remedy: str) -> Decision:
    return Decision(Ending.RETRY, reason, remedy, RetryDelay.NORMAL)


_CLOSED_AFTER_PAYMENT = (
    "Alipay reports the trade closed after a payment (TRADE_CLOSED with a payment): it was fully "
    "refunded, by no refund this service confirmed"
)
_FINISHED = Decision(
    Ending.TERMINAL,
    "the buyer paid and the trade is finished (TRADE_FINISHED): Alipay refunds it neither by cancel nor "
    "by refund",
    FINISHED_REMEDY,
)
_REFUND_UNCONFIRMED = _retry(
    "Alipay accepted this service's refund request without saying money moved (fund_change not Y)",
    f"Nothing to do: the refund is confirmed with Alipay's refund query at least {REFUND_CONFIRM_SECONDS} s "
    "later, and sent again with the same request number and amount only if it did not happen (it cannot "
    "refund twice).",
)
_NO_AMOUNT = _retry(
    "Alipay's query answer for the paid trade has no order amount (total_amount), so the amount to "
    "refund is not known",
    "Nothing to do: retried automatically. If it persists until the message is dead-lettered, the "
    "query answers are not what Alipay documents: escalate to the owners of this service.",
)
_TOO_MANY_CALLS = _retry(
    f"{MAX_CALLS} calls to Alipay in one delivery did not settle the trade (its state kept changing, "
    "e.g. a buyer paying meanwhile)",
    "Nothing to do: retried automatically; a later delivery starts from what Alipay then reports.",
)
