"""What the pipeline does when its setup changes under a record, or a trade is already settled.

- The signing secret becomes unreadable between the invocation's check and the record's own lookup
  (its cache expired and Secrets Manager throttled): a kept configuration error, never an unhandled failure
  that the queue's redrive would move without a reason.
- A trade already settled is never called again: a later delivery gets no dead letter, whatever Alipay
  would answer now.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tests.fixtures.aws import Pipeline, cancel_body, sqs_event, sqs_record


def test_a_secret_read_failing_inside_the_attempt_is_a_kept_configuration_error(pipeline: Pipeline) -> None:
    pipeline.configure(SECRET_MAX_AGE_SECONDS=0)  # every use re-reads the secret
    pipeline.gateway.admin.seed_trade("SR-1", state="unpaid")
    pipeline.invoke(sqs_event([]))  # the runtime is built with a readable secret
    reads: list[str] = []

    def throttle_after_the_first_read(**_: Any) -> None:
        reads.append("read")
        if len(reads) > 1:  # the invocation's own check passes; the record's read is throttled
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetSecretValue"
            )

    pipeline.on_function_calls(
        "secretsmanager", "before-call.secretsmanager.GetSecretValue", throttle_after_the_first_read
    )
    last = pipeline.aws.max_receive_count
    event = sqs_event([sqs_record(cancel_body("SR-1"), message_id="m-sr", receive_count=last)])

    response = pipeline.invoke(event)

    assert len(reads) >= 2  # the record's own read happened and failed
    assert response == {"batchItemFailures": []}  # handled: re-enqueued on its last receive, kept
    assert pipeline.aws.dead_letters() == []
    item = pipeline.aws.result("SR-1")
    assert item is not None
    assert (item["status"], item["outcome_class"], item["attempts"]) == ("RETRYING", "config_error", 0)
    assert "ThrottlingException" in item["error_message"] or "could not be read" in item["error_message"]
    delayed = pipeline.aws.sqs.get_queue_attributes(
        QueueUrl=pipeline.aws.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert delayed == "1"  # the unchanged copy waits like a slow retry
    assert pipeline.gateway.admin.counts()["cancel_calls"] == 0


def test_a_settled_trade_gets_no_call_and_no_dead_letter_from_a_later_delivery(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("AS-1", state="unpaid")
    pipeline.aws.send(cancel_body("AS-1"))
    pipeline.run_once()
    settled = pipeline.aws.result("AS-1")
    assert settled is not None and settled["status"] == "CLOSED"
    admin.set_fault("business_error", trade="AS-1", code="ACQ.TRADE_HAS_FINISHED", message="finished")
    pipeline.aws.send(cancel_body("AS-1"))

    _event, response, _failed = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    assert pipeline.aws.dead_letters() == []  # nothing for a person to do: the trade was cancelled
    assert admin.count("AS-1")["requests"] == 1  # the refused claim said so: no call
    assert pipeline.aws.result("AS-1") == settled
