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
    sqs_event,
    sqs_record,
)


def _last_receive(pipeline: Pipeline, body: str, message_id: str) -> dict[str, Any]:
    record = sqs_record(body, message_id=message_id, receive_count=pipeline.aws.max_receive_count)
    return pipeline.invoke(sqs_event([record]))


def _fail(pipeline: Pipeline, event: str, hook: Any, service: str = "dynamodb") -> None:
    getattr(pipeline.runtime_clients(), service).meta.events.register(event, hook)


def test_idempotency_store_failure_is_dead_lettered_with_a_reason_and_the_redrive_calls_alipay(
    pipeline: Pipeline,
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-1", state="unpaid")
    hook = failing_call(
        "ProvisionedThroughputExceededException", "PutItem", table=pipeline.aws.idempotency_table
    )
    _fail(pipeline, "provide-client-params.dynamodb.PutItem", hook)
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
    assert "idempotency store failed before Alipay was called" in reason
    assert "ProvisionedThroughputExceededException" in reason and "redrive" in reason
    item = pipeline.aws.result("L-1")
    assert item is not None and (item["status"], item["outcome_class"]) == ("FAILED", "exhausted")
    assert item["attempts"] == 0  # Alipay was not called

    # The table recovers; an operator redrives the dead letter unchanged: Alipay is really called.
    pipeline.runtime_clients().dynamodb.meta.events.unregister("provide-client-params.dynamodb.PutItem", hook)
    pipeline.aws.send(letter["body"])
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("L-1")
    assert item is not None and (item["status"], item["action"]) == ("SUCCEEDED", "close")
    assert admin.cancel_calls("L-1") == 1


@pytest.mark.parametrize("write_failures", [None, 1], ids=["write-keeps-failing", "second-write-works"])
def test_success_not_recorded_is_dead_lettered_and_the_redrive_replays_it_without_calling_alipay(
    pipeline: Pipeline, write_failures: int | None
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-2", state="paid")
    hook = failing_call(
        "ThrottlingException", "UpdateItem", times=write_failures, table=pipeline.aws.results_table
    )
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
    assert "The SUCCEEDED result could not be recorded" in reason and "ThrottlingException" in reason
    assert "Alipay cancelled the payment (action refund)" in reason
    assert (
        "redrive this dead letter: the remembered success is recorded without calling Alipay again" in reason
    )
    item = pipeline.aws.result("L-2")
    if write_failures is None:
        assert item is None  # never a SUCCEEDED written without the store; nothing else either
    else:  # the write was tried once more after the dead letter, and went through
        assert item is not None and (item["status"], item["action"]) == ("SUCCEEDED", "refund")

    pipeline.runtime_clients().dynamodb.meta.events.unregister(
        "provide-client-params.dynamodb.UpdateItem", hook
    )
    pipeline.aws.send(letter["body"])
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("L-2")
    assert item is not None and (item["status"], item["action"]) == ("SUCCEEDED", "refund")
    assert admin.cancel_calls("L-2") == 1 and admin.count("L-2")["requests"] == 1  # replayed


@pytest.mark.parametrize(
    ("answer", "operation", "expected"),
    [
        # Alipay cancelled it, but Powertools could not save the success: not SUCCEEDED (a later duplicate
        # would cancel again after a recorded success); the reason says what Alipay answered.
        ("success", "UpdateItem", ("FAILED", "exhausted", "Alipay cancelled the payment (action close)")),
        # A terminal answer whose in-progress record could not be deleted: routed as terminal.
        ("terminal", "DeleteItem", ("FAILED", "terminal", "ACQ.TRADE_HAS_FINISHED")),
    ],
)
def test_idempotency_store_failing_after_the_alipay_call_dead_letters_what_alipay_answered(
    pipeline: Pipeline, answer: str, operation: str, expected: tuple[str, str, str]
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-3", state="unpaid" if answer == "success" else "finished")
    hook = failing_call("InternalServerError", operation, table=pipeline.aws.idempotency_table)
    _fail(pipeline, f"provide-client-params.dynamodb.{operation}", hook)

    response = _last_receive(pipeline, cancel_body("L-3"), "m3")

    assert response == {"batchItemFailures": []}
    assert admin.count("L-3")["requests"] == 1
    status, outcome_class, said = expected
    [letter] = pipeline.aws.dead_letters()
    assert letter["attributes"]["outcome_class"] == outcome_class
    assert said in letter["attributes"]["reason"]
    item = pipeline.aws.result("L-3")
    assert item is not None and (item["status"], item["outcome_class"]) == (status, outcome_class)


def test_idempotency_store_failing_after_the_call_before_the_last_receive_is_still_retried(
    pipeline: Pipeline,
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-4", state="unpaid")
    _fail(
        pipeline,
        "provide-client-params.dynamodb.UpdateItem",
        failing_call("InternalServerError", "UpdateItem", table=pipeline.aws.idempotency_table),
    )
    record = sqs_record(cancel_body("L-4"), message_id="m4", receive_count=pipeline.aws.max_receive_count - 1)
    response = pipeline.invoke(sqs_event([record]))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m4"}]}
    assert pipeline.aws.dead_letters() == []
    item = pipeline.aws.result("L-4")
    assert item is None or item["status"] != "SUCCEEDED"


def test_results_write_and_dead_letter_both_failing_leave_the_message_to_the_redrive(
    pipeline: Pipeline, powertools_lines: PowertoolsLines
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-5", state="paid")
    _fail(
        pipeline,
        "provide-client-params.dynamodb.UpdateItem",
        failing_call("ThrottlingException", "UpdateItem", table=pipeline.aws.results_table),
    )
    _fail(
        pipeline, "before-call.sqs.SendMessage", failing_call("InternalError", "SendMessage"), service="sqs"
    )

    response = _last_receive(pipeline, cancel_body("L-5"), "m5")

    assert response == {"batchItemFailures": [{"itemIdentifier": "m5"}]}
    assert admin.cancel_calls("L-5") == 1
    assert pipeline.aws.result("L-5") is None  # never a success without the store
    said = [(r["message"], r.get("message_id")) for r in powertools_lines.records()]
    assert ("results write failed", "m5") in said
    assert ("dead letter send failed; message left on the queue", "m5") in said


def test_terminal_answer_not_recorded_is_dead_lettered_with_its_code_and_a_note(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-6", state="finished")
    _fail(
        pipeline,
        "provide-client-params.dynamodb.UpdateItem",
        failing_call("ThrottlingException", "UpdateItem", table=pipeline.aws.results_table),
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
