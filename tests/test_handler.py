"""lambda_handler end to end: moto (in-process) + the gateway emulator over loopback HTTP.

Every outcome class, the partial batch response, retry scheduling, last receive, bad messages.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.fixtures.aws import Pipeline, cancel_body, emf_metric_total, sqs_event, sqs_record


def test_success_is_recorded_acknowledged_and_calls_alipay_once(pipeline: Pipeline) -> None:
    pipeline.gateway.admin.seed_trade("S-1", state="unpaid")
    pipeline.aws.send(cancel_body("S-1"))
    event, response, failed = pipeline.run_once()

    assert response == {"batchItemFailures": []} and failed == []
    item = pipeline.aws.result("S-1")
    assert item is not None
    assert item["status"] == "CLOSED" and item["outcome_class"] == "succeeded"
    assert item["action"] == "close" and item["attempts"] == 1
    message_id = event["Records"][0]["messageId"]
    assert item["message_id"] == item["settled_by"] == message_id
    assert item["trade_no"] and item["alipay_trace_id"] and item["finished_at"] and item["event_id"]
    assert item["app_id"] == "2021000000000001"  # the default app, written by its id
    # the lease and the pending call are gone; the one call is in the history, answered
    assert not {"lease_holder", "lease_until", "pending"} & set(item)
    [call] = item["history"]
    assert (call["op"], call["delivery"], call["result"], call["trace_id"]) == (
        "cancel",
        message_id,
        "ok",
        item["alipay_trace_id"],
    )
    assert pipeline.gateway.admin.cancel_calls("S-1") == 1
    assert pipeline.gateway.admin.trade("S-1")["state"] == "closed"
    assert pipeline.aws.queue_depth() == (0, 0)
    assert pipeline.aws.dead_letters() == []


def test_paid_trade_is_refunded_and_refund_fields_recorded(pipeline: Pipeline) -> None:
    pipeline.gateway.admin.seed_trade("S-2", state="paid")
    pipeline.aws.send(cancel_body("S-2"))
    pipeline.run_once()
    item = pipeline.aws.result("S-2")
    assert item is not None and (item["status"], item["action"]) == ("REFUNDED", "refund")
    assert item["gmt_refund_pay"] and item["refund_settlement_id"]


def test_unknown_trade_is_recorded_not_found(pipeline: Pipeline) -> None:
    # Alipay echoes the out_trade_no it found no trade for: "no such trade" is recorded.
    pipeline.aws.send(cancel_body("NOSUCH-1"))
    _, response, _ = pipeline.run_once()
    assert response["batchItemFailures"] == []
    item = pipeline.aws.result("NOSUCH-1")
    assert item is not None and item["status"] == "NOT_FOUND" and "action" not in item


def test_a_trade_known_only_by_trade_no_that_alipay_does_not_know_is_not_found_by_query(
    pipeline: Pipeline,
) -> None:
    # Asked by trade_no only, the emulator (like Alipay) cannot echo an out_trade_no for a trade it
    # does not know: such an answer might be anyone's, so it never settles the trade by itself. The
    # query does: its "no such trade" is a signed error, which needs no id to be bound.
    pipeline.aws.send(cancel_body(trade_no="2099000000000000000001"))
    _, response, _ = pipeline.run_once()
    assert response["batchItemFailures"] == []
    item = pipeline.aws.result("2099000000000000000001")
    assert item is not None and item["status"] == "NOT_FOUND" and item["attempts"] == 2
    assert [(h["op"], h["result"], h.get("sub_code")) for h in item["history"]] == [
        ("cancel", "error", None),
        ("query", "error", "ACQ.TRADE_NOT_EXIST"),
    ]
    counts = pipeline.gateway.admin.counts()
    assert (counts["cancel_calls"], counts["query_calls"]) == (1, 1)


def test_retry_records_retrying_sets_backoff_visibility_and_later_succeeds(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("R-1", state="unpaid")
    admin.set_fault("system_error", trade="R-1", times=1)
    calls = pipeline.calls("sqs", "ChangeMessageVisibility")
    pipeline.aws.send(cancel_body("R-1"))

    event, response, _failed = pipeline.run_once()
    message_id = event["Records"][0]["messageId"]
    assert response == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    item = pipeline.aws.result("R-1")
    assert item is not None
    assert (item["status"], item["outcome_class"], item["attempts"]) == ("RETRYING", "retry", 1)
    assert item["error_sub_code"] == "ACQ.SYSTEM_ERROR" and "finished_at" not in item
    # First receive, base 30 s, equal jitter: between 15 and 30 seconds.
    assert len(calls) == 1 and calls[0]["ReceiptHandle"] == event["Records"][0]["receiptHandle"]
    assert 15 <= calls[0]["VisibilityTimeout"] <= 30
    assert pipeline.aws.receive_event()["Records"] == []  # really invisible in the queue
    assert pipeline.aws.queue_depth() == (0, 1)

    pipeline.aws.make_visible(event)
    event2, response2, _ = pipeline.run_once()
    assert event2["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert response2 == {"batchItemFailures": []}
    item = pipeline.aws.result("R-1")
    assert item is not None
    assert (item["status"], item["attempts"]) == ("CLOSED", 2)
    assert "error_sub_code" not in item
    assert [(c["result"], c.get("sub_code")) for c in item["history"]] == [
        ("error", "ACQ.SYSTEM_ERROR"),
        ("ok", None),
    ]
    assert admin.count("R-1")["requests"] == 2


def test_backoff_grows_with_receive_count_and_slow_class_waits_longer(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    pipeline.configure(
        RETRY_BASE_SECONDS=10, RETRY_SLOW_BASE_SECONDS=1000, MAX_RECEIVE_COUNT=60, RETRY_HORIZON_SECONDS=3000
    )
    admin.seed_trade("B-1", state="unpaid")
    admin.seed_trade("B-2", state="unpaid")
    admin.set_fault("http_5xx", trade="B-1")
    admin.set_fault("business_error", trade="B-2", code="ACQ.SELLER_BALANCE_NOT_ENOUGH", message="top up")
    calls = pipeline.calls("sqs", "ChangeMessageVisibility")
    event = sqs_event(
        [
            sqs_record(cancel_body("B-1"), message_id="normal-3", receive_count=3),
            sqs_record(cancel_body("B-2"), message_id="slow-1", receive_count=1),
        ]
    )
    response = pipeline.invoke(event)
    assert response == {"batchItemFailures": [{"itemIdentifier": "normal-3"}, {"itemIdentifier": "slow-1"}]}
    by_handle = {call["ReceiptHandle"]: call["VisibilityTimeout"] for call in calls}
    normal = by_handle[event["Records"][0]["receiptHandle"]]
    slow = by_handle[event["Records"][1]["receiptHandle"]]
    assert 20 <= normal <= 40  # third receive: 10 * 2**2 = 40, equal jitter
    assert 500 <= slow <= 1000  # slow base, first receive
    slow_item = pipeline.aws.result("B-2")
    assert slow_item is not None and slow_item["error_sub_code"] == "ACQ.SELLER_BALANCE_NOT_ENOUGH"


def test_terminal_is_recorded_failed_dead_lettered_with_reason_and_acknowledged(pipeline: Pipeline) -> None:
    pipeline.gateway.admin.seed_trade("T-1", state="finished")  # no call can return the money
    body = cancel_body("T-1", note="kept as sent")
    pipeline.aws.send(body)
    event, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("T-1")
    assert item is not None
    assert (item["status"], item["outcome_class"], item["attempts"]) == ("FAILED", "terminal", 1)
    assert item["error_sub_code"] == "ACQ.TRADE_HAS_FINISHED" and item["remedy"] and item["finished_at"]
    [letter] = pipeline.aws.dead_letters()
    assert letter["body"] == body
    attributes = letter["attributes"]
    assert attributes["outcome_class"] == "terminal"
    assert attributes["error_sub_code"] == "ACQ.TRADE_HAS_FINISHED"
    assert attributes["source_message_id"] == event["Records"][0]["messageId"]
    assert attributes["trade_key"] == "T-1" and attributes["attempts"] == "1"
    assert attributes["alipay_trace_id"] == item["alipay_trace_id"]
    assert "refund" in attributes["reason"].lower()
    assert pipeline.aws.queue_depth() == (0, 0)


def test_config_error_is_retried_not_dead_lettered_and_emits_the_alarm_metric(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = pipeline.gateway.admin
    admin.settings(api_permission=False)  # 403 insufficient-permissions: our deployment is wrong
    for n in range(3):
        admin.seed_trade(f"C-{n}", state="unpaid")
        pipeline.aws.send(cancel_body(f"C-{n}"))
    capsys.readouterr()
    _event, response, _ = pipeline.run_once()

    assert len(response["batchItemFailures"]) == 3
    assert pipeline.aws.dead_letters() == []
    for n in range(3):
        item = pipeline.aws.result(f"C-{n}")
        assert item is not None and (item["status"], item["outcome_class"]) == ("RETRYING", "config_error")
    out = capsys.readouterr().out
    assert emf_metric_total(out, "ConfigurationError") == 3  # one per affected record
    emf = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    [directive] = emf[-1]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "AlipayCancelTest"


def test_last_receive_records_exhausted_and_dead_letters_with_the_last_error(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("X-1", state="unpaid")
    admin.set_fault("service_unavailable", trade="X-1")
    body = cancel_body("X-1")
    event = sqs_event([sqs_record(body, message_id="last", receive_count=pipeline.aws.max_receive_count)])
    response = pipeline.invoke(event)

    assert response == {"batchItemFailures": []}  # acknowledged: we dead-lettered it ourselves
    item = pipeline.aws.result("X-1")
    assert item is not None
    assert (item["status"], item["outcome_class"]) == ("FAILED", "exhausted")
    assert item["error_code"] == "20000" and item["finished_at"]
    [letter] = pipeline.aws.dead_letters()
    assert letter["body"] == body
    assert letter["attributes"]["outcome_class"] == "exhausted"
    assert letter["attributes"]["attempts"] == str(pipeline.aws.max_receive_count)
    assert letter["attributes"]["reason"].startswith(
        f"Gave up after {pipeline.aws.max_receive_count} deliveries"
    )


def test_retries_through_the_real_queue_end_failed_never_retrying(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("X-2", state="unpaid")
    admin.set_fault("rate_limited", trade="X-2")
    pipeline.aws.send(cancel_body("X-2"))
    for _ in range(pipeline.aws.max_receive_count):
        event, _, failed = pipeline.run_once()
        assert len(event["Records"]) == 1
        pipeline.aws.make_visible(event, failed)
    assert pipeline.aws.receive_event()["Records"] == []
    item = pipeline.aws.result("X-2")
    assert item is not None and (item["status"], item["outcome_class"]) == ("FAILED", "exhausted")
    assert item["attempts"] == pipeline.aws.max_receive_count
    [letter] = pipeline.aws.dead_letters()  # ours, with a reason: nothing left for the redrive policy
    assert letter["attributes"]["reason"]
    assert admin.count("X-2")["requests"] == pipeline.aws.max_receive_count


def test_bad_messages_are_dead_lettered_on_first_receipt_with_a_reason(pipeline: Pipeline) -> None:
    bodies = ["not json at all", json.dumps({"out_trade_no": "BAD-1", "trade_no": 123}), json.dumps([1, 2])]
    for body in bodies:
        pipeline.aws.send(body)
    _, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    letters = {letter["body"]: letter["attributes"] for letter in pipeline.aws.dead_letters()}
    assert set(letters) == set(bodies)
    for attributes in letters.values():
        assert attributes["outcome_class"] == "bad_message"
        assert attributes["reason"].startswith("Bad message") and attributes["attempts"] == "1"
    assert letters[bodies[1]]["trade_key"] == "BAD-1"
    assert "trade_no" in letters[bodies[1]]["reason"]
    # Nothing is written for a bad message, not even under the trade key it seems to name.
    assert pipeline.aws.result("BAD-1") is None
    assert pipeline.gateway.admin.counts()["total_requests"] == 0


def test_sns_wrapped_message_is_cancelled(pipeline: Pipeline) -> None:
    pipeline.gateway.admin.seed_trade("SNS-1", state="unpaid")
    envelope = {
        "Type": "Notification",
        "MessageId": "b1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:payments",
        "Message": cancel_body("SNS-1"),
        "Timestamp": "2024-01-01T00:00:00.000Z",
    }
    pipeline.aws.send(json.dumps(envelope))
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("SNS-1")
    assert item is not None and item["status"] == "CLOSED"


def test_mixed_batch_reports_exactly_the_retried_records_in_order(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("M-ok", state="unpaid")
    admin.seed_trade("M-retry1", state="unpaid")
    admin.seed_trade("M-terminal", state="finished")
    admin.seed_trade("M-retry2", state="unpaid")
    admin.set_fault("http_5xx", trade="M-retry1")
    admin.set_fault("retry_flag", trade="M-retry2")
    records = [
        sqs_record(cancel_body("M-retry1"), message_id="id-retry1"),
        sqs_record(cancel_body("M-ok"), message_id="id-ok"),
        sqs_record("{broken", message_id="id-bad"),
        sqs_record(cancel_body("M-retry2"), message_id="id-retry2"),
        sqs_record(cancel_body("M-terminal"), message_id="id-terminal"),
    ]
    response = pipeline.invoke(sqs_event(records))

    assert response == {
        "batchItemFailures": [{"itemIdentifier": "id-retry1"}, {"itemIdentifier": "id-retry2"}]
    }
    statuses = {
        key: (pipeline.aws.result(key) or {}).get("status")
        for key in ("M-ok", "M-retry1", "M-retry2", "M-terminal")
    }
    assert statuses == {
        "M-ok": "CLOSED",
        "M-retry1": "RETRYING",
        "M-retry2": "RETRYING",
        "M-terminal": "FAILED",
    }
    retry2 = pipeline.aws.result("M-retry2")
    assert retry2 is not None and retry2["retry_flag"] == "Y"
    assert sorted(letter["attributes"]["source_message_id"] for letter in pipeline.aws.dead_letters()) == [
        "id-bad",
        "id-terminal",
    ]


def test_whole_batch_failing_returns_every_record_instead_of_raising(pipeline: Pipeline) -> None:
    pipeline.gateway.admin.set_fault("http_5xx")
    records = [sqs_record(cancel_body(f"W-{n}"), message_id=f"w{n}") for n in range(4)]
    response = pipeline.invoke(sqs_event(records))
    assert response == {"batchItemFailures": [{"itemIdentifier": f"w{n}"} for n in range(4)]}


def test_missing_configuration_fails_loudly_naming_the_variable(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.monkeypatch.delenv("RESULTS_TABLE_NAME")
    pipeline.configure()
    capsys.readouterr()
    with pytest.raises(ValueError, match="RESULTS_TABLE_NAME"):
        pipeline.invoke(sqs_event([sqs_record(cancel_body(f"CFG-{n}")) for n in range(3)]))
    out = capsys.readouterr().out
    assert emf_metric_total(out, "ConfigurationError") == 3  # every record of the invocation


def test_a_signed_success_with_an_unsafe_action_is_retried_and_nothing_of_it_stored(
    pipeline: Pipeline,
) -> None:
    raw = '{"code":"10000","out_trade_no":"F-1","action":"close\\u0000\\u202e\\n","retry_flag":"N"}'
    pipeline.gateway.admin.set_fault("signed_body", trade="F-1", times=1, raw_body=raw)
    pipeline.aws.send(cancel_body("F-1"))
    _, response, _ = pipeline.run_once()
    assert len(response["batchItemFailures"]) == 1
    item = pipeline.aws.result("F-1")
    assert item is not None and item["status"] == "RETRYING" and "action" not in item
    assert "U+0000" in item["error_message"]


def test_a_retry_lands_no_later_than_the_horizon_and_gives_up_there(pipeline: Pipeline) -> None:
    """The fixture's horizon is 45 s: a 5xx on a message sent 40 s ago comes back within 5 s; one sent
    50 s ago is dead-lettered as exhausted, saying the horizon was reached."""
    admin = pipeline.gateway.admin
    pipeline.configure(RETRY_BASE_SECONDS=30, RETRY_MAX_SECONDS=3600)
    for trade in ("H-1", "H-2"):
        admin.seed_trade(trade, state="unpaid")
        admin.set_fault("http_5xx", trade=trade)
    calls = pipeline.calls("sqs", "ChangeMessageVisibility")
    now_ms = int(time.time() * 1000)
    event = sqs_event(
        [
            sqs_record(cancel_body("H-1"), message_id="young", sent_timestamp_ms=now_ms - 40_000),
            sqs_record(cancel_body("H-2"), message_id="old", sent_timestamp_ms=now_ms - 50_000),
        ]
    )
    response = pipeline.invoke(event)
    assert response == {"batchItemFailures": [{"itemIdentifier": "young"}]}
    [visibility] = [c["VisibilityTimeout"] for c in calls]
    assert 1 <= visibility <= 5
    [letter] = pipeline.aws.dead_letters()
    assert letter["attributes"]["outcome_class"] == "exhausted"
    assert "the retry horizon is 45 s" in letter["attributes"]["reason"]
    item = pipeline.aws.result("H-2")
    assert item is not None and (item["status"], item["outcome_class"]) == ("FAILED", "exhausted")
