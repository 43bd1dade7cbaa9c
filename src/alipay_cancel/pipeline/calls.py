"""The Alipay calls of one trade: the trade's app's client (or why that app cannot sign now), the
client with the app's secret re-read after a signature problem (keys rotate), and the call itself.
Clients and secrets live in the ``SigningRegistry``: one per app, so records of different apps never
share a client or a key. Which call to make, and when, is ``decisions.steps``'.
"""

from __future__ import annotations

from alipay_cancel import observability as obs
from alipay_cancel.alipay import TradeOutcome, TradeRef
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.decisions.plans import SetupBroken
from alipay_cancel.decisions.steps import Call
from alipay_cancel.shared.ledger_item import Op
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel.signing.registry import SigningRegistry
from alipay_cancel.signing.secret import SecretUnavailable

logger = obs.logger


class AlipayCalls:
    def __init__(self, signing: SigningRegistry) -> None:
        self._signing = signing
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

    def refreshed(self, app_id: str | None, seen: AlipayClient) -> AlipayClient | None:
        """A client with the app's secret re-read after a signature problem (keys rotate), or None when
        it was already re-read in this invocation and nothing newer came of it: ``seen``'s keys are the
        fresh ones. ``SecretUnavailable`` when the re-read fails."""
        return self._signing.refresh(app_id, seen)

    @staticmethod
    def send(call: Call, client: AlipayClient, request: CancelRequest) -> TradeOutcome:
        """One Alipay call, timed for the latency metric."""
        ref = TradeRef(request.out_trade_no, request.trade_no, request.app_auth_token)
        with obs.timed_alipay_call():
            return _send(call, client, ref)


def _send(call: Call, client: AlipayClient, ref: TradeRef) -> TradeOutcome:
    """The client's operation for ``call``; a refund and its query send our refund request."""
    if call.op is Op.QUERY:
        return client.query(ref)
    if call.op is Op.CLOSE:
        return client.close(ref)
    if call.op in (Op.REFUND, Op.REFUND_QUERY):
        assert call.refund is not None, "a refund call carries our refund request"
        if call.op is Op.REFUND:
            return client.refund(ref, call.refund.refund_amount, call.refund.out_request_no)
        return client.refund_query(ref, call.refund.out_request_no)
    return client.cancel(ref)
