"""alipay.trade.cancel over OpenAPI v3: sign, send, verify, decrypt, parse. One function per step."""

from __future__ import annotations

import requests

from alipay_cancel.alipay_responses import CancelOutcome
from alipay_cancel.messages import CancelRequest
from alipay_cancel.signing_material import SigningMaterial

CANCEL_PATH = "/v3/alipay/trade/cancel"


class AlipayClient:
    """One instance per warm container: reuses one ``requests.Session`` (keep-alive).

    Raises ``ValueError`` at construction for an endpoint that is plain http:// to a non-loopback
    host. ``cancel`` never raises for Alipay/network problems: it returns an ``AlipayFailure``.
    """

    def __init__(
        self,
        endpoint: str,
        material: SigningMaterial,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        raise NotImplementedError

    @property
    def material(self) -> SigningMaterial:
        raise NotImplementedError

    def with_material(self, material: SigningMaterial) -> AlipayClient:
        """Same endpoint, timeouts and session; new keys (after a secret refresh)."""
        raise NotImplementedError

    def cancel(self, request: CancelRequest) -> CancelOutcome:
        raise NotImplementedError
