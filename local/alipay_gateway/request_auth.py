"""Parse and verify the v3 ``Authorization: ALIPAY-SHA256withRSA ...`` header (request side)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

SCHEME = "ALIPAY-SHA256withRSA"


@dataclass(frozen=True)
class GatewayError:
    """A v3 gateway rejection: HTTP status + ``code`` from the v3 gateway's vocabulary."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class AuthParams:
    app_id: str
    nonce: str
    timestamp: str
    sign: str
    app_cert_sn: str | None
    auth_string: str  # the header's parameters without ``sign=``: the first line of the signed content


def parse_authorization(value: str | None) -> AuthParams | GatewayError:
    if not value or not value.startswith(SCHEME + " "):
        return GatewayError(401, "missing-signature", f"Authorization header must be '{SCHEME} ...'")
    params: dict[str, str] = {}
    unsigned_items: list[str] = []
    for item in value[len(SCHEME) + 1 :].strip().split(","):
        name, sep, val = item.partition("=")
        name = name.strip()
        if not sep:
            continue
        params.setdefault(name, val.strip())
        if name != "sign":
            unsigned_items.append(item)
    for required, code in (
        ("app_id", "missing-app-id"),
        ("timestamp", "missing-timestamp"),
        ("nonce", "missing-nonce"),
        ("sign", "missing-signature"),
    ):
        if not params.get(required):
            return GatewayError(401, code, f"Authorization has no {required}")
    return AuthParams(
        app_id=params["app_id"],
        nonce=params["nonce"],
        timestamp=params["timestamp"],
        sign=params["sign"],
        app_cert_sn=params.get("app_cert_sn") or None,
        auth_string=",".join(unsigned_items),
    )


def signed_request_content(
    auth_string: str, method: str, raw_path: str, body: bytes, app_auth_token: str | None
) -> bytes:
    head = f"{auth_string}\n{method}\n{raw_path}\n".encode()
    tail = f"{app_auth_token}\n".encode() if app_auth_token else b""
    return head + body + b"\n" + tail


def verify_rsa_sha256(key: RSAPublicKey, content: bytes, sign_b64: str) -> bool:
    try:
        signature = base64.b64decode(sign_b64, validate=True)
        key.verify(signature, content, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True
