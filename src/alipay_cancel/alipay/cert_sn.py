"""Alipay certificate serial numbers ("SN") as the official SDKs compute them.

A certificate's SN is ``md5_hex(<issuer> + <serial number in decimal>)`` where ``<issuer>`` is the
issuer's attributes in reverse order, each written ``shortName=value``, joined by ``,`` with no
escaping (the Node SDK's ``getCertSN``; for Alipay's own CA names this is also exactly Java's
RFC 2253 ``X500Principal.getName()``, which the Java SDK hashes).

The root SN (header ``alipay-root-cert-sn``) is the SNs of the RSA-signed certificates of the root
bundle joined by ``_``; Alipay's bundle also holds an ECC-signed root that is skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing x509 costs ~20 ms of cold start (certificate mode only)
    from cryptography import x509

# PKCS#1 signature algorithms (sha256WithRSAEncryption, ...) all live under this arc.
_RSA_SIGNATURE_ARC = "1.2.840.113549.1.1"


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
    return cert.signature_algorithm_oid.dotted_string.startswith(_RSA_SIGNATURE_ARC)


def root_cert_sn(certs: Iterable[x509.Certificate]) -> str:
    """``_``-joined SNs of the RSA-signed certificates; empty string when there are none."""
    return "_".join(cert_sn(cert) for cert in certs if is_rsa_signed(cert))
