"""Alipay certificate serial numbers ("SN") as the official SDKs compute them.

A certificate's SN is ``md5_hex(<issuer> + <serial number in decimal>)`` where ``<issuer>`` is the
issuer's attributes in reverse order, each written ``shortName=value``, joined by ``,`` with no
escaping (the Node SDK's ``getCertSN``; for Alipay's own CA names this is also exactly Java's
RFC 2253 ``X500Principal.getName()``, which the Java SDK hashes).

The root SN (header ``alipay-root-cert-sn``) is the SNs of the RSA-signed certificates of the root
bundle joined by ``_``. Alipay's real bundle also holds an SM2 and an ECDSA root; the ECDSA one encodes
its signature algorithm with an explicit NULL parameter, which current ``cryptography`` refuses to
parse. Whether a certificate counts is therefore decided from its DER (``signature_algorithm_oid``)
before any X.509 parser sees it, and the others are skipped unread, as the official SDKs skip them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing x509 costs ~20 ms of cold start (certificate mode only)
    from cryptography import x509

# PKCS#1 signature algorithms (sha256WithRSAEncryption, ...) all live under this arc.
_RSA_SIGNATURE_ARC = "1.2.840.113549.1.1"
_SEQUENCE, _OID = 0x30, 0x06


def _tlv(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at ``offset``; ValueError if cut."""
    if offset + 2 > len(der):
        raise ValueError("truncated DER")
    tag, first = der[offset], der[offset + 1]
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(der):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated DER")
    return tag, start, start + length


def _oid_text(body: bytes) -> str:
    if not body or body[-1] & 0x80:
        raise ValueError("bad OID")
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def signature_algorithm_oid(der: bytes) -> str:
    """The outer ``signatureAlgorithm`` OID of a DER certificate, read without an X.509 parser.

    ``Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE { OID, params }, sig }``.
    Raises ``ValueError`` when the bytes do not have that shape.
    """
    tag, start, _ = _tlv(der, 0)
    if tag != _SEQUENCE:
        raise ValueError("not a DER SEQUENCE")
    _, _, tbs_end = _tlv(der, start)
    tag, algorithm_start, _ = _tlv(der, tbs_end)
    if tag != _SEQUENCE:
        raise ValueError("no signatureAlgorithm")
    tag, oid_start, oid_end = _tlv(der, algorithm_start)
    if tag != _OID:
        raise ValueError("no signature algorithm OID")
    return _oid_text(der[oid_start:oid_end])


def is_rsa_signature_oid(oid: str) -> bool:
    return oid.startswith(_RSA_SIGNATURE_ARC + ".")


def _attribute_value(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def issuer_string(cert: x509.Certificate) -> str:
    attributes = [attribute for rdn in cert.issuer.rdns for attribute in rdn]
    return ",".join(
        f"{attribute.rfc4514_attribute_name}={_attribute_value(attribute.value)}"
        for attribute in reversed(attributes)
    )


def cert_sn(cert: x509.Certificate) -> str:
    material = issuer_string(cert) + str(cert.serial_number)
    # md5 is what Alipay defined for this identifier; it is a lookup key, not a security control.
    return hashlib.md5(material.encode("utf-8"), usedforsecurity=False).hexdigest()


def is_rsa_signed(cert: x509.Certificate) -> bool:
    return is_rsa_signature_oid(cert.signature_algorithm_oid.dotted_string)


def root_cert_sn(certs: Iterable[x509.Certificate]) -> str:
    """``_``-joined SNs of the RSA-signed certificates; empty string when there are none."""
    return "_".join(cert_sn(cert) for cert in certs if is_rsa_signed(cert))
