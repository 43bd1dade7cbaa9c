"""The app's signing material, parsed and validated from the Secrets Manager secret (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


class SigningMaterialError(ValueError):
    """Names the field and what is wrong with it; never contains key material."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"secret field '{field_name}': {problem}")
        self.field_name = field_name
        self.problem = problem


@dataclass(frozen=True, repr=False)
class SigningMaterial:
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


def load_signing_material(secret: Mapping[str, Any]) -> SigningMaterial:
    """Validate every field at load time (wrong key, mismatched pair, not a key) and raise
    ``SigningMaterialError`` naming the field."""
    raise NotImplementedError
