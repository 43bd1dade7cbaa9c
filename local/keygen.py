"""Throwaway key material for local runs and tests: never use it against the real Alipay.

Generates, with ``cryptography``:
- the app's RSA-2048 key pair and Alipay's RSA-2048 key pair (public-key mode);
- an optional AES-128/256 key, base64 (body encryption);
- certificate mode: two self-made RSA roots plus one EC root in the root bundle (the official SDKs
  skip non-RSA-signed roots when computing the root SN, so the EC root keeps that rule honest), an
  app certificate and an Alipay certificate issued by the first RSA root.

``generate_key_material()`` returns all of it; ``KeyMaterial.secret()`` gives the Secrets Manager
secret dict exactly as docs/contracts.md's signing-material table. Run ``python -m local.keygen --out
DIR`` to write the files the gateway emulator CLI and the local stack read.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

DEFAULT_APP_ID = "2021000000000001"
RSA_BITS = 2048


@dataclass(frozen=True, repr=False)
class RsaKeyPair:
    """One RSA key pair as PEM text in every format a secret may carry."""

    private_pem: str  # PKCS#8, "BEGIN PRIVATE KEY"
    private_pkcs1_pem: str  # "BEGIN RSA PRIVATE KEY"
    public_pem: str  # SubjectPublicKeyInfo, "BEGIN PUBLIC KEY"
    public_pkcs1_pem: str  # "BEGIN RSA PUBLIC KEY"

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def __repr__(self) -> str:  # never print key material
        return "RsaKeyPair(<redacted>)"


@dataclass(frozen=True, repr=False)
class CertMaterial:
    """Certificate-mode material, all PEM."""

    root_cert_pem: str  # the RSA root that issued app_cert and alipay_cert
    root_key_pem: str
    extra_rsa_root_cert_pem: str  # a second RSA root: the root SN joins both with "_"
    ec_root_cert_pem: str  # skipped by the root SN rule (not RSA-signed)
    root_bundle_pem: str  # rsa root, ec root, extra rsa root (in that order): the alipay_root_cert
    app_cert_pem: str
    alipay_cert_pem: str

    def __repr__(self) -> str:
        return "CertMaterial(<redacted>)"


@dataclass(frozen=True, repr=False)
class KeyMaterial:
    app_id: str
    app: RsaKeyPair
    alipay: RsaKeyPair
    encrypt_key: str | None = None  # base64 AES key
    certs: CertMaterial | None = field(default=None)

    def __repr__(self) -> str:
        return (
            f"KeyMaterial(app_id={self.app_id!r}, aes={self.encrypt_key is not None}, "
            f"certs={self.certs is not None})"
        )

    def secret(self, *, cert_mode: bool = False, aes: bool = False) -> dict[str, str]:
        """The Secrets Manager SecretString dict (docs/contracts.md): public-key mode carries
        ``alipay_public_key``; certificate mode carries the three certificates instead."""
        out = {"app_id": self.app_id, "private_key": self.app.private_pem}
        if cert_mode:
            if self.certs is None:
                raise ValueError("no certificate material was generated")
            out["app_cert"] = self.certs.app_cert_pem
            out["alipay_cert"] = self.certs.alipay_cert_pem
            out["alipay_root_cert"] = self.certs.root_bundle_pem
        else:
            out["alipay_public_key"] = self.alipay.public_pem
        if aes:
            if self.encrypt_key is None:
                raise ValueError("no AES key was generated")
            out["encrypt_key"] = self.encrypt_key
        return out


def _pem_private(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def rsa_key_pair_from_private(key: rsa.RSAPrivateKey) -> RsaKeyPair:
    pub = key.public_key()
    return RsaKeyPair(
        private_pem=_pem_private(key, serialization.PrivateFormat.PKCS8),
        private_pkcs1_pem=_pem_private(key, serialization.PrivateFormat.TraditionalOpenSSL),
        public_pem=pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        public_pkcs1_pem=pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ).decode(),
    )


def generate_rsa_key_pair(bits: int = RSA_BITS) -> RsaKeyPair:
    return rsa_key_pair_from_private(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def generate_aes_key(bits: int = 256) -> str:
    """A random AES key, base64 (the ``encrypt_key`` secret field)."""
    if bits not in (128, 192, 256):
        raise ValueError("AES key size must be 128, 192 or 256 bits")
    return base64.b64encode(secrets.token_bytes(bits // 8)).decode()


def pem_to_bare_base64(pem: str) -> str:
    """The base64 body of a PEM block without armour or line breaks (how Alipay's console shows keys)."""
    return "".join(line.strip() for line in pem.strip().splitlines() if not line.startswith("-----"))


def _name(cn: str, ou: str) -> x509.Name:
    # Several attributes on purpose: the SN rule depends on their (reversed) order.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Local Test Alipay"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    signer: CertificateIssuerPrivateKeyTypes,
    *,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(signer, hashes.SHA256())


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def generate_cert_material(app: RsaKeyPair, alipay: RsaKeyPair, app_id: str = DEFAULT_APP_ID) -> CertMaterial:
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    root_name = _name("Local Test Root CA", "Certification Authority")
    root = _cert(root_name, root_name, root_key.public_key(), root_key, ca=True)

    extra_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    extra_name = _name("Local Test Root CA R2", "Certification Authority")
    extra = _cert(extra_name, extra_name, extra_key.public_key(), extra_key, ca=True)

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_name = _name("Local Test Root CA EC", "Certification Authority")
    ec_root = _cert(ec_name, ec_name, ec_key.public_key(), ec_key, ca=True)

    app_cert = _cert(
        _name(app_id, "Application"), root_name, app.private_key.public_key(), root_key, ca=False
    )
    alipay_cert = _cert(
        _name("Local Test Alipay Gateway", "Alipay"),
        root_name,
        alipay.private_key.public_key(),
        root_key,
        ca=False,
    )
    return CertMaterial(
        root_cert_pem=_cert_pem(root),
        root_key_pem=_pem_private(root_key, serialization.PrivateFormat.PKCS8),
        extra_rsa_root_cert_pem=_cert_pem(extra),
        ec_root_cert_pem=_cert_pem(ec_root),
        root_bundle_pem=_cert_pem(root) + _cert_pem(ec_root) + _cert_pem(extra),
        app_cert_pem=_cert_pem(app_cert),
        alipay_cert_pem=_cert_pem(alipay_cert),
    )


def generate_key_material(
    app_id: str = DEFAULT_APP_ID, *, aes_bits: int | None = 256, cert_mode: bool = True
) -> KeyMaterial:
    """Everything at once (about four RSA-2048 keys: generate once per test session)."""
    app = generate_rsa_key_pair()
    alipay = generate_rsa_key_pair()
    return KeyMaterial(
        app_id=app_id,
        app=app,
        alipay=alipay,
        encrypt_key=generate_aes_key(aes_bits) if aes_bits else None,
        certs=generate_cert_material(app, alipay, app_id) if cert_mode else None,
    )


def write_key_files(material: KeyMaterial, out_dir: Path) -> dict[str, Path]:
    """Write every piece to ``out_dir`` (private files 0600) plus the two secret JSON documents."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {
        "app_private_key.pem": material.app.private_pem,
        "app_public_key.pem": material.app.public_pem,
        "alipay_private_key.pem": material.alipay.private_pem,
        "alipay_public_key.pem": material.alipay.public_pem,
        "secret.json": json.dumps(material.secret(), indent=2),
    }
    if material.encrypt_key:
        files["encrypt_key.txt"] = material.encrypt_key + "\n"
    if material.certs:
        files.update(
            {
                "app_cert.pem": material.certs.app_cert_pem,
                "alipay_cert.pem": material.certs.alipay_cert_pem,
                "alipay_root_cert.pem": material.certs.root_bundle_pem,
                "secret_cert_mode.json": json.dumps(material.secret(cert_mode=True), indent=2),
            }
        )
    return write_private_files(out_dir, files)


def write_private_files(out_dir: Path, files: dict[str, str]) -> dict[str, Path]:
    """Each text in a file of its own under ``out_dir``, readable by its owner only (0600)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, text in files.items():
        path = out_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        written[name] = path
    return written


def write_app_secret_files(app_id: str, alipay_public_key: str, out_dir: Path) -> dict[str, Path]:
    """A real app's secret for the Alipay sandbox (or production): a new app key pair, whose public
    half (``app_public_key.txt``, bare base64 as Alipay's console takes it) you upload to the app in
    Alipay's console, and ``secret.json`` with the private half and the Alipay public key the console
    shows (``alipay_public_key``: PEM or bare base64). The secret is checked with the function's own
    loader before it is written, so a wrong key is refused here, naming the field."""
    from alipay_cancel.alipay.signing_material import load_signing_material

    app = generate_rsa_key_pair()
    secret = {
        "app_id": app_id,
        "private_key": app.private_pem,
        "alipay_public_key": alipay_public_key.strip(),
    }
    load_signing_material(secret)
    return write_private_files(
        out_dir,
        {
            "app_public_key.txt": pem_to_bare_base64(app.public_pem) + "\n",
            "app_public_key.pem": app.public_pem,
            "secret.json": json.dumps(secret, indent=2),
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate key material: THROWAWAY keys for local runs, or with --alipay-public-key the "
        "secret of a real app (the Alipay sandbox, production)."
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to write the files to")
    parser.add_argument("--app-id", default=DEFAULT_APP_ID, help=f"the app id (default {DEFAULT_APP_ID})")
    parser.add_argument("--aes-bits", type=int, default=256, help="0 for no AES key (throwaway keys only)")
    parser.add_argument(
        "--alipay-public-key",
        type=Path,
        metavar="FILE",
        help="the Alipay public key Alipay's console shows for your app (PEM or bare base64): write a new "
        "app key pair and the app's secret.json instead of throwaway keys",
    )
    args = parser.parse_args(argv)
    if args.alipay_public_key is not None:
        from alipay_cancel.alipay.signing_material_error import SigningMaterialError

        try:
            written = write_app_secret_files(
                args.app_id, args.alipay_public_key.read_text(encoding="utf-8"), args.out
            )
        except (OSError, SigningMaterialError) as error:
            print(f"keygen: {error}", file=sys.stderr)
            return 2
        for name in sorted(written):
            print(args.out / name)
        print(
            "Upload app_public_key.txt as the app's public key in Alipay's console; secret.json is the "
            "Secrets Manager secret (keep it out of git, delete it once stored).",
            file=sys.stderr,
        )
        return 0
    material = generate_key_material(args.app_id, aes_bits=args.aes_bits or None)
    for name in sorted(write_key_files(material, args.out)):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
