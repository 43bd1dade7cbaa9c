"""One SQS record through the pipeline: parse, claim the trade's ledger item, call Alipay as the steps
say, route, apply.

Deciding is pure (``decisions.steps`` says which call comes next, ``decisions.routing.route`` how the
delivery ends); doing is here (the claim and the calls) and in ``pipeline.apply`` (the plan). This
module gathers what happened: whether the message parses, whether the signing setup is usable,
whether there is time for an Alipay call, what the claim found, and what Alipay answered.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any, NamedTuple

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from alipay_cancel import observability as obs
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.config import Config
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.history import answered, extended, unanswered
from alipay_cancel.decisions.identity_check import (
    DeclaredApps,
    MerchantConfirmed,
    MerchantMismatch,
    check_identity,
    undeclared_app,
)
from alipay_cancel.decisions.plans import (
    Answered,
    ClaimFailed,
    Delivery,
    Happened,
    IdentityUnconfirmed,
    InProgress,
    LeaseLost,
    Settled,
    SetupBroken,
    TooLittleTime,
    Unreadable,
)
from alipay_cancel.decisions.routing import route
from alipay_cancel.decisions.steps import (
    Answer,
    Call,
    Finish,
    Prior,
    Refusal,
    Start,
    interrupted,
    next_step,
    refused,
    start,
)
from alipay_cancel.pipeline.apply import PlanApplier, Received, RecordNotAcknowledged
from alipay_cancel.pipeline.calls import AlipayCalls
from alipay_cancel.pipeline.messages import BadMessage, parse_message
from alipay_cancel.pipeline.token_owners import TokenOwners
from alipay_cancel.shared.ledger_item import HistoryEntry, Pending
from alipay_cancel.shared.trade import CancelRequest, PaidTradePolicy
from alipay_cancel.signing.secret import SecretUnavailable
from alipay_cancel.stores.ledger import Claimed, Lease, Ledger, NotLeaseHolder, Refused, iso_utc
from alipay_cancel.stores.requeue import FIRST_SENT_ATTRIBUTE, REQUEUES_ATTRIBUTE

logger = obs.logger

# Kept free after an Alipay call for what follows it: the ledger write, a dead letter or visibility
# change, each a DynamoDB/SQS round trip with botocore's retries.
SAFETY_MARGIN_MS = 2000

__all__ = ["SAFETY_MARGIN_MS", "CancelService", "RecordNotAcknowledged"]


class CancelService:
    def __init__(
        self,
        config: Config,
        *,
        calls: AlipayCalls,
        owners: TokenOwners,
        ledger: Ledger,
        applier: PlanApplier,
    ) -> None:
        self._config = config
        self._calls = calls
        self._owners = owners
        self._apps = DeclaredApps(config.default_app_id, config.further_app_ids, config.app_secret_prefix)
        self._ledger = ledger
        self._applier = applier
        self._rng = random.Random()  # jitter of retry delays, not security
        self._rng_lock = threading.Lock()  # random.Random is not documented as thread-safe

    @staticmethod
    def call_budget_ms(config: Config) -> int:
        """An Alipay call is only started with this much time left: the whole call plus the margin."""
        return int((config.connect_timeout + config.read_timeout) * 1000) + SAFETY_MARGIN_MS

    def begin_invocation(self) -> None:
        """Check the signing setup. A problem with it does not raise: records are routed as
        configuration errors one by one, while bad messages can still be dead-lettered."""
        self._calls.begin_invocation()

    def handle(self, record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
        """Returns the outcome class of an acknowledged record; raises to leave it on the queue.
        Powertools' batch processor passes ``lambda_context`` (it looks for the parameter's name)."""
        logger.thread_safe_clear_keys()
        with self._rng_lock:
            jitter = self._rng.random()
        received = _received(record, self._config, jitter)
        delivery = received.delivery
        logger.thread_safe_append_keys(message_id=delivery.message_id, receive_count=delivery.receive_count)
        request: CancelRequest | None = None
        happened: Happened
        try:
            request = parse_message(delivery.body, default_app_id=self._calls.default_app_id)
        except BadMessage as bad:
            happened = Unreadable(bad.reason, bad.trade_key)
            if bad.trade_key:
                logger.thread_safe_append_keys(trade_key=bad.trade_key)
        else:
            logger.thread_safe_append_keys(trade_key=request.trade_key)
            undeclared = undeclared_app(request.app_id, self._apps)
            if undeclared is not None:  # the producer's mistake: no secret, key or record for it
                happened = Unreadable(undeclared, None)
            else:
                happened = self._what_happened(request, delivery, lambda_context)
        if isinstance(happened, Answered):
            logger.thread_safe_append_keys(alipay_trace_id=happened.answers[-1].outcome.trace_id)
        return self._applier.apply(received, route(delivery, request, happened))

    def _what_happened(
        self, request: CancelRequest, delivery: Delivery, context: LambdaContext | None
    ) -> Happened:
        client = self._calls.client_for(request.app_id)  # the request's own app's signing setup
        if isinstance(client, SetupBroken):
            return client
        remaining = _remaining_ms(context)
        needed = self.call_budget_ms(self._config)
        if remaining is not None and remaining < needed:
            return TooLittleTime(remaining, needed)
        if request.app_auth_token is not None:
            confirmed = self._confirm_merchant(request, client, context)
            if not isinstance(confirmed, AlipayClient):
                return confirmed
            client = confirmed
            remaining = _remaining_ms(context)
            if remaining is not None and remaining < needed:  # the question took the time of the call
                return TooLittleTime(remaining, needed)
        now = time.time()
        lease = Lease(
            holder=f"{_request_id(context)}:{delivery.message_id}",
            until_ms=int(now * 1000) + (needed if remaining is None else remaining),
        )
        try:
            return self._settle(request, delivery, client, lease, context)
        except (ClientError, BotoCoreError) as error:  # the claim: Alipay was not called
            return ClaimFailed(str(error) or type(error).__name__)

    def _confirm_merchant(
        self, request: CancelRequest, client: AlipayClient, context: LambdaContext | None
    ) -> AlipayClient | Happened:
        """Alipay's word on whose the token is, before the trade is keyed, claimed or called: the client
        to call with when it is the message's merchant, else what happened instead."""
        assert request.app_auth_token is not None and request.merchant_id is not None
        token, merchant_id = request.app_auth_token, request.merchant_id
        answer = self._owners.ask(request.app_id, client, token, lambda: _remaining_ms(context))
        verdict = check_identity(
            merchant_id, answer.outcome, after_secret_refresh=answer.after_secret_refresh
        )
        if isinstance(verdict, MerchantConfirmed):
            logger.info(
                "app_auth_token's merchant confirmed by Alipay", extra={"asked_alipay": answer.calls > 0}
            )
            # After a secret re-read the registry holds the fresh client: the trade's calls use it too.
            return self._calls.client_for(request.app_id) if answer.after_secret_refresh else client
        if isinstance(verdict, MerchantMismatch):
            logger.warning(
                "app_auth_token belongs to another merchant than the message names",
                extra={"merchant_id": verdict.claimed, "token_merchant_id": verdict.actual},
            )
            return Unreadable(verdict.reason, None)
        return IdentityUnconfirmed(verdict.decision, answer.outcome.trace_id)

    def _settle(
        self,
        request: CancelRequest,
        delivery: Delivery,
        client: AlipayClient,
        lease: Lease,
        context: LambdaContext | None,
    ) -> Happened:
        """Claim the trade, then make the calls the steps ask for. AWS errors of the claim propagate
        (nothing was called yet); later ones end the calls and leave the answers to routing."""
        policy = request.if_paid or self._config.paid_trade_policy
        claimed = self._claim(request, delivery, lease, policy)
        if not isinstance(claimed, _Claim):
            return claimed
        begun, history, pending = claimed.start, claimed.history, claimed.pending
        answers: list[Answer] = []
        recorded = 0  # answers already in the ledger's history
        step = next_step(begun, ())
        first = _pending(step, delivery)
        if _what(first) != _what(pending):  # the item calls for another first call (our refund)
            try:
                self._ledger.repoint(request.trade_key, lease, pending, first)
            except NotLeaseHolder:
                return LeaseLost(())
            pending = first
        while isinstance(step, Call):
            if answers:  # a further call: fresh keys if asked, time for it, and the ledger told first
                if step.fresh_keys:
                    fresh = self._fresh_client(request, client, answers)
                    if fresh is None:  # the last answer stands, judged as from fresh keys
                        step = next_step(begun, tuple(answers))
                        if isinstance(step, Call):
                            step = interrupted(tuple(answers), step)
                        break
                    client = fresh
                left = _remaining_ms(context)
                if left is not None and left < self.call_budget_ms(self._config):
                    logger.info("too little time left for the next call now", extra={"op": step.op.value})
                    step = interrupted(tuple(answers), step)
                    break
                entries = tuple(answered(a, delivery.message_id) for a in answers[recorded:])
                now_history, dropped = extended(history, entries)
                following = _pending(step, delivery)
                try:
                    self._ledger.step(request.trade_key, lease, now_history, dropped, pending, following)
                except NotLeaseHolder:
                    return LeaseLost(tuple(answers))
                except (ClientError, BotoCoreError) as error:
                    logger.warning("ledger step write failed; no further call", extra={"error": str(error)})
                    step = interrupted(tuple(answers), step)
                    break
                history, recorded, pending = now_history, len(answers), following
            outcome = self._calls.send(step, client, request)
            decision = classify(outcome, step.op, after_secret_refresh=step.fresh_keys)
            answers.append(Answer(step, outcome, decision, pending.at))
            step = next_step(begun, tuple(answers))
        return Answered(lease.holder, history, tuple(answers), recorded, begun, step, claimed.resumed)

    def _claim(
        self, request: CancelRequest, delivery: Delivery, lease: Lease, policy: PaidTradePolicy
    ) -> _Claim | Happened:
        """The lease, with the first call pending; or why not (settled, held elsewhere). The claim
        sets the call a trade without history starts with; ``_settle`` repoints it if the item calls
        for another."""
        key = request.trade_key
        pending = _pending(next_step(Start(key, policy), ()), delivery)
        claim = self._ledger.claim(request, lease, pending, delivery.message_id)
        if isinstance(claim, Claimed):
            history = claim.prior.history if claim.prior else ()
            return _Claim(start(Prior(claim.prior), key, policy), history, pending)
        item = claim.item
        why = refused(item, lease.holder, int(time.time() * 1000))
        if why is Refusal.OURS:  # this delivery's own claim went through before (an SDK retry)
            return _Claim(start(Prior(item), key, policy), item.history, item.pending or pending)
        if why is not Refusal.UNANSWERED or item.pending is None:
            return Settled(str(item.status)) if why is Refusal.SETTLED else InProgress()
        # A dead holder's call, its answer never recorded: claim again in its place, and resume it.
        begun = start(Prior(item, unknown=item.pending), key, policy)
        history, dropped = extended(item.history, (unanswered(item.pending),))
        pending = _pending(next_step(begun, ()), delivery)
        claim = self._ledger.claim(
            request,
            lease,
            pending,
            delivery.message_id,
            resuming=item.pending,
            history=history,
            history_dropped=dropped,
        )
        if isinstance(claim, Refused):
            why = refused(claim.item, lease.holder, int(time.time() * 1000))
            if why is Refusal.SETTLED:
                return Settled(str(claim.item.status))
            if why is not Refusal.OURS:
                return InProgress()  # another delivery resumed it first
        logger.info(
            "resuming a call whose answer was never recorded",
            extra={"unknown_call_at": item.pending.at, "unknown_call_delivery": item.pending.delivery},
        )
        return _Claim(begun, history, pending, item.pending)

    def _fresh_client(
        self, request: CancelRequest, client: AlipayClient, answers: list[Answer]
    ) -> AlipayClient | None:
        """The app's client with its secret re-read; None when there is none to call with, and the last
        answer stands: the re-read failed, or it happened already in this invocation with nothing newer
        (the last answer came from fresh keys: it is judged as such, in place)."""
        try:
            fresh = self._calls.refreshed(request.app_id, client)
        except SecretUnavailable as problem:
            logger.error("signing secret refresh failed", extra={"problem": str(problem)})
            return None
        if fresh is None:
            logger.info("signing secret already refreshed in this invocation; not retrying now")
            last = answers[-1]
            answers[-1] = last._replace(
                call=last.call._replace(fresh_keys=True),
                decision=classify(last.outcome, last.call.op, after_secret_refresh=True),
            )
            return None
        logger.info("signing secret refreshed after a signature problem; retrying the call once")
        return fresh


