"""Signing material through lambda_handler: cache, rotation mid-stream, unreadable secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from local.keygen import KeyMaterial, RsaKeyPair, generate_cert_material

from tests.fixtures.aws import (
    Pipeline,
    PowertoolsLines,
    cancel_body,
    emf_metric_total,
    sqs_event,
    sqs_record,
)


def _count_secret_reads(pipeline: Pipeline) -> list[str]:
    reads: list[str] = []
    pipeline.on_function_calls(
        "secretsmanager", "before-call.secretsmanager.GetSecretValue", lambda **_: reads.append("read")
    )
    return reads


def _batch(pipeline: Pipeline, prefix: str, n: int) -> list[str]:
    keys = [f"{prefix}-{i}" for i in range(n)]
    pipeline.gateway.admin.seed_trades([{"out_trade_no": key, "state": "unpaid"} for key in keys])
    for key in keys:
        pipeline.aws.send(cancel_body(key))
    return keys


def test_secret_is_read_once_per_warm_container(pipeline: Pipeline) -> None:
    reads = _count_secret_reads(pipeline)
    for round_ in range(3):
        _batch(pipeline, f"W{round_}", 3)
        _, response, _ = pipeline.run_once()
        assert response == {"batchItemFailures": []}
    assert reads == ["read"]


def _fix_secret_then_succeeds(pipeline: Pipeline, key: str, fixed: dict[str, str]) -> None:
    """The operator fixes the secret: the kept message's next delivery succeeds, nothing dead-lettered."""
    pipeline.aws.put_secret(fixed)
    pipeline.aws.make_visible(pipeline.last_event)
    _, response, _ = pipeline.run_once()
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result(key)
    assert item is not None and item["status"] == "CLOSED"
    assert pipeline.aws.dead_letters() == []


def test_app_key_rotation_mid_stream_recovers_without_dead_letters(
    pipeline: Pipeline, other_rsa_key_pair: RsaKeyPair
) -> None:
    admin = pipeline.gateway.admin
    reads = _count_secret_reads(pipeline)
    _batch(pipeline, "ROT-before", 2)
    pipeline.run_once()

    # Rotation: Alipay learns the new app public key and retires the old one now; the secret is
    # updated. The warm container still holds the old key (max age 300 s).
    admin.rotate_app_key(other_rsa_key_pair.public_pem, grace_seconds=0)
    rotated = {**pipeline.gateway.secret, "private_key": other_rsa_key_pair.private_pem}
    pipeline.aws.put_secret(rotated)

    keys = _batch(pipeline, "ROT-after", 5)
    _, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    assert pipeline.aws.dead_letters() == []
    for key in keys:
        item = pipeline.aws.result(key)
        assert item is not None and item["status"] == "CLOSED", item
    assert reads == ["read", "read"]  # the cold start, then exactly one refresh for the whole batch


