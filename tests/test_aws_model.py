"""The benchmark's AWS latency model (bench/aws_model.py) is honest where the function depends on it:
the ledger's conditional writes behave as on DynamoDB (a second claim refused, with the item), the
answers come after the modelled delay, and its own CPU is counted apart. The real ledger store runs
against it through a real boto3 client."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from bench.aws_model import AwsModel, modelled_clients

from alipay_cancel.decisions.steps import Refusal, refused
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import (
    CallResult,
    HistoryEntry,
    LedgerWrite,
    Pending,
    Status,
    TradeRecord,
)
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel.stores.ledger import Claimed, Lease, Ledger, NotLeaseHolder, Refused

CALL = Pending("cancel", "t0", "m1")


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> AwsModel:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return AwsModel(latency_seconds=0.01, secrets={"s": json.dumps({"app_id": "1"})})


def _client(model: AwsModel, service: str) -> Any:
    with modelled_clients(model):
        return boto3.session.Session().client(service)


def test_the_ledgers_conditional_writes_behave_as_on_dynamodb(model: AwsModel) -> None:
    ledger = Ledger(_client(model, "dynamodb"), "t", "app")
    request = CancelRequest(out_trade_no="T-1", trade_no=None)
    me, other = Lease("me", 2**50), Lease("other", 2**50)

    assert ledger.claim(request, me, CALL, "m1") == Claimed(prior=None)
    second = ledger.claim(request, other, CALL, "m2")
    assert isinstance(second, Refused) and refused(second.item, "other", 0) is Refusal.HELD
    with pytest.raises(NotLeaseHolder):
        ledger.write(
            LedgerWrite("T-1", TradeRecord(Status.CLOSED, Ending.SUCCEEDED), "m2", lease_holder="other")
        )
    entry = HistoryEntry("cancel", "t0", "m1", CallResult.OK)
    closed = LedgerWrite(
        "T-1",
        TradeRecord(Status.CLOSED, Ending.SUCCEEDED, action="close"),
        "m1",
        lease_holder="me",
        history=(entry,),
    )
    assert ledger.write(closed)
    settled = ledger.claim(request, other, CALL, "m3")
    assert isinstance(settled, Refused) and refused(settled.item, "other", 0) is Refusal.SETTLED
    item = model.item("t", "T-1")
    assert item is not None and item["attempts"] == {"N": "1"} and "lease_holder" not in item
    assert item["history"]["L"][0]["M"]["result"] == {"S": "ok"} and item["status"] == {"S": "CLOSED"}
    # a note never touches a settled item
    assert ledger.write(LedgerWrite("T-1", TradeRecord(Status.RETRYING, Ending.CONFIG_ERROR), "m4")) is False
    assert model.calls["dynamodb.UpdateItem"] == 6


def test_answers_come_after_the_delay_and_the_models_cpu_is_counted_apart(model: AwsModel) -> None:
    secrets = _client(model, "secretsmanager")
    started = time.perf_counter()
    assert json.loads(secrets.get_secret_value(SecretId="s")["SecretString"]) == {"app_id": "1"}
    assert time.perf_counter() - started >= 0.01
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.get_secret_value(SecretId="missing")
    sqs = _client(model, "sqs")
    assert sqs.send_message(QueueUrl="https://sqs.us-east-1.amazonaws.com/1/q", MessageBody="b")["MessageId"]
    assert model.own_cpu_seconds > 0 and sum(model.calls.values()) == 3
