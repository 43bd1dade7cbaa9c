"""Upgrading from a release that let Powertools build the idempotency key (877a1ab and before).

That release stored a trade's success under ``<AWS_LAMBDA_FUNCTION_NAME>.<module>.<qualname>#<md5>``
(its ``cancel_idempotency.IdempotentCanceller._cancel_once``, configured with Powertools' default
prefix). The success is written here the way that code wrote it, through Powertools itself, and a
duplicate handled by this release must make no Alipay request. The real handler against moto and the
gateway emulator over loopback HTTP.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import ClientError

from alipay_cancel.alipay.responses import CancelSuccess
from alipay_cancel.stores.idempotency import IDEMPOTENCY_KEY_PREFIX
from alipay_cancel.stores.legacy_idempotency import MARKER_ID
from tests.fixtures.aws import AwsStack, FakeLambdaContext, Pipeline, cancel_body

FUNCTION_NAME = "alipay-cancel-prod-CancelFunction-AbC123"  # the deployed function keeps its name
OLD_METHOD = "alipay_cancel.cancel_idempotency.IdempotentCanceller._cancel_once"  # 877a1ab
EXPIRY = 2_419_200


def _md5(trade_key: str) -> str:
    return hashlib.md5(json.dumps(trade_key).encode()).hexdigest()  # noqa: S324 - Powertools' key hash


class IdempotentCanceller:
    """877a1ab's class, as far as the stored record is concerned: Powertools names the key after the
    decorated method's module and qualname (``alipay_cancel.cancel_idempotency`` is set below)."""

    def __init__(self, success: CancelSuccess) -> None:
        self._success = success

    def _cancel_once(
        self, *, trade: dict[str, str], request: object, attempts: list[object]
    ) -> dict[str, Any]:
        return dataclasses.asdict(self._success)  # 877a1ab returned the verified success's fields


IdempotentCanceller._cancel_once.__module__ = "alipay_cancel.cancel_idempotency"


def store_as_the_previous_release_did(pipeline: Pipeline, trade_key: str, success: CancelSuccess) -> str:
    """877a1ab's IdempotentCanceller: Powertools' default key prefix (function name + the method's
    module and qualname, passed to ``configure`` and again by the decorator), the key ``trade_key`` of
    the ``trade`` argument, the success stored as ``dataclasses.asdict``. Returns the record's id."""
    config = IdempotencyConfig(
        event_key_jmespath="trade_key", raise_on_no_idempotency_key=True, expires_after_seconds=EXPIRY
    )
    config.register_lambda_context(FakeLambdaContext())
    persistence = DynamoDBPersistenceLayer(
        table_name=pipeline.aws.idempotency_table, boto3_client=pipeline.aws.dynamodb
    )
    method = IdempotentCanceller(success)._cancel_once
    persistence.configure(config, f"{method.__module__}.{method.__qualname__}")
    old = idempotent_function(
        method, data_keyword_argument="trade", persistence_store=persistence, config=config
    )
    old(trade={"trade_key": trade_key}, request=None, attempts=[])
    [item] = [i for i in pipeline.aws.idempotency_items() if OLD_METHOD in str(i["id"])]
    return str(item["id"]["S"])


def _success(out_trade_no: str) -> CancelSuccess:
    return CancelSuccess(
        action="close",
        gmt_refund_pay=None,
        out_trade_no=out_trade_no,
        refund_settlement_id=None,
        retry_flag="N",
        trade_no="2088OLD",
        trace_id="trace-old",
    )


def _get_items(pipeline: Pipeline) -> list[dict[str, Any]]:
    return pipeline.calls("dynamodb", "GetItem")


def _keys(calls: list[dict[str, Any]]) -> list[str]:
    return [call["Key"]["id"]["S"] for call in calls]


@pytest.fixture
def upgraded(pipeline: Pipeline) -> Pipeline:
    pipeline.monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
    pipeline.configure()
    return pipeline


