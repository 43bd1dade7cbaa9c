"""The producer's word on identity, checked by the real handler (moto, the multi-app emulator over
loopback): an undeclared app is the producer's mistake, a declared app's broken key is ours, and an ISV
message's merchant is the one Alipay says its token belongs to, before anything is keyed, recorded or
called (docs/identity.md)."""

from __future__ import annotations

import json

import pytest
from local.keygen import KeyMaterial, RsaKeyPair

from tests.fixtures.aws import (
    APP_SECRET_PREFIX,
    DEFAULT_APP_ID,
    FURTHER_APP_IDS,
    Pipeline,
    cancel_body,
    isv_body,
    sqs_event,
    sqs_record,
)
from tests.fixtures.gateway import MERCHANT_TOKENS
from tests.fixtures.keys import SECOND_APP_ID

(TOKEN_A, MERCHANT_A), (TOKEN_B, MERCHANT_B) = MERCHANT_TOKENS.items()


def _keys(apps: Pipeline) -> list[str]:
    return sorted(
        item["trade_key"] for item in apps.aws.dynamodb.scan(TableName=apps.aws.results_table)["Items"]
    )


def _token_queries(apps: Pipeline) -> int:
    return int(apps.gateway.admin.counts().get("token_query_calls", 0))


# ---- declared apps ------------------------------------------------------------------------------------


def test_an_app_the_deployment_does_not_declare_is_a_bad_message_at_once(apps: Pipeline) -> None:
    stranger = "2021000000000077"
    reads = apps.calls("secretsmanager", "GetSecretValue")
    response = apps.invoke(sqs_event([sqs_record(cancel_body("ORDER-U", app_id=stranger), message_id="m")]))
    assert response == {"batchItemFailures": []}  # not kept: it is the producer's mistake
    [letter] = apps.aws.dead_letters()
    attributes = letter["attributes"]
    assert attributes["outcome_class"] == "bad_message" and "trade_key" not in attributes
    declared = ", ".join((DEFAULT_APP_ID, *FURTHER_APP_IDS))
    assert (
        f"app_id {stranger} is not one of this deployment's Alipay apps ({declared}). If it is one of "
        f"yours: create its signing secret {APP_SECRET_PREFIX}{stranger}, add {stranger} to the "
        "FurtherAppIds parameter and deploy, then redrive this message"
    ) in attributes["reason"]
    assert [r["SecretId"] for r in reads if stranger in r["SecretId"]] == []  # its secret is never read
    assert _keys(apps) == []
    assert apps.gateway.admin.counts()["total_requests"] == 0


def test_a_declared_app_without_a_secret_is_kept_as_our_configuration_error(apps: Pipeline) -> None:
    declared_without_secret = "2021000000000009"
    last = apps.aws.max_receive_count
    body = cancel_body("ORDER-D", app_id=declared_without_secret)
    response = apps.invoke(sqs_event([sqs_record(body, message_id="m", receive_count=last)]))
    assert response == {"batchItemFailures": []}  # re-enqueued unchanged on its last receive, kept
    assert apps.aws.dead_letters() == []
    record = apps.aws.result(f"app:{declared_without_secret} ORDER-D")
    assert record is not None and record["outcome_class"] == "config_error"
    assert APP_SECRET_PREFIX + declared_without_secret in record["error_message"]


@pytest.mark.parametrize("app", ["default app", "second app"])
def test_a_wrong_private_key_in_any_apps_secret_is_kept_as_our_configuration_error(
    app: str, apps: Pipeline, second_app_key_material: KeyMaterial, other_rsa_key_pair: RsaKeyPair
) -> None:
    """Alipay refuses the signature, its refusal is signed with that app's own Alipay key: believed,
    so the message is kept (re-enqueued on its last receive), never dead-lettered as exhausted."""
    app_id = None if app == "default app" else SECOND_APP_ID
    if app_id is None:
        apps.aws.put_secret({**apps.gateway.secret, "private_key": other_rsa_key_pair.private_pem})
        key = "ORDER-W"
    else:
        wrong = {**second_app_key_material.secret(), "private_key": other_rsa_key_pair.private_pem}
        apps.aws.put_app_secret(SECOND_APP_ID, wrong)
        key = f"app:{SECOND_APP_ID} ORDER-W"
    apps.gateway.admin.seed_trade("ORDER-W", state="unpaid", app_id=app_id)
    extra = {} if app_id is None else {"app_id": app_id}
    for receive_count, kept in ((1, ["m"]), (apps.aws.max_receive_count, [])):
        body = cancel_body("ORDER-W", **extra)
        response = apps.invoke(sqs_event([sqs_record(body, message_id="m", receive_count=receive_count)]))
        assert response == {"batchItemFailures": [{"itemIdentifier": i} for i in kept]}
    assert apps.aws.dead_letters() == []
    record = apps.aws.result(key)
    assert record is not None and (record["status"], record["outcome_class"]) == ("RETRYING", "config_error")
    assert record["error_code"] == "invalid-signature"
    assert apps.gateway.admin.trade("ORDER-W", app_id=app_id)["state"] == "unpaid"


