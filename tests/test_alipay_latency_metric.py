"""``AlipayLatency`` (the dashboard's p50 and p99 of Alipay calls) holds one value per Alipay call an
invocation made, each the call's wall time in milliseconds: the trade's calls and an ISV token's query
alike. The emulator's fixed latency is a floor no call can beat; the ceiling only has to catch a value
in the wrong unit or from the wrong clock."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.aws import Pipeline, cancel_body, isv_body, sqs_event, sqs_record
from tests.fixtures.gateway import MERCHANT_TOKENS

LATENCY_MS = 200
(TOKEN_A, MERCHANT_A), _ = MERCHANT_TOKENS.items()


def _latencies(stdout: str) -> list[float]:
    values: list[float] = []
    for line in stdout.splitlines():
        if '"_aws"' in line:
            value = json.loads(line).get("AlipayLatency")
            values += value if isinstance(value, list) else [] if value is None else [value]
    return values


def test_each_trade_call_is_one_value_in_milliseconds(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.gateway.admin.seed_trade("LAT-1")
    pipeline.gateway.admin.settings(latency_ms=LATENCY_MS)
    capsys.readouterr()
    assert pipeline.invoke(sqs_event([sqs_record(cancel_body("LAT-1"))])) == {"batchItemFailures": []}
    calls = pipeline.gateway.admin.counts()["total_requests"]
    latencies = _latencies(capsys.readouterr().out)
    assert len(latencies) == calls >= 1
    assert all(LATENCY_MS <= ms < 60_000 for ms in latencies), latencies


def test_an_isv_tokens_query_is_timed_like_a_trade_call(
    apps: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    apps.gateway.admin.seed_trade("LAT-ISV")
    apps.gateway.admin.settings(latency_ms=LATENCY_MS)
    capsys.readouterr()
    response = apps.invoke(sqs_event([sqs_record(isv_body("LAT-ISV", TOKEN_A, MERCHANT_A))]))
    assert response == {"batchItemFailures": []}
    counts = apps.gateway.admin.counts()
    assert counts["token_query_calls"] == 1
    latencies = _latencies(capsys.readouterr().out)
    assert len(latencies) == counts["total_requests"] >= 2  # the token's query and the trade's calls
    assert all(LATENCY_MS <= ms < 60_000 for ms in latencies), latencies
