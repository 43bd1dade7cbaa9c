"""The settle flow end to end: lambda_handler with moto (in-process) and the gateway emulator over
loopback HTTP. What cancel cannot settle is queried, then closed, refunded or kept; a refund whose
answer was lost is confirmed, never repeated with another number; what no call can settle is
dead-lettered with Alipay's facts (docs/settle.md)."""

from __future__ import annotations

import json

from alipay_cancel.decisions.refund_request import request_number
from tests.fixtures.aws import Pipeline, cancel_body, ledger_write
from tests.fixtures.aws import failing_call as _failing


def _ops(item: dict[str, object]) -> list[tuple[object, object]]:
    history = item["history"]
    assert isinstance(history, list)
    return [(call["op"], call["result"]) for call in history]


def test_a_paid_trade_outside_the_cancel_window_is_refunded_with_this_services_request(
    pipeline: Pipeline,
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("W-1", state="paid", outside_cancel_window=True, total_amount="120.50")
    writes = pipeline.calls("dynamodb", "UpdateItem")
    pipeline.aws.send(cancel_body("W-1"))
    _, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("W-1")
    assert item is not None
    assert (item["status"], item["money_moved"], item["refund_amount"], item["refund_fee"]) == (
        "REFUNDED",
        True,
        "120.50",
        "120.50",
    )
    assert item["out_request_no"] == request_number("W-1") and item["refund_request_amount"] == "120.50"
    assert (item["trade_status"], item["total_amount"], item["if_paid"]) == (
        "TRADE_SUCCESS",
        "120.50",
        "refund",
    )
    assert item["gmt_refund_pay"] and "action" not in item and "error_code" not in item
    assert _ops(item) == [("cancel", "error"), ("query", "ok"), ("refund", "ok")]
    assert item["history"][0]["sub_code"] == "ACQ.TRADE_CANCEL_TIME_OUT"
    assert item["attempts"] == 3
    trade = admin.trade("W-1")
    assert (trade["state"], trade["refund_fee"], trade["refunds"]) == (
        "refunded",
        "120.50",
        {request_number("W-1"): "120.50"},
    )
    # the claim, one write before each further call, the final write
    assert [ledger_write(k)(w) for w in writes for k in ("claim", "step", "final")].count(True) == 4
    assert pipeline.aws.dead_letters() == []


def test_an_unpaid_trade_outside_the_cancel_window_is_closed(pipeline: Pipeline) -> None:
    pipeline.gateway.admin.seed_trade("W-2", state="unpaid", outside_cancel_window=True)
    pipeline.aws.send(cancel_body("W-2"))
    pipeline.run_once()
    item = pipeline.aws.result("W-2")
    assert item is not None and (item["status"], item["money_moved"]) == ("CLOSED", False)
    assert _ops(item) == [("cancel", "error"), ("query", "ok"), ("close", "ok")]
    assert pipeline.gateway.admin.trade("W-2")["state"] == "closed"


def test_a_paid_trade_is_kept_when_the_message_says_if_paid_keep(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("K-1", state="paid")
    pipeline.aws.send(cancel_body("K-1", if_paid="keep"))
    pipeline.run_once()
    item = pipeline.aws.result("K-1")
    assert item is not None
    assert (item["status"], item["if_paid"], item["money_moved"], item["trade_status"]) == (
        "KEPT",
        "keep",
        False,
        "TRADE_SUCCESS",
    )
    assert _ops(item) == [("query", "ok")]  # never a cancel: it would refund
    trade = admin.trade("K-1")
    assert (trade["state"], trade["refund_fee"], trade["cancel_calls"]) == ("paid", "0.00", 0)


def test_under_the_keep_policy_an_unpaid_trade_is_closed_and_a_buyer_paying_meanwhile_kept(
    pipeline: Pipeline,
) -> None:
    pipeline.configure(PAID_TRADE_POLICY="keep")
    admin = pipeline.gateway.admin
    admin.seed_trade("K-2", state="unpaid")
    admin.seed_trade("K-3", state="unpaid")
    admin.trade_event("K-3", "buyer_pays_before_next_close")
    pipeline.aws.send(cancel_body("K-2"))
    pipeline.aws.send(cancel_body("K-3"))
    pipeline.run_once()
    closed, kept = pipeline.aws.result("K-2"), pipeline.aws.result("K-3")
    assert closed is not None and kept is not None
    assert (closed["status"], _ops(closed)) == ("CLOSED", [("query", "ok"), ("close", "ok")])
    assert kept["status"] == "KEPT" and kept["if_paid"] == "keep"
    assert _ops(kept) == [("query", "ok"), ("close", "error"), ("query", "ok")]
    assert admin.trade("K-3")["state"] == "paid"
    # a message's if_paid overrides the deployment's policy
    admin.seed_trade("K-4", state="paid")
    pipeline.aws.send(cancel_body("K-4", if_paid="refund"))
    pipeline.run_once()
    refunded = pipeline.aws.result("K-4")
    assert refunded is not None and (refunded["status"], refunded["action"]) == ("REFUNDED", "refund")


def test_a_refund_whose_answer_was_lost_is_confirmed_by_the_refund_query_not_sent_again(
    pipeline: Pipeline,
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-1", state="paid", outside_cancel_window=True)
    admin.set_fault("timeout_after_cancel", trade="L-1", times=1, operation="refund")  # refunded, unanswered
    visibility = pipeline.calls("sqs", "ChangeMessageVisibility")
    pipeline.aws.send(cancel_body("L-1"))
    event, response, _ = pipeline.run_once()

    assert len(response["batchItemFailures"]) == 1
    item = pipeline.aws.result("L-1")
    assert item is not None and item["status"] == "RETRYING"
    assert (item["out_request_no"], item["refund_request_amount"]) == (request_number("L-1"), "88.88")
    assert visibility[-1]["VisibilityTimeout"] >= 10  # Alipay: query a refund at least 10 s after it
    assert admin.trade("L-1")["state"] == "refunded"

    pipeline.aws.make_visible(event)
    pipeline.run_once()
    item = pipeline.aws.result("L-1")
    assert item is not None and (item["status"], item["money_moved"], item["refund_amount"]) == (
        "REFUNDED",
        True,
        "88.88",
    )
    assert _ops(item)[-1] == ("refund_query", "ok")
    trade = admin.trade("L-1")
    assert trade["calls"]["refund"] == 1 and trade["refunds"] == {request_number("L-1"): "88.88"}


def test_a_refund_that_did_not_happen_is_sent_again_with_the_same_number_and_amount(
    pipeline: Pipeline,
) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("L-2", state="paid", outside_cancel_window=True)
    admin.set_fault("system_error", trade="L-2", times=1, operation="refund")  # not carried out
    pipeline.aws.send(cancel_body("L-2"))
    event, _, _ = pipeline.run_once()
    pipeline.aws.make_visible(event)
    pipeline.run_once()

    item = pipeline.aws.result("L-2")
    assert item is not None and item["status"] == "REFUNDED" and item["money_moved"] is True
    assert _ops(item)[-2:] == [("refund_query", "ok"), ("refund", "ok")]
    sent = [r for r in admin.recent_requests() if r.get("operation") in ("refund", "refund_query")]
    assert len(sent) == 3
    assert admin.trade("L-2")["refunds"] == {request_number("L-2"): "88.88"}


def test_a_trade_refunded_in_part_by_someone_else_is_dead_lettered_for_a_person(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trades(
        [
            {
                "out_trade_no": "P-1",
                "state": "paid",
                "refunds": [{"out_request_no": "SHOP-1", "refund_amount": "8.88"}],
            }
        ]
    )
    body = cancel_body("P-1")
    pipeline.aws.send(body)
    pipeline.run_once()

    item = pipeline.aws.result("P-1")
    assert item is not None and (item["status"], item["outcome_class"]) == ("FAILED", "terminal")
    assert item["error_sub_code"] == "ACQ.REASON_TRADE_REFUND_FEE_ERR" and item["money_moved"] is False
    [letter] = pipeline.aws.dead_letters()
    assert letter["body"] == body
    attributes = letter["attributes"]
    assert "refunded in part" in attributes["reason"] and "cannot succeed" in attributes["reason"]
    assert attributes["alipay_facts"] == (
        f"trade_status=TRADE_SUCCESS total_amount=88.88 out_request_no={request_number('P-1')}"
    )
    trade = admin.trade("P-1")
    assert trade["refund_fee"] == "8.88" and trade["state"] == "paid"  # nothing moved


def test_a_frozen_refund_redriven_once_released_confirms_first_then_refunds(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("Z-1", state="paid", outside_cancel_window=True)
    # Alipay froze the trade between our query and our refund
    frozen = "ACQ.REASON_TRADE_BEEN_FREEZEN"
    admin.set_fault("business_error", trade="Z-1", times=1, operation="refund", code=frozen)
    pipeline.aws.send(cancel_body("Z-1"))
    pipeline.run_once()
    item = pipeline.aws.result("Z-1")
    assert item is not None and (item["status"], item["error_sub_code"]) == ("FAILED", frozen)
    assert item["out_request_no"] == request_number("Z-1")  # sent, not carried out
    [letter] = pipeline.aws.dead_letters()
    assert "redrive" in letter["attributes"]["reason"]
    writes = pipeline.calls("dynamodb", "UpdateItem")
    pipeline.aws.send(letter["body"])  # the redrive
    pipeline.run_once()
    item = pipeline.aws.result("Z-1")
    assert item is not None and (item["status"], item["money_moved"]) == ("REFUNDED", True)
    assert _ops(item)[-2:] == [("refund_query", "ok"), ("refund", "ok")]
    # the claim set a cancel; the item called for the refund query: repointed once, not counted twice
    kinds = [k for w in writes for k in ("claim", "repoint", "step", "final") if ledger_write(k)(w)]
    assert kinds == ["claim", "repoint", "step", "final"]
    assert item["attempts"] == len(item["history"])


def test_a_dead_holders_refund_is_resumed_by_the_refund_query(pipeline: Pipeline) -> None:
    admin = pipeline.gateway.admin
    admin.seed_trade("D-1", state="paid", outside_cancel_window=True)
    hook = _failing("ProvisionedThroughputExceededException", "UpdateItem", when=ledger_write("final"))
    pipeline.on_function_calls("dynamodb", "provide-client-params.dynamodb.UpdateItem", hook)
    pipeline.aws.send(cancel_body("D-1"))
    event, _, _ = pipeline.run_once()  # refunded at Alipay; the final write failed
    item = pipeline.aws.result("D-1")
    assert item is not None and item["pending"]["op"] == "refund"
    assert item["pending"]["out_request_no"] == request_number("D-1")

    pipeline.off_function_calls("dynamodb", "provide-client-params.dynamodb.UpdateItem", hook)
    pipeline.aws.expire_lease("D-1")
    pipeline.aws.make_visible(event)
    pipeline.run_once()
    item = pipeline.aws.result("D-1")
    assert item is not None and (item["status"], item["money_moved"]) == ("REFUNDED", True)
    assert _ops(item)[-2:] == [("refund", "unknown"), ("refund_query", "ok")]
    assert admin.trade("D-1")["calls"]["refund"] == 1


def test_an_if_paid_that_is_neither_refund_nor_keep_is_a_bad_message(pipeline: Pipeline) -> None:
    body = json.dumps({"out_trade_no": "B-1", "if_paid": "Keep"})
    pipeline.aws.send(body)
    pipeline.run_once()
    [letter] = pipeline.aws.dead_letters()
    assert letter["attributes"]["outcome_class"] == "bad_message"
    assert "if_paid must be refund or keep" in letter["attributes"]["reason"]
    assert pipeline.aws.result("B-1") is None and pipeline.gateway.admin.counts()["total_requests"] == 0