# ---- the merchant a token speaks for -------------------------------------------------------------------


def test_swapped_labels_call_nothing_record_nothing_and_name_both_merchants(apps: Pipeline) -> None:
    """Two merchants, one out_trade_no: each token sent under the other merchant's id."""
    admin = apps.gateway.admin
    admin.seed_trade("ORDER-S", state="unpaid", merchant_id=MERCHANT_A)
    admin.seed_trade("ORDER-S", state="paid", merchant_id=MERCHANT_B)
    apps.aws.send(isv_body("ORDER-S", TOKEN_A, MERCHANT_B))
    apps.aws.send(isv_body("ORDER-S", TOKEN_B, MERCHANT_A))
    assert apps.run_once()[2] == []
    letters = apps.aws.dead_letters()
    assert len(letters) == 2
    for letter in letters:
        attributes = letter["attributes"]
        assert attributes["outcome_class"] == "bad_message" and "trade_key" not in attributes
        body = json.loads(letter["body"])
        claimed = body["merchant_id"]
        actual = MERCHANT_A if body["app_auth_token"] == TOKEN_A else MERCHANT_B
        assert (
            f"merchant_id {claimed} is not the merchant the app_auth_token belongs to: Alipay says the "
            f"token is merchant {actual}'s"
        ) in attributes["reason"]
        assert TOKEN_A not in json.dumps(attributes) and TOKEN_B not in json.dumps(attributes)
    assert admin.counts()["cancel_calls"] == 0
    assert _keys(apps) == []
    # The genuine messages then settle each trade as Alipay says.
    apps.aws.send(isv_body("ORDER-S", TOKEN_A, MERCHANT_A))
    apps.aws.send(isv_body("ORDER-S", TOKEN_B, MERCHANT_B))
    assert apps.run_once()[2] == []
    assert (apps.aws.result(f"merchant:{MERCHANT_A} ORDER-S") or {}).get("status") == "CLOSED"
    assert (apps.aws.result(f"merchant:{MERCHANT_B} ORDER-S") or {}).get("status") == "REFUNDED"
    assert admin.trade("ORDER-S", merchant_id=MERCHANT_A)["state"] == "closed"
    assert admin.trade("ORDER-S", merchant_id=MERCHANT_B)["state"] == "refunded"
    assert _token_queries(apps) == 2  # one per token: the answers were remembered


@pytest.mark.parametrize("status", ["revoked", "expired"])
def test_a_token_alipay_says_is_no_longer_valid_is_the_token_ending_with_no_record(
    status: str, apps: Pipeline
) -> None:
    apps.gateway.admin.set_token(TOKEN_A, status=status)
    apps.gateway.admin.seed_trade("ORDER-T", state="unpaid", merchant_id=MERCHANT_A)
    apps.aws.send(isv_body("ORDER-T", TOKEN_A, MERCHANT_A))
    assert apps.run_once()[2] == []
    [letter] = apps.aws.dead_letters()
    attributes = letter["attributes"]
    assert attributes["outcome_class"] == "terminal" and "trade_key" not in attributes
    assert "app_auth_token is no longer valid" in attributes["reason"]
    assert "re-authorise the ISV app" in attributes["reason"]
    assert "alipay_trace_id" in attributes
    assert _keys(apps) == [] and apps.gateway.admin.counts()["cancel_calls"] == 0


def test_a_token_of_another_of_our_apps_is_refused_by_alipay_as_the_token_ending(apps: Pipeline) -> None:
    apps.gateway.admin.set_token(TOKEN_A, app_id=SECOND_APP_ID)  # issued to the second app only
    apps.aws.send(isv_body("ORDER-X", TOKEN_A, MERCHANT_A))  # but the message names the default app
    assert apps.run_once()[2] == []
    [letter] = apps.aws.dead_letters()
    assert letter["attributes"]["outcome_class"] == "terminal"
    assert letter["attributes"]["error_code"] == "invalid-app-auth-token"
    assert _keys(apps) == []


