"""The local gateway emulator, driven over real loopback HTTP with raw ``requests`` and signing code
written here (a code path separate from both the production client and the emulator)."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.client
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from local.alipay_gateway.aes_body import aes_decrypt, aes_encrypt
from local.keygen import KeyMaterial, RsaKeyPair, write_key_files

from tests.fixtures.gateway import GatewayHandle
from tests.waiting import wait_for

CANCEL = "/v3/alipay/trade/cancel"


class Target(Protocol):
    """What ``call`` needs: a GatewayHandle, or a gateway started from the CLI."""

    @property
    def base_url(self) -> str: ...
    @property
    def keys(self) -> KeyMaterial: ...
    @property
    def cert_mode(self) -> bool: ...


@dataclass
class CliGateway:
    base_url: str
    keys: KeyMaterial
    cert_mode: bool


# ---- the test's own protocol implementation ---------------------------------------------------------
@functools.cache  # loading an RSA private key validates it (slow): once per key
def _priv(pem: str) -> RSAPrivateKey:
    key = load_pem_private_key(pem.encode(), None)
    assert isinstance(key, RSAPrivateKey)
    return key


@functools.cache
def _pub(pem: str) -> RSAPublicKey:
    key = load_pem_public_key(pem.encode())
    assert isinstance(key, RSAPublicKey)
    return key


def aes(key_b64: str, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(base64.b64decode(key_b64)), modes.CBC(b"\0" * 16))
    if decrypt:
        d = cipher.decryptor()
        raw = d.update(base64.b64decode(data)) + d.finalize()
        u = padding.PKCS7(128).unpadder()
        return u.update(raw) + u.finalize()
    p = padding.PKCS7(128).padder()
    e = cipher.encryptor()
    return base64.b64encode(e.update(p.update(data) + p.finalize()) + e.finalize())


def call(
    gw: Target,
    payload: dict[str, Any] | bytes | None = None,
    *,
    private_pem: str | None = None,
    app_id: str | None = None,
    nonce: str | None = None,
    timestamp_ms: int | None = None,
    token: str | None = None,
    send_token: bool = True,
    auth: str | None = None,
    omit: str | None = None,
    app_cert_sn: str | None = None,
    root_cert_sn: str | None = None,
    aes_key: str | None = None,
    timeout: float = 5.0,
    session: requests.Session | None = None,
    path: str = CANCEL,
    method: str = "POST",
) -> requests.Response:
    """One call (cancel unless ``path`` says otherwise) signed by this test: every part can be wrong
    on purpose. A GET sends no body (``path`` carries its query string)."""
    if payload is None:
        payload = {"out_trade_no": "T-unknown"}
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if method == "GET":
        body = b""
    headers = {"Content-Type": "application/json", "alipay-request-id": uuid.uuid4().hex}
    if aes_key:
        body = aes(aes_key, body)
        headers.update({"Content-Type": "text/plain", "alipay-encrypt-type": "AES"})
    certs = gw.keys.certs
    if gw.cert_mode and certs is not None:
        app_cert_sn = app_cert_sn or sn(x509.load_pem_x509_certificate(certs.app_cert_pem.encode()))
        headers["alipay-root-cert-sn"] = root_cert_sn or root_sn(certs.root_bundle_pem)
    params = {
        "app_id": app_id or gw.keys.app_id,
        "app_cert_sn": app_cert_sn,
        "nonce": nonce or uuid.uuid4().hex,
        "timestamp": str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)),
    }
    auth_string = ",".join(f"{k}={v}" for k, v in params.items() if v and k != omit)
    content = f"{auth_string}\n{method}\n{path}\n".encode() + body + b"\n"
    if token:
        content += f"{token}\n".encode()
        if send_token:
            headers["alipay-app-auth-token"] = token
    signature = _priv(private_pem or gw.keys.app.private_pem).sign(
        content, rsa_padding.PKCS1v15(), hashes.SHA256()
    )
    sign = "" if omit == "sign" else f",sign={base64.b64encode(signature).decode()}"
    headers["Authorization"] = auth if auth is not None else f"ALIPAY-SHA256withRSA {auth_string}{sign}"
    return (session or requests).request(
        method, gw.base_url + path, data=body or None, headers=headers, timeout=timeout
    )


def response_verifies(resp: requests.Response, alipay_public_pem: str) -> bool:
    try:
        ts, nonce, sig = (resp.headers[h] for h in ("alipay-timestamp", "alipay-nonce", "alipay-signature"))
    except KeyError:
        return False
    content = f"{ts}\n{nonce}\n".encode() + resp.content + b"\n"
    try:
        _pub(alipay_public_pem).verify(
            base64.b64decode(sig), content, rsa_padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True


def sn(cert: x509.Certificate) -> str:
    # RFC 4514 strings list the issuer most-specific first: exactly the SDKs' reversed attribute order.
    text = cert.issuer.rfc4514_string() + str(cert.serial_number)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def root_sn(bundle_pem: str) -> str:
    certs = x509.load_pem_x509_certificates(bundle_pem.encode())
    rsa_signed = [
        c for c in certs if c.signature_algorithm_oid.dotted_string.startswith("1.2.840.113549.1.1.")
    ]
    return "_".join(sn(c) for c in rsa_signed)


def ok_body(gw: GatewayHandle, resp: requests.Response) -> dict[str, Any]:
    assert response_verifies(resp, gw.keys.alipay.public_pem), resp.text
    result: dict[str, Any] = resp.json()
    return result


# ---- accepted calls, trade states -----------------------------------------------------------------
def test_good_signature_accepted_and_response_signed(gateway: GatewayHandle) -> None:
    resp = call(gateway, {"out_trade_no": "T-none"})
    assert resp.status_code == 200
    body = ok_body(gateway, resp)
    assert body == {"code": "10000", "msg": "Success", "out_trade_no": "T-none", "retry_flag": "N"}
    assert "action" not in body
    assert resp.headers["alipay-trace-id"]
    assert not response_verifies(resp, gateway.keys.app.public_pem)  # signed with Alipay's key only


def test_trace_ids_unique(gateway: GatewayHandle) -> None:
    ids = {call(gateway).headers["alipay-trace-id"] for _ in range(3)}
    assert len(ids) == 3


def test_unpaid_closes_and_repeat_is_idempotent(gateway: GatewayHandle) -> None:
    trade = gateway.admin.seed_trade("T-1", state="unpaid")
    first = ok_body(gateway, call(gateway, {"out_trade_no": "T-1"}))
    assert first["action"] == "close"
    assert first["trade_no"] == trade["trade_no"] and first["out_trade_no"] == "T-1"
    assert first["retry_flag"] == "N"
    assert gateway.admin.trade("T-1")["state"] == "closed"
    again = ok_body(gateway, call(gateway, {"trade_no": trade["trade_no"]}))
    assert again == first
    assert gateway.admin.count("T-1") == {"requests": 2, "cancel_calls": 2}


def test_paid_refunds_with_refund_fields_and_a_refunded_trade_cannot_be_cancelled_again(
    gateway: GatewayHandle,
) -> None:
    gateway.admin.seed_trade("T-2", trade_no="2024010122001100000000000002", state="paid")
    first = ok_body(
        gateway, call(gateway, {"out_trade_no": "T-2", "trade_no": "2024010122001100000000000002"})
    )
    assert first["action"] == "refund"
    assert len(first["gmt_refund_pay"]) == 19 and first["refund_settlement_id"].isdigit()
    assert gateway.admin.trade("2024010122001100000000000002")["state"] == "refunded"
    # Fully refunded (by this cancel): a repeat is "no cancel once refunded" (the notes' emulate pick).
    again = ok_body(gateway, call(gateway, {"out_trade_no": "T-2"}))
    assert again["sub_code"] == "ACQ.REASON_TRADE_REFUND_FEE_ERR"


@pytest.mark.parametrize(
    ("seed", "code"),
    [
        ({"state": "finished"}, "ACQ.TRADE_HAS_FINISHED"),
        ({"state": "frozen"}, "ACQ.REASON_TRADE_BEEN_FREEZEN"),
        ({"state": "unpaid", "outside_cancel_window": True}, "ACQ.TRADE_CANCEL_TIME_OUT"),
        ({"state": "paid", "error_code": "ACQ.TRADE_HAS_SUCCESS"}, "ACQ.TRADE_HAS_SUCCESS"),
        ({"error_code": "ACQ.CANCEL_NOT_ALLOWED"}, "ACQ.CANCEL_NOT_ALLOWED"),
        ({"error_code": "ACQ.REASON_TRADE_REFUND_FEE_ERR"}, "ACQ.REASON_TRADE_REFUND_FEE_ERR"),
        ({"error_code": "ACQ.INVALID_PARAMETER"}, "ACQ.INVALID_PARAMETER"),
        ({"error_code": "ACQ.SELLER_BALANCE_NOT_ENOUGH"}, "ACQ.SELLER_BALANCE_NOT_ENOUGH"),
        ({"error_code": "ACQ.SOMETHING_NEW"}, "ACQ.SOMETHING_NEW"),
    ],
)
@pytest.mark.parametrize("shape", ["envelope", "v3"])
def test_business_errors_in_both_shapes(
    gateway: GatewayHandle, seed: dict[str, Any], code: str, shape: str
) -> None:
    gateway.admin.settings(error_shape=shape)
    gateway.admin.seed_trades([{"out_trade_no": "T-b", **seed}])
    resp = call(gateway, {"out_trade_no": "T-b"})
    body = ok_body(gateway, resp)
    if shape == "envelope":
        assert resp.status_code == 200
        assert body["code"] == "40004" and body["msg"] == "Business Failed"
        assert body["sub_code"] == code and body["sub_msg"]
    else:
        assert resp.status_code == 400
        assert body["code"] == code and body["message"] and isinstance(body["links"], list)
    assert gateway.admin.trade("T-b")["state"] == seed.get("state", "unpaid")  # untouched


def test_cancel_window_elapses(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-w", cancel_window_seconds=0.3)
    time.sleep(0.4)
    assert ok_body(gateway, call(gateway, {"out_trade_no": "T-w"}))["sub_code"] == "ACQ.TRADE_CANCEL_TIME_OUT"


def test_closed_trade_stays_closed_outside_window(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-c", state="closed", outside_cancel_window=True)
    assert ok_body(gateway, call(gateway, {"out_trade_no": "T-c"}))["action"] == "close"


@pytest.mark.parametrize(
    "payload", [{}, {"out_trade_no": ""}, b"not json", {"out_trade_no": "T-x", "trade_no": "no-such"}]
)
def test_invalid_parameters(gateway: GatewayHandle, payload: dict[str, Any] | bytes) -> None:
    gateway.admin.seed_trade("T-x")
    body = ok_body(gateway, call(gateway, payload))
    assert body["sub_code"] == "ACQ.INVALID_PARAMETER"
    assert gateway.admin.trade("T-x")["state"] == "unpaid"


# ---- rejections -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"auth": ""}, 401, "missing-signature"),
        ({"auth": "Bearer abc"}, 401, "missing-signature"),
        ({"omit": "sign"}, 401, "missing-signature"),
        ({"omit": "app_id"}, 401, "missing-app-id"),
        ({"omit": "timestamp"}, 401, "missing-timestamp"),
        ({"omit": "nonce"}, 401, "missing-nonce"),
        ({"app_id": "2021999999999999"}, 401, "invalid-app-id"),
        ({"timestamp_ms": int(time.time() * 1000) - 10 * 60 * 1000}, 401, "invalid-timestamp"),
        ({"timestamp_ms": 10**20}, 401, "invalid-timestamp"),
        ({"token": "tok-1", "send_token": False}, 401, "invalid-signature"),
    ],
)
def test_rejections(gateway: GatewayHandle, kwargs: dict[str, Any], status: int, code: str) -> None:
    gateway.admin.seed_trade("T-r")
    resp = call(gateway, {"out_trade_no": "T-r"}, **kwargs)
    assert (resp.status_code, ok_body(gateway, resp)["code"]) == (status, code)
    assert gateway.admin.count("T-r") == {"requests": 1, "cancel_calls": 0}
    assert gateway.admin.trade("T-r")["state"] == "unpaid"


def test_wrong_key_and_tampered_body_rejected(gateway: GatewayHandle, other_rsa_key_pair: RsaKeyPair) -> None:
    resp = call(gateway, private_pem=other_rsa_key_pair.private_pem)
    assert (resp.status_code, resp.json()["code"]) == (401, "invalid-signature")
    good = call(gateway, {"out_trade_no": "T-1"})
    assert good.status_code == 200
    # Re-send a captured request with the body changed: the signature no longer covers it.
    req = good.request
    assert isinstance(req.body, bytes)
    tampered = requests.post(
        gateway.base_url + CANCEL,
        data=req.body.replace(b"T-1", b"T-2"),
        headers={"Authorization": req.headers["Authorization"], "Content-Type": "application/json"},
        timeout=5,
    )
    assert tampered.json()["code"] == "invalid-signature"


def test_nonce_reuse_rejected(gateway: GatewayHandle) -> None:
    assert call(gateway, nonce="n-1").status_code == 200
    resp = call(gateway, nonce="n-1")
    assert (resp.status_code, resp.json()["code"]) == (401, "nonce-reused")


def test_configurable_skew(gateway_factory: Callable[..., GatewayHandle]) -> None:
    gw = gateway_factory(max_skew_seconds=2)
    assert call(gw, timestamp_ms=int(time.time() * 1000) - 1000).status_code == 200
    assert call(gw, timestamp_ms=int(time.time() * 1000) - 5000).json()["code"] == "invalid-timestamp"


def test_app_auth_token_signed_and_checked(gateway: GatewayHandle) -> None:
    assert call(gateway, token="tok-any").status_code == 200  # default: any token accepted
    gateway.admin.settings(app_auth_tokens=["tok-good", "tok-denied"], denied_app_auth_tokens=["tok-denied"])
    assert call(gateway, token="tok-good").status_code == 200
    bad = call(gateway, token="tok-bad")
    assert (bad.status_code, bad.json()["code"]) == (401, "invalid-app-auth-token")
    denied = call(gateway, token="tok-denied")
    assert (denied.status_code, denied.json()["code"]) == (403, "insufficient-permissions")
    gateway.admin.settings(api_permission=False)
    resp = call(gateway, token="tok-good")
    assert (resp.status_code, ok_body(gateway, resp)["code"]) == (403, "insufficient-permissions")


# ---- faults ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "params", "status", "check", "applied"),
    [
        ("http_5xx", {}, 503, lambda b: b["code"] == "service-unavailable", False),
        ("http_5xx", {"http_status": 500}, 500, lambda b: True, False),
        ("rate_limited", {}, 429, lambda b: b["code"] == "rate-limited", False),
        ("service_unavailable", {}, 200, lambda b: b["code"] == "20000", False),
        ("system_error", {}, 200, lambda b: b["sub_code"] == "ACQ.SYSTEM_ERROR", False),
        (
            "business_error",
            {"code": "ACQ.SELLER_BALANCE_NOT_ENOUGH"},
            200,
            lambda b: b["sub_code"] == "ACQ.SELLER_BALANCE_NOT_ENOUGH",
            False,
        ),
        ("retry_flag", {}, 200, lambda b: b["retry_flag"] == "Y" and "action" not in b, False),
        ("latency", {"latency_ms": 300}, 200, lambda b: b["action"] == "close", True),
    ],
)
def test_answer_faults_once_then_normal(
    gateway: GatewayHandle,
    kind: str,
    params: dict[str, Any],
    status: int,
    check: Callable[[dict[str, Any]], bool],
    applied: bool,
) -> None:
    gateway.admin.seed_trade("T-f")
    gateway.admin.set_fault(kind, trade="T-f", times=1, **params)
    started = time.monotonic()
    resp = call(gateway, {"out_trade_no": "T-f"})
    elapsed = time.monotonic() - started
    body = ok_body(gateway, resp)
    assert resp.status_code == status and check(body), resp.text
    if kind == "latency":
        assert elapsed >= 0.3
    assert gateway.admin.trade("T-f")["state"] == ("closed" if applied else "unpaid")
    after = ok_body(gateway, call(gateway, {"out_trade_no": "T-f"}))
    assert after["action"] == "close"
    expected_cancel_calls = 2 if kind in ("retry_flag", "latency") else 1
    assert gateway.admin.count("T-f") == {"requests": 2, "cancel_calls": expected_cancel_calls}


@pytest.mark.parametrize(
    ("kind", "params", "expect"),
    [
        ("bad_signature", {}, lambda r: "alipay-signature" in r.headers and r.json()["action"] == "close"),
        (
            "no_signature",
            {},
            lambda r: "alipay-signature" not in r.headers and "alipay-nonce" not in r.headers,
        ),
        ("garbage_html", {"signed": False}, lambda r: r.text.startswith("<html>")),
        ("garbage_truncated", {"signed": False, "http_status": 502}, lambda r: r.status_code == 502),
    ],
)
def test_untrustworthy_responses(
    gateway: GatewayHandle, kind: str, params: dict[str, Any], expect: Callable[[requests.Response], bool]
) -> None:
    gateway.admin.seed_trade("T-s")
    gateway.admin.set_fault(kind, trade="T-s", times=1, **params)
    resp = call(gateway, {"out_trade_no": "T-s"})
    assert expect(resp)
    assert not response_verifies(resp, gateway.keys.alipay.public_pem)
    assert gateway.admin.trade("T-s")["state"] == "closed"  # the cancel did happen behind the bad answer
    assert response_verifies(call(gateway, {"out_trade_no": "T-s"}), gateway.keys.alipay.public_pem)


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("garbage_html", lambda r: r.headers["Content-Type"] == "text/html" and b"<html>" in r.content),
        ("garbage_empty", lambda r: r.content == b""),
        (
            "garbage_truncated",
            lambda r: r.content.startswith(b'{"code":"10000"') and not r.content.endswith(b"}"),
        ),
    ],
)
def test_garbage_bodies_signed_by_default(
    gateway: GatewayHandle, kind: str, check: Callable[[requests.Response], bool]
) -> None:
    gateway.admin.set_fault(kind, times=1)  # any trade
    resp = call(gateway)
    assert resp.status_code == 200 and check(resp), resp.content
    assert response_verifies(resp, gateway.keys.alipay.public_pem)  # signed garbage: parser must cope
    with pytest.raises(ValueError):
        json.loads(resp.content)


def test_timeout_never_answers_and_does_not_wedge(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-t")
    gateway.admin.set_fault("timeout", trade="T-t", times=3)
    threads_before = threading.active_count()
    for _ in range(3):
        with pytest.raises(requests.ReadTimeout):
            call(gateway, {"out_trade_no": "T-t"}, timeout=0.3)
        assert call(gateway, {"out_trade_no": "T-other"}, timeout=2).status_code == 200  # still serving
    assert gateway.admin.trade("T-t")["state"] == "unpaid"
    assert gateway.admin.count("T-t") == {"requests": 3, "cancel_calls": 0}
    # The server notices each client hang-up (within ~50 ms) and ends that connection's thread.
    wait_for(
        lambda: threading.active_count() <= threads_before + 1, "the timed-out connections' threads to end"
    )
    assert ok_body(gateway, call(gateway, {"out_trade_no": "T-t"}))["action"] == "close"


def test_timeout_after_cancel_applies_the_cancel(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-ta", state="paid")
    gateway.admin.set_fault("timeout_after_cancel", trade="T-ta", times=1)
    with pytest.raises(requests.ReadTimeout):
        call(gateway, {"out_trade_no": "T-ta"}, timeout=0.3)
    assert gateway.admin.trade("T-ta")["state"] == "refunded"
    # The retry meets a refunded trade: what a lost answer looks like to the next cancel.
    retry = ok_body(gateway, call(gateway, {"out_trade_no": "T-ta"}))
    assert retry["sub_code"] == "ACQ.REASON_TRADE_REFUND_FEE_ERR"


def test_timeout_hang_is_bounded_and_stop_does_not_block(
    gateway_factory: Callable[..., GatewayHandle],
) -> None:
    gw = gateway_factory(hang_seconds=0.5)
    gw.admin.set_fault("timeout")
    with pytest.raises(requests.ConnectionError):  # dropped without an answer after hang_seconds
        call(gw, timeout=5)
    gw.admin.set_fault("timeout")
    gw.admin.settings(hang_seconds=60)
    outcome: list[str] = []

    def hang() -> None:
        try:
            call(gw, timeout=30)
            outcome.append("answered")
        except requests.RequestException:
            outcome.append("dropped")

    hanging = threading.Thread(target=hang)
    hanging.start()
    time.sleep(0.2)
    started = time.monotonic()
    gw.server.stop()
    assert time.monotonic() - started < 10  # not held by the 30 s hanging request (busy-machine margin)
    hanging.join(5)
    assert not hanging.is_alive() and outcome == ["dropped"]


def test_fault_for_every_call_until_cleared(gateway: GatewayHandle) -> None:
    gateway.admin.set_fault("http_5xx", trade="T-u")
    assert [call(gateway, {"out_trade_no": "T-u"}).status_code for _ in range(3)] == [503, 503, 503]
    gateway.admin.clear_faults("T-u")
    assert call(gateway, {"out_trade_no": "T-u"}).status_code == 200


def test_random_fault_rates_are_seeded(gateway: GatewayHandle) -> None:
    def run() -> list[int]:
        gateway.admin.set_rates({"http_5xx": 0.3, "rate_limited": 0.2}, seed=42)
        return [call(gateway).status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert {200, 503, 429} <= set(first)
    gateway.admin.set_rates({})
    assert {call(gateway).status_code for _ in range(5)} == {200}


def test_global_latency(gateway: GatewayHandle) -> None:
    gateway.admin.settings(latency_ms=250)
    started = time.monotonic()
    assert call(gateway).status_code == 200
    assert time.monotonic() - started >= 0.25


# ---- AES ------------------------------------------------------------------------------------------
def test_aes_round_trip(aes_gateway: GatewayHandle) -> None:
    key = aes_gateway.keys.encrypt_key
    assert key
    aes_gateway.admin.seed_trade("T-a", state="paid")
    resp = call(aes_gateway, {"out_trade_no": "T-a"}, aes_key=key)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    assert response_verifies(resp, aes_gateway.keys.alipay.public_pem)  # signed over the ciphertext
    body = json.loads(aes(key, resp.content, decrypt=True))
    assert body["action"] == "refund" and body["out_trade_no"] == "T-a"


def test_aes_required_and_errors_plain(aes_gateway: GatewayHandle, key_material: KeyMaterial) -> None:
    plain = call(aes_gateway)
    assert (plain.status_code, plain.json()["code"]) == (403, "insufficient-permissions")
    wrong_key = base64.b64encode(b"k" * 32).decode()
    assert call(aes_gateway, aes_key=wrong_key).json()["code"] == "insufficient-permissions"
    aes_gateway.admin.settings(error_shape="v3")
    aes_gateway.admin.seed_trade("T-af", state="finished")
    resp = call(aes_gateway, {"out_trade_no": "T-af"}, aes_key=key_material.encrypt_key)
    assert (resp.status_code, ok_body(aes_gateway, resp)["code"]) == (400, "ACQ.TRADE_HAS_FINISHED")


def test_a_ciphertext_of_another_key_never_passes_for_a_body_even_when_its_padding_is_valid() -> None:
    # About one key in 256 unpads another key's ciphertext: the first such key, found by counting.
    body = json.dumps({"out_trade_no": "T-unknown"}).encode()
    sent = aes_encrypt(b"k" * 32, body)
    for counter in range(4096):
        key = hashlib.sha256(counter.to_bytes(2, "big")).digest()
        raw = base64.b64decode(sent)
        padded = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor().update(raw)
        if padded[-1] == 1:  # valid PKCS#7 padding of one byte
            break
    else:
        pytest.fail("no key in 4096 unpads the ciphertext")
    with pytest.raises(ValueError):
        aes_decrypt(key, sent)
    assert aes_decrypt(b"k" * 32, sent) == body


def test_encrypted_call_to_plain_gateway_rejected(gateway: GatewayHandle, key_material: KeyMaterial) -> None:
    resp = call(gateway, aes_key=key_material.encrypt_key)
    assert (resp.status_code, resp.json()["code"]) == (403, "insufficient-permissions")


# ---- certificate mode -----------------------------------------------------------------------------
def test_cert_mode_headers_and_sn(cert_gateway: GatewayHandle) -> None:
    certs = cert_gateway.keys.certs
    assert certs is not None
    resp = call(cert_gateway)
    assert resp.status_code == 200 and response_verifies(resp, cert_gateway.keys.alipay.public_pem)
    alipay_cert = x509.load_pem_x509_certificate(certs.alipay_cert_pem.encode())
    assert resp.headers["alipay-sn"] == sn(alipay_cert)
    root = root_sn(certs.root_bundle_pem)
    assert root.count("_") == 1 and len(root) == 65  # two RSA roots, the EC root skipped
    settings = cert_gateway.admin.settings()
    assert settings["root_cert_sn"] == root and settings["mode"] == "cert"


def test_cert_mode_rejects_wrong_sns(cert_gateway: GatewayHandle) -> None:
    wrong: list[dict[str, Any]] = [{"app_cert_sn": "0" * 32}, {"root_cert_sn": "0" * 32}]
    for kwargs in wrong:
        resp = call(cert_gateway, **kwargs)
        assert (resp.status_code, resp.json()["code"]) == (401, "invalid-signature")
        assert resp.headers["alipay-sn"]


def test_cert_mode_app_cert_rotation(cert_gateway: GatewayHandle, other_rsa_key_pair: RsaKeyPair) -> None:
    from local.keygen import generate_cert_material

    new = generate_cert_material(other_rsa_key_pair, cert_gateway.keys.alipay)
    new_sn = sn(x509.load_pem_x509_certificate(new.app_cert_pem.encode()))
    cert_gateway.admin.rotate_app_key(app_cert=new.app_cert_pem, grace_seconds=0)
    assert call(cert_gateway).json()["code"] == "invalid-signature"
    assert (
        call(cert_gateway, private_pem=other_rsa_key_pair.private_pem, app_cert_sn=new_sn).status_code == 200
    )


# ---- key rotation ---------------------------------------------------------------------------------
def test_rotation_with_grace(gateway: GatewayHandle, other_rsa_key_pair: RsaKeyPair) -> None:
    # A grace long enough for the two calls inside it on a busy machine; its end is waited for.
    gateway.admin.rotate_app_key(other_rsa_key_pair.public_pem, grace_seconds=3)
    assert call(gateway).status_code == 200  # old key within grace
    assert call(gateway, private_pem=other_rsa_key_pair.private_pem).status_code == 200
    wait_for(lambda: call(gateway).status_code != 200, "the old key to retire", poll=0.25)
    assert call(gateway).json()["code"] == "invalid-signature"
    assert call(gateway, private_pem=other_rsa_key_pair.private_pem).status_code == 200


def test_rotation_immediate_and_reset_restores(
    gateway: GatewayHandle, other_rsa_key_pair: RsaKeyPair
) -> None:
    gateway.admin.rotate_app_key(other_rsa_key_pair.public_pem, grace_seconds=0)
    assert call(gateway).json()["code"] == "invalid-signature"
    gateway.admin.reset()
    assert call(gateway).status_code == 200


def test_alipay_key_rotation(gateway: GatewayHandle, other_rsa_key_pair: RsaKeyPair) -> None:
    gateway.admin.rotate_alipay_key(other_rsa_key_pair.private_pem)
    resp = call(gateway)
    assert not response_verifies(resp, gateway.keys.alipay.public_pem)
    assert response_verifies(resp, other_rsa_key_pair.public_pem)


# ---- counts, admin, keep-alive, CLI ----------------------------------------------------------------
def test_counts(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-n")
    call(gateway, {"out_trade_no": "T-n"})
    call(gateway, {"out_trade_no": "T-n"}, app_id="wrong")
    gateway.admin.set_fault("http_5xx", trade="T-n", times=1)
    call(gateway, {"out_trade_no": "T-n"})
    call(gateway, {"out_trade_no": "T-unknown-1"})
    counts = gateway.admin.counts()
    assert counts["per_trade"]["T-n"] == {"requests": 3, "cancel_calls": 1}
    assert counts["per_trade"]["T-unknown-1"] == {"requests": 1, "cancel_calls": 1}
    assert (counts["total_requests"], counts["rejected_requests"], counts["cancel_calls"]) == (4, 1, 2)
    trade_no = gateway.admin.trade("T-n")["trade_no"]
    assert gateway.admin.cancel_calls(trade_no) == 1
    gateway.admin.reset()
    assert gateway.admin.counts()["total_requests"] == 0


def test_admin_rejects_bad_input(gateway: GatewayHandle) -> None:
    from local.alipay_gateway import GatewayAdminError

    with pytest.raises(GatewayAdminError):
        gateway.admin.set_fault("no-such-kind")
    with pytest.raises(GatewayAdminError):
        gateway.admin.seed_trade("T-1", state="weird")
    with pytest.raises(GatewayAdminError):
        gateway.admin.trade("missing")
    assert requests.get(gateway.base_url + CANCEL, timeout=5).status_code == 404


def test_keep_alive_reuses_one_connection(gateway: GatewayHandle) -> None:
    before = gateway.server.connections_accepted
    with requests.Session() as session:
        for _ in range(5):
            assert call(gateway, session=session).status_code == 200
    assert gateway.server.connections_accepted == before + 1


def test_a_connection_the_emulator_closes_is_announced_in_its_answer(gateway: GatewayHandle) -> None:
    # Without "Connection: close" an HTTP/1.1 client pools the connection and its next request meets
    # the server's close (RemoteDisconnected), however fast it is sent.
    host, port = urlsplit(gateway.base_url).hostname, urlsplit(gateway.base_url).port
    conn = http.client.HTTPConnection(str(host), port, timeout=5)
    try:
        conn.request("GET", "/__admin/health", headers={"Connection": "close"})
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200
        assert answer.getheader("Connection") == "close" and answer.will_close
    finally:
        conn.close()
    with requests.Session() as session:
        kept = session.get(gateway.base_url + "/__admin/health", timeout=5)
        assert kept.status_code == 200 and "Connection" not in kept.headers  # keep-alive stays the default


def test_admin_calls_leave_no_idle_connection_for_the_server_to_close_under_them(
    gateway: GatewayHandle,
) -> None:
    # Session-scoped emulators sit idle between tests past their keep-alive timeout; a reused admin
    # connection could then be closed by the server just as the next admin call goes out.
    before = gateway.server.connections_accepted
    assert gateway.admin.health()
    gateway.admin.seed_trade("T-admin", state="paid")
    assert gateway.admin.trade("T-admin")["state"] == "paid"
    assert gateway.server.connections_accepted == before + 3


def test_keygen_cli_writes_usable_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "local.keygen", "--out", str(tmp_path)], check=True, capture_output=True
    )
    secret = json.loads((tmp_path / "secret.json").read_text())
    assert set(secret) == {"app_id", "private_key", "alipay_public_key"}
    cert_secret = json.loads((tmp_path / "secret_cert_mode.json").read_text())
    assert {"app_cert", "alipay_cert", "alipay_root_cert"} <= set(cert_secret)
    assert (tmp_path / "app_private_key.pem").stat().st_mode & 0o077 == 0
    assert len(base64.b64decode((tmp_path / "encrypt_key.txt").read_text())) == 32


@pytest.mark.parametrize(
    ("flags", "cert_mode", "aes_on"), [([], False, False), (["--aes", "--cert-mode"], True, True)]
)
def test_gateway_cli(
    tmp_path: Path, key_material: KeyMaterial, flags: list[str], cert_mode: bool, aes_on: bool
) -> None:
    write_key_files(key_material, tmp_path)
    (tmp_path / "trades.json").write_text(json.dumps([{"out_trade_no": "T-cli", "state": "paid"}]))
    cmd = [sys.executable, "-m", "local.alipay_gateway", "--port", "0", "--keys-dir", str(tmp_path), *flags]
    proc = subprocess.Popen(
        [*cmd, "--trades", str(tmp_path / "trades.json")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line and f"aes={'on' if aes_on else 'off'}" in line, line
        target = CliGateway(line.split("listening on ")[1].split()[0], key_material, cert_mode)
        aes_key = key_material.encrypt_key if aes_on else None
        resp = call(target, {"out_trade_no": "T-cli"}, aes_key=aes_key)
        assert resp.status_code == 200 and response_verifies(resp, key_material.alipay.public_pem)
        assert ("alipay-sn" in resp.headers) == cert_mode
        body = json.loads(aes(aes_key, resp.content, decrypt=True) if aes_key else resp.content)
        assert body["action"] == "refund"
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0
