"""Read RSA keys and certificates the way people actually paste them into a secret.

Accepted: PEM or bare base64; PKCS#1 or PKCS#8 (private) / PKCS#1 or SubjectPublicKeyInfo (public);
any line breaks, CRLF, indentation, trailing whitespace, and even literal ``\\n`` escapes left over
from hand-written JSON. Everything is decoded to DER and handed to ``cryptography``.

Every problem raises ``SigningMaterialError`` naming the field. Messages describe the *kind* of
input that was found, never any part of it, and exceptions are raised ``from None`` so that no
library error (which might quote the input) rides along in the traceback.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from alipay_cancel.alipay.signing_material_error import SigningMaterialError

# ``cryptography.x509`` costs ~20 ms of cold start and only certificate mode (or diagnosing a certificate
# pasted into a key field) needs it: the functions that use it import it when they run.
if TYPE_CHECKING:
    from cryptography import x509

# Alipay's RSA2 keys are 2048 bits; anything shorter is breakable and refused outright.
MIN_RSA_BITS = 2048

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL)
# Whitespace, plus the two-character escapes ``\n``/``\r`` that survive a bad copy-paste into JSON:
# none of these characters belong to the base64 alphabet, so removing them is lossless.
_NOISE = re.compile(r"\\[nrt]|\s")


def _b64_to_der(text: str, field_name: str) -> bytes:
    compact = _NOISE.sub("", text)
    if not compact:
        raise SigningMaterialError(field_name, "is empty")
    if ":" in compact:
        # RFC 1421 headers such as "Proc-Type: 4,ENCRYPTED" only appear in encrypted legacy PEM.
        raise SigningMaterialError(
            field_name, "looks like a password-protected PEM key; store the key unencrypted"
        )
    compact += "=" * (-len(compact) % 4)  # tolerate stripped padding
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise SigningMaterialError(field_name, "is neither PEM nor base64 text") from None


def _to_der_blocks(text: str, field_name: str) -> list[tuple[str | None, bytes]]:
    """Split into (PEM label or None for bare base64, DER) blocks."""
    if not isinstance(text, str):
        raise SigningMaterialError(field_name, "must be a string")
    if "-----BEGIN" not in text:
        return [(None, _b64_to_der(text, field_name))]
    blocks = []
    for begin_label, body, end_label in _PEM_BLOCK.findall(_unescape_newlines(text)):
        if begin_label != end_label:
            raise SigningMaterialError(field_name, "has a PEM block whose BEGIN and END labels differ")
        blocks.append((begin_label, _b64_to_der(body, field_name)))
    if not blocks:
        raise SigningMaterialError(field_name, "has a PEM header but no complete PEM block")
    return blocks


def _unescape_newlines(text: str) -> str:
    return text.replace("\\r", "").replace("\\n", "\n")


def _single_block(text: str, field_name: str) -> tuple[str | None, bytes]:
    blocks = _to_der_blocks(text, field_name)
    if len(blocks) != 1:
        raise SigningMaterialError(field_name, f"holds {len(blocks)} PEM blocks; expected exactly one key")
    return blocks[0]


def _is_certificate(der: bytes) -> bool:
    from cryptography import x509

    try:
        x509.load_der_x509_certificate(der)
    except ValueError:
        return False
    return True


def _is_public_key(der: bytes) -> bool:
    try:
        serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _is_private_key(der: bytes) -> bool:
    try:
        serialization.load_der_private_key(der, password=None)
    except TypeError:
        return True  # encrypted private key: still a private key
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def _check_size(bits: int, field_name: str) -> None:
    if bits < MIN_RSA_BITS:
        raise SigningMaterialError(
            field_name, f"is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required (RSA2)"
        )


def load_private_key(text: str, field_name: str) -> RSAPrivateKey:
    label, der = _single_block(text, field_name)
    if label is not None and "ENCRYPTED" in label:
        raise SigningMaterialError(field_name, "is a password-protected key; store the key unencrypted")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except TypeError:
        raise SigningMaterialError(
            field_name, "is a password-protected key; store the key unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        if _is_public_key(der):
            raise SigningMaterialError(
                field_name, "holds a public key; this field takes the app's RSA private key"
            ) from None
        if _is_certificate(der):
            raise SigningMaterialError(
                field_name, "holds a certificate; this field takes the app's RSA private key"
            ) from None
        raise SigningMaterialError(field_name, "is not a readable RSA private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise SigningMaterialError(field_name, "is not an RSA key (Alipay RSA2 needs RSA)")
    _check_size(key.key_size, field_name)
    return key


def load_public_key(text: str, field_name: str) -> RSAPublicKey:
    label, der = _single_block(text, field_name)
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if (label is not None and "PRIVATE" in label) or _is_private_key(der):
            # Never accept (or derive from) a private key here: it is a secret in the wrong place.
            raise SigningMaterialError(
                field_name, "holds a private key; this field takes a public key only"
            ) from None
        if _is_certificate(der):
            raise SigningMaterialError(
                field_name,
                "holds a certificate; put certificates in app_cert/alipay_cert/alipay_root_cert",
            ) from None
        raise SigningMaterialError(field_name, "is not a readable RSA public key") from None
    if not isinstance(key, RSAPublicKey):
        raise SigningMaterialError(field_name, "is not an RSA key (Alipay RSA2 needs RSA)")
    _check_size(key.key_size, field_name)
    return key


def _certificate_blocks(text: str, field_name: str) -> list[bytes]:
    ders = []
    for label, der in _to_der_blocks(text, field_name):
        if label is not None and label != "CERTIFICATE":
            raise SigningMaterialError(field_name, f"holds a PEM '{label}' block; expected certificates")
        ders.append(der)
    return ders


def _parse_certificate(der: bytes, field_name: str) -> x509.Certificate:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise SigningMaterialError(field_name, "is not a readable X.509 certificate") from None


def load_leaf_certificate(text: str, field_name: str) -> x509.Certificate:
    """The first certificate of a PEM file (or one bare-base64 DER certificate).

    A certificate file may carry its issuing chain after the leaf; only the leaf is used, so the
    chain is not parsed (Alipay's chains hold certificates that strict parsers refuse)."""
    return _parse_certificate(_certificate_blocks(text, field_name)[0], field_name)


def load_rsa_signed_roots(text: str, field_name: str) -> list[x509.Certificate]:
    """The RSA-signed certificates of a root bundle, in file order; the others are skipped unparsed.

    Which certificate counts is read from its DER signature algorithm (``cert_sn``), so an SM2 or
    ECDSA root that ``cryptography`` refuses is skipped exactly as the official SDKs skip it. An RSA
    one that cannot be parsed, or a block that is not a certificate at all, is an error."""
    from alipay_cancel.alipay.cert_sn import is_rsa_signature_oid, signature_algorithm_oid

    roots = []
    for der in _certificate_blocks(text, field_name):
        try:
            oid = signature_algorithm_oid(der)
        except ValueError:
            raise SigningMaterialError(field_name, "is not a readable X.509 certificate") from None
        if is_rsa_signature_oid(oid):
            roots.append(_parse_certificate(der, field_name))
    return roots


def certificate_rsa_key(cert: x509.Certificate, field_name: str) -> RSAPublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise SigningMaterialError(field_name, "has a certificate with an unreadable public key") from None
    if not isinstance(key, RSAPublicKey):
        raise SigningMaterialError(field_name, "certifies a non-RSA key (Alipay RSA2 needs RSA)")
    _check_size(key.key_size, field_name)
    return key


def same_public_key(a: RSAPublicKey, b: RSAPublicKey) -> bool:
    return a.public_numbers() == b.public_numbers()
