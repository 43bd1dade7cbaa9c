"""OpenAPI v3 request signing and response verification (RSA2: PKCS#1 v1.5 with SHA-256).

Request: ``Authorization: ALIPAY-SHA256withRSA <auth string>,sign=<base64>`` where the signature
covers ``<auth string>\\n<METHOD>\\n<path[?query]>\\n<body as sent>\\n[<app_auth_token>\\n]``.
Response: ``alipay-signature`` covers ``<alipay-timestamp>\\n<alipay-nonce>\\n<raw body>\\n``; in
certificate mode ``alipay-sn`` names the Alipay certificate that signed: when present it must be the
configured ``alipay_cert``'s SN (anything else is ``UNEXPECTED_SIGNER``, never verified with a key we
were not given); when absent the configured certificate's key verifies, as the official SDKs do.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Mapping
from enum import Enum
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

AUTH_SCHEME = "ALIPAY-SHA256withRSA"
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()

# Response headers that carry the signature (lower-case: HTTP header names are case-insensitive).
SIGNATURE_HEADER = "alipay-signature"
TIMESTAMP_HEADER = "alipay-timestamp"
NONCE_HEADER = "alipay-nonce"
SN_HEADER = "alipay-sn"


def auth_string(app_id: str, nonce: str, timestamp_ms: int, app_cert_sn: str | None = None) -> str:
    cert_part = f",app_cert_sn={app_cert_sn}" if app_cert_sn else ""
    return f"app_id={app_id}{cert_part},nonce={nonce},timestamp={timestamp_ms}"


def request_sign_content(
    auth: str, method: str, path_and_query: str, body: str, app_auth_token: str | None = None
) -> bytes:
    token_part = f"{app_auth_token}\n" if app_auth_token else ""
    return f"{auth}\n{method.upper()}\n{path_and_query}\n{body}\n{token_part}".encode()


def response_sign_content(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode("ascii") + b"\n" + nonce.encode("ascii") + b"\n" + body + b"\n"


def sign(private_key: RSAPrivateKey, content: bytes) -> str:
    return base64.b64encode(private_key.sign(content, _PKCS1, _SHA256)).decode("ascii")


def verify(public_key: RSAPublicKey, content: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(signature, content, _PKCS1, _SHA256)
    except InvalidSignature:
        return False
    return True


class RequestSigner:
    """Holds the parsed private key and ids; per call only the nonce, clock and RSA signature vary."""

    __slots__ = ("_app_cert_sn", "_app_id", "_private_key")

    def __init__(self, app_id: str, private_key: RSAPrivateKey, app_cert_sn: str | None = None) -> None:
        self._app_id = app_id
        self._private_key = private_key
        self._app_cert_sn = app_cert_sn

    def authorization(
        self,
        method: str,
        path_and_query: str,
        body: str,
        app_auth_token: str | None = None,
        *,
        nonce: str | None = None,
        timestamp_ms: int | None = None,
    ) -> str:
        """The Authorization header value; nonce and timestamp are fresh unless a test pins them."""
        auth = auth_string(
            self._app_id,
            nonce if nonce is not None else uuid.uuid4().hex,
            timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000,
            self._app_cert_sn,
        )
        signature = sign(
            self._private_key, request_sign_content(auth, method, path_and_query, body, app_auth_token)
        )
        return f"{AUTH_SCHEME} {auth},sign={signature}"


class Verdict(Enum):
    UNSIGNED = "unsigned"  # none of the signature headers present
    VALID = "valid"
    INVALID = "invalid"  # present but forged, partial or malformed
    UNEXPECTED_SIGNER = "unexpected_signer"  # cert mode: alipay-sn names another certificate


class Verification(NamedTuple):
    """What the signature check found, and why."""

    verdict: Verdict
    reason: str  # readable; never contains key material or body content


class ResponseVerifier:
    """Checks a response's signature against Alipay's public key (and ``alipay-sn`` in cert mode)."""

    __slots__ = ("_expected_sn", "_public_key")

    def __init__(self, alipay_public_key: RSAPublicKey, expected_alipay_sn: str | None = None) -> None:
        self._public_key = alipay_public_key
        self._expected_sn = expected_alipay_sn

    def check(self, headers: Mapping[str, str], body: bytes) -> Verification:
        """``headers`` must have lower-case names."""
        signature = headers.get(SIGNATURE_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        nonce = headers.get(NONCE_HEADER)
        if not signature and not timestamp and not nonce:
            return Verification(Verdict.UNSIGNED, "response carries no alipay-signature")
        if not signature or not timestamp or not nonce:
            return Verification(
                Verdict.INVALID, "response has only some of alipay-signature/-timestamp/-nonce"
            )
        if not (signature.isascii() and timestamp.isascii() and nonce.isascii()):
            return Verification(Verdict.INVALID, "response signature headers are not ASCII")
        named = headers.get(SN_HEADER)
        if self._expected_sn is not None and named is not None and named.strip() != self._expected_sn:
            # Cert mode: the signer must be the Alipay certificate we were configured with; after an
            # Alipay certificate rotation this fails until the secret carries the new alipay_cert.
            return Verification(
                Verdict.UNEXPECTED_SIGNER,
                "response alipay-sn names a certificate other than the configured alipay_cert",
            )
        if not verify(self._public_key, response_sign_content(timestamp, nonce, body), signature.strip()):
            return Verification(
                Verdict.INVALID, "response signature does not verify with Alipay's public key"
            )
        return Verification(Verdict.VALID, "response signature verified")