def test_alipay_unreachable_for_the_question_is_retried_with_nothing_recorded(apps: Pipeline) -> None:
    admin = apps.gateway.admin
    admin.seed_trade("ORDER-R", state="unpaid", merchant_id=MERCHANT_A)
    admin.set_fault("http_5xx", times=1, operation="token_query")
    body = isv_body("ORDER-R", TOKEN_A, MERCHANT_A)
    assert apps.invoke(sqs_event([sqs_record(body, message_id="m")])) == {
        "batchItemFailures": [{"itemIdentifier": "m"}]
    }
    assert _keys(apps) == [] and apps.aws.dead_letters() == [] and admin.counts()["cancel_calls"] == 0
    # The next delivery asks again (a failure is never remembered) and cancels.
    assert apps.invoke(sqs_event([sqs_record(body, message_id="m", receive_count=2)])) == {
        "batchItemFailures": []
    }
    assert (apps.aws.result(f"merchant:{MERCHANT_A} ORDER-R") or {}).get("status") == "CLOSED"
    assert admin.counts()["total_requests"] == 3  # the question twice, then the cancel


def test_an_unconfirmed_merchant_on_the_last_receive_is_dead_lettered_without_a_record(
    apps: Pipeline,
) -> None:
    apps.gateway.admin.set_fault("http_5xx", times=1, operation="token_query")
    last = apps.aws.max_receive_count
    body = isv_body("ORDER-L", TOKEN_A, MERCHANT_A)
    assert apps.invoke(sqs_event([sqs_record(body, message_id="m", receive_count=last)])) == {
        "batchItemFailures": []
    }
    [letter] = apps.aws.dead_letters()
    attributes = letter["attributes"]
    assert attributes["outcome_class"] == "exhausted" and "trade_key" not in attributes
    assert "checking which merchant the app_auth_token belongs to" in attributes["reason"]
    assert _keys(apps) == []


def test_an_isv_message_of_an_app_that_cannot_sign_is_kept_without_a_record(apps: Pipeline) -> None:
    """Whose the token is cannot be asked: our configuration (kept), and nothing under the trade."""
    body = isv_body("ORDER-N", TOKEN_A, MERCHANT_A, app_id="2021000000000009")  # declared, no secret
    response = apps.invoke(sqs_event([sqs_record(body, message_id="m")]))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert apps.aws.dead_letters() == [] and _keys(apps) == []


def test_the_merchant_of_a_token_is_asked_once_per_container(apps: Pipeline) -> None:
    admin = apps.gateway.admin
    for n in range(3):
        admin.seed_trade(f"ORDER-C{n}", state="unpaid", merchant_id=MERCHANT_A)
        apps.aws.send(isv_body(f"ORDER-C{n}", TOKEN_A, MERCHANT_A))
    apps.run_once()  # concurrent records of one token may each ask once
    apps.aws.send(isv_body("ORDER-C9", TOKEN_A, MERCHANT_A))
    before = _token_queries(apps)
    assert apps.run_once()[2] == []
    assert _token_queries(apps) == before  # remembered
    apps.configure(TOKEN_OWNER_MAX_AGE_SECONDS=0)
    apps.aws.send(isv_body("ORDER-C8", TOKEN_A, MERCHANT_A))
    apps.run_once()
    assert _token_queries(apps) == before + 1  # 0: asked for every message


def test_a_badly_signed_answer_about_the_token_re_reads_the_secret_and_the_cancel_follows(
    apps: Pipeline,
) -> None:
    admin = apps.gateway.admin
    admin.seed_trade("ORDER-F", state="unpaid", merchant_id=MERCHANT_A)
    admin.set_fault("bad_signature", times=1, operation="token_query")
    reads = apps.calls("secretsmanager", "GetSecretValue")
    response = apps.invoke(sqs_event([sqs_record(isv_body("ORDER-F", TOKEN_A, MERCHANT_A), message_id="m")]))
    assert response == {"batchItemFailures": []}
    assert (apps.aws.result(f"merchant:{MERCHANT_A} ORDER-F") or {}).get("status") == "CLOSED"
    default_reads = [r for r in reads if r["SecretId"] == apps.aws.secret_id]
    assert len(default_reads) == 2  # loaded, then re-read once after the badly signed answer
    assert admin.counts()["total_requests"] == 3  # the question twice, then the cancel
