"""AWS failures injected through botocore event hooks on the handler's own clients: before the last
allowed receive never acknowledged, nothing lost; a call whose answer could not be recorded is seen by
the next delivery as sent with its answer unknown, recorded as such, and resumed. The last allowed
receive: tests/test_handler_last_receive.py."""

from __future__ import annotations

from tests.fixtures.aws import Pipeline, cancel_body, ledger_write, sqs_event, sqs_record
from tests.fixtures.aws import failing_call as _failing


def test_final_write_throttled_leaves_the_message_and_the_next_delivery_resumes_the_unknown_call(
    pipeline: Pipeline,
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("F-1", state="unpaid")
    hook = _failing("ProvisionedThroughputExceededException", "UpdateItem", when=ledger_write("final"))
    pipeline.on_function_calls("dynamodb", "provide-client-params.dynamodb.UpdateItem", hook)
    pipeline.aws.send(cancel_body("F-1"))

    event, response, _ = pipeline.run_once()
    first_delivery = event["Records"][0]["messageId"]
    assert response == {"batchItemFailures": [{"itemIdentifier": first_delivery}]}
    assert admin.cancel_calls("F-1") == 1
    item = pipeline.aws.result("F-1")  # claimed: the call counted and pending under the lease
    assert item is not None and (item["status"], item["attempts"]) == ("RETRYING", 1)
    assert item["pending"]["delivery"] == first_delivery and item["lease_holder"].endswith(first_delivery)

    # The message comes back once the holder's deadline has passed: its call's answer is unknown.
    pipeline.off_function_calls("dynamodb", "provide-client-params.dynamodb.UpdateItem", hook)
    pipeline.aws.expire_lease("F-1")
    pipeline.aws.make_visible(event)
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("F-1")
    assert item is not None and (item["status"], item["trade_status"], item["attempts"]) == (
        "CLOSED",
        "TRADE_CLOSED",
        2,
    )
    assert [(c["op"], c["result"], c["delivery"]) for c in item["history"]] == [
        ("cancel", "unknown", first_delivery),
        ("query", "ok", first_delivery),  # the same message, delivered again: the query says what it did
    ]
    assert admin.count("F-1")["requests"] == 2 and admin.cancel_calls("F-1") == 1


def test_dead_letter_send_failure_leaves_a_terminal_message_on_the_queue(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("F-2", state="finished")
    hook = _failing("AWS.SimpleQueueService.NonExistentQueue", "SendMessage")
    pipeline.on_function_calls("sqs", "before-call.sqs.SendMessage", hook)
    pipeline.aws.send(cancel_body("F-2"))

    event, response, _ = pipeline.run_once()
    assert len(response["batchItemFailures"]) == 1
    assert pipeline.aws.dead_letters() == []
    item = pipeline.aws.result("F-2")
    assert item is not None and item["status"] == "FAILED"  # recorded; the dead letter is still owed

    pipeline.off_function_calls("sqs", "before-call.sqs.SendMessage", hook)
    pipeline.aws.make_visible(event)
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    [letter] = pipeline.aws.dead_letters()
    assert letter["attributes"]["error_sub_code"] == "ACQ.TRADE_HAS_FINISHED"


def test_bad_message_dead_letter_failure_is_not_acknowledged(pipeline: Pipeline) -> None:
    pipeline.on_function_calls(
        "sqs", "before-call.sqs.SendMessage", _failing("ThrottlingException", "SendMessage")
    )
    pipeline.aws.send("not json")
    _, response, _ = pipeline.run_once()
    assert len(response["batchItemFailures"]) == 1


def test_claim_failure_is_not_acknowledged_and_alipay_not_called(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("F-3", state="unpaid")
    pipeline.on_function_calls(
        "dynamodb",
        "provide-client-params.dynamodb.UpdateItem",
        _failing("ProvisionedThroughputExceededException", "UpdateItem", when=ledger_write("claim")),
    )
    calls = pipeline.calls("sqs", "ChangeMessageVisibility")
    pipeline.aws.send(cancel_body("F-3"))
    _, response, _ = pipeline.run_once()
    assert len(response["batchItemFailures"]) == 1
    assert admin.count("F-3")["requests"] == 0
    assert pipeline.aws.dead_letters() == []
    assert pipeline.aws.result("F-3") is None
    assert calls == []  # the queue's own visibility timeout: longer than any lease it may have taken


def test_retrying_write_failure_is_not_acknowledged(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("F-4", state="unpaid")
    admin.set_fault("http_5xx", trade="F-4")
    pipeline.on_function_calls(
        "dynamodb",
        "provide-client-params.dynamodb.UpdateItem",
        _failing("InternalServerError", "UpdateItem", when=ledger_write("final")),
    )
    receive_count = pipeline.aws.max_receive_count - 1  # not the last: the queue delivers it again
    response = pipeline.invoke(
        sqs_event([sqs_record(cancel_body("F-4"), message_id="m", receive_count=receive_count)])
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert pipeline.aws.dead_letters() == []
    item = pipeline.aws.result("F-4")  # the call is pending under the lease: the next delivery resumes it
    assert item is not None and item["pending"]["delivery"] == "m" and item["attempts"] == 1


def test_visibility_change_failure_still_reports_the_retry(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("F-5", state="unpaid")
    admin.set_fault("http_5xx", trade="F-5")
    pipeline.on_function_calls(
        "sqs",
        "before-call.sqs.ChangeMessageVisibility",
        _failing("ThrottlingException", "ChangeMessageVisibility"),
    )
    pipeline.aws.send(cancel_body("F-5"))
    _, response, _ = pipeline.run_once()
    assert len(response["batchItemFailures"]) == 1
    item = pipeline.aws.result("F-5")
    assert item is not None and item["status"] == "RETRYING"
    assert not {"lease_holder", "pending"} & set(item)  # released: the next delivery claims it at once