class _Claim(NamedTuple):
    """A claimed trade: what the steps start from, its history as it is now, the call pending, and a
    dead holder's call it resumes."""

    start: Start
    history: tuple[HistoryEntry, ...]
    pending: Pending
    resumed: Pending | None = None


def _pending(step: Call | Finish, delivery: Delivery) -> Pending:
    """The ledger's ``pending`` for a call about to be sent (with our refund request for a refund
    and its query)."""
    assert isinstance(step, Call), "a claim is made for a call"
    refund = step.refund
    return Pending(
        step.op.value,
        iso_utc(time.time()),
        delivery.message_id,
        refund.out_request_no if refund else None,
        refund.refund_amount if refund else None,
    )


def _what(call: Pending) -> tuple[str, str | None, str | None]:
    """What a pending call is, whenever and by whom it is made: its op and our refund request."""
    return call.op, call.out_request_no, call.refund_amount


def _request_id(context: LambdaContext | None) -> str:
    request_id = getattr(context, "aws_request_id", None)
    return request_id if isinstance(request_id, str) and request_id else uuid.uuid4().hex


def _remaining_ms(context: LambdaContext | None) -> int | None:
    """Milliseconds left in this record's invocation; None without a Lambda context."""
    return None if context is None else int(context.get_remaining_time_in_millis())


