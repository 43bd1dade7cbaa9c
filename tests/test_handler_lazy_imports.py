"""Cold start: what only certificate mode or AES mode needs is imported when a secret needs it.

In a fresh interpreter (``sys.modules`` is per process): import the handler, load a public-key-mode
secret and build its client, then check which modules are loaded; then load an AES key and build a
client with it, which must bring the cipher code in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parent.parent / "src"

# X.509 parsing (~20 ms of imports), certificate SNs, AES body encryption.
_CERT_MODE = ("cryptography.x509", "alipay_cancel.alipay.cert_sn")
_AES_MODE = ("alipay_cancel.alipay.body_encryption",)

_PROBE = """
import base64, json, sys
import alipay_cancel.handler  # noqa
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.signing_material import load_signing_material
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import serialization as s
def pem(k):
    return k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode()
def pub(k):
    return k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode()
watched = sys.argv[1:]
def loaded():
    return sorted(name for name in watched if name in sys.modules)
app, ali = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
secret = {'app_id': '2021', 'private_key': pem(app), 'alipay_public_key': pub(ali)}
after_import = loaded()
AlipayClient('http://127.0.0.1:9', load_signing_material(secret))
public_key_mode = loaded()
aes = {**secret, 'encrypt_key': base64.b64encode(bytes(range(16))).decode()}
client = AlipayClient('http://127.0.0.1:9', load_signing_material(aes))
print(json.dumps([after_import, public_key_mode, loaded()]))
"""


def test_certificate_and_aes_code_is_imported_only_when_a_secret_needs_it() -> None:
    env = {**os.environ, "PYTHONPATH": str(_SRC), "POWERTOOLS_TRACE_DISABLED": "true"}
    env.pop("LAMBDA_TASK_ROOT", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *_CERT_MODE, *_AES_MODE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    after_import, public_key_mode, with_aes = json.loads(done.stdout.strip().splitlines()[-1])
    assert after_import == []
    assert public_key_mode == []
    assert with_aes == sorted(_AES_MODE)  # the AES key brought the cipher in; still no X.509
