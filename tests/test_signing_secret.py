"""SigningSecret against moto Secrets Manager: cache, one refresh per invocation, readable problems."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from alipay_cancel.signing.secret import SecretUnavailable, SigningSecret
from tests.fixtures.aws import AwsStack


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


def test_problems_are_named_without_key_material(
    aws_stack: AwsStack, public_key_secret: dict[str, str]
) -> None:
    secret = SigningSecret(aws_stack.secretsmanager, aws_stack.secret_id, max_age_seconds=300)
    with pytest.raises(SecretUnavailable, match="could not be read"):
        secret.current()
    broken = {**public_key_secret, "private_key": public_key_secret["private_key"][:200]}
    aws_stack.put_secret(json.dumps(broken))
    with pytest.raises(SecretUnavailable, match="private_key") as raised:
        secret.current()
    assert public_key_secret["private_key"][40:100] not in str(raised.value)
    aws_stack.put_secret(public_key_secret)
    assert secret.current().app_id == public_key_secret["app_id"]  # picked up at once after a failure
