"""What a settled or failed settle flow leaves for a person: the ledger record whole (every fact Alipay
gave, our refund request) and the dead letter's ``alipay_facts``. Pure: routing over the steps' end."""

from __future__ import annotations

from alipay_cancel.alipay import TradeStatus
from alipay_cancel.decisions.plans import Delivery
from alipay_cancel.decisions.refund_request import request_number
from alipay_cancel.decisions.routing import route
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import Status, TradeRecord
from tests.routing_support import REQUEST, SCHEDULE
from tests.settle_support import START, TOTAL, business, delivered, query_ok, refund_ok, run

TIME_OUT = business("ACQ.TRADE_CANCEL_TIME_OUT")  # cancel cannot settle it: the trade is queried
OURS = request_number("T-1")


def delivery(receive_count: int = 2) -> Delivery:
    return Delivery("m-1", '{"out_trade_no": "T-1"}', receive_count, SCHEDULE)


def test_a_refund_that_moved_money_is_recorded_with_every_fact_and_our_request() -> None:
    _, _, answers = run(START, [TIME_OUT, query_ok(TradeStatus.TRADE_SUCCESS), refund_ok("Y")])
    plan = route(delivery(), REQUEST, delivered(*answers))
    assert plan.write is not None
    assert plan.write.record == TradeRecord(
        status=Status.REFUNDED, outcome_class=Ending.SUCCEEDED, out_trade_no="T-1", trade_no="2026010122001",
        gmt_refund_pay="2026-01-01 10:05:00", trade_status="TRADE_SUCCESS", total_amount=TOTAL,
        refund_amount=TOTAL, refund_fee=TOTAL, out_request_no=OURS, refund_request_amount=TOTAL,
        alipay_trace_id="trace-refund", money_moved=True, if_paid="refund",
        settled_reason="Alipay refunded this service's refund (fund_change Y)",
    )  # fmt: skip


def test_a_finished_trade_is_dead_lettered_with_what_alipay_said_of_it() -> None:
    _, end, answers = run(START, [TIME_OUT, query_ok(TradeStatus.TRADE_FINISHED)])
    assert end.status is Status.FAILED
    plan = route(delivery(), REQUEST, delivered(*answers))
    assert plan.dead_letter is not None
    assert plan.dead_letter.alipay_facts == f"trade_status=TRADE_FINISHED total_amount={TOTAL}"


def test_a_refused_refund_is_dead_lettered_naming_our_request() -> None:
    refused = business("ACQ.REFUND_FEE_ERROR")
    _, end, answers = run(START, [TIME_OUT, query_ok(TradeStatus.TRADE_SUCCESS), refused])
    assert end.status is Status.FAILED
    plan = route(delivery(), REQUEST, delivered(*answers))
    assert plan.dead_letter is not None and plan.write is not None
    assert (
        plan.dead_letter.alipay_facts
        == f"trade_status=TRADE_SUCCESS total_amount={TOTAL} out_request_no={OURS}"
    )
    record = plan.write.record
    assert (record.out_request_no, record.refund_request_amount, record.refund_amount) == (OURS, TOTAL, None)


def test_a_refund_whose_record_failed_on_the_last_receive_is_dead_lettered_with_the_money_it_moved() -> None:
    _, _, answers = run(START, [TIME_OUT, query_ok(TradeStatus.TRADE_SUCCESS), refund_ok("Y")])
    unrecorded = route(delivery(8), REQUEST, delivered(*answers)).unrecorded
    assert unrecorded is not None and unrecorded.dead_letter is not None
    assert unrecorded.dead_letter.alipay_facts == (
        f"trade_status=TRADE_SUCCESS total_amount={TOTAL} refund_fee={TOTAL} refund_amount={TOTAL} "
        f"out_request_no={OURS}"
    )


def test_a_refund_left_unconfirmed_on_the_last_receive_fails_with_money_moved_unknown() -> None:
    """No answer said whether the refund moved money (fund_change N): false would be a guess."""
    _, end, answers = run(START, [TIME_OUT, query_ok(TradeStatus.TRADE_SUCCESS), refund_ok("N")])
    assert end.status is Status.RETRYING
    plan = route(delivery(8), REQUEST, delivered(*answers))
    assert plan.write is not None and plan.dead_letter is not None
    record = plan.write.record
    assert (record.status, record.outcome_class, record.money_moved) == (
        Status.FAILED,
        Ending.EXHAUSTED,
        None,
    )
    assert (record.out_request_no, record.refund_request_amount) == (OURS, TOTAL)