def test_a_duplicate_of_a_trade_the_previous_release_cancelled_makes_no_alipay_request(
    upgraded: Pipeline,
) -> None:
    admin = upgraded.gateway.admin
    admin.seed_trade("UP-1", state="unpaid")
    old_id = store_as_the_previous_release_did(upgraded, "UP-1", _success("UP-1"))
    assert old_id == f"{FUNCTION_NAME}.{OLD_METHOD}#{_md5('UP-1')}"  # Powertools' default key, as stored
    reads = _get_items(upgraded)

    upgraded.aws.send(cancel_body("UP-1"))  # the duplicate, handled by this release
    _, response, _ = upgraded.run_once()

    assert response == {"batchItemFailures": []}
    assert admin.count("UP-1") == {"requests": 0, "cancel_calls": 0}
    item = upgraded.aws.result("UP-1")
    assert item is not None
    assert (item["status"], item["action"], item["trade_no"], item["attempts"]) == (
        "SUCCEEDED",
        "close",
        "2088OLD",
        0,
    )
    assert _keys(reads) == [MARKER_ID, old_id]  # whether the table holds earlier records (once), the old key
    # Remembered under this release's key from now on: a further duplicate does not read the old key.
    ids = {str(i["id"]["S"]) for i in upgraded.aws.idempotency_items()}
    assert f"{IDEMPOTENCY_KEY_PREFIX}#{_md5('UP-1')}" in ids
    upgraded.aws.send(cancel_body("UP-1"))
    _, response, _ = upgraded.run_once()
    assert response == {"batchItemFailures": []} and _keys(reads) == [MARKER_ID, old_id]
    assert admin.count("UP-1") == {"requests": 0, "cancel_calls": 0}


def test_a_trade_the_previous_release_never_cancelled_is_cancelled_once(upgraded: Pipeline) -> None:
    admin = upgraded.gateway.admin
    admin.seed_trade("UP-2", state="unpaid")
    store_as_the_previous_release_did(upgraded, "UP-OTHER", _success("UP-OTHER"))
    upgraded.aws.send(cancel_body("UP-2"))
    upgraded.run_once()
    assert admin.cancel_calls("UP-2") == 1
    assert (upgraded.aws.result("UP-2") or {}).get("status") == "SUCCEEDED"


def test_once_the_reads_end_the_old_key_is_not_read(upgraded: Pipeline) -> None:
    upgraded.configure(LEGACY_IDEMPOTENCY_READS_UNTIL="2020-01-01")
    admin = upgraded.gateway.admin
    admin.seed_trade("UP-3", state="unpaid")
    reads = _get_items(upgraded)
    upgraded.aws.send(cancel_body("UP-3"))
    upgraded.run_once()
    assert _keys(reads) == [] and admin.cancel_calls("UP-3") == 1


def test_a_failed_read_of_the_old_key_keeps_the_message_and_calls_nobody(upgraded: Pipeline) -> None:
    admin = upgraded.gateway.admin
    admin.seed_trade("UP-4", state="unpaid")

    def throttle(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetItem")

    upgraded.runtime_clients().dynamodb.meta.events.register("before-call.dynamodb.GetItem", throttle)
    upgraded.aws.send(cancel_body("UP-4"))
    _, response, failed = upgraded.run_once()
    assert len(failed) == 1 and response["batchItemFailures"]  # left on the queue for the next receive
    assert admin.count("UP-4") == {"requests": 0, "cancel_calls": 0}
    assert upgraded.aws.dead_letters() == []
    assert [i for i in upgraded.aws.idempotency_items() if IDEMPOTENCY_KEY_PREFIX in str(i["id"])] == []


def test_a_cancel_in_progress_under_the_previous_release_is_waited_for(upgraded: Pipeline) -> None:
    """During the upgrade the previous release may be calling Alipay for the trade right now."""
    admin = upgraded.gateway.admin
    admin.seed_trade("UP-5", state="unpaid")
    old_id = f"{FUNCTION_NAME}.{OLD_METHOD}#{_md5('UP-5')}"
    upgraded.aws.dynamodb.put_item(  # Powertools' in-progress record, its invocation still running
        TableName=upgraded.aws.idempotency_table,
        Item={
            "id": {"S": old_id},
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(2_000_000_000)},
            "in_progress_expiration": {"N": str(4_000_000_000_000)},
        },
    )
    upgraded.aws.send(cancel_body("UP-5"))
    _, _, failed = upgraded.run_once()
    assert len(failed) == 1  # a duplicate in flight: looked at again later
    assert admin.count("UP-5") == {"requests": 0, "cancel_calls": 0}


