"""Upgrading by a stack update from releases before the ledger: their results items, exactly as they
wrote them (``status`` SUCCEEDED with ``action``, FAILED or RETRYING; ``attempts``; no lease, no
pending, no history), are honoured as they are. The real handler against moto and the gateway
emulator over loopback HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.aws import Pipeline, cancel_body

EARLIER = {  # what the earlier release's ResultsStore wrote for a success it recorded
    "status": "SUCCEEDED",
    "outcome_class": "succeeded",
    "message_id": "m-old",
    "out_trade_no": "U-1",
    "trade_no": "2024000000000001",
    "action": "refund",
    "gmt_refund_pay": "2024-01-01 00:00:00",
    "refund_settlement_id": "2024000000000001000001",
    "retry_flag": "N",
    "alipay_trace_id": "trace-old",
    "attempts": 1,
    "created_at": "2024-01-01T00:00:00.000Z",
    "updated_at": "2024-01-01T00:00:01.000Z",
    "finished_at": "2024-01-01T00:00:01.000Z",
}


def _put(pipeline: Pipeline, key: str, attributes: dict[str, Any]) -> None:
    item = {"trade_key": {"S": key}}
    for name, value in attributes.items():
        item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    pipeline.aws.dynamodb.put_item(TableName=pipeline.aws.results_table, Item=item)


@pytest.mark.parametrize("action", ["close", "refund", "none"])
def test_an_earlier_releases_success_is_settled_and_never_changed(pipeline: Pipeline, action: str) -> None:
    _put(pipeline, "U-1", {**EARLIER, "action": action})
    pipeline.gateway.admin.seed_trade("U-1", state="unpaid")  # would be closed if cancelled again
    before = pipeline.aws.result("U-1")

    pipeline.aws.send(cancel_body("U-1"))
    _, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    assert pipeline.gateway.admin.count("U-1")["requests"] == 0
    assert pipeline.aws.result("U-1") == before  # not even message_id: a duplicate writes nothing
    assert pipeline.aws.dead_letters() == []


@pytest.mark.parametrize(("status", "outcome_class"), [("FAILED", "terminal"), ("RETRYING", "retry")])
def test_an_earlier_releases_failure_or_retry_is_claimed_and_its_attempts_count_on(
    pipeline: Pipeline, status: str, outcome_class: str
) -> None:
    """Failures are never remembered: a redrive (or the retry still on the queue) calls Alipay again,
    and the earlier calls stay counted."""
    earlier = {
        key: value
        for key, value in EARLIER.items()
        if key not in ("action", "gmt_refund_pay", "refund_settlement_id", "finished_at")
    }
    earlier |= {"status": status, "outcome_class": outcome_class, "attempts": 3, "error_code": "40004"}
    if status == "FAILED":
        earlier["finished_at"] = "2024-01-01T00:00:01.000Z"
    _put(pipeline, "U-2", earlier)
    pipeline.gateway.admin.seed_trade("U-2", state="unpaid")

    pipeline.aws.send(cancel_body("U-2"))
    _, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("U-2")
    assert item is not None
    assert (item["status"], item["action"], item["attempts"]) == ("CLOSED", "close", 4)
    assert item["created_at"] == "2024-01-01T00:00:00.000Z" and "error_code" not in item
    # the ledger's history starts with this release: the earlier calls are counted, not listed
    assert [c["result"] for c in item["history"]] == ["ok"]
    assert pipeline.gateway.admin.count("U-2")["requests"] == 1
