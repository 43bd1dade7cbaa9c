"""IAM grants exactly the AWS operations the function performs.

The function runs over moto through the situations that use every store (success, retry, terminal,
bad message, duplicate, signature refresh, a further app's secret, configuration broken on the last
receive); the operations its own code performed (recorded by the session-wide ``function_calls``
fixture, Powertools' calls included) are compared with the data actions the transformed template
grants, per resource. Whatever other tests of the session recorded before this one counts too, and
the fixture checks the whole session again at its end."""

from __future__ import annotations

import pytest

from tests.fixtures.aws import Pipeline, cancel_body, sqs_event, sqs_record
from tests.fixtures.aws_calls import CallRecorder, FunctionCall, ungranted
from tests.template_support import function_grants

# Granted although the function's own code never makes the call, and why.
NOT_CALLED_BY_THE_CODE = {
    ("sqs:ReceiveMessage", "CANCEL_QUEUE_URL"): "the SQS event source mapping polls with the function's role",
    ("sqs:DeleteMessage", "CANCEL_QUEUE_URL"): "the event source mapping deletes acknowledged records",
    ("sqs:GetQueueAttributes", "CANCEL_QUEUE_URL"): "the event source mapping reads the queue's attributes",
}


def _run_every_situation(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("IAM-OK", state="unpaid")
    admin.seed_trade("IAM-RETRY", state="unpaid")
    admin.set_fault("system_error", trade="IAM-RETRY", times=1)
    admin.seed_trade("IAM-DONE", state="finished")
    admin.seed_trade("IAM-SIG", state="unpaid")  # a cancel repeated after it closed the trade closes again
    admin.set_fault("bad_signature", trade="IAM-SIG", times=1)
    for body in (cancel_body("IAM-OK"), cancel_body("IAM-RETRY"), cancel_body("IAM-DONE"), "not JSON {"):
        pipeline.aws.send(body)
    pipeline.run_once()
    pipeline.aws.send(cancel_body("IAM-OK"))  # a duplicate after the success: settled, no Alipay call
    pipeline.aws.send(cancel_body("IAM-SIG"))  # a bad signature: the secret is read again
    pipeline.run_once()
    assert (pipeline.aws.result("IAM-OK") or {}).get("status") == "CLOSED"
    assert (pipeline.aws.result("IAM-RETRY") or {}).get("status") == "RETRYING"
    assert (pipeline.aws.result("IAM-DONE") or {}).get("status") == "FAILED"
    assert pipeline.gateway.admin.cancel_calls("IAM-OK") == 1
    assert len(pipeline.aws.dead_letters()) == 2  # the finished trade and the bad message
    # A further app's message: its secret is read by name, <ALIPAY_APP_SECRET_PREFIX><app_id>.
    second_app = "2021000000000002"
    pipeline.aws.put_app_secret(second_app, {**pipeline.gateway.secret, "app_id": second_app})
    pipeline.invoke(sqs_event([sqs_record(cancel_body("IAM-APP2", app_id=second_app))]))
    assert (pipeline.aws.result(f"app:{second_app} IAM-APP2") or {}).get("status") is not None
    # Our configuration broken on a message's last allowed receive: re-enqueued, not dead-lettered.
    pipeline.aws.put_secret("{not json: the wrong file")
    pipeline.configure(SECRET_MAX_AGE_SECONDS=0)
    last = pipeline.aws.max_receive_count
    pipeline.invoke(sqs_event([sqs_record(cancel_body("IAM-CFG"), receive_count=last)]))
    assert pipeline.aws.dead_letters() == []  # kept (re-enqueued with a delay), not dead-lettered


@pytest.fixture
def exercised(pipeline: Pipeline, function_calls: CallRecorder) -> set[FunctionCall]:
    _run_every_situation(pipeline)
    return function_calls.calls()


def test_every_operation_the_function_performs_is_granted(exercised: set[FunctionCall]) -> None:
    assert ungranted(exercised, function_grants()) == []


def test_every_granted_operation_is_one_the_function_performs(exercised: set[FunctionCall]) -> None:
    performed = {(c.action, c.variable) for c in exercised}
    unused = function_grants() - performed - set(NOT_CALLED_BY_THE_CODE)
    assert unused == set(), "granted but never performed: drop the grant, or say why it is needed"


def test_the_results_table_can_only_be_updated_never_put() -> None:
    """A PutItem would bypass the conditions that keep a settled trade from being overwritten."""
    results = {action for action, variable in function_grants() if variable == "RESULTS_TABLE_NAME"}
    assert results == {"dynamodb:UpdateItem"}


def test_the_recorder_sees_the_functions_calls_and_not_the_tests_own(
    pipeline: Pipeline, function_calls: CallRecorder
) -> None:
    before = function_calls.calls()
    pipeline.aws.sqs.get_queue_attributes(QueueUrl=pipeline.aws.queue_url, AttributeNames=["All"])
    assert function_calls.calls() == before  # this test's own call is not the function's
    pipeline.gateway.admin.seed_trade("IAM-REC", state="unpaid")
    pipeline.aws.send(cancel_body("IAM-REC"))
    pipeline.run_once()
    assert FunctionCall("dynamodb:UpdateItem", "RESULTS_TABLE_NAME") in function_calls.calls()


def test_an_ungranted_operation_is_reported() -> None:
    grants = {("dynamodb:UpdateItem", "RESULTS_TABLE_NAME"), ("sqs:SendMessage", "DEAD_LETTER_QUEUE_URL")}
    calls = {
        FunctionCall("dynamodb:UpdateItem", "RESULTS_TABLE_NAME"),
        FunctionCall("dynamodb:PutItem", "RESULTS_TABLE_NAME"),
        FunctionCall("sqs:SendMessage", "CANCEL_QUEUE_URL"),
        FunctionCall("sqs:SendMessage", None),  # unknown resource: the action must be granted somewhere
    }
    assert ungranted(calls, grants) == [
        FunctionCall("dynamodb:PutItem", "RESULTS_TABLE_NAME"),
        FunctionCall("sqs:SendMessage", "CANCEL_QUEUE_URL"),
    ]
