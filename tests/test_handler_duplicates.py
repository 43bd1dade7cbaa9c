"""Duplicates and redrive through lambda_handler, counted at the gateway emulator: the ledger item's
claim makes one call per trade, and a duplicate of a settled trade writes nothing."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.fixtures.aws import Pipeline, cancel_body, sqs_event, sqs_record
from tests.waiting import wait_for


def test_duplicate_delivery_after_success_does_not_call_alipay_again(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("D-1", state="paid")
    pipeline.aws.send(cancel_body("D-1"))
    pipeline.run_once()
    first = pipeline.aws.result("D-1")
    assert first is not None and first["status"] == "REFUNDED"

    # A second message for the same trade (another producer retry), different message id and body.
    pipeline.aws.send(cancel_body("D-1", trade_no=first["trade_no"]))
    pipeline.configure()  # a different container: nothing cached in memory
    _, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    assert admin.cancel_calls("D-1") == 1 and admin.count("D-1")["requests"] == 1
    # The duplicate learnt from the refused claim that the trade is settled: it wrote nothing, so the
    # item still names the delivery that made the one call.
    assert pipeline.aws.result("D-1") == first


def test_concurrent_duplicates_in_one_batch_lead_to_one_alipay_call(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("D-2", state="unpaid")
    admin.set_fault("latency", trade="D-2", latency_ms=300)
    for _ in range(3):
        pipeline.aws.send(cancel_body("D-2"))

    _, _, failed = pipeline.run_once()
    assert len(failed) == 2  # the two that found the cancel in progress come back later
    assert admin.count("D-2")["requests"] == 1
    item = pipeline.aws.result("D-2")
    assert item is not None and (item["status"], item["attempts"]) == ("CLOSED", 1)

    # Their retry: make them visible now instead of waiting for the short in-progress delay.
    event_ids = failed
    pending = pipeline.aws.sqs.receive_message(QueueUrl=pipeline.aws.queue_url).get("Messages", [])
    assert pending == []  # invisible: a retry delay was set
    _make_all_visible(pipeline, event_ids)
    _, response2, failed2 = pipeline.run_once()
    assert response2 == {"batchItemFailures": []} and failed2 == []
    assert admin.count("D-2")["requests"] == 1
    assert pipeline.aws.queue_depth() == (0, 0)


def _make_all_visible(pipeline: Pipeline, message_ids: list[str]) -> None:
    # Receipt handles of invisible messages are those of the last receive: reuse them via the event.
    for record in pipeline.last_event["Records"]:
        if record["messageId"] in message_ids:
            pipeline.aws.sqs.change_message_visibility(
                QueueUrl=pipeline.aws.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )


def test_concurrent_duplicates_in_different_invocations_lead_to_one_alipay_call(pipeline: Pipeline) -> None:
    """Two invocations at once (two containers), each with a message for the same trade."""
    import threading

    admin = pipeline.gateway.admin
    admin.seed_trade("D-3", state="unpaid")
    admin.set_fault("latency", trade="D-3", latency_ms=300)
    events = [sqs_event([sqs_record(cancel_body("D-3"), message_id=f"inv-{n}")]) for n in range(2)]
    responses: dict[int, dict[str, object]] = {}
    pipeline.invoke(sqs_event([]))  # build the runtime once, before the threads

    start = threading.Barrier(2)

    def invoke(n: int) -> None:
        start.wait()
        responses[n] = pipeline.invoke(events[n])

    threads = [threading.Thread(target=invoke, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert admin.count("D-3")["requests"] == 1
    outcomes = sorted(len(r["batchItemFailures"]) for r in responses.values())  # type: ignore[arg-type]
    # One acknowledged success; the other either found the cancel in progress (retried later) or, if the
    # scheduler let the first finish before it started, found the trade settled.
    assert outcomes in ([0, 1], [0, 0])
    item = pipeline.aws.result("D-3")
    assert item is not None and item["status"] == "CLOSED" and item["attempts"] == 1


def test_redrive_after_terminal_failure_really_calls_alipay_again(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("RD-1", state="unpaid")
    admin.set_fault(
        "business_error", trade="RD-1", times=1, code="ACQ.REASON_TRADE_BEEN_FREEZEN", message="frozen"
    )
    pipeline.aws.send(cancel_body("RD-1"))
    pipeline.run_once()
    item = pipeline.aws.result("RD-1")
    assert item is not None and (item["status"], item["outcome_class"]) == ("FAILED", "terminal")
    [letter] = pipeline.aws.dead_letters()

    # The cause is fixed (trade unfrozen); an operator redrives the dead letter unchanged.
    pipeline.aws.send(letter["body"])
    _, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    assert admin.count("RD-1")["requests"] == 2 and admin.cancel_calls("RD-1") == 1
    item = pipeline.aws.result("RD-1")
    assert item is not None and (item["status"], item["action"], item["attempts"]) == (
        "CLOSED",
        "close",
        2,
    )
    assert "error_sub_code" not in item
    # both calls in the history, each under its own delivery
    assert [(c["result"], c.get("sub_code")) for c in item["history"]] == [
        ("error", "ACQ.REASON_TRADE_BEEN_FREEZEN"),
        ("ok", None),
    ]
    assert item["history"][0]["delivery"] != item["history"][1]["delivery"] == item["settled_by"]


def test_redrive_after_exhausted_retries_calls_alipay_again(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("RD-2", state="unpaid")
    admin.set_fault("business_error", trade="RD-2", code="ACQ.SELLER_BALANCE_NOT_ENOUGH", message="top up")
    body = cancel_body("RD-2")
    pipeline.invoke(sqs_event([sqs_record(body, receive_count=pipeline.aws.max_receive_count)]))
    [letter] = pipeline.aws.dead_letters()
    assert letter["attributes"]["outcome_class"] == "exhausted"

    admin.clear_faults("RD-2")  # the merchant topped up
    pipeline.aws.send(letter["body"])
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("RD-2")
    assert item is not None and item["status"] == "CLOSED"
    assert admin.cancel_calls("RD-2") == 1


@pytest.mark.parametrize("last_receive", [True, False])
def test_duplicate_finding_the_cancel_in_progress(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], last_receive: bool
) -> None:
    """On its last allowed receive the duplicate is dead-lettered with a reason and acknowledged (never
    dropped), with a metric; before that it is retried shortly. It never writes to the trade's item."""
    admin = pipeline.gateway.admin
    admin.seed_trade("D-4", state="unpaid")
    admin.set_fault("latency", trade="D-4", latency_ms=1500)
    owner = sqs_event([sqs_record(cancel_body("D-4"), message_id="owner")])
    receive_count = pipeline.aws.max_receive_count if last_receive else 1
    duplicate = sqs_event([sqs_record(cancel_body("D-4"), message_id="dup", receive_count=receive_count)])
    pipeline.invoke(sqs_event([]))  # build the runtime once, before the thread
    responses: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: responses.append(pipeline.invoke(owner)))
    first.start()
    wait_for(lambda: admin.count("D-4")["requests"] == 1, "the owner's cancel to reach Alipay")
    capsys.readouterr()

    response = pipeline.invoke(duplicate)
    out = capsys.readouterr().out
    first.join()

    emf = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    if last_receive:
        assert response == {"batchItemFailures": []}
        assert any(
            blob.get("DuplicateInFlight") == [1.0] or blob.get("DuplicateInFlight") == 1.0 for blob in emf
        )
        [letter] = pipeline.aws.dead_letters()
        assert letter["body"] == cancel_body("D-4")
        assert letter["attributes"]["outcome_class"] == "exhausted"
        assert letter["attributes"]["source_message_id"] == "dup"
        assert "already in progress" in letter["attributes"]["reason"]
        assert "ops result command" in letter["attributes"]["reason"]
    else:
        assert response == {"batchItemFailures": [{"itemIdentifier": "dup"}]}
        assert not any("DuplicateInFlight" in blob for blob in emf)
        assert pipeline.aws.dead_letters() == []
    assert responses == [{"batchItemFailures": []}]
    assert admin.count("D-4")["requests"] == 1
    item = pipeline.aws.result("D-4")
    assert item is not None and item["status"] == "CLOSED" and item["message_id"] == "owner"
    assert item["attempts"] == 1 and len(item["history"]) == 1
