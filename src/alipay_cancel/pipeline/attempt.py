"""One Alipay attempt for one trade: cancel with the trade's app's client; after a signature problem,
re-read that app's secret once and cancel again (keys rotate). Clients and secrets live in the
``SigningRegistry``: one per app, so records of different apps never share a client or a key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from alipay_cancel import observability as obs
from alipay_cancel.alipay import TradeRef
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import CancelOutcome
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.plans import Attempt, SetupBroken
from alipay_cancel.pipeline.messages import CancelRequest
from alipay_cancel.signing.registry import SigningRegistry
from alipay_cancel.signing.secret import SecretUnavailable

logger = obs.logger


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
        apps are checked per record (``client_for``)."""
        self._signing.begin_invocation()
        try:
            self._signing.client(None)
        except (SecretUnavailable, ValueError) as problem:
            logger.error("configuration error: signing setup unusable", extra={"problem": str(problem)})
            self._default_problem = str(problem)
        else:
            self._default_problem = None
        return self._default_problem

    def client_for(self, app_id: str | None) -> AlipayClient | SetupBroken:
        """The request's app's client, looked up once per record (the attempt signs with it), or why
        that app cannot sign now (naming the secret, never key material)."""
        if app_id is None and self._default_problem is not None:
            return SetupBroken(self._default_problem)  # found by this invocation's check
        try:
            return self._signing.client(app_id)
        except (SecretUnavailable, ValueError) as problem:
            # For the default app: unusable since the invocation's check (e.g. an expired cache re-read
            # and Secrets Manager throttled); routed like any unusable setup.
            logger.error(
                "configuration error: signing setup unusable",
                extra={"problem": str(problem), "app_id": app_id},
            )
            remedy = None if app_id is None else self._signing.remedy_for(app_id)
            return SetupBroken(str(problem), remedy)

    def attempt(
        self, request: CancelRequest, client: AlipayClient, remaining_ms: Callable[[], int | None]
    ) -> Attempt:
        """Cancel with ``client`` (``client_for`` the request's app)."""
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

    @staticmethod
    def _timed_cancel(client: AlipayClient, request: CancelRequest) -> CancelOutcome:
        started = time.perf_counter()
        outcome = client.cancel(TradeRef(request.out_trade_no, request.trade_no, request.app_auth_token))
        obs.add_latency((time.perf_counter() - started) * 1000.0)
        return outcome
