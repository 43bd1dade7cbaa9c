"""One SQS record through the pipeline: parse, attempt (once per trade), route, apply.

Deciding is ``decisions.routing.route`` (pure); doing is ``pipeline.apply``. This module only gathers
what happened: whether the message parses, whether the signing setup is usable, whether there is time
for an Alipay call, and what the once-per-trade attempt returned.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from alipay_cancel import observability as obs
from alipay_cancel.alipay.responses import CancelSuccess
from alipay_cancel.config import Config
from alipay_cancel.decisions.plans import (
    Attempt,
    Called,
    Delivery,
    Happened,
    InProgress,
    Replayed,
    SetupBroken,
    StoreFailed,
    TooLittleTime,
    Unreadable,
)
from alipay_cancel.decisions.routing import route
from alipay_cancel.pipeline.apply import PlanApplier, Received, RecordNotAcknowledged
from alipay_cancel.pipeline.attempt import Canceller
from alipay_cancel.pipeline.messages import BadMessage, parse_message
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel.stores.idempotency import Busy, Fresh, IdempotencyStoreFailed, OnceOnly, Remembered
from alipay_cancel.stores.requeue import FIRST_SENT_ATTRIBUTE, REQUEUES_ATTRIBUTE

logger = obs.logger

# Kept free after an Alipay call for what follows it: the results write, a dead letter or visibility
# change, and the idempotency store's update, each a DynamoDB/SQS round trip with botocore's retries.
SAFETY_MARGIN_MS = 2000

__all__ = ["SAFETY_MARGIN_MS", "CancelService", "RecordNotAcknowledged"]


class CancelService:
    def __init__(
        self,
        config: Config,
        *,
        canceller: Canceller,
        once_only: OnceOnly,
        applier: PlanApplier,
    ) -> None:
        self._config = config
        self._canceller = canceller
        self._once_only = once_only
        self._applier = applier

    @staticmethod
    def call_budget_ms(config: Config) -> int:
        """An Alipay call is only started with this much time left: the whole call plus the margin."""
        return int((config.connect_timeout + config.read_timeout) * 1000) + SAFETY_MARGIN_MS

    def begin_invocation(self, context: LambdaContext) -> None:
        """Register the context (in-progress records expire with the invocation) and check the signing
        setup. A problem with it does not raise: records are routed as configuration errors one by one,
        while bad messages can still be dead-lettered."""
        self._once_only.register_lambda_context(context)
        self._canceller.begin_invocation()

    def handle(self, record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
        """Returns the outcome class of an acknowledged record; raises to leave it on the queue.
        Powertools' batch processor passes ``lambda_context`` (it looks for the parameter's name)."""
        logger.thread_safe_clear_keys()
        received = _received(record, self._config)
        delivery = received.delivery
        logger.thread_safe_append_keys(message_id=delivery.message_id, receive_count=delivery.receive_count)
        request: CancelRequest | None = None
        happened: Happened
        try:
            request = parse_message(delivery.body, default_app_id=self._canceller.default_app_id)
        except BadMessage as bad:
            happened = Unreadable(bad.reason, bad.trade_key)
            if bad.trade_key:
                logger.thread_safe_append_keys(trade_key=bad.trade_key)
        else:
            logger.thread_safe_append_keys(trade_key=request.trade_key)
            happened = self._what_happened(request, lambda_context)
        trace_id = _trace_id(happened) if isinstance(happened, Called | Replayed) else None
        if trace_id:
            logger.thread_safe_append_keys(alipay_trace_id=trace_id)
        return self._applier.apply(received, route(delivery, request, happened))

    def _what_happened(self, request: CancelRequest, context: LambdaContext | None) -> Happened:
        client = self._canceller.client_for(request.app_id)  # the request's own app's signing setup
        if isinstance(client, SetupBroken):
            return client
        remaining = _remaining_ms(context)
        needed = self.call_budget_ms(self._config)
        if remaining is not None and remaining < needed:
            return TooLittleTime(remaining, needed)
        try:
            result = self._once_only.run(
                request.trade_key,
                lambda: self._canceller.attempt(request, client, lambda: _remaining_ms(context)),
                _success_of,
            )
        except IdempotencyStoreFailed as failed:
            attempt = failed.result if isinstance(failed.result, Attempt) else None
            return StoreFailed(str(failed), attempt)
        if isinstance(result, Busy):
            return InProgress()
        if isinstance(result, Remembered):
            return Replayed(result.success)
        assert isinstance(result, Fresh)
        return Called(result.result)


def _success_of(attempt: Attempt) -> CancelSuccess | None:
    """The idempotency store remembers verified successes only (not a retry_flag Y success)."""
    return attempt.success


def _trace_id(happened: Called | Replayed) -> str | None:
    outcome = happened.success if isinstance(happened, Replayed) else happened.attempt.outcome
    return outcome.trace_id


def _remaining_ms(context: LambdaContext | None) -> int | None:
    """Milliseconds left in this record's invocation; None without a Lambda context."""
    return None if context is None else int(context.get_remaining_time_in_millis())


def _received(record: SQSRecord, config: Config) -> Received:
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
        max_receive_count=config.max_receive_count,
        age_seconds=max(0, now_ms - first_sent_ms) // 1000,
        max_age_seconds=config.queue_retention_seconds,
        sent_age_seconds=max(0, now_ms - sent_ms) // 1000,
        horizon_seconds=config.retry_horizon_seconds,
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
