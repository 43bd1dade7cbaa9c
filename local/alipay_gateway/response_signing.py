"""Sign gateway responses: ``alipay-signature`` over ``<timestamp>\\n<nonce>\\n<raw body>\\n``."""

from __future__ import annotations

import base64
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey


def response_signature_headers(
    key: RSAPrivateKey, body: bytes, alipay_sn: str | None, age_seconds: float = 0.0
) -> dict[str, str]:
    timestamp = str(int((time.time() - age_seconds) * 1000))
    nonce = uuid.uuid4().hex
    content = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    signature = key.sign(content, padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "alipay-timestamp": timestamp,
        "alipay-nonce": nonce,
        "alipay-signature": base64.b64encode(signature).decode(),
    }
    if alipay_sn:
        headers["alipay-sn"] = alipay_sn
    return headers


def corrupt_signature(signature_b64: str) -> str:
    """Still valid base64 of the right length, but not a signature of this body."""
    raw = bytearray(base64.b64decode(signature_b64))
    raw[len(raw) // 2] ^= 0x5A
    return base64.b64encode(bytes(raw)).decode()
