"""Several Alipay apps and ISV merchants in one deployment: every trade isolated (issue 11).

The real handler against moto and the emulator over loopback HTTP; the emulator holds two apps (each
with its own app key and its own Alipay key) and two merchants (app_auth_token -> merchant id).
"""

from __future__ import annotations

import json

import pytest
from local.keygen import KeyMaterial

from tests.fixtures.aws import (
    APP_SECRET_PREFIX,
    DEFAULT_APP_ID,
    SHORTEST_RETRIES,
    Pipeline,
    PowertoolsLines,
    cancel_body,
    emf_metric_total,
    isv_body,
    sqs_event,
    sqs_record,
)
from tests.fixtures.gateway import MERCHANT_TOKENS
from tests.fixtures.keys import SECOND_APP_ID

(TOKEN_A, MERCHANT_A), (TOKEN_B, MERCHANT_B) = MERCHANT_TOKENS.items()


def test_two_merchants_with_the_same_out_trade_no_are_two_cancels_and_two_records(apps: Pipeline) -> None:
    admin = apps.gateway.admin
    admin.seed_trade("ORDER-1001", state="paid", merchant_id=MERCHANT_A)
    admin.seed_trade("ORDER-1001", state="unpaid", merchant_id=MERCHANT_B)

    # Merchant A first, then merchant B in a later invocation: B must not find A's success.
    apps.aws.send(isv_body("ORDER-1001", TOKEN_A, MERCHANT_A))
    assert apps.run_once()[2] == []
    apps.aws.send(isv_body("ORDER-1001", TOKEN_B, MERCHANT_B))
    assert apps.run_once()[2] == []

    key_a, key_b = f"merchant:{MERCHANT_A} ORDER-1001", f"merchant:{MERCHANT_B} ORDER-1001"
    record_a, record_b = apps.aws.result(key_a), apps.aws.result(key_b)
    assert record_a is not None and (record_a["status"], record_a["action"]) == ("REFUNDED", "refund")
    assert record_b is not None and (record_b["status"], record_b["action"]) == ("CLOSED", "close")
    assert record_a["trade_no"] != record_b["trade_no"]
    assert apps.aws.result("ORDER-1001") is None  # nothing under the bare id
    assert admin.cancel_calls("ORDER-1001", merchant_id=MERCHANT_A) == 1
    assert admin.cancel_calls("ORDER-1001", merchant_id=MERCHANT_B) == 1
    assert (record_a["merchant_id"], record_b["merchant_id"]) == (MERCHANT_A, MERCHANT_B)

    # A duplicate of each finds its own trade settled: no further Alipay call.
    apps.aws.send(isv_body("ORDER-1001", TOKEN_A, MERCHANT_A))
    apps.aws.send(isv_body("ORDER-1001", TOKEN_B, MERCHANT_B))
    assert apps.run_once()[2] == []
    assert admin.cancel_calls("ORDER-1001", merchant_id=MERCHANT_A) == 1
    assert admin.cancel_calls("ORDER-1001", merchant_id=MERCHANT_B) == 1


def test_two_apps_in_one_batch_each_signed_and_verified_with_its_own_keys(apps: Pipeline) -> None:
    admin = apps.gateway.admin
    admin.settings(latency_ms=50)  # calls of the batch's worker threads are in flight together
    expected: dict[str, tuple[str, str]] = {}  # trade_key -> (app at the emulator, action)
    for n in range(5):
        order = f"ORDER-{n}"
        admin.seed_trade(order, state="unpaid")
        admin.seed_trade(order, state="paid", app_id=SECOND_APP_ID)
        apps.aws.send(cancel_body(order))
        # Every other message names the default app explicitly: the same trade as naming none.
        if n % 2:
            apps.aws.send(cancel_body(f"ORDER-D{n}", app_id=DEFAULT_APP_ID))
            admin.seed_trade(f"ORDER-D{n}", state="unpaid")
            expected[f"ORDER-D{n}"] = (DEFAULT_APP_ID, "close")
        apps.aws.send(cancel_body(order, app_id=SECOND_APP_ID))
        expected[order] = (DEFAULT_APP_ID, "close")
        expected[f"app:{SECOND_APP_ID} {order}"] = (SECOND_APP_ID, "refund")
    event, _, failed = apps.run_once(max_messages=len(expected))
    assert len(event["Records"]) == len(expected) == 12 and failed == []

    for key, (app_id, action) in expected.items():
        record = apps.aws.result(key)
        state = {"close": "CLOSED", "refund": "REFUNDED"}[action]
        assert record is not None and (record["status"], record["action"]) == (state, action), key
        # The cancel reached the trade of the app that signed it.
        assert admin.cancel_calls(key.split(" ")[-1], app_id=app_id) == 1, key
    for n in (1, 3):  # the default app's trades named explicitly never reached the second app
        assert admin.count(f"ORDER-D{n}", app_id=SECOND_APP_ID) == {"requests": 0, "cancel_calls": 0}
    # The emulator verified each request with the key of the app it names (a wrong key is an
    # invalid-signature rejection) and signed each answer with that app's own Alipay key, which the
    # function verified before settling the trade.
    calls = admin.recent_requests()
    assert all(call["code"] == "10000" for call in calls), calls
    assert sorted(call["app_id"] for call in calls) == sorted(app for app, _ in expected.values())
    assert admin.counts()["rejected_requests"] == 0


