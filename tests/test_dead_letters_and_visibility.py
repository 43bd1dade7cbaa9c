"""DeadLetterSender and VisibilityScheduler against moto."""

from __future__ import annotations

import time

from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import Ending
from alipay_cancel.stores.dead_letters import DeadLetterSender
from alipay_cancel.stores.visibility import VisibilityScheduler
from tests.fixtures.aws import AwsStack


def test_dead_letter_keeps_body_byte_for_byte_and_sets_only_known_attributes(aws_stack: AwsStack) -> None:
    body = '{"out_trade_no": "T1",  "extra": "ünïcode"}'
    DeadLetterSender(aws_stack.sqs, aws_stack.dead_letter_queue_url).send(
        DeadLetter(
            body=body,
            reason="Outside the cancel window. Use the refund API.",
            source_message_id="m1",
            outcome_class=Ending.TERMINAL,
            error_code="40004",
            error_sub_code="ACQ.TRADE_CANCEL_TIME_OUT",
            trade_key="T1",
            attempts=2,
        )
    )
    [letter] = aws_stack.dead_letters()
    assert letter["body"] == body
    assert letter["attributes"] == {
        "reason": "Outside the cancel window. Use the refund API.",
        "outcome_class": "terminal",
        "error_code": "40004",
        "error_sub_code": "ACQ.TRADE_CANCEL_TIME_OUT",
        "source_message_id": "m1",
        "trade_key": "T1",
        "attempts": "2",
    }


def test_visibility_delay_hides_the_message_and_zero_shows_it(aws_stack: AwsStack) -> None:
    aws_stack.send('{"out_trade_no": "T1"}')
    [record] = aws_stack.receive_event()["Records"]
    scheduler = VisibilityScheduler(aws_stack.sqs, aws_stack.queue_url)
    scheduler.delay(record["receiptHandle"], 600)
    assert aws_stack.receive_event()["Records"] == []
    scheduler.delay(record["receiptHandle"], 0)
    time.sleep(0.01)
    again = aws_stack.receive_event()["Records"]
    assert [r["messageId"] for r in again] == [record["messageId"]]
    assert again[0]["attributes"]["ApproximateReceiveCount"] == "2"
