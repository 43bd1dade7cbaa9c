"""The client's exceptions: one root, so a caller can catch everything this package raises.

Alipay and network problems are never raised: every operation returns an ``AlipayFailure`` for
them. Exceptions are for what no call can fix: a request that can never be sent, a setting or a
key that is unusable. Each also derives from ``ValueError`` (what these were before the root
existed), and no message ever contains key material or an ``app_auth_token``.
"""

from __future__ import annotations


class AlipayError(Exception):
    """Root of every exception this package raises."""


class InvalidRequest(AlipayError, ValueError):
    """A request that can never be sent: no trade id, a token that would break the header, an
    amount or refund number Alipay would refuse."""


class InvalidSetting(AlipayError, ValueError):
    """A client setting that is unusable: an unsafe endpoint, a timeout that is not a positive number."""
