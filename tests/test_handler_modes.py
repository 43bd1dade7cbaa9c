"""The handler in every signing mode of the secret: AES bodies and certificate mode, end to end."""

from __future__ import annotations

import pytest

from tests.fixtures.aws import AwsStack, Pipeline, cancel_body


@pytest.mark.parametrize("gateway_fixture", ["aes_gateway", "cert_gateway"])
def test_cancel_and_business_error_in_each_mode(
    gateway_fixture: str, aws_stack: AwsStack, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    gateway = request.getfixturevalue(gateway_fixture)
    aws_stack.put_secret(gateway.secret)
    monkeypatch.setenv("ALIPAY_ENDPOINT", gateway.endpoint)
    pipeline = Pipeline(aws=aws_stack, gateway=gateway, monkeypatch=monkeypatch)
    gateway.admin.seed_trade("MODE-ok", state="paid")
    gateway.admin.seed_trade("MODE-frozen", state="frozen")
    pipeline.aws.send(cancel_body("MODE-ok"))
    pipeline.aws.send(cancel_body("MODE-frozen"))

    _, response, _ = pipeline.run_once()

    assert response == {"batchItemFailures": []}
    ok = pipeline.aws.result("MODE-ok")
    assert ok is not None and (ok["status"], ok["action"]) == ("REFUNDED", "refund")
    frozen = pipeline.aws.result("MODE-frozen")
    assert frozen is not None and frozen["error_sub_code"] == "ACQ.REASON_TRADE_BEEN_FREEZEN"
    assert gateway.admin.cancel_calls("MODE-ok") == 1
