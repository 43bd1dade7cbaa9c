"""Cold start: no X.509 machinery (~20 ms of imports) unless the secret is in certificate mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parent.parent / "src"


def test_x509_is_imported_only_for_certificate_mode() -> None:
    code = (
        "import json, sys\n"
        "import alipay_cancel.handler  # noqa\n"
        "from alipay_cancel.alipay.signing_material import load_signing_material\n"
        "from cryptography.hazmat.primitives.asymmetric import rsa\n"
        "from cryptography.hazmat.primitives import serialization as s\n"
        "def pem(k):\n"
        "    return k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode()\n"
        "def pub(k):\n"
        "    spki = s.PublicFormat.SubjectPublicKeyInfo\n"
        "    return k.public_key().public_bytes(s.Encoding.PEM, spki).decode()\n"
        "app, ali = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))\n"
        "after_import = 'cryptography.x509' in sys.modules\n"
        "load_signing_material({'app_id': '2021', 'private_key': pem(app), 'alipay_public_key': pub(ali)})\n"
        "print(json.dumps([after_import, 'cryptography.x509' in sys.modules]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(_SRC), "POWERTOOLS_TRACE_DISABLED": "true"}
    env.pop("LAMBDA_TASK_ROOT", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[false, false]"
