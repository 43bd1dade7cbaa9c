"""Load keys and certificates the way a gateway operator would hand them over: PEM or bare base64."""

from __future__ import annotations

import base64
import binascii
import functools

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


def _der(text: str) -> bytes:
    body = "".join(line.strip() for line in text.strip().splitlines() if not line.startswith("-----"))
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise ValueError("not PEM or base64") from exc


def load_rsa_public_key(text: str) -> RSAPublicKey:
    """SubjectPublicKeyInfo or PKCS#1, PEM or bare base64."""
    der = _der(text)
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        key = serialization.load_der_public_key(_spki_from_pkcs1(der))
    if not isinstance(key, RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def _spki_from_pkcs1(der: bytes) -> bytes:
    # Round-trip through PEM: cryptography reads "RSA PUBLIC KEY" (PKCS#1) only from PEM.
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n"
    key = serialization.load_pem_public_key(pem)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@functools.lru_cache(maxsize=32)  # loading validates the key (tens of ms); reset() reloads it per test
def load_rsa_private_key(text: str) -> RSAPrivateKey:
    """PKCS#8 or PKCS#1, PEM or bare base64 (DER parsing accepts both)."""
    key = serialization.load_der_private_key(_der(text), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_certificate(text: str) -> x509.Certificate:
    """The first certificate of a PEM file; a chain after it is not parsed (Alipay's chains hold
    certificates that strict parsers refuse)."""
    end = text.find("-----END CERTIFICATE-----")
    if end < 0:
        raise ValueError("no certificate found")
    return x509.load_pem_x509_certificate(text[: end + len("-----END CERTIFICATE-----")].encode())


def cert_rsa_public_key(cert: x509.Certificate) -> RSAPublicKey:
    key = cert.public_key()
    if not isinstance(key, RSAPublicKey):
        raise ValueError("certificate does not carry an RSA key")
    return key
