"""Properties of the settle flow against a model of Alipay's trade (the state table of the project's
Alipay notes, as the emulator plays it), over every starting state, both policies and any sequence of
lost answers, failures, crashes and a buyer paying between deliveries:

- every trade ends in the state Alipay's truth says (closed unpaid, refunded, kept, not found) or FAILED
  only for what no call can settle (finished, frozen, refunded in part by someone else);
- the money refunded never exceeds what was paid, and this service sends one refund request per trade
  (one number, one amount), whatever is lost or repeated;
- nothing moves for ``keep`` (no cancel, no refund);
- ``money_moved`` is never claimed for money this service did not move;
- no delivery makes more than ``MAX_CALLS`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from hypothesis import given
from hypothesis import strategies as st

from alipay_cancel.alipay import AlipayFailure, FailureKind, TradeOutcome, TradeStatus
from alipay_cancel.decisions.refund_request import RefundRequest, request_number
from alipay_cancel.decisions.settle_facts import trade_facts
from alipay_cancel.decisions.steps import (
    MAX_CALLS,
    Answer,
    Call,
    Finish,
    Start,
    committed_refund,
    next_step,
)
from alipay_cancel.shared.ledger_item import Op, Status
from alipay_cancel.shared.trade import PaidTradePolicy
from tests.settle_support import (
    BAD_SIGNATURE,
    TIMEOUT,
    answer,
    business,
    cancel_ok,
    close_ok,
    query_ok,
    refund_ok,
    refund_query_ok,
)

KEY = "T-1"
TOTAL_CENTS = 8888


def _yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class Scenario(Enum):
    UNKNOWN = "unknown"
    UNPAID = "unpaid"
    UNPAID_PAYS_BEFORE_CLOSE = "unpaid, the buyer pays between the query and the close"
    PAID = "paid"
    PAID_OUTSIDE_WINDOW = "paid, outside the cancel window"
    UNPAID_OUTSIDE_WINDOW = "unpaid, outside the cancel window"
    FINISHED = "finished"
    CLOSED = "closed unpaid"
    REFUNDED = "paid and refunded in full by someone"
    PART_REFUNDED = "paid and refunded in part by someone"
    FROZEN = "paid and frozen"


@dataclass
class Trade:
    """Alipay's truth about one trade, and what this service's calls did to it."""

    exists: bool = True
    status: TradeStatus = TradeStatus.WAIT_BUYER_PAY
    paid: bool = False
    frozen: bool = False
    outside_window: bool = False
    pays_before_close: bool = False
    refunds: dict[str, int] = field(default_factory=dict)  # this service's, by number
    refunded: int = 0  # by anyone
    ours: int = 0  # moved by this service's calls

    @classmethod
    def of(cls, scenario: Scenario) -> Trade:
        trade = cls()
        if scenario is Scenario.UNKNOWN:
            trade.exists = False
        if scenario in (Scenario.PAID, Scenario.PAID_OUTSIDE_WINDOW, Scenario.PART_REFUNDED, Scenario.FROZEN):
            trade.pay()
        trade.outside_window = scenario in (Scenario.PAID_OUTSIDE_WINDOW, Scenario.UNPAID_OUTSIDE_WINDOW)
        trade.pays_before_close = scenario is Scenario.UNPAID_PAYS_BEFORE_CLOSE
        trade.frozen = scenario is Scenario.FROZEN
        if scenario is Scenario.FINISHED:
            trade.pay()
            trade.status = TradeStatus.TRADE_FINISHED
        if scenario is Scenario.CLOSED:
            trade.status = TradeStatus.TRADE_CLOSED
        if scenario is Scenario.REFUNDED:
            trade.pay()
            trade.status, trade.refunded = TradeStatus.TRADE_CLOSED, TOTAL_CENTS
        if scenario is Scenario.PART_REFUNDED:
            trade.refunded = 1000
        return trade

    def pay(self) -> None:
        self.status, self.paid = TradeStatus.TRADE_SUCCESS, True

    # ---- the operations, as the notes' state table says -------------------------------------------

    def cancel(self) -> TradeOutcome:
        if not self.exists:
            return cancel_ok(None)
        if self.frozen:
            return business("ACQ.REASON_TRADE_BEEN_FREEZEN")
        if self.status is TradeStatus.TRADE_FINISHED:
            return business("ACQ.TRADE_HAS_FINISHED")
        if self.refunded:
            return business("ACQ.REASON_TRADE_REFUND_FEE_ERR")
        if self.outside_window and self.status is not TradeStatus.TRADE_CLOSED:
            return business("ACQ.TRADE_CANCEL_TIME_OUT")
        action = "close"
        if self.status is TradeStatus.TRADE_SUCCESS:
            action, self.refunded, self.ours = "refund", TOTAL_CENTS, self.ours + TOTAL_CENTS
        self.status = TradeStatus.TRADE_CLOSED
        return cancel_ok(action)

    def query(self) -> TradeOutcome:
        if not self.exists:
            return business("ACQ.TRADE_NOT_EXIST")
        return query_ok(self.status, _yuan(TOTAL_CENTS), paid=self.paid)

    def close(self) -> TradeOutcome:
        if not self.exists:
            return business("ACQ.TRADE_NOT_EXIST")
        if self.pays_before_close and self.status is TradeStatus.WAIT_BUYER_PAY:
            self.pays_before_close = False
            self.pay()
        if self.status is not TradeStatus.WAIT_BUYER_PAY:
            return business("ACQ.TRADE_STATUS_ERROR")
        self.status = TradeStatus.TRADE_CLOSED
        return close_ok()

    def refund(self, request: RefundRequest) -> TradeOutcome:
        if not self.exists:
            return business("ACQ.TRADE_NOT_EXIST")
        amount = round(float(request.refund_amount) * 100)
        done = self.refunds.get(request.out_request_no)
        if done is not None:
            if done != amount:
                return business("ACQ.DISCORDANT_REPEAT_REQUEST")
            return refund_ok("N", _yuan(self.refunded))
        if self.frozen:
            return business("ACQ.REASON_TRADE_BEEN_FREEZEN")
        refused = {
            TradeStatus.WAIT_BUYER_PAY: "ACQ.TRADE_STATUS_ERROR",
            TradeStatus.TRADE_FINISHED: "ACQ.TRADE_HAS_FINISHED",
            TradeStatus.TRADE_CLOSED: "ACQ.TRADE_HAS_CLOSE",
        }.get(self.status)
        if refused is not None:
            return business(refused)
        if self.refunded + amount > TOTAL_CENTS:
            return business("ACQ.REASON_TRADE_REFUND_FEE_ERR")
        self.refunds[request.out_request_no] = amount
        self.refunded += amount
        self.ours += amount
        if self.refunded == TOTAL_CENTS:
            self.status = TradeStatus.TRADE_CLOSED
        return refund_ok("Y", _yuan(self.refunded))

    def refund_query(self, request: RefundRequest) -> TradeOutcome:
        if not self.exists:
            return business("TRADE_NOT_EXIST")
        done = self.refunds.get(request.out_request_no)
        if done is None:
            return refund_query_ok(False)
        return refund_query_ok(True, _yuan(done), request.out_request_no)

    def answer(self, call: Call) -> TradeOutcome:
        if call.op is Op.CANCEL:
            return self.cancel()
        if call.op is Op.QUERY:
            return self.query()
        if call.op is Op.CLOSE:
            return self.close()
        assert call.refund is not None, call
        return self.refund(call.refund) if call.op is Op.REFUND else self.refund_query(call.refund)


class Fault(Enum):
    NONE = "answered"
    LOST_BEFORE = "lost before Alipay acted (timeout)"
    LOST_AFTER = "Alipay acted, the answer was lost (timeout)"
    SYSTEM_ERROR = "ACQ.SYSTEM_ERROR"
    BAD_SIGNATURE = "Alipay acted, the answer's signature is wrong"
    UNSIGNED_ERROR = "an unsigned error with Alipay's next code (not acted on)"
    CRASH = "Alipay acted, the function died before recording the answer"


def _faulty(trade: Trade, call: Call, fault: Fault) -> TradeOutcome:
    if fault is Fault.LOST_BEFORE:
        return TIMEOUT
    if fault is Fault.SYSTEM_ERROR:
        return business("ACQ.SYSTEM_ERROR")
    if fault is Fault.UNSIGNED_ERROR:
        genuine = Trade(**{**trade.__dict__, "refunds": dict(trade.refunds)}).answer(call)
        if isinstance(genuine, AlipayFailure) and genuine.code:
            return business(genuine.code, verified=False)
        return AlipayFailure(FailureKind.HTTP_ERROR, "unsigned", http_status=502)
    outcome = trade.answer(call)  # the call took effect
    if fault is Fault.LOST_AFTER:
        return TIMEOUT
    if fault is Fault.BAD_SIGNATURE:
        return BAD_SIGNATURE
    return outcome


@dataclass
class Run:
    calls: list[Call] = field(default_factory=list)
    deliveries: int = 0
    end: Finish | None = None
    money_moved: bool = False


def settle(trade: Trade, policy: PaidTradePolicy, faults: list[Fault], pays_between: bool) -> Run:
    """Deliveries until the flow ends in a final state; between deliveries, the ledger carries what the
    flow needs (our refund request, a call left unanswered by a crash)."""
    run, start, most = Run(), Start(KEY, policy), len(faults) + 2
    while run.end is None or run.end.status is Status.RETRYING:
        run.deliveries += 1
        assert run.deliveries <= most, "did not settle once the faults stopped"
        answers: tuple[Answer, ...] = ()
        crashed: Call | None = None
        while True:
            step = next_step(start, answers)
            if isinstance(step, Finish):
                run.end = step
                break
            run.calls.append(step)
            fault = faults.pop(0) if faults else Fault.NONE
            outcome = _faulty(trade, step, fault)
            if fault is Fault.CRASH:
                crashed = step
                break
            answers = (*answers, answer(step, outcome))
        assert len(answers) + (crashed is not None) <= MAX_CALLS
        refund = committed_refund(start, answers)
        if crashed is not None:
            start = Start(KEY, policy, unanswered=crashed.op, refund=crashed.refund or refund)
            continue
        assert run.end is not None
        run.money_moved = trade_facts(start, answers).money_moved
        start = Start(KEY, policy, refund=refund)
        if pays_between and trade.status is TradeStatus.WAIT_BUYER_PAY:
            trade.pay()
    return run


FAULTS = st.lists(st.sampled_from(Fault), max_size=8)


@given(st.sampled_from(Scenario), st.sampled_from(PaidTradePolicy), FAULTS, st.booleans())
def test_every_trade_ends_as_alipay_says_and_money_moves_at_most_once(
    scenario: Scenario, policy: PaidTradePolicy, faults: list[Fault], pays_between: bool
) -> None:
    trade = Trade.of(scenario)
    run = settle(trade, policy, list(faults), pays_between)
    assert run.end is not None
    status = run.end.status

    assert trade.refunded <= TOTAL_CENTS
    refunds = {call.refund for call in run.calls if call.op in (Op.REFUND, Op.REFUND_QUERY)}
    assert refunds <= {RefundRequest(request_number(KEY), _yuan(TOTAL_CENTS))}
    if policy is PaidTradePolicy.KEEP:
        assert not [call for call in run.calls if call.op in (Op.CANCEL, Op.REFUND)]
        assert trade.ours == 0
    assert not run.money_moved or trade.ours > 0

    if status is Status.NOT_FOUND:
        assert not trade.exists
    elif status is Status.CLOSED:
        assert trade.status is TradeStatus.TRADE_CLOSED and not trade.paid
    elif status is Status.REFUNDED:
        assert trade.status is TradeStatus.TRADE_CLOSED and trade.paid and trade.refunded == TOTAL_CENTS
    elif status is Status.KEPT:
        assert policy is PaidTradePolicy.KEEP and trade.paid and trade.status is not TradeStatus.TRADE_CLOSED
    else:
        assert status is Status.FAILED
        # Only what no call can settle: a finished or frozen trade, or one refunded in part by someone else.
        assert policy is PaidTradePolicy.REFUND
        assert trade.status is TradeStatus.TRADE_FINISHED or trade.frozen or 0 < trade.refunded - trade.ours


@given(st.sampled_from(Scenario), st.sampled_from(PaidTradePolicy))
def test_without_faults_one_delivery_settles_every_trade(scenario: Scenario, policy: PaidTradePolicy) -> None:
    trade = Trade.of(scenario)
    run = settle(trade, policy, [], pays_between=False)
    assert run.deliveries == 1 and run.end is not None
    expected = {
        Scenario.UNKNOWN: Status.NOT_FOUND,
        Scenario.UNPAID: Status.CLOSED,
        Scenario.UNPAID_OUTSIDE_WINDOW: Status.CLOSED,
        Scenario.CLOSED: Status.CLOSED,
        Scenario.REFUNDED: Status.REFUNDED,
        # Cancel closes it before the buyer can pay; under keep, the close meets the payment.
        Scenario.UNPAID_PAYS_BEFORE_CLOSE: Status.CLOSED if policy is PaidTradePolicy.REFUND else Status.KEPT,
    }.get(scenario)
    if expected is None:  # the buyer paid
        if policy is PaidTradePolicy.KEEP:
            expected = Status.KEPT
        elif scenario in (Scenario.FINISHED, Scenario.FROZEN, Scenario.PART_REFUNDED):
            expected = Status.FAILED
        else:
            expected = Status.REFUNDED
    assert run.end.status is expected
    assert run.money_moved is (expected is Status.REFUNDED and scenario is not Scenario.REFUNDED)
