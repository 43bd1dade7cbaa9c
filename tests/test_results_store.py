"""ResultsStore against moto: contract fields, ADD attempts, SUCCEEDED never overwritten, errors propagate."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from alipay_cancel.shared.endings import Ending
from alipay_cancel.stores.results import ResultRecord, ResultsStore, Status
from tests.fixtures.aws import AwsStack


def _store(stack: AwsStack, times: list[str]) -> ResultsStore:
    return ResultsStore(stack.dynamodb, stack.results_table, clock=lambda: times.pop(0))


def test_retrying_then_succeeded_keeps_created_at_counts_attempts_and_clears_the_error(
    aws_stack: AwsStack,
) -> None:
    store = _store(aws_stack, ["2024-01-01T00:00:00.000Z", "2024-01-01T00:01:00.000Z"])
    assert store.write(
        ResultRecord(
            trade_key="T1",
            status=Status.RETRYING,
            outcome_class=Ending.RETRY,
            message_id="m1",
            out_trade_no="T1",
            error_code="20000",
            error_sub_code="ACQ.SYSTEM_ERROR",
            error_message="Alipay is busy",
            remedy="none needed",
        )
    )
    item = aws_stack.result("T1")
    assert item is not None
    assert item["status"] == "RETRYING" and item["attempts"] == 1 and "finished_at" not in item
    assert item["error_sub_code"] == "ACQ.SYSTEM_ERROR"

    assert store.write(
        ResultRecord(
            trade_key="T1",
            status=Status.SUCCEEDED,
            outcome_class=Ending.SUCCEEDED,
            message_id="m2",
            trade_no="2024X",
            action="close",
            alipay_trace_id="trace-1",
        )
    )
    item = aws_stack.result("T1")
    assert item == {
        "trade_key": "T1",
        "status": "SUCCEEDED",
        "outcome_class": "succeeded",
        "message_id": "m2",
        "out_trade_no": "T1",  # learnt earlier, kept
        "trade_no": "2024X",
        "action": "close",
        "alipay_trace_id": "trace-1",
        "attempts": 2,
        "created_at": "2024-01-01T00:00:00.000Z",
        "updated_at": "2024-01-01T00:01:00.000Z",
        "finished_at": "2024-01-01T00:01:00.000Z",
    }


def test_succeeded_item_is_never_overwritten(aws_stack: AwsStack) -> None:
    store = ResultsStore(aws_stack.dynamodb, aws_stack.results_table)
    assert store.write(ResultRecord("T2", Status.SUCCEEDED, Ending.SUCCEEDED, "m1", action="refund"))
    before = aws_stack.result("T2")
    for status, outcome in (
        (Status.FAILED, Ending.TERMINAL),
        (Status.RETRYING, Ending.RETRY),
        (Status.SUCCEEDED, Ending.SUCCEEDED),
    ):
        assert store.write(ResultRecord("T2", status, outcome, "m9", error_code="X")) is False
    assert aws_stack.result("T2") == before


def test_bad_message_record_does_not_count_an_attempt(aws_stack: AwsStack) -> None:
    store = ResultsStore(aws_stack.dynamodb, aws_stack.results_table)
    store.write(
        ResultRecord("T3", Status.FAILED, Ending.BAD_MESSAGE, "m1", alipay_calls=0, error_message="x")
    )
    item = aws_stack.result("T3")
    assert item is not None and item["attempts"] == 0 and item["status"] == "FAILED" and "finished_at" in item


def test_dynamodb_errors_propagate(aws_stack: AwsStack) -> None:
    def throttle(**_: object) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "UpdateItem",
        )

    aws_stack.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", throttle)
    store = ResultsStore(aws_stack.dynamodb, aws_stack.results_table)
    with pytest.raises(ClientError):
        store.write(ResultRecord("T4", Status.FAILED, Ending.TERMINAL, "m1"))
