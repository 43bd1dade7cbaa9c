"""SigningSecret against moto Secrets Manager: cache, one refresh per invocation, readable problems."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local.keygen import KeyMaterial

from alipay_cancel.signing.secret import FAILED_LOAD_REUSE_SECONDS, SecretUnavailable, SigningSecret
from tests.fixtures.aws import AwsStack
from tests.fixtures.keys import SECOND_APP_ID


def _reads(client: Any) -> list[int]:
    reads: list[int] = []
    client.meta.events.register("before-call.secretsmanager.GetSecretValue", lambda **_: reads.append(1))
    return reads


def test_material_is_parsed_once_and_cached(aws_stack: AwsStack, public_key_secret: dict[str, str]) -> None:
    aws_stack.put_secret(public_key_secret)
    secret = SigningSecret(aws_stack.secretsmanager, aws_stack.secret_id, max_age_seconds=300)
    reads = _reads(aws_stack.secretsmanager)
    first = secret.current()
    assert secret.current() is first and secret.current() is first
    assert len(reads) == 1
    assert first.app_id == public_key_secret["app_id"]


def test_concurrent_refreshes_fetch_once_per_invocation(
    aws_stack: AwsStack, public_key_secret: dict[str, str]
) -> None:
    aws_stack.put_secret(public_key_secret)
    secret = SigningSecret(aws_stack.secretsmanager, aws_stack.secret_id, max_age_seconds=300)
    stale = secret.current()
    reads = _reads(aws_stack.secretsmanager)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(secret.refresh(stale))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reads) == 1
    fresh = results[0]
    assert fresh is not None and fresh is not stale and all(r is fresh for r in results)
    # Same invocation, a record still holding the refreshed material: no second fetch, nothing newer.
    assert secret.refresh(fresh) is None  # type: ignore[arg-type]
    secret.begin_invocation()
    assert secret.refresh(fresh) is not None  # type: ignore[arg-type]
    assert len(reads) == 2


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_problems_are_named_without_key_material(
    aws_stack: AwsStack, public_key_secret: dict[str, str]
) -> None:
    clock = Clock()
    secret = SigningSecret(aws_stack.secretsmanager, aws_stack.secret_id, max_age_seconds=300, clock=clock)
    with pytest.raises(SecretUnavailable, match="could not be read"):
        secret.current()
    broken = {**public_key_secret, "private_key": public_key_secret["private_key"][:200]}
    aws_stack.put_secret(json.dumps(broken))
    clock.now += FAILED_LOAD_REUSE_SECONDS
    with pytest.raises(SecretUnavailable, match="private_key") as raised:
        secret.current()
    assert public_key_secret["private_key"][40:100] not in str(raised.value)
    aws_stack.put_secret(public_key_secret)
    clock.now += FAILED_LOAD_REUSE_SECONDS
    assert secret.current().app_id == public_key_secret["app_id"]  # picked up, not max_age later


def test_a_failed_load_is_reused_briefly_not_read_again_per_record(
    aws_stack: AwsStack, public_key_secret: dict[str, str]
) -> None:
    clock = Clock()
    secret = SigningSecret(aws_stack.secretsmanager, aws_stack.secret_id, max_age_seconds=300, clock=clock)
    reads = _reads(aws_stack.secretsmanager)
    for _record in range(5):
        with pytest.raises(SecretUnavailable, match="could not be read"):
            secret.current()
    assert len(reads) == 1  # one read for five records
    aws_stack.put_secret(public_key_secret)
    clock.now += FAILED_LOAD_REUSE_SECONDS - 0.5
    with pytest.raises(SecretUnavailable, match="could not be read"):
        secret.current()
    assert len(reads) == 1
    clock.now += 0.5  # the fixed secret is picked up FAILED_LOAD_REUSE_SECONDS after the failure
    assert secret.current().app_id == public_key_secret["app_id"]
    assert len(reads) == 2


def test_a_remembered_failure_never_hides_a_rotation(
    aws_stack: AwsStack, key_material: KeyMaterial, second_app_key_material: KeyMaterial
) -> None:
    clock = Clock()
    aws_stack.put_secret(key_material.secret())
    secret = SigningSecret(aws_stack.secretsmanager, aws_stack.secret_id, max_age_seconds=0, clock=clock)
    seen = secret.current()
    reads = _reads(aws_stack.secretsmanager)
    throttled = {"on": True}

    def throttle(**_: Any) -> None:
        if throttled["on"]:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "GetSecretValue")

    aws_stack.secretsmanager.meta.events.register("before-call.secretsmanager.GetSecretValue", throttle)
    with pytest.raises(SecretUnavailable, match="ThrottlingException"):
        secret.current()  # the cache expired and the re-read failed: remembered
    throttled["on"] = False
    aws_stack.put_secret(second_app_key_material.secret())  # rotated to other keys
    secret.begin_invocation()
    # A signature problem with the old keys: the refresh reads Secrets Manager, remembered failure or not.
    fresh = secret.refresh(seen)
    assert fresh is not None and fresh.app_id == SECOND_APP_ID and len(reads) == 2
    assert secret.current().app_id == SECOND_APP_ID  # and the failure is forgotten