def test_missing_app_secret_is_a_configuration_error_naming_it(
    apps: Pipeline, powertools_lines: PowertoolsLines, capsys: pytest.CaptureFixture[str]
) -> None:
    missing_app = "2021000000000009"
    apps.gateway.admin.seed_trade("ORDER-9", state="unpaid")
    event = sqs_event(
        [
            sqs_record(cancel_body("ORDER-9", app_id=missing_app), message_id="no-secret"),
            sqs_record(cancel_body("ORDER-9"), message_id="default-app"),
        ]
    )
    capsys.readouterr()
    response = apps.invoke(event)
    # Kept (retried), not dead-lettered: the message is fine, our configuration is not.
    assert response == {"batchItemFailures": [{"itemIdentifier": "no-secret"}]}
    assert apps.aws.dead_letters() == []
    secret_name = APP_SECRET_PREFIX + missing_app
    record = apps.aws.result(f"app:{missing_app} ORDER-9")
    assert record is not None and (record["status"], record["outcome_class"]) == ("RETRYING", "config_error")
    assert secret_name in record["error_message"] and secret_name in record["remedy"]
    assert emf_metric_total(capsys.readouterr().out, "ConfigurationError") == 1
    errors = [r for r in powertools_lines.records() if r.get("level") == "ERROR"]
    assert any(secret_name in json.dumps(r) for r in errors), errors
    # The default app's record in the same batch went through; no call was made for the missing app.
    assert (apps.aws.result("ORDER-9") or {}).get("status") == "CLOSED"
    assert apps.gateway.admin.counts()["total_requests"] == 1


def test_token_without_merchant_is_a_bad_message_with_no_record(apps: Pipeline) -> None:
    apps.aws.send(cancel_body("ORDER-5", app_auth_token=TOKEN_A))
    assert apps.run_once()[2] == []
    [letter] = apps.aws.dead_letters()
    assert letter["attributes"]["outcome_class"] == "bad_message"
    assert "without merchant_id" in letter["attributes"]["reason"]
    assert TOKEN_A in letter["body"] and TOKEN_A not in json.dumps(letter["attributes"])
    assert "trade_key" not in letter["attributes"]  # the merchant is unknown: no guessed identity
    assert apps.aws.result("ORDER-5") is None


def test_a_renamed_function_keeps_the_ledger(apps: Pipeline) -> None:
    """A trade's ledger item is keyed by its identity alone, never by the function's name or the code's
    location: after a rename a duplicate still finds the trade settled."""
    admin = apps.gateway.admin
    admin.seed_trade("ORDER-R", state="paid", merchant_id=MERCHANT_A)
    apps.configure(AWS_LAMBDA_FUNCTION_NAME="alipay-cancel-CancelFunction-OLD")
    apps.aws.send(isv_body("ORDER-R", TOKEN_A, MERCHANT_A))
    assert apps.run_once()[2] == []
    assert admin.cancel_calls("ORDER-R", merchant_id=MERCHANT_A) == 1
    stored = apps.aws.result(f"merchant:{MERCHANT_A} ORDER-R")
    assert stored is not None and stored["merchant_id"] == MERCHANT_A and stored["status"] == "REFUNDED"

    apps.configure(AWS_LAMBDA_FUNCTION_NAME="alipay-cancel-CancelFunction-NEW")  # a new runtime
    apps.aws.send(isv_body("ORDER-R", TOKEN_A, MERCHANT_A))
    assert apps.run_once()[2] == []
    assert admin.cancel_calls("ORDER-R", merchant_id=MERCHANT_A) == 1  # settled: not cancelled again
    assert apps.aws.result(f"merchant:{MERCHANT_A} ORDER-R") == stored


