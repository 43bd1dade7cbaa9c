"""Certificate mode with the certificates Alipay really issues (tests/data/alipay-certs, copied from
Alipay's published material), against the SNs the official SDKs compute for them (its README).

The real root bundle holds an SM2 root and an ECDSA root whose signature algorithm carries an explicit
NULL parameter: current ``cryptography`` refuses the latter, and both must be skipped, not fatal.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from local.alipay_gateway.cert_sn import root_cert_sn as emulator_root_sn
from local.alipay_gateway.gateway_state import GatewayConfig, GatewayState
from local.keygen import KeyMaterial

from alipay_cancel.alipay.cert_sn import cert_sn, root_cert_sn, signature_algorithm_oid
from alipay_cancel.alipay.rsa_keys import _to_der_blocks, load_leaf_certificate, load_rsa_signed_roots
from alipay_cancel.alipay.signing_material import SigningMaterialError, load_signing_material

CERTS = Path(__file__).parent / "data" / "alipay-certs"
ROOT_SN = "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"
ALIPAY_CERT_SN = "7513daaaa48aa3ba2e4018d84402479c"
APP_CERT_SN = "866efef280dec9137a87d047ac446315"


def _read(name: str) -> str:
    return (CERTS / name).read_text()


def test_the_real_root_bundle_gives_the_official_root_sn() -> None:
    roots = load_rsa_signed_roots(_read("alipayRootCert.crt"), "alipay_root_cert")
    assert len(roots) == 2  # R1 (RSA-SHA256) and iTrusChina (RSA-SHA1); SM2 and ECDSA skipped
    assert root_cert_sn(roots) == ROOT_SN


def test_the_bundle_holds_the_four_signature_algorithms_read_from_der() -> None:
    ders = [der for _, der in _to_der_blocks(_read("alipayRootCert.crt"), "alipay_root_cert")]
    assert [signature_algorithm_oid(der) for der in ders] == [
        "1.2.156.10197.1.501",  # SM2 with SM3
        "1.2.840.113549.1.1.11",  # sha256WithRSAEncryption
        "1.2.840.10045.4.3.3",  # ecdsa-with-SHA384 (explicit NULL parameter)
        "1.2.840.113549.1.1.5",  # sha1WithRSAEncryption
    ]


def test_the_real_alipay_and_app_certificates_give_the_official_sns() -> None:
    alipay = load_leaf_certificate(_read("alipayCertPublicKey_RSA2.crt"), "alipay_cert")
    assert cert_sn(alipay) == ALIPAY_CERT_SN
    app = load_leaf_certificate(_read("appCertPublicKey_2021001161683774.crt"), "app_cert")
    assert cert_sn(app) == APP_CERT_SN


def test_an_unreadable_rsa_signed_root_is_still_an_error() -> None:
    bundle = _read("alipayRootCert.crt")
    assert "not a readable X.509 certificate" in _load_error(bundle.replace("MII", "MIX", 1) + "\n")
    garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert "not a readable X.509 certificate" in _load_error(bundle + garbage)


def _load_error(bundle: str) -> str:
    with pytest.raises(SigningMaterialError) as caught:
        load_rsa_signed_roots(bundle, "alipay_root_cert")
    return str(caught.value)


def test_signing_material_loads_with_the_real_alipay_cert_and_root_bundle(key_material: KeyMaterial) -> None:
    secret = key_material.secret(cert_mode=True)
    secret["alipay_cert"] = _read("alipayCertPublicKey_RSA2.crt")
    secret["alipay_root_cert"] = _read("alipayRootCert.crt")
    material = load_signing_material(secret)
    assert material.alipay_root_cert_sn == ROOT_SN
    assert material.alipay_cert_sn == ALIPAY_CERT_SN


def test_an_alipay_cert_followed_by_the_real_chain_loads(key_material: KeyMaterial) -> None:
    secret = key_material.secret(cert_mode=True)
    secret["alipay_cert"] = _read("alipayCertPublicKey_RSA2.crt") + _read("alipayRootCert.crt")
    secret["alipay_root_cert"] = _read("alipayRootCert.crt")
    assert load_signing_material(secret).alipay_cert_sn == ALIPAY_CERT_SN


def test_the_emulator_loads_the_real_root_bundle(key_material: KeyMaterial) -> None:
    assert emulator_root_sn(_read("alipayRootCert.crt")) == ROOT_SN
    certs = key_material.certs
    assert certs is not None
    config = GatewayConfig(
        app_id=key_material.app_id,
        alipay_private_key=key_material.alipay.private_pem,
        app_cert=certs.app_cert_pem,
        alipay_cert=certs.alipay_cert_pem,
        alipay_root_cert=_read("alipayRootCert.crt"),
    )
    assert GatewayState(dataclasses.replace(config)).root_cert_sn == ROOT_SN
