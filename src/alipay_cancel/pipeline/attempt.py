"""One Alipay attempt for one trade: cancel with the trade's app's client; after a signature problem,
re-read that app's secret once and cancel again (keys rotate). Clients and secrets live in the
``SigningRegistry``: one per app, so records of different apps never share a client or a key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from alipay_cancel import observability as obs
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import CancelOutcome
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.plans import Attempt, SetupBroken
from alipay_cancel.pipeline.messages import CancelRequest
from alipay_cancel.signing.registry import SigningRegistry
from alipay_cancel.signing.secret import SecretUnavailable

logger = obs.logger


class SetupUnusable(Exception):
    """The signing setup cannot make a client (secret unreadable, keys invalid). Raised from inside
    the attempt (the idempotency store then forgets it); the service routes it as ``SetupBroken``."""

    def __init__(self, problem: str, remedy: str | None) -> None:
        super().__init__(problem)
        self.remedy = remedy


class Canceller:
    def __init__(self, signing: SigningRegistry, call_budget_ms: int) -> None:
        self._signing = signing
        self._call_budget_ms = call_budget_ms
        self._default_problem: str | None = None  # the default app's, checked once per invocation

    @property
    def default_app_id(self) -> str:
        return self._signing.default_app_id

    def begin_invocation(self) -> str | None:
        """Make sure the default app's signing setup is usable; returns the problem, or None. Further
        apps are checked per record (``setup_problem``)."""
        self._signing.begin_invocation()
        try:
            self._signing.client(None)
        except (SecretUnavailable, ValueError) as problem:
            logger.error("configuration error: signing setup unusable", extra={"problem": str(problem)})
            self._default_problem = str(problem)
        else:
            self._default_problem = None
        return self._default_problem

    def setup_problem(self, app_id: str | None) -> SetupBroken | None:
        """Why the request's app cannot sign now (naming the secret, never key material), or None."""
        if app_id is None:
            if self._default_problem is None:
                return None
            return SetupBroken(self._default_problem)
        try:
            self._signing.client(app_id)
        except (SecretUnavailable, ValueError) as problem:
            logger.error(
                "configuration error: signing setup unusable",
                extra={"problem": str(problem), "app_id": app_id},
            )
            return SetupBroken(str(problem), self._signing.remedy_for(app_id))
        return None

    def attempt(self, request: CancelRequest, remaining_ms: Callable[[], int | None]) -> Attempt:
        client = self._client(request)
        outcome = self._timed_cancel(client, request)
        decision = classify(outcome)
        if not decision.refresh_secret:
            return Attempt(outcome, decision)
        try:
            fresh = self._signing.refresh(request.app_id, client)
        except SecretUnavailable as problem:
            logger.error("signing secret refresh failed", extra={"problem": str(problem)})
            return Attempt(outcome, decision)
        if fresh is None:
            logger.info("signing secret already refreshed in this invocation; not retrying now")
            # these keys are the freshly read ones: a problem that persists is judged as such
            return Attempt(outcome, classify(outcome, after_secret_refresh=True))
        left = remaining_ms()
        if left is not None and left < self._call_budget_ms:
            logger.info("signing secret refreshed; too little time left to retry the cancel now")
            return Attempt(outcome, decision)
        logger.info("signing secret refreshed after a signature problem; retrying the cancel once")
        outcome = self._timed_cancel(fresh, request)
        return Attempt(outcome, classify(outcome, after_secret_refresh=True), calls=2)

    def _client(self, request: CancelRequest) -> AlipayClient:
        try:
            return self._signing.client(request.app_id)
        except (SecretUnavailable, ValueError) as problem:
            # Became unusable since ``setup_problem`` looked (e.g. an expired cache re-read and
            # Secrets Manager throttled): routed like any unusable setup, never escapes the pipeline.
            logger.error("configuration error: signing setup unusable", extra={"problem": str(problem)})
            remedy = None if request.app_id is None else self._signing.remedy_for(request.app_id)
            raise SetupUnusable(str(problem), remedy) from None

    @staticmethod
    def _timed_cancel(client: AlipayClient, request: CancelRequest) -> CancelOutcome:
        started = time.perf_counter()
        outcome = client.cancel(request)
        obs.add_latency((time.perf_counter() - started) * 1000.0)
        return outcome
