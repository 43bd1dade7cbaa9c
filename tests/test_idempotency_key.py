"""The idempotency record's key is explicit and stable: renaming the function, a module or a method
keeps every stored success (Powertools' default key is built from all three)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alipay_cancel.alipay.responses import CancelSuccess
from alipay_cancel.stores import idempotency
from alipay_cancel.stores.idempotency import IDEMPOTENCY_KEY_PREFIX, Fresh, OnceOnly, Remembered

TABLE = "CancelIdempotencyTable"
SUCCESS = CancelSuccess(
    action="refund",
    gmt_refund_pay="2026-11-29 10:00:00",
    out_trade_no="K-1",
    refund_settlement_id=None,
    retry_flag="N",
    trade_no="2088",
    trace_id="trace-1",
)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_the_stored_key_is_the_documented_one(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "alipay-cancel-prod-CancelFunction-AbC123")
    result = OnceOnly(dynamodb, TABLE, 3600).run("K-1", lambda: SUCCESS, lambda s: s)
    assert result == Fresh(SUCCESS)
    [item] = dynamodb.scan(TableName=TABLE)["Items"]
    digest = hashlib.md5(json.dumps("K-1").encode()).hexdigest()  # noqa: S324 - Powertools' key hash
    assert item["id"]["S"] == f"{IDEMPOTENCY_KEY_PREFIX}#{digest}"
    assert "CancelFunction" not in item["id"]["S"] and "alipay_cancel" not in item["id"]["S"]


def test_renaming_the_function_module_or_method_keeps_stored_successes(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stack-v1-CancelFunction-OLD")
    OnceOnly(dynamodb, TABLE, 3600).run("K-1", lambda: SUCCESS, lambda s: s)

    # A new deployment: another function name, the code moved to another module and renamed.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stack-v2-CancelFunction-NEW")
    monkeypatch.setattr(idempotency.OnceOnly._call, "__module__", "alipay_cancel.somewhere_else")
    monkeypatch.setattr(idempotency.OnceOnly._call, "__qualname__", "Renamed.cancel_once")
    calls: list[str] = []

    def attempt() -> CancelSuccess:
        calls.append("called")
        return SUCCESS

    result = OnceOnly(dynamodb, TABLE, 3600).run("K-1", attempt, lambda s: s)

    assert result == Remembered(SUCCESS)
    assert calls == []  # the duplicate did not call Alipay again


def test_what_is_not_remembered_is_called_again(dynamodb: Any) -> None:
    once = OnceOnly(dynamodb, TABLE, 3600)
    assert once.run("K-2", lambda: "timeout", lambda _r: None) == Fresh("timeout")
    assert once.run("K-2", lambda: "timeout again", lambda _r: None) == Fresh("timeout again")
    assert dynamodb.scan(TableName=TABLE)["Items"] == []
