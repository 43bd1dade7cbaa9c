"""SigningRegistry against moto Secrets Manager: one secret, one cache, one client per app."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from local.keygen import KeyMaterial

from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.signing_material import SigningMaterial
from alipay_cancel.signing.registry import SigningRegistry
from alipay_cancel.signing.secret import FAILED_LOAD_REUSE_SECONDS, SecretUnavailable
from tests.fixtures.aws import APP_SECRET_PREFIX, DEFAULT_APP_ID, FURTHER_APP_IDS, AwsStack
from tests.fixtures.keys import SECOND_APP_ID


def _registry(
    aws_stack: AwsStack, prefix: str = APP_SECRET_PREFIX, clock: Callable[[], float] | None = None
) -> SigningRegistry:
    def factory(material: SigningMaterial) -> AlipayClient:
        return AlipayClient("http://127.0.0.1:9", material)

    return SigningRegistry(
        aws_stack.secretsmanager,
        default_app_id=DEFAULT_APP_ID,
        default_secret_id=aws_stack.secret_id,
        further_app_ids=FURTHER_APP_IDS if prefix else (),
        app_secret_prefix=prefix,
        max_age_seconds=300,
        client_factory=factory,
        clock=clock,
    )


def _reads(client: Any) -> list[str]:
    reads: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        reads.append(params["SecretId"])

    client.meta.events.register("provide-client-params.secretsmanager.GetSecretValue", record)
    return reads


@pytest.fixture
def two_apps(
    aws_stack: AwsStack, key_material: KeyMaterial, second_app_key_material: KeyMaterial
) -> SigningRegistry:
    aws_stack.put_secret(key_material.secret())
    aws_stack.put_app_secret(SECOND_APP_ID, second_app_key_material.secret())
    return _registry(aws_stack)


def test_each_app_gets_its_own_secret_keys_and_client(
    two_apps: SigningRegistry, key_material: KeyMaterial, second_app_key_material: KeyMaterial
) -> None:
    default, second = two_apps.client(None), two_apps.client(SECOND_APP_ID)
    assert default is not second and default.session is not second.session
    assert (default.material.app_id, second.material.app_id) == (DEFAULT_APP_ID, SECOND_APP_ID)
    assert default.material.private_key.private_numbers() == key_material.app.private_key.private_numbers()
    assert second.material.private_key.private_numbers() == (
        second_app_key_material.app.private_key.private_numbers()
    )
    assert (
        default.material.alipay_public_key.public_numbers()
        != second.material.alipay_public_key.public_numbers()
    )
    # Naming the default app is the default app.
    assert two_apps.client(DEFAULT_APP_ID) is default
    assert two_apps.secret_id_for(SECOND_APP_ID) == APP_SECRET_PREFIX + SECOND_APP_ID


def test_concurrent_records_of_two_apps_never_share_a_client(
    two_apps: SigningRegistry, aws_stack: AwsStack
) -> None:
    reads = _reads(aws_stack.secretsmanager)
    apps = [None, SECOND_APP_ID] * 20
    start = threading.Barrier(8)

    def fetch(app_id: str | None) -> tuple[str | None, AlipayClient]:
        try:
            start.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass
        return app_id, two_apps.client(app_id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fetch, apps))
    by_app = {app: {id(c) for a, c in results if a == app} for app in (None, SECOND_APP_ID)}
    assert all(len(ids) == 1 for ids in by_app.values())  # one client per app ...
    assert by_app[None] != by_app[SECOND_APP_ID]  # ... never shared
    for app_id, client in results:
        assert client.material.app_id == (app_id or DEFAULT_APP_ID)
    assert sorted(reads) == sorted([aws_stack.secret_id, APP_SECRET_PREFIX + SECOND_APP_ID])  # one read each


def test_refresh_is_per_app(two_apps: SigningRegistry, aws_stack: AwsStack) -> None:
    default, second = two_apps.client(None), two_apps.client(SECOND_APP_ID)
    reads = _reads(aws_stack.secretsmanager)
    fresh = two_apps.refresh(SECOND_APP_ID, second)
    assert fresh is not None and fresh is not second and fresh.material.app_id == SECOND_APP_ID
    assert reads == [APP_SECRET_PREFIX + SECOND_APP_ID]  # the default app's secret is not touched
    assert two_apps.client(None) is default
    assert two_apps.refresh(SECOND_APP_ID, fresh) is None  # once per invocation
    fresh_default = two_apps.refresh(None, default)  # the other app still may
    assert fresh_default is not None and fresh_default.material.app_id == DEFAULT_APP_ID
    two_apps.begin_invocation()
    assert two_apps.refresh(SECOND_APP_ID, fresh) is not None


def test_missing_app_secret_is_a_problem_naming_the_secret(
    aws_stack: AwsStack, key_material: KeyMaterial
) -> None:
    aws_stack.put_secret(key_material.secret())
    registry = _registry(aws_stack)
    with pytest.raises(SecretUnavailable) as raised:
        registry.client("2021000000000009")
    message = str(raised.value)
    assert repr(APP_SECRET_PREFIX + "2021000000000009") in message and "could not be read" in message
    assert "ResourceNotFound" in message
    assert APP_SECRET_PREFIX + "2021000000000009" in registry.remedy_for("2021000000000009")
    assert registry.client(None).material.app_id == DEFAULT_APP_ID  # the default app is unaffected


def test_without_further_apps_only_the_default_app_is_configured(
    aws_stack: AwsStack, key_material: KeyMaterial
) -> None:
    aws_stack.put_secret(key_material.secret())
    registry = _registry(aws_stack, prefix="")
    reads = _reads(aws_stack.secretsmanager)
    assert registry.secret_id_for(SECOND_APP_ID) is None
    with pytest.raises(SecretUnavailable, match="not one of the deployment's apps"):
        registry.client(SECOND_APP_ID)
    assert "FurtherAppIds" in registry.remedy_for(SECOND_APP_ID)
    assert reads == []


def test_a_secret_holding_another_apps_keys_is_refused(
    aws_stack: AwsStack, key_material: KeyMaterial, second_app_key_material: KeyMaterial
) -> None:
    aws_stack.put_secret(key_material.secret())
    # The default app's material stored under the second app's name: signing would act as the wrong app.
    aws_stack.put_app_secret(SECOND_APP_ID, key_material.secret())
    registry = _registry(aws_stack)
    with pytest.raises(SecretUnavailable) as raised:
        registry.client(SECOND_APP_ID)
    message = str(raised.value)
    assert f"holds app_id {DEFAULT_APP_ID!r}" in message and f"app {SECOND_APP_ID!r}" in message
    assert key_material.secret()["private_key"][40:100] not in message
    # The default secret itself must hold the default app's id too.
    aws_stack.put_secret(second_app_key_material.secret())
    with pytest.raises(SecretUnavailable, match=f"holds app_id {SECOND_APP_ID!r}"):
        _registry(aws_stack).client(None)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fixed_secret_is_picked_up_and_unknown_apps_do_not_pile_up(
    aws_stack: AwsStack, key_material: KeyMaterial, second_app_key_material: KeyMaterial
) -> None:
    aws_stack.put_secret(key_material.secret())
    clock = Clock()
    registry = _registry(aws_stack, clock=clock)
    for n in range(5):
        with pytest.raises(SecretUnavailable):
            registry.client(f"20210000000001{n:02d}")
    assert registry._all() == [registry.app(None)]
    with pytest.raises(SecretUnavailable):
        registry.client(SECOND_APP_ID)
    aws_stack.put_app_secret(SECOND_APP_ID, second_app_key_material.secret())
    clock.now += FAILED_LOAD_REUSE_SECONDS
    assert registry.client(SECOND_APP_ID).material.app_id == SECOND_APP_ID


def test_a_misconfigured_apps_failed_load_is_reused_not_read_per_record(
    aws_stack: AwsStack, key_material: KeyMaterial, second_app_key_material: KeyMaterial
) -> None:
    aws_stack.put_secret(key_material.secret())
    clock = Clock()
    registry = _registry(aws_stack, clock=clock)
    registry.client(None)
    reads = _reads(aws_stack.secretsmanager)
    second_secret = f"{APP_SECRET_PREFIX}{SECOND_APP_ID}"

    for _record in range(5):  # five records of an app whose secret does not exist
        with pytest.raises(SecretUnavailable, match=second_secret):
            registry.client(SECOND_APP_ID)
    assert reads == [second_secret]
    aws_stack.put_app_secret(SECOND_APP_ID, second_app_key_material.secret())  # fixed
    clock.now += FAILED_LOAD_REUSE_SECONDS - 0.5
    with pytest.raises(SecretUnavailable):
        registry.client(SECOND_APP_ID)
    assert reads == [second_secret]
    clock.now += 0.5  # picked up FAILED_LOAD_REUSE_SECONDS after the failure
    assert registry.client(SECOND_APP_ID).material.app_id == SECOND_APP_ID
    assert reads == [second_secret, second_secret]
    assert registry.client(SECOND_APP_ID).material.app_id == SECOND_APP_ID  # cached as before
    assert reads == [second_secret, second_secret]


def test_the_default_apps_failed_load_is_reused_too(aws_stack: AwsStack, key_material: KeyMaterial) -> None:
    clock = Clock()
    registry = _registry(aws_stack, clock=clock)  # no default secret yet
    reads = _reads(aws_stack.secretsmanager)
    for _invocation in range(3):
        registry.begin_invocation()
        with pytest.raises(SecretUnavailable, match="could not be read"):
            registry.client(None)
    assert reads == [aws_stack.secret_id]
    aws_stack.put_secret(key_material.secret())
    clock.now += FAILED_LOAD_REUSE_SECONDS
    assert registry.client(None).material.app_id == DEFAULT_APP_ID


def test_an_app_the_deployment_does_not_declare_has_no_secret_to_read(
    aws_stack: AwsStack, key_material: KeyMaterial
) -> None:
    """Whatever app id reaches it (the pipeline refuses undeclared apps before), no secret of the
    prefix's folder is read for it: IAM would not allow it either."""
    aws_stack.put_secret(key_material.secret())
    registry = _registry(aws_stack, clock=Clock())
    reads = _reads(aws_stack.secretsmanager)
    for n in range(20):
        assert registry.secret_id_for(f"2099{n:012d}") is None
        with pytest.raises(SecretUnavailable, match="not one of the deployment's apps"):
            registry.client(f"2099{n:012d}")
    assert reads == [] and registry._all() == [registry.app(None)]
