"""Why a trade settled is said, not only computed: each settled ending of the steps carries its reason,
routing records it on the ledger item (``settled_reason``) and the "trade settled" log line says it, so
on-call can read why a trade is, say, REFUNDED with no money moved by this service."""

from __future__ import annotations

from typing import Any

import pytest

from alipay_cancel.alipay import TradeOutcome, TradeStatus
from alipay_cancel.decisions.refund_request import RefundRequest, request_number
from alipay_cancel.decisions.routing import route
from alipay_cancel.decisions.steps import Start
from alipay_cancel.shared.ledger_item import Status
from alipay_cancel.shared.trade import PaidTradePolicy
from alipay_cancel.stores.ledger import Ledger
from tests.fixtures.aws import AwsStack
from tests.routing_support import REQUEST
from tests.settle_support import (
    START,
    TOTAL,
    business,
    cancel_ok,
    close_ok,
    delivered,
    query_ok,
    refund_ok,
    refund_query_ok,
    run,
)
from tests.test_settle_records import delivery

KEEP = START._replace(policy=PaidTradePolicy.KEEP)
OURS = START._replace(refund=RefundRequest(request_number("T-1"), TOTAL))
TIME_OUT = business("ACQ.TRADE_CANCEL_TIME_OUT")
FEE_ERR = business("ACQ.REASON_TRADE_REFUND_FEE_ERR")
PAID, UNPAID = TradeStatus.TRADE_SUCCESS, TradeStatus.WAIT_BUYER_PAY
CLOSED_AFTER_PAYMENT = (
    "Alipay reports the trade closed after a payment (TRADE_CLOSED with a payment): it was fully "
    "refunded, by no refund this service confirmed"
)

# (how it starts, what Alipay answers, the state, why), one row for every way the steps settle a trade.
SETTLED_ENDINGS: list[tuple[Start, list[TradeOutcome], Status, str]] = [
    (START, [cancel_ok("close")], Status.CLOSED, "Alipay closed the unpaid trade (action close, no refund)"),
    (START, [cancel_ok("refund")], Status.REFUNDED,
     "Alipay cancelled the paid trade and refunded the buyer (action refund)"),
    (START, [cancel_ok(None)], Status.NOT_FOUND, "Alipay found no such trade: nothing to cancel (no action)"),
    (START, [TIME_OUT, query_ok(UNPAID), close_ok()], Status.CLOSED,
     "Alipay closed the unpaid trade (close)"),
    (START, [TIME_OUT, query_ok(PAID), refund_ok("Y")], Status.REFUNDED,
     "Alipay refunded this service's refund (fund_change Y)"),
    (OURS, [refund_query_ok(True)], Status.REFUNDED, "Alipay confirmed this service's refund (refund query)"),
    (START, [TIME_OUT, business("ACQ.TRADE_NOT_EXIST")], Status.NOT_FOUND,
     "Alipay knows no such trade (query: trade does not exist)"),
    (KEEP, [query_ok(PAID)], Status.KEPT, "the buyer paid (TRADE_SUCCESS) and the policy keeps paid trades"),
    (KEEP, [query_ok(TradeStatus.TRADE_FINISHED)], Status.KEPT,
     "the buyer paid and the trade is finished (TRADE_FINISHED)"),
    (START, [FEE_ERR, query_ok(TradeStatus.TRADE_CLOSED, paid=True)], Status.REFUNDED, CLOSED_AFTER_PAYMENT),
    (START, [FEE_ERR, query_ok(TradeStatus.TRADE_CLOSED, paid=False)], Status.CLOSED,
     "Alipay reports the trade closed (TRADE_CLOSED), never paid"),
]  # fmt: skip


@pytest.mark.parametrize(("start", "script", "status", "reason"), SETTLED_ENDINGS)
def test_each_settled_ending_says_why(
    start: Start, script: list[TradeOutcome], status: Status, reason: str
) -> None:
    _, end, _ = run(start, script)
    assert (end.status, end.decision.reason) == (status, reason)


@pytest.mark.parametrize(("start", "script", "status", "reason"), SETTLED_ENDINGS)
def test_the_record_and_the_log_line_say_why_the_trade_settled(
    start: Start, script: list[TradeOutcome], status: Status, reason: str
) -> None:
    _, _, answers = run(start, script)
    plan = route(delivery(), REQUEST, delivered(*answers, start=start))
    assert plan.write is not None and plan.log == "trade settled"
    assert (plan.write.record.status, plan.write.record.settled_reason) == (status, reason)
    assert plan.detail["reason"] == reason


def test_only_a_settled_trade_has_a_settled_reason() -> None:
    _, _, answers = run(START, [TIME_OUT, query_ok(TradeStatus.TRADE_FINISHED)])  # fails: no call settles it
    failed = route(delivery(), REQUEST, delivered(*answers))
    _, _, answers = run(START, [cancel_ok(None, retry_flag="Y")])
    retried = route(delivery(), REQUEST, delivered(*answers))
    for plan in (failed, retried):
        assert plan.write is not None and plan.write.record.settled_reason is None
        assert plan.write.record.error_message  # what went wrong is said in its own field


def _leased(aws_stack: AwsStack, **attributes: str) -> None:
    """The trade's item as a claim left it (lease ``h``), with ``attributes`` besides."""
    item = {"trade_key": {"S": REQUEST.trade_key}, "status": {"S": "RETRYING"}, "lease_holder": {"S": "h"}}
    item["lease_until"] = {"N": "9999999999999"}
    item.update({name: {"S": value} for name, value in attributes.items()})
    aws_stack.dynamodb.put_item(TableName=aws_stack.results_table, Item=item)


def _item(aws_stack: AwsStack) -> dict[str, Any]:
    key = {"trade_key": {"S": REQUEST.trade_key}}
    got = aws_stack.dynamodb.get_item(TableName=aws_stack.results_table, Key=key, ConsistentRead=True)
    return dict(got["Item"])


def test_the_ledger_item_keeps_the_settled_reason_and_an_outcome_without_one_removes_it(
    aws_stack: AwsStack,
) -> None:
    _, _, answers = run(START, [FEE_ERR, query_ok(TradeStatus.TRADE_CLOSED, paid=True)])
    write = route(delivery(), REQUEST, delivered(*answers)).write
    assert write is not None
    ledger = Ledger(aws_stack.dynamodb, aws_stack.results_table, "2021000000000001")
    _leased(aws_stack, settled_reason="stale")
    retried = write.record._replace(status=Status.RETRYING, settled_reason=None)
    assert ledger.write(write._replace(lease_holder="h", record=retried))
    assert "settled_reason" not in _item(aws_stack)
    _leased(aws_stack)
    assert ledger.write(write._replace(lease_holder="h"))
    item = _item(aws_stack)
    assert (item["status"], item["settled_reason"], item["money_moved"]) == (
        {"S": "REFUNDED"},
        {"S": CLOSED_AFTER_PAYMENT},
        {"BOOL": False},
    )
