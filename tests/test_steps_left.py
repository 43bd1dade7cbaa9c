"""What the steps leave for a later delivery says, word for word where a person reads it (the ledger
item's reason and remedy, the wait before the next try), and how many calls one delivery makes."""

from __future__ import annotations

from alipay_cancel.alipay import TradeStatus
from alipay_cancel.decisions.alipay_codes import RetryDelay
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.decisions.steps import Call, Finish, Start, interrupted, next_step
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import Op, Status
from alipay_cancel.shared.trade import PaidTradePolicy
from tests.settle_support import BAD_SIGNATURE, answer, business, query_ok, refund_ok, run

REFUND = Start("T-1", PaidTradePolicy.REFUND)
KEEP = Start("T-1", PaidTradePolicy.KEEP)
TIME_OUT = business("ACQ.TRADE_CANCEL_TIME_OUT")  # cancel cannot settle it: the trade is queried
NOT_WAITING = business("ACQ.TRADE_STATUS_ERROR")  # close met a trade no longer waiting for payment


def test_an_interrupted_delivery_says_nothing_is_to_be_done() -> None:
    end = interrupted((), Call(Op.QUERY))
    assert end == Finish(
        Status.RETRYING,
        Decision(
            Ending.RETRY,
            "too little time was left in the invocation for the next call (query), or the ledger could "
            "not record the answers before it",
            "Nothing to do: a later delivery goes on from what the ledger recorded.",
            RetryDelay.NORMAL,
        ),
        soon=True,
    )


def test_a_refund_alipay_accepted_without_moving_money_is_confirmed_10_s_later() -> None:
    calls, end, _ = run(REFUND, [TIME_OUT, query_ok(TradeStatus.TRADE_SUCCESS), refund_ok("N", "0.00")])
    assert [call.op for call in calls] == [Op.CANCEL, Op.QUERY, Op.REFUND]
    assert end == Finish(
        Status.RETRYING,
        Decision(
            Ending.RETRY,
            "Alipay accepted this service's refund request without saying money moved (fund_change not Y)",
            "Nothing to do: the refund is confirmed with Alipay's refund query at least 10 s later, and sent "
            "again with the same request number and amount only if it did not happen (it cannot refund "
            "twice).",
            RetryDelay.NORMAL,
        ),
        wait_seconds=10,
    )


def test_a_paid_trade_without_an_order_amount_is_left_saying_so() -> None:
    _, end, _ = run(REFUND, [TIME_OUT, query_ok(TradeStatus.TRADE_SUCCESS, total=None)])
    assert end == Finish(
        Status.RETRYING,
        Decision(
            Ending.RETRY,
            "Alipay's query answer for the paid trade has no order amount (total_amount), so the amount to "
            "refund is not known",
            "Nothing to do: retried automatically. If it persists until the message is dead-lettered, the "
            "query answers are not what Alipay documents: escalate to the owners of this service.",
            RetryDelay.NORMAL,
        ),
    )


def test_the_longest_settling_path_fits_in_one_delivery_of_six_calls() -> None:
    """Cancel, query, close (the buyer paid meanwhile), query, refund, and that refund once more with the
    secret re-read: REFUNDED within one delivery."""
    script = [
        TIME_OUT,
        query_ok(TradeStatus.WAIT_BUYER_PAY),
        NOT_WAITING,
        query_ok(TradeStatus.TRADE_SUCCESS),
        BAD_SIGNATURE,
        refund_ok("Y"),
    ]
    calls, end, _ = run(REFUND, script)
    assert [call.op for call in calls] == [Op.CANCEL, Op.QUERY, Op.CLOSE, Op.QUERY, Op.REFUND, Op.REFUND]
    assert end.status is Status.REFUNDED


def test_a_trade_whose_state_keeps_changing_is_left_after_six_calls() -> None:
    flip = [query_ok(TradeStatus.WAIT_BUYER_PAY), NOT_WAITING] * 3
    answers = ()
    for outcome in flip:
        step = next_step(KEEP, answers)
        assert isinstance(step, Call)
        answers = (*answers, answer(step, outcome))
    assert len(answers) == 6
    assert next_step(KEEP, answers) == Finish(
        Status.RETRYING,
        Decision(
            Ending.RETRY,
            "6 calls to Alipay in one delivery did not settle the trade (its state kept changing, e.g. a "
            "buyer paying meanwhile)",
            "Nothing to do: retried automatically; a later delivery starts from what Alipay then reports.",
            RetryDelay.NORMAL,
        ),
    )