def test_a_missing_app_secret_keeps_its_messages_until_the_secret_exists(
    apps: Pipeline, second_app_key_material: KeyMaterial
) -> None:
    """Beyond the last allowed receive: kept (nothing dead-lettered); once the secret is created, the
    message flows by itself and that app's trade is cancelled once."""
    third_app = "2021000000000003"
    admin = apps.gateway.admin
    admin.seed_trade("ORDER-K", state="unpaid")  # the emulator has no third app: its own trade is absent
    apps.configure(
        **SHORTEST_RETRIES,
        SECRET_MAX_AGE_SECONDS=0,
    )
    body = cancel_body("ORDER-K", app_id=SECOND_APP_ID)
    apps.aws.secretsmanager.delete_secret(
        SecretId=APP_SECRET_PREFIX + SECOND_APP_ID, ForceDeleteWithoutRecovery=True
    )
    admin.seed_trade("ORDER-K", state="unpaid", app_id=SECOND_APP_ID)
    apps.aws.send(body)
    apps.aws.send(cancel_body("ORDER-K", app_id=third_app))
    for _ in range(2 * apps.aws.max_receive_count):
        apps.aws.wait_out_delays()
        event, _, failed = apps.run_once()
        apps.aws.make_visible(event, failed)
    apps.aws.wait_out_delays()
    assert apps.aws.dead_letters() == []
    assert sum(apps.aws.queue_depth()) == 2  # both kept
    assert admin.counts()["total_requests"] == 0

    apps.aws.put_app_secret(SECOND_APP_ID, second_app_key_material.secret())
    apps.let_failed_secret_loads_expire()
    for _ in range(3):
        apps.aws.wait_out_delays()
        event, _, failed = apps.run_once()
        apps.aws.make_visible(event, failed)
    apps.aws.wait_out_delays()
    record = apps.aws.result(f"app:{SECOND_APP_ID} ORDER-K")
    assert record is not None and (record["status"], record["action"]) == ("CLOSED", "close")
    assert admin.cancel_calls("ORDER-K", app_id=SECOND_APP_ID) == 1
    assert admin.cancel_calls("ORDER-K") == 0
    still = apps.aws.result(f"app:{third_app} ORDER-K")  # the third app still has no secret: kept
    assert still is not None and still["outcome_class"] == "config_error"
    assert APP_SECRET_PREFIX + third_app in still["error_message"]
    assert sum(apps.aws.queue_depth()) == 1 and apps.aws.dead_letters() == []


def test_each_record_looks_its_apps_secret_up_once_and_a_broken_one_is_not_read_per_record(
    apps: Pipeline,
) -> None:
    apps.configure(SECRET_MAX_AGE_SECONDS=0)  # every lookup reads Secrets Manager: lookups are countable
    calls = apps.calls("secretsmanager", "GetSecretValue")
    admin = apps.gateway.admin
    admin.seed_trade("ORDER-L", state="unpaid", app_id=SECOND_APP_ID)
    second_secret = APP_SECRET_PREFIX + SECOND_APP_ID

    response = apps.invoke(sqs_event([sqs_record(cancel_body("ORDER-L", app_id=SECOND_APP_ID))]))

    assert response == {"batchItemFailures": []}
    assert admin.cancel_calls("ORDER-L", app_id=SECOND_APP_ID) == 1
    reads = [call["SecretId"] for call in calls]
    assert reads.count(second_secret) == 1  # one lookup for the record, signed with what it found

    missing_app = "2021000000000009"  # no secret: five records of it in one batch, one read
    records = [
        sqs_record(cancel_body(f"ORDER-M{n}", app_id=missing_app), message_id=f"m{n}") for n in range(5)
    ]
    response = apps.invoke(sqs_event(records))
    assert len(response["batchItemFailures"]) == 5  # kept: configuration errors
    reads = [call["SecretId"] for call in calls]
    assert reads.count(APP_SECRET_PREFIX + missing_app) == 1