def _received(record: SQSRecord, config: Config, jitter: float) -> Received:
    attributes: dict[str, Any] = record.raw_event.get("attributes") or {}
    receive_count = _int(attributes.get("ApproximateReceiveCount"), 1)
    sent_ms = _int(attributes.get("SentTimestamp"), int(time.time() * 1000))  # missing: just sent
    message_attributes: dict[str, Any] = dict(record.raw_event.get("messageAttributes") or {})
    first_sent_ms = _int(_string_attribute(message_attributes, FIRST_SENT_ATTRIBUTE), sent_ms)
    now_ms = int(time.time() * 1000)
    delivery = Delivery(
        message_id=record.message_id,
        body=record.body,
        receive_count=max(1, receive_count),
        schedule=config.retry_schedule,
        age_seconds=max(0, now_ms - first_sent_ms) // 1000,
        max_age_seconds=config.queue_retention_seconds,
        sent_age_seconds=max(0, now_ms - sent_ms) // 1000,
        jitter=jitter,
    )
    return Received(
        delivery=delivery,
        receipt_handle=record.receipt_handle,
        first_sent_ms=first_sent_ms,
        requeues=_int(_string_attribute(message_attributes, REQUEUES_ATTRIBUTE), 0),
        attributes=message_attributes,
    )


def _string_attribute(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    return value.get("stringValue") if isinstance(value, dict) else None


def _int(text: object, default: int) -> int:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return default
