"""No Alipay call is started without enough invocation time left for it (connect + read timeout + a
safety margin): the record is left untried, not counted, and comes back soon."""

from __future__ import annotations

from alipay_cancel.decisions.waits import LOW_TIME_RETRY_SECONDS
from alipay_cancel.pipeline.service import SAFETY_MARGIN_MS
from tests.fixtures.aws import (
    SHORTEST_RETRIES,
    FakeLambdaContext,
    Pipeline,
    cancel_body,
    sqs_event,
    sqs_record,
)

# The pipeline fixture's ALIPAY_CONNECT_TIMEOUT_SECONDS=2 and ALIPAY_READ_TIMEOUT_SECONDS=5.
NEEDED_SECONDS = 2 + 5 + SAFETY_MARGIN_MS / 1000


def test_too_little_time_leaves_the_record_untried_uncounted_and_back_soon(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("TIME-1", state="unpaid")
    visibility = pipeline.calls("sqs", "ChangeMessageVisibility")
    pipeline.aws.send(cancel_body("TIME-1"))

    event = pipeline.aws.receive_event()
    response = pipeline.invoke(event, FakeLambdaContext(timeout_seconds=NEEDED_SECONDS - 0.5))
    pipeline.aws.settle(event, response)

    [record] = event["Records"]
    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert admin.count("TIME-1")["requests"] == 0  # Alipay never called
    assert pipeline.aws.result("TIME-1") is None  # not claimed: no attempt, no lease left behind
    assert [call["VisibilityTimeout"] for call in visibility] == [LOW_TIME_RETRY_SECONDS]

    pipeline.aws.make_visible(event)
    event = pipeline.aws.receive_event()
    response = pipeline.invoke(event, FakeLambdaContext(timeout_seconds=NEEDED_SECONDS + 1))
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("TIME-1")
    assert item is not None and item["status"] == "CLOSED" and item["attempts"] == 1
    assert admin.cancel_calls("TIME-1") == 1


def test_too_little_time_on_the_last_receive_keeps_the_message_untried(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("TIME-2", state="unpaid")
    pipeline.configure(
        **SHORTEST_RETRIES,
    )  # the copy's delay: min(5 s, 2 s)
    sends = pipeline.calls("sqs", "SendMessage")
    last = pipeline.aws.max_receive_count
    body = cancel_body("TIME-2")
    event = sqs_event([sqs_record(body, message_id="m-last", receive_count=last)])

    response = pipeline.invoke(event, FakeLambdaContext(timeout_seconds=1))

    assert response == {"batchItemFailures": []}  # the re-enqueued copy carries it now
    assert admin.count("TIME-2")["requests"] == 0
    assert pipeline.aws.dead_letters() == []  # never tried, so never given up on
    assert pipeline.aws.result("TIME-2") is None  # and not counted as an attempt
    [sent] = sends
    assert (sent["QueueUrl"], sent["MessageBody"]) == (pipeline.aws.queue_url, body)

    pipeline.aws.wait_out_delays()
    copy = pipeline.aws.receive_event()
    [record] = copy["Records"]
    assert record["body"] == body and record["attributes"]["ApproximateReceiveCount"] == "1"
    response = pipeline.invoke(copy, FakeLambdaContext(timeout_seconds=NEEDED_SECONDS + 1))
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("TIME-2")
    assert item is not None and (item["status"], item["attempts"]) == ("CLOSED", 1)
    assert admin.cancel_calls("TIME-2") == 1


def test_too_little_time_past_the_retention_dead_letters_with_a_reason(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("TIME-3", state="unpaid")
    pipeline.configure(CANCEL_QUEUE_RETENTION_SECONDS=600)  # shorter than a re-enqueue may wait
    last = pipeline.aws.max_receive_count
    event = sqs_event([sqs_record(cancel_body("TIME-3"), message_id="m-last", receive_count=last)])

    response = pipeline.invoke(event, FakeLambdaContext(timeout_seconds=1))

    assert response == {"batchItemFailures": []}  # its dead letter carries it now, with the reason
    assert admin.count("TIME-3")["requests"] == 0
    [letter] = pipeline.aws.dead_letters()
    assert letter["attributes"]["outcome_class"] == "exhausted"
    reason = letter["attributes"]["reason"]
    assert "Not enough time left in the invocation" in reason and "never tried" in reason
    item = pipeline.aws.result("TIME-3")
    assert item is not None
    assert (item["status"], item["outcome_class"], item["attempts"]) == ("FAILED", "exhausted", 0)
