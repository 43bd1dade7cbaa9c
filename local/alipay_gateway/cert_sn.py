"""Certificate serial numbers as Alipay computes them (certificate mode), written independently of the
client: SN = md5 hex of ``<issuer attributes in reverse order as k=v joined by ','><serial in decimal>``;
the root SN joins the SNs of the RSA-signed certificates in the root bundle with ``_``."""

from __future__ import annotations

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


def root_cert_sn(bundle: list[x509.Certificate]) -> str:
    return "_".join(
        cert_sn(cert)
        for cert in bundle
        if cert.signature_algorithm_oid.dotted_string.startswith(_RSA_SIGNATURE_ARC)
    )
