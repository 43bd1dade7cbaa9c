"""Many copies of one trade, spread over concurrent invocations in separate execution environments
(awslambdaric processes) against the atomic AWS stand-in, lead to exactly one Alipay call, counted at
the gateway emulator. Repeated over ROUNDS trades, the environments kept warm between rounds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local.alipay_gateway.admin_client import GatewayAdmin
from local.lambda_runtime.lambda_environment import EnvironmentPool
from local.stack.local_stack import LocalStack

ROUNDS = 20
COPIES = 6
ENVIRONMENTS = 3

# Short retries through the template's own parameters (the queue's maxReceiveCount agrees with them).
FAST_RETRIES = {
    "RetryBaseSeconds": "1",
    "RetryMaxSeconds": "2",
    "RetrySlowBaseSeconds": "1",
    "RetryHorizonSeconds": "12",
    "MaxReceiveCount": "14",
}
ALIPAY_TIMEOUTS = {"ALIPAY_CONNECT_TIMEOUT_SECONDS": "2", "ALIPAY_READ_TIMEOUT_SECONDS": "5"}


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[LocalStack, EnvironmentPool]]:
    lines: list[str] = []
    with (
        LocalStack(env_overrides=ALIPAY_TIMEOUTS, parameters=FAST_RETRIES) as stack,
        stack.environments(log_sink=lines.append, max_environments=ENVIRONMENTS, timeout=30) as pool,
    ):
        yield stack, pool


@pytest.mark.timeout(400)
def test_copies_of_one_trade_in_concurrent_environments_lead_to_one_alipay_call(
    running: tuple[LocalStack, EnvironmentPool],
) -> None:
    stack, pool = running
    admin = GatewayAdmin(stack.gateway_url)
    sqs = stack.client("sqs")
    # One record per invocation, one poller per environment: the copies run at the same time in
    # different processes; the emulator holds each cancel 200 ms so that they overlap.
    driver = stack.driver(pool, batch_size=1, maximum_concurrency=ENVIRONMENTS, function_timeout=30)
    try:
        for n in range(ROUNDS):
            trade = f"DUP-PROC-{n:03d}"
            admin.seed_trade(trade, state="paid" if n % 2 else "unpaid")
            admin.set_fault("latency", trade=trade, times=None, latency_ms=200)
            body = f'{{"out_trade_no": "{trade}"}}'
            entries = [{"Id": str(i), "MessageBody": body} for i in range(COPIES)]
            sqs.send_message_batch(QueueUrl=stack.resources.queue_url, Entries=entries)
            before = driver.stats.invocations
            drive = driver.run_until_drained(deadline_seconds=120)
            assert drive.drained, drive.stats.errors[-5:]
            assert drive.stats.invocations - before >= COPIES
            assert admin.count(trade)["requests"] == 1, (n, admin.count(trade))
            assert admin.trade(trade)["state"] == ("refunded" if n % 2 else "closed")
        stats = driver.stats
        assert stats.handler_errors == stats.crashes == stats.timeouts == 0, stats.errors[-5:]
        assert pool.stats().peak_environments >= 2  # the copies really ran in several processes
    finally:
        admin.close()
    records = {r["trade_key"]: r for r in _results(stack)}
    assert all(
        records[f"DUP-PROC-{n:03d}"]["status"] == ("REFUNDED" if n % 2 else "CLOSED") for n in range(ROUNDS)
    )
    assert all(records[f"DUP-PROC-{n:03d}"]["attempts"] == 1 for n in range(ROUNDS))


def _results(stack: LocalStack) -> list[dict[str, str]]:
    from local.accounting.messages import scan_table

    return scan_table(stack.client("dynamodb"), stack.resources.results_table)