def _marker(pipeline: Pipeline) -> dict[str, Any] | None:
    table = pipeline.aws.idempotency_table
    item = pipeline.aws.dynamodb.get_item(TableName=table, Key={"id": {"S": MARKER_ID}}).get("Item")
    return dict(item) if item else None


def test_a_new_installation_never_reads_old_keys(pipeline: Pipeline) -> None:
    """The table holds only this release's records when first looked at: nothing of an earlier release
    can be in it, so no message pays for the lookup (in this container or any later one)."""
    admin = pipeline.gateway.admin
    admin.seed_trades([{"out_trade_no": f"NEW-{n}", "state": "unpaid"} for n in range(3)])
    reads = _get_items(pipeline)
    pipeline.aws.send(cancel_body("NEW-0"))
    pipeline.run_once()
    assert _keys(reads) == [MARKER_ID]  # the marker, not there yet; then one page of ids was looked at
    marker = _marker(pipeline)
    assert marker is not None and marker["earlier_records"] == {"BOOL": False}
    pipeline.aws.send(cancel_body("NEW-1"))
    pipeline.run_once()
    assert _keys(reads) == [MARKER_ID]  # known in this container: no read at all

    pipeline.configure()  # a new container reads the marker once
    reads = _get_items(pipeline)
    pipeline.aws.send(cancel_body("NEW-2"))
    pipeline.run_once()
    assert _keys(reads) == [MARKER_ID]
    assert all(admin.cancel_calls(f"NEW-{n}") == 1 for n in range(3))


def test_an_upgraded_table_is_marked_as_holding_earlier_records(upgraded: Pipeline) -> None:
    admin = upgraded.gateway.admin
    admin.seed_trades([{"out_trade_no": f"UPM-{n}", "state": "unpaid"} for n in range(2)])
    store_as_the_previous_release_did(upgraded, "UPM-OLD", _success("UPM-OLD"))
    upgraded.aws.send(cancel_body("UPM-0"))
    upgraded.run_once()
    marker = _marker(upgraded)
    assert marker is not None and marker["earlier_records"] == {"BOOL": True}
    upgraded.configure()  # a later container: the marker's answer stands, the old key is read
    reads = _get_items(upgraded)
    upgraded.aws.send(cancel_body("UPM-1"))
    upgraded.run_once()
    assert _keys(reads) == [MARKER_ID, f"{FUNCTION_NAME}.{OLD_METHOD}#{_md5('UPM-1')}"]
    assert admin.cancel_calls("UPM-1") == 1


@pytest.mark.parametrize(
    ("ids", "earlier"),
    [
        ([], False),
        ([f"{IDEMPOTENCY_KEY_PREFIX}#{n}" for n in range(100)], False),  # one page, all ours
        ([f"{IDEMPOTENCY_KEY_PREFIX}#{n}" for n in range(101)], True),  # more than a page: assumed
        ([f"{FUNCTION_NAME}.{OLD_METHOD}#x"], True),
    ],
)
def test_the_marker_says_whether_an_earlier_release_can_have_stored_anything(
    aws_stack: AwsStack, ids: list[str], earlier: bool
) -> None:
    from alipay_cancel.stores.legacy_idempotency import LegacySuccesses

    for item_id in ids:
        aws_stack.dynamodb.put_item(TableName=aws_stack.idempotency_table, Item={"id": {"S": item_id}})
    legacy = LegacySuccesses(aws_stack.dynamodb, aws_stack.idempotency_table, reads_until=None)
    legacy.find("T-1")
    marker = aws_stack.dynamodb.get_item(TableName=aws_stack.idempotency_table, Key={"id": {"S": MARKER_ID}})[
        "Item"
    ]
    assert marker["earlier_records"] == {"BOOL": earlier}
