"""One Alipay attempt for one trade: cancel; after a signature problem, re-read the secret once and cancel
again (keys rotate). Also keeps the container's one Alipay client, rebuilt only when the keys change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from alipay_cancel import observability as obs
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import CancelOutcome
from alipay_cancel.alipay.signing_material import SigningMaterial
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.plans import Attempt
from alipay_cancel.pipeline.messages import CancelRequest
from alipay_cancel.signing.secret import SecretUnavailable, SigningSecret

logger = obs.logger

ClientFactory = Callable[[SigningMaterial], AlipayClient]


class SetupUnusable(Exception):
    """The signing setup cannot make a client (secret unreadable, keys invalid)."""


class Canceller:
    def __init__(self, secret: SigningSecret, client_factory: ClientFactory, call_budget_ms: int) -> None:
        self._secret = secret
        self._client_factory = client_factory
        self._call_budget_ms = call_budget_ms
        self._client: AlipayClient | None = None
        self._lock = threading.Lock()

    def begin_invocation(self) -> str | None:
        """Make sure the signing setup is usable; returns the problem, or None."""
        self._secret.begin_invocation()
        try:
            self._client_for(self._secret.current())
        except (SecretUnavailable, ValueError) as problem:
            logger.error("configuration error: signing setup unusable", extra={"problem": str(problem)})
            return str(problem)
        return None

    def attempt(self, request: CancelRequest, remaining_ms: Callable[[], int | None]) -> Attempt:
        client = self._current_client()
        outcome = self._timed_cancel(client, request)
        decision = classify(outcome)
        if not decision.refresh_secret:
            return Attempt(outcome, decision)
        try:
            fresh = self._secret.refresh(client.material)
        except SecretUnavailable as problem:
            logger.error("signing secret refresh failed", extra={"problem": str(problem)})
            return Attempt(outcome, decision)
        if fresh is None:
            logger.info("signing secret already refreshed in this invocation; not retrying now")
            return Attempt(outcome, decision)
        left = remaining_ms()
        if left is not None and left < self._call_budget_ms:
            logger.info("signing secret refreshed; too little time left to retry the cancel now")
            return Attempt(outcome, decision)
        logger.info("signing secret refreshed after a signature problem; retrying the cancel once")
        outcome = self._timed_cancel(self._client_for(fresh), request)
        return Attempt(outcome, classify(outcome), calls=2)

    @staticmethod
    def _timed_cancel(client: AlipayClient, request: CancelRequest) -> CancelOutcome:
        started = time.perf_counter()
        outcome = client.cancel(request)
        obs.add_latency((time.perf_counter() - started) * 1000.0)
        return outcome

    def _current_client(self) -> AlipayClient:
        with self._lock:
            client = self._client
        if client is None:  # begin_invocation found the setup unusable; the service routes that first
            raise SetupUnusable("signing material unavailable")
        return client

    def _client_for(self, material: SigningMaterial) -> AlipayClient:
        """One client (one HTTP session) per container; a new instance only when the keys change."""
        with self._lock:
            if self._client is not None and self._client.material is material:
                return self._client
            if self._client is None:
                self._client = self._client_factory(material)
            else:
                self._client = self._client.with_material(material)
            return self._client
