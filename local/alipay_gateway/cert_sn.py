"""Certificate serial numbers as Alipay computes them (certificate mode), written independently of the
client: SN = md5 hex of ``<issuer attributes in reverse order as k=v joined by ','><serial in decimal>``;
the root SN joins the SNs of the RSA-signed certificates in the root bundle with ``_``.

Alipay's real root bundle holds an ECDSA certificate that current ``cryptography`` refuses to parse
(explicit NULL signature parameters): which certificates are RSA-signed is read from the DER with
``asn1_signature_oid`` below, and the others are never handed to the X.509 parser."""

from __future__ import annotations

import base64
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes

# PKCS#1 signature algorithm arc (sha1WithRSA, sha256WithRSA, ...): the SDKs skip every other cert.
_RSA_SIGNATURE_ARC = "1.2.840.113549.1.1."


def cert_sn(cert: x509.Certificate) -> str:
    attrs = [f"{attr.rfc4514_attribute_name}={attr.value!s}" for rdn in cert.issuer.rdns for attr in rdn]
    text = ",".join(reversed(attrs)) + str(cert.serial_number)
    # MD5 is how the protocol names certificates, not a security control here.
    digest = hashes.Hash(hashes.MD5())  # noqa: S303
    digest.update(text.encode())
    return digest.finalize().hex()


def _element(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, contents start, contents end) of the DER element at ``at``."""
    tag, size, start = der[at], der[at + 1], at + 2
    if size & 0x80:
        count = size & 0x7F
        size, start = int.from_bytes(der[start : start + count], "big"), start + count
    if start + size > len(der):
        raise ValueError("truncated DER")
    return tag, start, start + size


def asn1_signature_oid(der: bytes) -> str:
    """Certificate ::= SEQUENCE { tbs, SEQUENCE { OID, params }, signature }: the OID, dotted."""
    _, cert_start, _ = _element(der, 0)
    _, _, tbs_end = _element(der, cert_start)
    _, alg_start, _ = _element(der, tbs_end)
    tag, oid_start, oid_end = _element(der, alg_start)
    if tag != 0x06:
        raise ValueError("no signature algorithm OID")
    arcs, value = [], 0
    for byte in der[oid_start:oid_end]:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    head = min(arcs[0] // 40, 2)
    return ".".join(map(str, [head, arcs[0] - 40 * head, *arcs[1:]]))


def root_cert_sn(bundle_pem: str) -> str:
    ders = [
        base64.b64decode("".join(body.split()))
        for body in re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", bundle_pem, re.S)
    ]
    if not ders:
        raise ValueError("no certificate found")
    return "_".join(
        cert_sn(x509.load_der_x509_certificate(der))
        for der in ders
        if asn1_signature_oid(der).startswith(_RSA_SIGNATURE_ARC)
    )