def test_alipay_key_rotation_refreshes_and_never_trusts_the_unverifiable_answer(
    pipeline: Pipeline, other_rsa_key_pair: RsaKeyPair
) -> None:
    admin = pipeline.gateway.admin
    _batch(pipeline, "AK-before", 1)
    pipeline.run_once()
    admin.rotate_alipay_key(other_rsa_key_pair.private_pem)  # answers now signed with a key we lack

    [key] = _batch(pipeline, "AK-mid", 1)
    _, response, _ = pipeline.run_once()
    assert len(response["batchItemFailures"]) == 1  # refreshed, still unverifiable: retried, not trusted
    item = pipeline.aws.result(key)
    assert item is not None and (item["status"], item["outcome_class"]) == ("RETRYING", "retry")

    _fix_secret_then_succeeds(
        pipeline, key, {**pipeline.gateway.secret, "alipay_public_key": other_rsa_key_pair.public_pem}
    )


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("this is not JSON", "not a JSON object"),
        (json.dumps(["a", "list"]), "not a JSON object"),
        (json.dumps({"app_id": "2021000000000001"}), "private_key"),
    ],
)
def test_unusable_secret_retries_good_messages_dead_letters_bad_ones_and_alarms(
    pipeline: Pipeline,
    powertools_lines: PowertoolsLines,
    capsys: pytest.CaptureFixture[str],
    secret: str,
    problem: str,
) -> None:
    good_secret = pipeline.gateway.secret
    pipeline.aws.put_secret(secret)
    pipeline.gateway.admin.seed_trade("SEC-1", state="unpaid")
    event = sqs_event(
        [
            sqs_record(cancel_body("SEC-1"), message_id="good"),
            sqs_record("garbage", message_id="bad"),
        ]
    )
    capsys.readouterr()
    response = pipeline.invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": "good"}]}
    [letter] = pipeline.aws.dead_letters()
    assert letter["attributes"]["source_message_id"] == "bad"
    item = pipeline.aws.result("SEC-1")
    assert item is not None and (item["status"], item["outcome_class"]) == ("RETRYING", "config_error")
    assert problem in item["error_message"]
    assert pipeline.gateway.admin.counts()["total_requests"] == 0
    metrics_out = capsys.readouterr().out
    assert emf_metric_total(metrics_out, "ConfigurationError") == 1  # the good record; not per invocation too
    errors = [r for r in powertools_lines.records() if r.get("level") == "ERROR"]
    assert any(problem in json.dumps(r) for r in errors), errors

    # Fixed: the same warm container picks it up FAILED_LOAD_REUSE_SECONDS later (no max-age wait).
    pipeline.aws.put_secret(good_secret)
    pipeline.let_failed_secret_loads_expire()
    response = pipeline.invoke(
        sqs_event([sqs_record(cancel_body("SEC-1"), message_id="good", receive_count=2)])
    )
    assert response == {"batchItemFailures": []}
    item = pipeline.aws.result("SEC-1")
    assert item is not None and item["status"] == "CLOSED"


def test_missing_secret_names_it_and_retries(pipeline: Pipeline, powertools_lines: PowertoolsLines) -> None:
    pipeline.configure(ALIPAY_SECRET_ID="no-such-secret")
    response = pipeline.invoke(sqs_event([sqs_record(cancel_body("SEC-2"), message_id="m")]))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    errors: list[dict[str, Any]] = [r for r in powertools_lines.records() if r.get("level") == "ERROR"]
    assert any("no-such-secret" in json.dumps(r) for r in errors)
    assert pipeline.aws.dead_letters() == []


def test_alipay_certificate_change_is_a_config_error_after_one_refresh_then_recovers(
    aws_stack: Any, cert_gateway: Any, monkeypatch: pytest.MonkeyPatch, key_material: KeyMaterial
) -> None:
    aws_stack.put_secret(cert_gateway.secret)
    monkeypatch.setenv("ALIPAY_ENDPOINT", cert_gateway.endpoint)
    monkeypatch.setenv("ALIPAY_READ_TIMEOUT_SECONDS", "5")
    pipeline = Pipeline(aws=aws_stack, gateway=cert_gateway, monkeypatch=monkeypatch)
    reads = _count_secret_reads(pipeline)
    # Alipay re-issues its certificate (same key): answers now name a new alipay-sn.
    reissued = generate_cert_material(key_material.app, key_material.alipay, key_material.app_id)
    cert_gateway.admin.rotate_alipay_key(
        key_material.alipay.private_pem, alipay_cert=reissued.alipay_cert_pem
    )

    [key] = _batch(pipeline, "SN", 1)
    _, response, _ = pipeline.run_once()
    assert len(response["batchItemFailures"]) == 1  # kept, never trusted, never dead-lettered
    item = pipeline.aws.result(key)
    assert item is not None and (item["status"], item["outcome_class"]) == ("RETRYING", "config_error")
    assert "certificate changed" in item["remedy"] and "alipay_cert" in item["remedy"]
    assert reads == ["read", "read"]  # exactly one refresh before calling it a configuration error
    assert cert_gateway.admin.trade(key)["state"] == "closed"  # Alipay did cancel: the retry is harmless

    _fix_secret_then_succeeds(pipeline, key, {**cert_gateway.secret, "alipay_cert": reissued.alipay_cert_pem})
