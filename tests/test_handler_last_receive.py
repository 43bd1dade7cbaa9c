"""AWS failures on a message's LAST allowed receive, through lambda_handler (moto + gateway emulator).

Failing the message there would let the queue's redrive policy move it to the dead-letter queue with no
reason. Instead the function sends the dead letter itself, saying what failed and what to do, and
acknowledges the message; only when that send fails too is the message left to the redrive.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.aws import (
    Pipeline,
    PowertoolsLines,
    cancel_body,
    failing_call,
    ledger_write,
    sqs_event,
    sqs_record,
)


def _last_receive(pipeline: Pipeline, body: str, message_id: str) -> dict[str, Any]:
    record = sqs_record(body, message_id=message_id, receive_count=pipeline.aws.max_receive_count)
    return pipeline.invoke(sqs_event([record]))


def _fail(pipeline: Pipeline, event: str, hook: Any, service: str = "dynamodb") -> None:
    pipeline.on_function_calls(service, event, hook)


def test_claim_failure_is_dead_lettered_with_a_reason_and_the_redrive_calls_alipay(
    pipeline: Pipeline,
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-1", state="unpaid")
    hook = failing_call("ProvisionedThroughputExceededException", "UpdateItem", when=ledger_write("claim"))
    _fail(pipeline, "provide-client-params.dynamodb.UpdateItem", hook)
    body = cancel_body("L-1")

    response = _last_receive(pipeline, body, "m1")

    assert response == {"batchItemFailures": []}  # acknowledged: dead-lettered with a reason
    assert admin.count("L-1")["requests"] == 0
    [letter] = pipeline.aws.dead_letters()
    attributes = letter["attributes"]
    assert letter["body"] == body
    assert attributes["outcome_class"] == "exhausted"
    assert attributes["source_message_id"] == "m1" and attributes["trade_key"] == "L-1"
    assert attributes["attempts"] == str(pipeline.aws.max_receive_count)
    reason = attributes["reason"]
    assert "The ledger could not be claimed before Alipay was called" in reason
    assert "ProvisionedThroughputExceededException" in reason and "redrive" in reason
    item = pipeline.aws.result("L-1")  # a note without the lease: the trade failed, no call made
    assert item is not None and (item["status"], item["outcome_class"]) == ("FAILED", "exhausted")
    assert item["attempts"] == 0 and "history" not in item and item["event_id"]

    # The table recovers; an operator redrives the dead letter unchanged: Alipay is really called.
    pipeline.off_function_calls("dynamodb", "provide-client-params.dynamodb.UpdateItem", hook)
    pipeline.aws.send(letter["body"])
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("L-1")
    assert item is not None and (item["status"], item["action"], item["attempts"]) == ("CLOSED", "close", 1)
    assert admin.cancel_calls("L-1") == 1


@pytest.mark.parametrize("write_failures", [None, 1], ids=["write-keeps-failing", "second-write-works"])
def test_settlement_not_recorded_is_dead_lettered_and_the_redrive_resumes_the_call(
    pipeline: Pipeline, write_failures: int | None
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-2", state="unpaid")
    hook = failing_call("ThrottlingException", "UpdateItem", times=write_failures, when=ledger_write("final"))
    _fail(pipeline, "provide-client-params.dynamodb.UpdateItem", hook)
    body = cancel_body("L-2")

    response = _last_receive(pipeline, body, "m2")

    assert response == {"batchItemFailures": []}
    assert admin.cancel_calls("L-2") == 1
    [letter] = pipeline.aws.dead_letters()
    attributes = letter["attributes"]
    assert letter["body"] == body
    assert (attributes["outcome_class"], attributes["trade_key"]) == ("exhausted", "L-2")
    assert attributes["attempts"] == str(pipeline.aws.max_receive_count)
    assert attributes["alipay_trace_id"]
    reason = attributes["reason"]
    assert reason.startswith("The CLOSED result could not be recorded on the last allowed delivery")
    assert "Alipay settled the trade as CLOSED (action close)" in reason and "redrive" in reason
    item = pipeline.aws.result("L-2")
    assert item is not None
    if write_failures is None:  # the call is still pending under the (expiring) lease
        assert (item["status"], item["attempts"], item["pending"]["delivery"]) == ("RETRYING", 1, "m2")
    else:  # the write was tried once more after the dead letter, and went through
        assert (item["status"], item["action"]) == ("CLOSED", "close")

    pipeline.off_function_calls("dynamodb", "provide-client-params.dynamodb.UpdateItem", hook)
    if write_failures is None:
        pipeline.aws.expire_lease("L-2")  # a redrive comes long after the holder's deadline
    pipeline.aws.send(letter["body"])
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("L-2")
    assert item is not None and item["status"] == "CLOSED"
    if write_failures is None:  # resumed: recorded as unknown, and the query says what it did
        assert [(c["op"], c["result"]) for c in item["history"]] == [("cancel", "unknown"), ("query", "ok")]
        assert item["trade_status"] == "TRADE_CLOSED" and item["money_moved"] is False
        assert admin.count("L-2")["requests"] == 2 and item["attempts"] == 2
    else:  # settled: the redrive is a duplicate, no call
        assert admin.count("L-2")["requests"] == 1 and item["attempts"] == 1


def test_results_write_and_dead_letter_both_failing_leave_the_message_to_the_redrive(
    pipeline: Pipeline, powertools_lines: PowertoolsLines
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-5", state="paid")
    _fail(
        pipeline,
        "provide-client-params.dynamodb.UpdateItem",
        failing_call("ThrottlingException", "UpdateItem", when=ledger_write("final")),
    )
    _fail(
        pipeline, "before-call.sqs.SendMessage", failing_call("InternalError", "SendMessage"), service="sqs"
    )

    response = _last_receive(pipeline, cancel_body("L-5"), "m5")

    assert response == {"batchItemFailures": [{"itemIdentifier": "m5"}]}
    assert admin.cancel_calls("L-5") == 1
    item = pipeline.aws.result("L-5")  # never settled without the write: the call stays pending
    assert item is not None and item["status"] == "RETRYING" and item["pending"]["delivery"] == "m5"
    said = [(r["message"], r.get("message_id")) for r in powertools_lines.records()]
    assert ("ledger write failed", "m5") in said
    assert ("dead letter send failed; message left on the queue", "m5") in said


def test_terminal_answer_not_recorded_is_dead_lettered_with_its_code_and_a_note(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-6", state="finished")
    _fail(
        pipeline,
        "provide-client-params.dynamodb.UpdateItem",
        failing_call("ThrottlingException", "UpdateItem", when=ledger_write("final")),
    )

    response = _last_receive(pipeline, cancel_body("L-6"), "m6")

    assert response == {"batchItemFailures": []}
    [letter] = pipeline.aws.dead_letters()
    attributes = letter["attributes"]
    assert (attributes["outcome_class"], attributes["error_sub_code"]) == (
        "terminal",
        "ACQ.TRADE_HAS_FINISHED",
    )
    assert attributes["reason"].startswith(
        "The FAILED result could not be recorded on the last allowed delivery"
    )
