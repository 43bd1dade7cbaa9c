"""Certificate SNs against certificates made here, with the expected SN written out by hand.

Rule (official SDKs): md5 hex of the issuer attributes in reverse order as ``k=v`` joined by ``,``,
followed by the serial number in decimal. Root SN: RSA-signed certificates only, joined by ``_``.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from alipay_cancel.alipay.cert_sn import cert_sn, is_rsa_signed, root_cert_sn


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _make_cert(
    issuer: list[tuple[x509.ObjectIdentifier, str]],
    serial: int,
    signer: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in issuer])
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(name)
        .public_key(signer.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - Alipay's identifier, not security


ANT_STYLE_ISSUER = [
    (NameOID.COUNTRY_NAME, "CN"),
    (NameOID.ORGANIZATION_NAME, "Ant Financial"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Authority"),
    (NameOID.COMMON_NAME, "Ant Financial Certification Authority Class 2 R1"),
]


def test_sn_is_md5_of_reversed_issuer_and_decimal_serial(rsa_key: rsa.RSAPrivateKey) -> None:
    serial = 0x20200514E63C2FE04D538716FE21358B
    cert = _make_cert(ANT_STYLE_ISSUER, serial, rsa_key)
    expected = _md5(
        "CN=Ant Financial Certification Authority Class 2 R1,OU=Certification Authority,"
        "O=Ant Financial,C=CN" + "42701552432456004857627230056898180491"
    )
    assert serial == 42701552432456004857627230056898180491  # the decimal written above
    assert cert_sn(cert) == expected
    # Alipay's real RSA2 public-key certificate has exactly this issuer and serial; the official Node
    # SDK's test suite expects this SN for it.
    assert expected == "7513daaaa48aa3ba2e4018d84402479c"


def test_sn_uses_short_names_for_locality_and_state_and_utf8_values(rsa_key: rsa.RSAPrivateKey) -> None:
    issuer = [
        (NameOID.COUNTRY_NAME, "CN"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Zhejiang"),
        (NameOID.LOCALITY_NAME, "Hangzhou"),
        (NameOID.ORGANIZATION_NAME, "杭州测试有限公司"),
        (NameOID.COMMON_NAME, "Test CA"),
    ]
    cert = _make_cert(issuer, 7, rsa_key)
    assert cert_sn(cert) == _md5("CN=Test CA,O=杭州测试有限公司,L=Hangzhou,ST=Zhejiang,C=CN7")


def test_sn_depends_on_serial_and_issuer_order(rsa_key: rsa.RSAPrivateKey) -> None:
    a = _make_cert(ANT_STYLE_ISSUER, 1000, rsa_key)
    b = _make_cert(ANT_STYLE_ISSUER, 1001, rsa_key)
    c = _make_cert(list(reversed(ANT_STYLE_ISSUER)), 1000, rsa_key)
    assert len({cert_sn(a), cert_sn(b), cert_sn(c)}) == 3
    assert cert_sn(c) == _md5(
        "C=CN,O=Ant Financial,OU=Certification Authority,"
        "CN=Ant Financial Certification Authority Class 2 R1" + "1000"
    )


def test_root_sn_joins_rsa_signed_and_skips_ec_signed(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    first = _make_cert([(NameOID.COMMON_NAME, "Root One")], 11, rsa_key)
    ec_root = _make_cert([(NameOID.COMMON_NAME, "Root EC")], 12, ec_key)
    second = _make_cert([(NameOID.ORGANIZATION_NAME, "Org"), (NameOID.COMMON_NAME, "Root Two")], 13, rsa_key)
    assert is_rsa_signed(first) and not is_rsa_signed(ec_root)
    expected = _md5("CN=Root One11") + "_" + _md5("CN=Root Two,O=Org13")
    assert root_cert_sn([first, ec_root, second]) == expected
    assert root_cert_sn([ec_root]) == ""
    assert root_cert_sn([second]) == _md5("CN=Root Two,O=Org13")
