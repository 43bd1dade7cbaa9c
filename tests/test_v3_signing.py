"""v3 request signing and response verification, checked with cryptography directly (not through
the module's own ``verify``) against strings written out by hand."""

from __future__ import annotations

import base64
import re
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from local.keygen import KeyMaterial, RsaKeyPair

from alipay_cancel.alipay.v3_signing import (
    RequestSigner,
    ResponseVerifier,
    Verdict,
    auth_string,
    request_sign_content,
    response_sign_content,
)

AUTH_RE = re.compile(
    r"ALIPAY-SHA256withRSA "
    r"(?P<auth>app_id=[^,]+(?:,app_cert_sn=[0-9a-f]+)?,nonce=[^,]+,timestamp=\d+)"
    r",sign=(?P<sign>[A-Za-z0-9+/=]+)"
)


def _independent_verify(public_key: RSAPublicKey, content: str | bytes, signature_b64: str) -> bool:
    data = content.encode() if isinstance(content, str) else content
    try:
        public_key.verify(base64.b64decode(signature_b64), data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _auth_fields(header: str) -> dict[str, str]:
    match = AUTH_RE.fullmatch(header)
    assert match, header
    return dict(kv.split("=", 1) for kv in match["auth"].split(","))


def _sign(private_key: RSAPrivateKey, data: bytes) -> str:
    return base64.b64encode(private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


def test_auth_string_public_key_and_cert_mode() -> None:
    assert auth_string("2021001", "n1", 1700000000123) == "app_id=2021001,nonce=n1,timestamp=1700000000123"
    assert (
        auth_string("2021001", "n1", 1700000000123, "abc123")
        == "app_id=2021001,app_cert_sn=abc123,nonce=n1,timestamp=1700000000123"
    )


def test_request_sign_content_with_and_without_app_auth_token() -> None:
    body = '{"out_trade_no":"T1"}'
    assert request_sign_content("A", "post", "/v3/alipay/trade/cancel", body) == (
        b'A\nPOST\n/v3/alipay/trade/cancel\n{"out_trade_no":"T1"}\n'
    )
    assert request_sign_content("A", "POST", "/p?q=1", body, "tok") == (
        b'A\nPOST\n/p?q=1\n{"out_trade_no":"T1"}\ntok\n'
    )


@pytest.mark.parametrize("token", [None, "202101BBf1c2e5d6a7b84c5e9d2f0a1b3c4d5E06"])
@pytest.mark.parametrize("app_cert_sn", [None, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"])
def test_authorization_header_verifies_over_the_documented_string(
    key_material: KeyMaterial, token: str | None, app_cert_sn: str | None
) -> None:
    signer = RequestSigner("2021000000000001", key_material.app.private_key, app_cert_sn)
    body = '{"trade_no":"2014112611001004680073956707"}'
    header = signer.authorization(
        "POST", "/v3/alipay/trade/cancel", body, token, nonce="abc", timestamp_ms=42
    )
    match = AUTH_RE.fullmatch(header)
    assert match, header
    cert_part = f",app_cert_sn={app_cert_sn}" if app_cert_sn else ""
    auth = f"app_id=2021000000000001{cert_part},nonce=abc,timestamp=42"
    assert match["auth"] == auth
    expected = f"{auth}\nPOST\n/v3/alipay/trade/cancel\n{body}\n" + (f"{token}\n" if token else "")
    public = key_material.app.private_key.public_key()
    assert _independent_verify(public, expected, match["sign"])
    # Anything else in the string (say, the token dropped) must not verify.
    assert not _independent_verify(
        public, f"{auth}\nPOST\n/v3/alipay/trade/cancel\n{body}\nX\n", match["sign"]
    )


def test_nonce_and_timestamp_are_fresh_per_request(key_material: KeyMaterial) -> None:
    signer = RequestSigner("2021000000000001", key_material.app.private_key)
    before = int(time.time() * 1000)
    headers = [signer.authorization("POST", "/v3/alipay/trade/cancel", "{}") for _ in range(3)]
    after = int(time.time() * 1000)
    parsed = [_auth_fields(h) for h in headers]
    assert len({p["nonce"] for p in parsed}) == 3
    assert all(len(p["nonce"]) >= 16 for p in parsed)
    assert all(before <= int(p["timestamp"]) <= after for p in parsed)


# --- response verification ---------------------------------------------------------------------


def _signed_headers(
    alipay: RsaKeyPair, body: bytes, *, ts: str = "1700000000000", nonce: str = "n-1"
) -> dict[str, str]:
    content = ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return {
        "alipay-signature": _sign(alipay.private_key, content),
        "alipay-timestamp": ts,
        "alipay-nonce": nonce,
    }


def test_response_sign_content_layout() -> None:
    assert response_sign_content("1", "n", b'{"a":1}') == b'1\nn\n{"a":1}\n'


def test_verifier_accepts_alipays_signature(key_material: KeyMaterial) -> None:
    body = '{"action":"close","out_trade_no":"商户单号"}'.encode()
    verifier = ResponseVerifier(key_material.alipay.private_key.public_key())
    assert verifier.check(_signed_headers(key_material.alipay, body), body).verdict is Verdict.VALID


def test_verifier_unsigned_and_partial(key_material: KeyMaterial) -> None:
    verifier = ResponseVerifier(key_material.alipay.private_key.public_key())
    assert verifier.check({}, b"{}").verdict is Verdict.UNSIGNED
    headers = _signed_headers(key_material.alipay, b"{}")
    for missing in headers:
        partial = {k: v for k, v in headers.items() if k != missing}
        assert verifier.check(partial, b"{}").verdict is Verdict.INVALID


def test_verifier_rejects_forgeries(key_material: KeyMaterial, other_rsa_key_pair: RsaKeyPair) -> None:
    verifier = ResponseVerifier(key_material.alipay.private_key.public_key())
    body = b'{"action":"refund"}'
    good = _signed_headers(key_material.alipay, body)
    cases = {
        "tampered body": (good, b'{"action":"close"}'),
        "other key": (_signed_headers(other_rsa_key_pair, body), body),
        "app key": (_signed_headers(key_material.app, body), body),
        "other timestamp": ({**good, "alipay-timestamp": "1700000000001"}, body),
        "other nonce": ({**good, "alipay-nonce": "n-2"}, body),
        "not base64": ({**good, "alipay-signature": "!!!"}, body),
        "non-ascii": ({**good, "alipay-nonce": "n-1\u00e9"}, body),
        "trailing newline dropped": (good, body + b"\n"),
    }
    for name, (headers, answered) in cases.items():
        assert verifier.check(headers, answered).verdict is Verdict.INVALID, name


def test_verifier_cert_mode_checks_alipay_sn(key_material: KeyMaterial) -> None:
    verifier = ResponseVerifier(key_material.alipay.private_key.public_key(), "sn-expected")
    body = b"{}"
    headers = _signed_headers(key_material.alipay, body)
    assert verifier.check({**headers, "alipay-sn": "sn-expected"}, body).verdict is Verdict.VALID
    assert verifier.check({**headers, "alipay-sn": "sn-rotated"}, body).verdict is Verdict.UNEXPECTED_SIGNER
    assert verifier.check(headers, body).verdict is Verdict.VALID  # absent: the configured cert verifies
