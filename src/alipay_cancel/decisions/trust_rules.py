"""Rules for Alipay answers whose signature cannot be trusted (docs/contracts.md "Protocol").

* Missing or invalid response signature: retried after one secret refresh (keys rotate).
* Certificate mode, ``alipay-sn`` names a certificate other than ``alipay_cert``: never trusted;
  retried after one secret refresh; if the refreshed secret still names the old certificate, a
  configuration error whose remedy says how to put Alipay's new certificate in the secret.
"""

from __future__ import annotations

from alipay_cancel.decisions.alipay_codes import Rule
from alipay_cancel.shared.endings import Ending

BAD_RESPONSE_SIGNATURE = Rule(
    Ending.RETRY,
    "Alipay's response signature was missing or invalid, so the response is not trusted",
    "The signing secret is re-read automatically (keys rotate). If it persists, check that "
    "alipay_public_key (or alipay_cert / alipay_root_cert) in the secret is Alipay's current "
    "key for this app and that no proxy rewrites responses.",
    refresh_secret=True,
)
_ALIPAY_CERT_CHANGED = (
    "Alipay signs with a certificate other than alipay_cert in the signing secret: Alipay's certificate "
    "changed. Download the app's current Alipay public-key certificate (alipayCertPublicKey_RSA2.crt) "
    "from Alipay's open platform console, put it in alipay_cert in the secret (with alipayRootCert.crt "
    "in alipay_root_cert if that changed too); the secret is re-read automatically and kept messages "
    "then succeed."
)
UNEXPECTED_SIGNER = Rule(
    Ending.RETRY,
    "Alipay's response names (alipay-sn) a signing certificate other than the configured alipay_cert, "
    "so it is not trusted",
    "The signing secret is re-read automatically and the cancel retried once; if the secret still names "
    "the old certificate this becomes a configuration error. " + _ALIPAY_CERT_CHANGED,
    refresh_secret=True,
)
UNEXPECTED_SIGNER_PERSISTS = Rule(
    Ending.CONFIG_ERROR,
    "Alipay's response names (alipay-sn) a signing certificate other than the configured alipay_cert, "
    "also after re-reading the signing secret",
    _ALIPAY_CERT_CHANGED,
)
