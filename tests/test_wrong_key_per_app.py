"""A wrong private key in ANY app's secret is our configuration error, for each app and each call.

The emulator (two apps, each with its own app and Alipay keys) refuses a request signed with a key
that is not the app's with ``invalid-signature``, and signs that refusal with the calling app's own
Alipay key: the client verifies it with that app's secret, so the refusal is believed and classified
as a configuration error (kept, alarmed), also after the secret was re-read, never as a bad answer
that is retried until the message is dead-lettered. Nothing reaches a trade."""

from __future__ import annotations

import pytest
from local.keygen import KeyMaterial, RsaKeyPair

from alipay_cancel.alipay import AlipayClient, AlipayFailure, FailureKind, TradeRef, load_signing_material
from alipay_cancel.decisions.alipay_codes import BAD_OUR_SIGNATURE
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.decisions.identity_check import TokenUnconfirmed, check_identity
from alipay_cancel.pipeline.token_owners import TokenOwners
from alipay_cancel.shared.endings import Ending
from tests.fixtures.gateway import MERCHANT_TOKENS, GatewayHandle
from tests.fixtures.keys import SECOND_APP_ID

(TOKEN_A, MERCHANT_A), _ = MERCHANT_TOKENS.items()
APPS = ["default app", "second app"]


def _secret(app: str, gateway: GatewayHandle, second: KeyMaterial) -> dict[str, str]:
    return gateway.secret if app == "default app" else second.secret()


def _wrong_key_client(secret: dict[str, str], wrong: RsaKeyPair, gateway: GatewayHandle) -> AlipayClient:
    material = load_signing_material({**secret, "private_key": wrong.private_pem})
    return AlipayClient(gateway.endpoint, material, connect_timeout=2, read_timeout=5)


def _is_our_configuration(decision: Decision) -> None:
    assert decision.outcome is Ending.CONFIG_ERROR, decision
    assert decision.remedy == BAD_OUR_SIGNATURE.remedy
    assert decision.code == "invalid-signature"


@pytest.mark.parametrize("app", APPS)
def test_a_cancel_signed_with_a_wrong_key_is_a_configuration_error(
    app: str,
    multi_app_gateway: GatewayHandle,
    second_app_key_material: KeyMaterial,
    other_rsa_key_pair: RsaKeyPair,
) -> None:
    admin = multi_app_gateway.admin
    app_id = None if app == "default app" else SECOND_APP_ID
    admin.seed_trade("ORDER-WK", state="unpaid", app_id=app_id)
    client = _wrong_key_client(
        _secret(app, multi_app_gateway, second_app_key_material), other_rsa_key_pair, multi_app_gateway
    )
    refused = client.cancel(TradeRef("ORDER-WK", None))
    assert isinstance(refused, AlipayFailure)
    assert (refused.kind, refused.code, refused.verified) == (FailureKind.V3_ERROR, "invalid-signature", True)
    first = classify(refused)
    _is_our_configuration(first)
    assert first.refresh_secret  # keys rotate: the secret is re-read once before anyone is alarmed
    _is_our_configuration(classify(refused, after_secret_refresh=True))
    assert admin.trade("ORDER-WK", app_id=app_id)["state"] == "unpaid"
    assert admin.counts()["cancel_calls"] == 0


@pytest.mark.parametrize("app", APPS)
def test_the_identity_check_signed_with_a_wrong_key_is_a_configuration_error(
    app: str,
    multi_app_gateway: GatewayHandle,
    second_app_key_material: KeyMaterial,
    other_rsa_key_pair: RsaKeyPair,
) -> None:
    """The token query made with that app's wrong key: re-read once (the same wrong key comes back),
    then judged a configuration error, not a token problem and not the message's fault."""
    client = _wrong_key_client(
        _secret(app, multi_app_gateway, second_app_key_material), other_rsa_key_pair, multi_app_gateway
    )
    app_id = None if app == "default app" else SECOND_APP_ID
    rereads: list[str | None] = []

    def refresh(app_id: str | None, seen: AlipayClient) -> AlipayClient:
        rereads.append(app_id)
        return client  # the secret still holds the wrong key

    owners = TokenOwners(refresh, max_age_seconds=600, call_budget_ms=5000)
    answer = owners.ask(app_id, client, TOKEN_A, lambda: 60_000)
    assert (answer.calls, answer.after_secret_refresh, rereads) == (2, True, [app_id])
    assert isinstance(answer.outcome, AlipayFailure) and answer.outcome.verified
    verdict = check_identity(MERCHANT_A, answer.outcome, after_secret_refresh=answer.after_secret_refresh)
    assert isinstance(verdict, TokenUnconfirmed)
    _is_our_configuration(verdict.decision)
    # Nothing was kept: once the key is fixed, the token is asked about again.
    good = AlipayClient(
        multi_app_gateway.endpoint,
        load_signing_material(_secret(app, multi_app_gateway, second_app_key_material)),
        connect_timeout=2,
        read_timeout=5,
    )
    assert owners.ask(app_id, good, TOKEN_A, lambda: 60_000).calls == 1
