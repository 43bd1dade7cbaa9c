"""The emulator holds several apps (each with its own keys) and ISV merchants (token -> merchant);
trades belong to (app, merchant). Driven with the function's own client over loopback HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from local.keygen import KeyMaterial, RsaKeyPair, write_key_files

from alipay_cancel.alipay import TradeRef
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess
from alipay_cancel.alipay.signing_material import load_signing_material
from tests.fixtures.gateway import MERCHANT_TOKENS, GatewayHandle
from tests.fixtures.keys import SECOND_APP_ID

(TOKEN_A, MERCHANT_A), (TOKEN_B, MERCHANT_B) = MERCHANT_TOKENS.items()


def _client(gateway: GatewayHandle, secret: dict[str, str]) -> AlipayClient:
    return AlipayClient(gateway.endpoint, load_signing_material(secret), connect_timeout=2, read_timeout=5)


def test_two_merchants_same_out_trade_no_are_two_trades(multi_app_gateway: GatewayHandle) -> None:
    admin = multi_app_gateway.admin
    admin.seed_trade("ORDER-1001", state="paid", merchant_id=MERCHANT_A)
    admin.seed_trade("ORDER-1001", state="unpaid", merchant_id=MERCHANT_B)
    client = _client(multi_app_gateway, multi_app_gateway.secret)
    a = client.cancel(TradeRef("ORDER-1001", None, TOKEN_A))
    b = client.cancel(TradeRef("ORDER-1001", None, TOKEN_B))
    assert isinstance(a, CancelSuccess) and a.action == "refund"
    assert isinstance(b, CancelSuccess) and b.action == "close"
    assert a.trade_no != b.trade_no
    for merchant, state in ((MERCHANT_A, "refunded"), (MERCHANT_B, "closed")):
        trade = admin.trade("ORDER-1001", merchant_id=merchant)
        assert (trade["state"], trade["cancel_calls"], trade["merchant_id"]) == (state, 1, merchant)
    # The app's own ORDER-1001 (no merchant) is a third trade, untouched and unknown here.
    assert admin.count("ORDER-1001") == {"requests": 0, "cancel_calls": 0}
    per_trade = admin.counts()["per_trade"]
    assert per_trade[f"merchant:{MERCHANT_A} ORDER-1001"]["cancel_calls"] == 1
    assert per_trade[f"merchant:{MERCHANT_B} ORDER-1001"]["cancel_calls"] == 1


def test_each_app_is_verified_with_its_own_key_and_answered_with_its_own_alipay_key(
    multi_app_gateway: GatewayHandle, second_app_key_material: KeyMaterial
) -> None:
    admin = multi_app_gateway.admin
    admin.seed_trade("ORDER-7", state="unpaid")
    admin.seed_trade("ORDER-7", state="paid", app_id=SECOND_APP_ID)
    default = _client(multi_app_gateway, multi_app_gateway.secret)
    second_secret = second_app_key_material.secret()
    second = _client(multi_app_gateway, second_secret)

    first = default.cancel(TradeRef("ORDER-7", None))
    other = second.cancel(TradeRef("ORDER-7", None))
    assert isinstance(first, CancelSuccess) and first.action == "close"
    assert isinstance(other, CancelSuccess) and other.action == "refund"  # the second app's own trade
    assert admin.trade("ORDER-7", app_id=SECOND_APP_ID)["cancel_calls"] == 1
    assert admin.trade("ORDER-7")["cancel_calls"] == 1
    assert [r["app_id"] for r in admin.recent_requests()] == [multi_app_gateway.keys.app_id, SECOND_APP_ID]

    # The second app's secret with the default app's private key: refused by the gateway, and the
    # refusal is signed with the second app's Alipay key, so the client believes it (a configuration
    # error of that app, not a bad answer).
    wrong_key = {**second_secret, "private_key": multi_app_gateway.secret["private_key"]}
    refused = _client(multi_app_gateway, wrong_key).cancel(TradeRef("ORDER-7", None))
    assert isinstance(refused, AlipayFailure) and refused.code == "invalid-signature" and refused.verified

    # The second app's answers are signed with its own Alipay key: the default app's key rejects them.
    crossed = {**second_secret, "alipay_public_key": multi_app_gateway.secret["alipay_public_key"]}
    unverified = _client(multi_app_gateway, crossed).cancel(TradeRef("ORDER-7", None))
    assert isinstance(unverified, AlipayFailure) and not isinstance(unverified, CancelSuccess)
    assert "signature" in (unverified.message or "").lower()


def test_unknown_app_is_refused(multi_app_gateway: GatewayHandle) -> None:
    stranger = {**multi_app_gateway.secret, "app_id": "2021000000000099"}
    answer = _client(multi_app_gateway, stranger).cancel(TradeRef("ORDER-1", None))
    assert isinstance(answer, AlipayFailure) and answer.code == "invalid-app-id"
    assert multi_app_gateway.admin.settings()["apps"] == [multi_app_gateway.keys.app_id, SECOND_APP_ID]


def test_gateway_cli_takes_further_apps_and_merchants(
    tmp_path: Path, key_material: KeyMaterial, second_app_key_material: KeyMaterial
) -> None:
    write_key_files(key_material, tmp_path / "default")
    write_key_files(second_app_key_material, tmp_path / "second")
    (tmp_path / "trades.json").write_text(
        json.dumps(
            [{"out_trade_no": "T-1", "state": "paid", "app_id": SECOND_APP_ID, "merchant_id": "2088M"}]
        )
    )
    cmd = [
        sys.executable,
        "-m",
        "local.alipay_gateway",
        "--port",
        "0",
        "--keys-dir",
        str(tmp_path / "default"),
        "--app",
        f"{SECOND_APP_ID}={tmp_path / 'second'}",
        "--merchant",
        "tok-M=2088M",
        "--trades",
        str(tmp_path / "trades.json"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().split("listening on ")[1].split()[0]
        client = AlipayClient(base_url, load_signing_material(second_app_key_material.secret()))
        answer = client.cancel(TradeRef("T-1", None, "tok-M"))
        assert isinstance(answer, CancelSuccess) and answer.action == "refund"
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_refused_request_counts_for_the_merchants_trade_its_token_names(
    multi_app_gateway: GatewayHandle, other_rsa_key_pair: RsaKeyPair
) -> None:
    """A request refused before it runs (here: signed with a key that is not the app's) is counted for
    the trade of the token's merchant, as an accepted one is: not for the app's own trade of that id."""
    admin = multi_app_gateway.admin
    admin.seed_trade("ORDER-RJ", state="unpaid", merchant_id=MERCHANT_A)
    wrong = {**multi_app_gateway.secret, "private_key": other_rsa_key_pair.private_pem}
    refused = _client(multi_app_gateway, wrong).cancel(TradeRef("ORDER-RJ", None, TOKEN_A))
    assert isinstance(refused, AlipayFailure) and refused.code == "invalid-signature"
    assert _client(multi_app_gateway, multi_app_gateway.secret).cancel(TradeRef("ORDER-RJ", None, TOKEN_A))
    assert admin.count("ORDER-RJ", merchant_id=MERCHANT_A) == {"requests": 2, "cancel_calls": 1}
    assert admin.count("ORDER-RJ") == {"requests": 0, "cancel_calls": 0}
