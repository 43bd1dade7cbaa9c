"""What the cold start builds: the SQS client only when a dead letter or retry delay needs it."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest

from alipay_cancel.stores.lazy_client import LazyClient
from tests.fixtures.aws import Pipeline, cancel_body


def _record_client_creation(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    created: list[str] = []
    original = boto3.session.Session.client

    def client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        created.append(service_name)
        return original(self, service_name, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", client)
    return created


def test_sqs_client_is_built_on_first_dead_letter_not_at_init(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alipay_cancel.handler import get_runtime

    created = _record_client_creation(monkeypatch)
    get_runtime()
    assert sorted(created) == ["dynamodb", "secretsmanager"]

    pipeline.gateway.admin.seed_trade("CS-ok", state="unpaid")
    pipeline.aws.send(cancel_body("CS-ok"))
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    assert "sqs" not in created  # a batch of successes never needs the client

    pipeline.gateway.admin.seed_trade("CS-done", state="finished")
    pipeline.aws.send(cancel_body("CS-done"))
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    [letter] = pipeline.aws.dead_letters()
    assert letter["attributes"]["trade_key"] == "CS-done"
    assert created.count("sqs") == 1

    pipeline.gateway.admin.seed_trade("CS-done-2", state="finished")
    pipeline.aws.send(cancel_body("CS-done-2"))
    pipeline.run_once()
    assert len(pipeline.aws.dead_letters()) == 1
    assert created.count("sqs") == 1  # the one client, kept


def test_lazy_client_concurrent_first_uses_build_one_client() -> None:
    class Client:
        def who(self) -> Client:
            return self

    builds: list[Client] = []

    def build() -> Client:
        time.sleep(0.02)  # wide window for a race
        builds.append(Client())
        return builds[-1]

    lazy = LazyClient(build)
    got: list[Client] = []
    threads = [threading.Thread(target=lambda: got.append(lazy.who())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and got == builds * 8


def test_lazy_client_forwards_the_api_to_the_built_client() -> None:
    class Client:
        def send_message(self, **kwargs: Any) -> dict[str, Any]:
            return {"MessageId": "1", **kwargs}

    built: list[Client] = []

    def build() -> Client:
        built.append(Client())
        return built[-1]

    lazy = LazyClient(build)
    assert built == []  # nothing built until the API is used
    assert lazy.send_message(QueueUrl="q") == {"MessageId": "1", "QueueUrl": "q"}
    assert lazy.send_message(QueueUrl="r")["QueueUrl"] == "r" and len(built) == 1
