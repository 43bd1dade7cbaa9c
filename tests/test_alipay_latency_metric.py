"""``AlipayLatency`` (the dashboard's p50 and p99 of Alipay calls) holds one value per Alipay call an
invocation made, each the call's wall time in milliseconds: the trade's calls and an ISV token's query
alike. The emulator's fixed latency is a floor no call can beat; the ceiling only has to catch a value
in the wrong unit or from the wrong clock."""

from __future__ import annotations

import json

import pytest

from alipay_cancel.observability import metrics
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


def _invoke_with_latency(
    pipeline: Pipeline, trade: str, body: str, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, int], list[float]]:
    """One message about ``trade`` through the handler with every Alipay answer ``LATENCY_MS`` late: the
    emulator's counts, and the AlipayLatency values the invocation emitted."""
    pipeline.gateway.admin.seed_trade(trade)
    pipeline.gateway.admin.settings(latency_ms=LATENCY_MS)
    # Tests that time Alipay calls outside an invocation (the token cache's) leave values behind in the
    # container's metrics, which the next flush would publish with these.
    metrics.clear_metrics()
    capsys.readouterr()
    assert pipeline.invoke(sqs_event([sqs_record(body)])) == {"batchItemFailures": []}
    return pipeline.gateway.admin.counts(), _latencies(capsys.readouterr().out)


def test_each_trade_call_is_one_value_in_milliseconds(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    counts, latencies = _invoke_with_latency(pipeline, "LAT-1", cancel_body("LAT-1"), capsys)
    assert len(latencies) == counts["total_requests"] >= 1
    assert all(LATENCY_MS <= ms < 60_000 for ms in latencies), latencies


def test_an_isv_tokens_query_is_timed_like_a_trade_call(
    apps: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    counts, latencies = _invoke_with_latency(
        apps, "LAT-ISV", isv_body("LAT-ISV", TOKEN_A, MERCHANT_A), capsys
    )
    assert counts["token_query_calls"] == 1
    assert len(latencies) == counts["total_requests"] >= 2  # the token's query and the trade's calls
    assert all(LATENCY_MS <= ms < 60_000 for ms in latencies), latencies
