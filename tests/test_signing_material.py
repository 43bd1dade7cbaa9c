"""Signing material: every key format people paste is accepted; every wrong key is refused at load
time with an error that names the field and never echoes the input."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from local.keygen import KeyMaterial, RsaKeyPair, pem_to_bare_base64, rsa_key_pair_from_private

from alipay_cancel.alipay.cert_sn import cert_sn, root_cert_sn
from alipay_cancel.alipay.signing_material import SigningMaterialError, load_signing_material

# --- key text variants -------------------------------------------------------------------------


def _pem_one_line(pem: str) -> str:
    lines = pem.strip().splitlines()
    return lines[0] + "".join(lines[1:-1]) + lines[-1]


def _pem_crlf_trailing(pem: str) -> str:
    return "\r\n".join(line + "  " for line in pem.strip().splitlines()) + "\r\n\n  "


def _pem_indented(pem: str) -> str:
    return "\n".join("    " + line for line in pem.strip().splitlines())


def _pem_literal_escapes(pem: str) -> str:
    # What a hand-written JSON secret with "\\n" (double-escaped) leaves in the string.
    return pem.strip().replace("\n", "\\n")


def _bare(pem: str) -> str:
    return pem_to_bare_base64(pem)


def _bare_wrapped(pem: str) -> str:
    body = pem_to_bare_base64(pem)
    return "\n".join(body[i : i + 76] for i in range(0, len(body), 76)) + "\n \t"


def _bare_unpadded(pem: str) -> str:
    return pem_to_bare_base64(pem).rstrip("=")


VARIANTS: dict[str, Callable[[str], str]] = {
    "pem": lambda pem: pem,
    "pem-one-line": _pem_one_line,
    "pem-crlf-trailing-space": _pem_crlf_trailing,
    "pem-indented": _pem_indented,
    "pem-literal-backslash-n": _pem_literal_escapes,
    "bare-base64": _bare,
    "bare-base64-wrapped-trailing-ws": _bare_wrapped,
    "bare-base64-no-padding": _bare_unpadded,
}
PRIVATE_FORMATS = {"pkcs8": "private_pem", "pkcs1": "private_pkcs1_pem"}
PUBLIC_FORMATS = {"spki": "public_pem", "pkcs1": "public_pkcs1_pem"}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fmt", PRIVATE_FORMATS)
def test_private_key_every_format_loads_to_the_same_key(
    key_material: KeyMaterial, public_key_secret: dict[str, str], fmt: str, variant: str
) -> None:
    pem = getattr(key_material.app, PRIVATE_FORMATS[fmt])
    public_key_secret["private_key"] = VARIANTS[variant](pem)
    material = load_signing_material(public_key_secret)
    assert material.private_key.private_numbers() == key_material.app.private_key.private_numbers()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fmt", PUBLIC_FORMATS)
def test_alipay_public_key_every_format_loads_to_the_same_key(
    key_material: KeyMaterial, public_key_secret: dict[str, str], fmt: str, variant: str
) -> None:
    pem = getattr(key_material.alipay, PUBLIC_FORMATS[fmt])
    public_key_secret["alipay_public_key"] = VARIANTS[variant](pem)
    material = load_signing_material(public_key_secret)
    expected = key_material.alipay.private_key.public_key().public_numbers()
    assert material.alipay_public_key.public_numbers() == expected
    assert material.app_cert_sn is None and material.alipay_root_cert_sn is None
    assert material.alipay_cert_sn is None and material.encrypt_key is None


def test_app_id_is_trimmed_and_aes_key_decoded(key_material: KeyMaterial, aes_secret: dict[str, str]) -> None:
    aes_secret["app_id"] = f"  {key_material.app_id}\n"
    material = load_signing_material(aes_secret)
    assert material.app_id == key_material.app_id
    assert key_material.encrypt_key is not None
    assert material.encrypt_key == base64.b64decode(key_material.encrypt_key)


def test_cert_mode_computes_the_three_serial_numbers(
    key_material: KeyMaterial, cert_secret: dict[str, str]
) -> None:
    material = load_signing_material(cert_secret)
    certs = key_material.certs
    assert certs is not None
    app_cert = x509.load_pem_x509_certificate(certs.app_cert_pem.encode())
    alipay_cert = x509.load_pem_x509_certificate(certs.alipay_cert_pem.encode())
    assert material.app_cert_sn == cert_sn(app_cert)
    assert material.alipay_cert_sn == cert_sn(alipay_cert)
    assert material.alipay_root_cert_sn == root_cert_sn(
        x509.load_pem_x509_certificates(certs.root_bundle_pem.encode())
    )
    assert material.alipay_root_cert_sn is not None and material.alipay_root_cert_sn.count("_") == 1
    expected = key_material.alipay.private_key.public_key().public_numbers()
    assert material.alipay_public_key.public_numbers() == expected


def test_cert_mode_accepts_a_matching_alipay_public_key_too(
    key_material: KeyMaterial, cert_secret: dict[str, str]
) -> None:
    cert_secret["alipay_public_key"] = _bare(key_material.alipay.public_pem)
    assert load_signing_material(cert_secret).alipay_cert_sn is not None


def test_cert_mode_takes_the_leaf_of_a_certificate_with_its_chain(
    key_material: KeyMaterial, cert_secret: dict[str, str]
) -> None:
    certs = key_material.certs
    assert certs is not None
    cert_secret["alipay_cert"] = certs.alipay_cert_pem + certs.root_cert_pem
    leaf = x509.load_pem_x509_certificate(certs.alipay_cert_pem.encode())
    assert load_signing_material(cert_secret).alipay_cert_sn == cert_sn(leaf)


def test_repr_shows_mode_not_keys(cert_secret: dict[str, str]) -> None:
    text = repr(load_signing_material(cert_secret))
    assert "mode=cert" in text and "BEGIN" not in text and "private_key" not in text


# --- rejections --------------------------------------------------------------------------------


def _fragments(value: str, size: int = 8) -> set[str]:
    compact = re.sub(r"\s|-----[A-Z ]+-----", "", value)
    return {compact[i : i + size] for i in range(0, max(len(compact) - size, 0) + 1, 4)}


def _assert_rejected(secret: dict[str, object], field: str, problem_words: str) -> SigningMaterialError:
    with pytest.raises(SigningMaterialError) as caught:
        load_signing_material(secret)
    err = caught.value
    assert err.field_name == field
    assert f"'{field}'" in str(err)
    assert re.search(problem_words, err.problem), err.problem
    message = str(err)
    for value in secret.values():
        if isinstance(value, str) and len(value) >= 24:  # key material, not short ids
            leaked = [frag for frag in _fragments(value) if frag in message]
            assert not leaked, "error message echoes secret input"
    # No library exception (whose text might quote the input) may ride along in the traceback.
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__
    return err


@pytest.fixture(scope="module")
def short_key_pair() -> RsaKeyPair:
    return rsa_key_pair_from_private(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505 - must be refused


def _ec_private_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_rejects_the_apps_own_public_key_as_alipays(
    key_material: KeyMaterial, public_key_secret: dict[str, object]
) -> None:
    for text in (key_material.app.public_pem, _bare(key_material.app.public_pkcs1_pem)):
        public_key_secret["alipay_public_key"] = text
        _assert_rejected(public_key_secret, "alipay_public_key", "app's own key")


def test_rejects_a_public_key_in_the_private_key_field(
    key_material: KeyMaterial, public_key_secret: dict[str, object]
) -> None:
    for text in (
        key_material.app.public_pem,
        _bare(key_material.app.public_pem),
        key_material.app.public_pkcs1_pem,
    ):
        public_key_secret["private_key"] = text
        _assert_rejected(public_key_secret, "private_key", "holds a public key")


def test_rejects_a_private_key_in_the_alipay_public_key_field(
    key_material: KeyMaterial, public_key_secret: dict[str, object]
) -> None:
    for text in (key_material.alipay.private_pem, _bare(key_material.alipay.private_pkcs1_pem)):
        public_key_secret["alipay_public_key"] = text
        _assert_rejected(public_key_secret, "alipay_public_key", "holds a private key")


def test_rejects_a_certificate_where_a_key_belongs(
    key_material: KeyMaterial, public_key_secret: dict[str, object]
) -> None:
    assert key_material.certs is not None
    public_key_secret["private_key"] = key_material.certs.app_cert_pem
    _assert_rejected(public_key_secret, "private_key", "holds a certificate")
    public_key_secret["private_key"] = key_material.app.private_pem
    public_key_secret["alipay_public_key"] = _bare(key_material.certs.alipay_cert_pem)
    _assert_rejected(public_key_secret, "alipay_public_key", "holds a certificate")


@pytest.mark.parametrize(
    "text",
    [
        "not a key at all, just a sentence that someone pasted by mistake",
        base64.b64encode(bytes(range(256)) * 2).decode(),  # valid base64, not DER
        "-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFB\n",  # no END line
        "-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdr\n-----END PUBLIC KEY-----\n",  # labels differ
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7pretendingtobeakeyButIsNot",
    ],
    ids=["prose", "random-der", "truncated-pem", "mismatched-labels", "truncated-base64"],
)
def test_rejects_text_that_is_not_a_key(public_key_secret: dict[str, object], text: str) -> None:
    public_key_secret["private_key"] = text
    _assert_rejected(public_key_secret, "private_key", "not|PEM|base64")


def test_rejects_truncated_real_key(key_material: KeyMaterial, public_key_secret: dict[str, object]) -> None:
    body = _bare(key_material.app.private_pem)
    public_key_secret["private_key"] = body[: len(body) // 2]
    _assert_rejected(public_key_secret, "private_key", "not a readable RSA private key|base64")
    public_key_secret["private_key"] = key_material.app.private_pem
    body = _bare(key_material.alipay.public_pem)
    public_key_secret["alipay_public_key"] = body[:200]
    _assert_rejected(public_key_secret, "alipay_public_key", "not a readable RSA public key|base64")


def test_rejects_short_rsa_keys(
    short_key_pair: RsaKeyPair, key_material: KeyMaterial, public_key_secret: dict[str, object]
) -> None:
    public_key_secret["private_key"] = short_key_pair.private_pem
    _assert_rejected(public_key_secret, "private_key", "1024-bit")
    public_key_secret["private_key"] = key_material.app.private_pem
    public_key_secret["alipay_public_key"] = short_key_pair.public_pem
    _assert_rejected(public_key_secret, "alipay_public_key", "1024-bit")


def test_rejects_non_rsa_and_encrypted_private_keys(
    key_material: KeyMaterial, public_key_secret: dict[str, object]
) -> None:
    public_key_secret["private_key"] = _ec_private_pem()
    _assert_rejected(public_key_secret, "private_key", "not an RSA key")
    encrypted = key_material.app.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse battery staple"),
    ).decode()
    public_key_secret["private_key"] = encrypted
    _assert_rejected(public_key_secret, "private_key", "password-protected")
    public_key_secret["private_key"] = _bare(encrypted)
    _assert_rejected(public_key_secret, "private_key", "password-protected")


def test_rejects_two_keys_in_one_field(
    key_material: KeyMaterial, public_key_secret: dict[str, object]
) -> None:
    public_key_secret["private_key"] = key_material.app.private_pem + key_material.alipay.private_pem
    _assert_rejected(public_key_secret, "private_key", "2 PEM blocks")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("app_id", None, "is required"),
        ("app_id", "2021,nonce=x", "letters, digits"),
        ("app_id", 2021000000000001, "must be a string"),
        ("private_key", None, "is required"),
        ("private_key", "   \n", "is required"),
        ("private_key", ["-----BEGIN PRIVATE KEY-----"], "must be a string"),
        ("alipay_public_key", None, "is required"),
        ("encrypt_key", "this is not base64!!", "not base64"),
        ("encrypt_key", base64.b64encode(b"short").decode(), "5 bytes"),
    ],
)
def test_rejects_missing_or_wrongly_typed_fields(
    public_key_secret: dict[str, object], field: str, value: object, problem: str
) -> None:
    if value is None:
        public_key_secret.pop(field)
    else:
        public_key_secret[field] = value
    _assert_rejected(public_key_secret, field, problem)


def test_rejects_a_secret_that_is_not_an_object() -> None:
    with pytest.raises(SigningMaterialError):
        load_signing_material(["not", "a", "dict"])  # type: ignore[arg-type]


def test_cert_mode_rejects_a_private_key_that_does_not_match_app_cert(
    other_rsa_key_pair: RsaKeyPair, cert_secret: dict[str, object]
) -> None:
    cert_secret["private_key"] = other_rsa_key_pair.private_pkcs1_pem
    _assert_rejected(cert_secret, "private_key", "does not match .*app_cert")


@pytest.mark.parametrize("missing", ["app_cert", "alipay_cert", "alipay_root_cert"])
def test_cert_mode_needs_all_three_certificates(cert_secret: dict[str, object], missing: str) -> None:
    cert_secret.pop(missing)
    _assert_rejected(cert_secret, missing, "required in certificate mode")


def test_cert_mode_rejects_the_app_cert_as_alipay_cert(
    key_material: KeyMaterial, cert_secret: dict[str, object]
) -> None:
    assert key_material.certs is not None
    cert_secret["alipay_cert"] = key_material.certs.app_cert_pem
    _assert_rejected(cert_secret, "alipay_cert", "app's own key")


def test_cert_mode_rejects_garbage_and_keys_in_certificate_fields(
    key_material: KeyMaterial, cert_secret: dict[str, object]
) -> None:
    cert_secret["alipay_cert"] = key_material.alipay.public_pem
    _assert_rejected(cert_secret, "alipay_cert", "PEM 'PUBLIC KEY' block")
    assert key_material.certs is not None
    cert_secret["alipay_cert"] = key_material.certs.alipay_cert_pem
    cert_secret["alipay_root_cert"] = base64.b64encode(b"\x30\x03\x02\x01\x01" * 20).decode()
    _assert_rejected(cert_secret, "alipay_root_cert", "not a readable X.509 certificate")


def test_cert_mode_rejects_a_root_bundle_without_rsa_signed_certificates(
    key_material: KeyMaterial, cert_secret: dict[str, object]
) -> None:
    assert key_material.certs is not None
    cert_secret["alipay_root_cert"] = key_material.certs.ec_root_cert_pem
    _assert_rejected(cert_secret, "alipay_root_cert", "no RSA-signed certificate")


def test_cert_mode_rejects_an_alipay_public_key_that_contradicts_alipay_cert(
    other_rsa_key_pair: RsaKeyPair, cert_secret: dict[str, object]
) -> None:
    cert_secret["alipay_public_key"] = other_rsa_key_pair.public_pem
    _assert_rejected(cert_secret, "alipay_public_key", "differs from the key in alipay_cert")
