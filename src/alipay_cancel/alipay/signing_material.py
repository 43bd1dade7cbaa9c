"""The app's signing material, parsed and validated from its Secrets Manager secret (docs/contracts.md)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from alipay_cancel.alipay.rsa_keys import (
    certificate_rsa_key,
    load_leaf_certificate,
    load_private_key,
    load_public_key,
    load_rsa_signed_roots,
    same_public_key,
)
from alipay_cancel.alipay.signing_material_error import SigningMaterialError as SigningMaterialError

# Alipay app ids are digits; allow a little more, but never ',' '=' or whitespace, which would
# corrupt the Authorization header's key=value list.
_APP_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_CERT_FIELDS = ("app_cert", "alipay_cert", "alipay_root_cert")
_AES_KEY_BYTES = (16, 24, 32)


@dataclass(frozen=True, repr=False)
class SigningMaterial:
    """One app's keys (and certificate SNs, AES key), validated; its repr shows no key material."""

    app_id: str
    private_key: RSAPrivateKey = field(repr=False)
    alipay_public_key: RSAPublicKey = field(repr=False)
    app_cert_sn: str | None = None  # certificate mode only
    alipay_root_cert_sn: str | None = None  # certificate mode only
    alipay_cert_sn: str | None = None  # expected response header alipay-sn, certificate mode only
    encrypt_key: bytes | None = field(default=None, repr=False)  # AES key when bodies are encrypted

    def __repr__(self) -> str:
        mode = "cert" if self.app_cert_sn else "public-key"
        return f"SigningMaterial(app_id={self.app_id!r}, mode={mode}, aes={self.encrypt_key is not None})"


def _optional_text(secret: Mapping[str, Any], name: str) -> str | None:
    value = secret.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SigningMaterialError(name, "must be a string")
    return value if value.strip() else None


def _required_text(secret: Mapping[str, Any], name: str) -> str:
    value = _optional_text(secret, name)
    if value is None:
        raise SigningMaterialError(name, "is required")
    return value


def _load_app_id(secret: Mapping[str, Any]) -> str:
    app_id = _required_text(secret, "app_id").strip()
    if not _APP_ID.fullmatch(app_id):
        raise SigningMaterialError("app_id", "must be 1-64 letters, digits, '_', '.' or '-'")
    return app_id


def _load_encrypt_key(secret: Mapping[str, Any]) -> bytes | None:
    text = _optional_text(secret, "encrypt_key")
    if text is None:
        return None
    compact = "".join(text.split())
    try:
        key = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise SigningMaterialError("encrypt_key", "is not base64 text") from None
    if len(key) not in _AES_KEY_BYTES:
        raise SigningMaterialError(
            "encrypt_key", f"decodes to {len(key)} bytes; an AES key is 16, 24 or 32 bytes"
        )
    return key


def _check_not_app_key(key: RSAPublicKey, app_public: RSAPublicKey, name: str) -> None:
    if same_public_key(key, app_public):
        raise SigningMaterialError(
            name,
            "is the public half of private_key (the app's own key); it must be Alipay's key, "
            "as shown in the Alipay console",
        )


def _load_public_key_mode(secret: Mapping[str, Any], app_public: RSAPublicKey) -> RSAPublicKey:
    text = _optional_text(secret, "alipay_public_key")
    if text is None:
        raise SigningMaterialError(
            "alipay_public_key",
            "is required (or give app_cert, alipay_cert and alipay_root_cert for certificate mode)",
        )
    key = load_public_key(text, "alipay_public_key")
    _check_not_app_key(key, app_public, "alipay_public_key")
    return key


def _load_cert_mode(
    secret: Mapping[str, Any], app_public: RSAPublicKey
) -> tuple[RSAPublicKey, str, str, str]:
    # Imported here: only certificate mode computes certificate SNs (the module is cold-start cost).
    from alipay_cancel.alipay.cert_sn import cert_sn, root_cert_sn

    texts = {name: _optional_text(secret, name) for name in _CERT_FIELDS}
    for name, text in texts.items():
        if text is None:
            raise SigningMaterialError(name, "is required in certificate mode (another certificate is set)")

    # A certificate file may carry its issuing chain after it: the first certificate is the leaf.
    app_cert = load_leaf_certificate(texts["app_cert"] or "", "app_cert")
    if not same_public_key(certificate_rsa_key(app_cert, "app_cert"), app_public):
        raise SigningMaterialError(
            "private_key", "does not match the public key certified by app_cert (mismatched pair)"
        )

    alipay_cert = load_leaf_certificate(texts["alipay_cert"] or "", "alipay_cert")
    alipay_key = certificate_rsa_key(alipay_cert, "alipay_cert")
    _check_not_app_key(alipay_key, app_public, "alipay_cert")

    plain_key_text = _optional_text(secret, "alipay_public_key")
    if plain_key_text is not None:
        plain_key = load_public_key(plain_key_text, "alipay_public_key")
        if not same_public_key(plain_key, alipay_key):
            raise SigningMaterialError(
                "alipay_public_key", "differs from the key in alipay_cert; remove one of them"
            )

    root_sn = root_cert_sn(load_rsa_signed_roots(texts["alipay_root_cert"] or "", "alipay_root_cert"))
    if not root_sn:
        raise SigningMaterialError("alipay_root_cert", "holds no RSA-signed certificate")
    return alipay_key, cert_sn(app_cert), root_sn, cert_sn(alipay_cert)


def load_signing_material(secret: Mapping[str, Any]) -> SigningMaterial:
    """Validate every field at load time (wrong key, mismatched pair, not a key) and raise
    ``SigningMaterialError`` naming the field.

    Certificate mode is chosen when any of ``app_cert``/``alipay_cert``/``alipay_root_cert`` is
    present (then all three are required); public-key mode needs ``alipay_public_key``.
    """
    if not isinstance(secret, Mapping):
        raise SigningMaterialError("(secret)", "must be a JSON object")
    app_id = _load_app_id(secret)
    private_key = load_private_key(_required_text(secret, "private_key"), "private_key")
    app_public = private_key.public_key()
    encrypt_key = _load_encrypt_key(secret)

    cert_sns: dict[str, str] = {}
    if any(_optional_text(secret, name) is not None for name in _CERT_FIELDS):
        alipay_key, app_sn, root_sn, alipay_sn = _load_cert_mode(secret, app_public)
        cert_sns = {"app_cert_sn": app_sn, "alipay_root_cert_sn": root_sn, "alipay_cert_sn": alipay_sn}
    else:
        alipay_key = _load_public_key_mode(secret, app_public)
    return SigningMaterial(
        app_id=app_id,
        private_key=private_key,
        alipay_public_key=alipay_key,
        encrypt_key=encrypt_key,
        **cert_sns,
    )
