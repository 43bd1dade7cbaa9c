"""A mislabelled ISV message on the live local stack: execution environments (awslambdaric processes)
fed by the event source mapping from the queue, the atomic AWS stand-in and the emulator, which knows
two merchants' tokens. Both merchants use one out_trade_no (A's trade unpaid, B's paid); each token is
also sent under the other merchant's id. The swapped messages call nothing and record nothing, their
dead letters name both merchants, and both trades end as Alipay says (issue: "Trust no identity the
producer asserts")."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from local.accounting.messages import read_dead_letters, scan_table
from local.alipay_gateway.admin_client import GatewayAdmin
from local.lambda_runtime.lambda_environment import EnvironmentPool
from local.stack.local_stack import LocalStack

TOKEN_A, MERCHANT_A = "202601BBliveAtoken00000000000000000001", "2088000000000101"
TOKEN_B, MERCHANT_B = "202601BBliveBtoken00000000000000000002", "2088000000000102"
ORDER = "LIVE-SHARED-0001"
ALIPAY_TIMEOUTS = {"ALIPAY_CONNECT_TIMEOUT_SECONDS": "2", "ALIPAY_READ_TIMEOUT_SECONDS": "5"}


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[LocalStack, EnvironmentPool]]:
    lines: list[str] = []
    merchants = {TOKEN_A: MERCHANT_A, TOKEN_B: MERCHANT_B}
    with (
        LocalStack(env_overrides=ALIPAY_TIMEOUTS, merchants=merchants) as stack,
        stack.environments(log_sink=lines.append, max_environments=2, timeout=30) as pool,
    ):
        yield stack, pool
    text = "\n".join(lines)
    assert TOKEN_A not in text and TOKEN_B not in text  # the function's log never shows a token


def _message(token: str, merchant: str) -> str:
    return json.dumps({"out_trade_no": ORDER, "app_auth_token": token, "merchant_id": merchant})


@pytest.mark.timeout(300)
def test_swapped_labels_end_as_alipay_says_with_no_false_record(
    running: tuple[LocalStack, EnvironmentPool],
) -> None:
    stack, pool = running
    admin = GatewayAdmin(stack.gateway_url)
    try:
        admin.seed_trade(ORDER, state="unpaid", merchant_id=MERCHANT_A)
        admin.seed_trade(ORDER, state="paid", merchant_id=MERCHANT_B)
        swapped = [_message(TOKEN_A, MERCHANT_B), _message(TOKEN_B, MERCHANT_A)]
        genuine = [_message(TOKEN_A, MERCHANT_A), _message(TOKEN_B, MERCHANT_B)]
        entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(swapped + genuine)]
        sqs = stack.client("sqs")
        sqs.send_message_batch(QueueUrl=stack.resources.queue_url, Entries=entries)
        drive = stack.driver(pool, batch_size=2, function_timeout=30).run_until_drained(deadline_seconds=180)
        assert drive.drained, drive.stats.errors[-5:]
        assert drive.stats.handler_errors == drive.stats.crashes == drive.stats.timeouts == 0

        # Alipay: each merchant's trade cancelled once, by its own token, as its state asks.
        a, b = admin.trade(ORDER, merchant_id=MERCHANT_A), admin.trade(ORDER, merchant_id=MERCHANT_B)
        assert (a["state"], a["cancel_calls"]) == ("closed", 1)
        assert (b["state"], b["cancel_calls"]) == ("refunded", 1)
        assert admin.counts()["cancel_calls"] == 2
    finally:
        admin.close()

    # The ledger: exactly the two true records, nothing under a mislabelled identity.
    records = {r["trade_key"]: r for r in scan_table(stack.client("dynamodb"), stack.resources.results_table)}
    assert set(records) == {f"merchant:{MERCHANT_A} {ORDER}", f"merchant:{MERCHANT_B} {ORDER}"}
    assert records[f"merchant:{MERCHANT_A} {ORDER}"]["status"] == "CLOSED"
    assert records[f"merchant:{MERCHANT_B} {ORDER}"]["status"] == "REFUNDED"
    assert all(r["attempts"] == 1 for r in records.values())

    # The swapped messages: bad messages on their first receipt, each naming both merchants.
    letters = read_dead_letters(stack.client("sqs"), stack.resources.dlq_url)
    assert sorted(letter.body for letter in letters) == sorted(swapped)
    for letter in letters:
        body = json.loads(letter.body)
        claimed, actual = body["merchant_id"], MERCHANT_A if body["app_auth_token"] == TOKEN_A else MERCHANT_B
        reason = letter.attributes["reason"]
        assert letter.attributes["outcome_class"] == "bad_message" and "trade_key" not in letter.attributes
        assert f"merchant_id {claimed} is not the merchant the app_auth_token belongs to" in reason
        assert f"Alipay says the token is merchant {actual}'s" in reason
        assert TOKEN_A not in json.dumps(letter.attributes) and TOKEN_B not in json.dumps(letter.attributes)
