"""Carry out a routing plan: results write, dead letter, re-enqueue or visibility change, metrics, log.

A record is acknowledged (``apply`` returns) only when everything it needs is durably done: its results
item written and, when it needs one, its dead letter or re-enqueued copy sent. Otherwise ``apply``
raises ``RecordNotAcknowledged`` and the batch processor reports it in ``batchItemFailures``.

Record first, then the dead letter: if the send fails the message comes back and the write repeats
harmlessly; the other order could leave duplicate dead letters. A failed write on the last allowed
receive is the exception (``last_receive.unrecorded``): the dead letter is sent anyway, saying so.
"""

from __future__ import annotations

import random
import threading
from typing import Any, NamedTuple

from alipay_cancel import observability as obs
from alipay_cancel.config import Config
from alipay_cancel.decisions import routing
from alipay_cancel.decisions.classification import RetryDelay
from alipay_cancel.decisions.last_receive import MAX_REQUEUE_DELAY_SECONDS, unrecorded
from alipay_cancel.decisions.plans import Delivery, Plan, Wait
from alipay_cancel.decisions.retry_policy import visibility_timeout
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import INFRASTRUCTURE_ERROR_METRIC, Ending
from alipay_cancel.stores.dead_letters import DeadLetterSender
from alipay_cancel.stores.requeue import Requeuer
from alipay_cancel.stores.results import ResultRecord, ResultsStore
from alipay_cancel.stores.visibility import VisibilityScheduler

logger = obs.logger


class RecordNotAcknowledged(Exception):
    """The record stays on the queue: it is reported in batchItemFailures and delivered again."""


class Received(NamedTuple):
    """What the applier needs of the SQS record beyond the routing's ``Delivery``."""

    delivery: Delivery
    receipt_handle: str
    first_sent_ms: int
    requeues: int
    attributes: dict[str, Any]


class PlanApplier:
    def __init__(
        self,
        config: Config,
        *,
        results: ResultsStore,
        dead_letters: DeadLetterSender,
        visibility: VisibilityScheduler,
        requeuer: Requeuer,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._results = results
        self._dead_letters = dead_letters
        self._visibility = visibility
        self._requeuer = requeuer
        self._rng = rng or random.Random()  # jitter, not security
        self._rng_lock = threading.Lock()

    def apply(self, received: Received, plan: Plan) -> str:
        """Returns the ending's outcome class when the record is acknowledged; raises otherwise."""
        already_succeeded = False
        if plan.record is not None:
            try:
                already_succeeded = not self._write(plan.record)
            except Exception as error:
                obs.add_count(INFRASTRUCTURE_ERROR_METRIC)
                logger.warning("results write failed", extra={"error": str(error)})
                if received.delivery.last and (plan.dead_letter or plan.fallback_letter):
                    plan = unrecorded(plan, _aws_error(error))
                    self._send(plan.dead_letter)  # raises: left to the redrive
                    self._write_again(plan.record)
                    return self._finish(plan)
                if not plan.requeue:
                    raise RecordNotAcknowledged("results write failed") from error
                # A re-enqueue keeps the message either way; the record is only informational.
        if already_succeeded and plan.ending is not Ending.BAD_MESSAGE and plan.acknowledge:
            # The trade was cancelled by an earlier delivery: nothing is left for a person to do.
            note = "not dead-lettered or re-enqueued: the trade is already SUCCEEDED"
            plan = plan._replace(dead_letter=None, requeue=False, log=f"{plan.log} ({note})")
        if plan.dead_letter is not None:
            self._send(plan.dead_letter)
        if plan.requeue:
            self._requeue(received, plan)
        delay = self._delay(received, plan) if plan.wait is not None else None
        return self._finish(plan, delay)

    def _finish(self, plan: Plan, delay: int | None = None) -> str:
        for metric in plan.metrics:
            obs.add_count(metric)
        extra = {k: v for k, v in plan.detail.items() if v is not None}
        extra.update(ending=plan.ending.value, outcome_class=plan.outcome_class)
        if delay is not None:
            extra["delay"] = delay
        if plan.record is not None:
            extra["status"] = plan.record.status.value
        getattr(logger, plan.log_level)(plan.log, extra=extra)
        if not plan.acknowledge:
            raise RecordNotAcknowledged(str(plan.detail.get("reason") or plan.log))
        return plan.outcome_class

    def _write(self, record: ResultRecord) -> bool:
        """False when the trade is already SUCCEEDED (its item is left as it is)."""
        if self._results.write(record):
            return True
        logger.info(
            "trade already SUCCEEDED: this delivery's outcome was not written over it",
            extra={"not_written_status": record.status.value},
        )
        return False

    def _write_again(self, record: ResultRecord | None) -> None:
        if record is None:
            return
        try:  # once more, best effort: the dead letter already says what to check
            self._results.write(record)
        except Exception as again:  # noqa: BLE001 - the message is dead-lettered with a reason either way
            logger.warning("results write failed again after the dead letter", extra={"error": str(again)})

    def _send(self, letter: DeadLetter | None) -> None:
        if letter is None:
            return
        try:
            self._dead_letters.send(letter)
        except Exception as error:
            obs.add_count(INFRASTRUCTURE_ERROR_METRIC)
            logger.warning(
                "dead letter send failed; message left on the queue",
                extra={"error": str(error), "outcome_class": letter.outcome_class},
            )
            raise

    def _requeue(self, received: Received, plan: Plan) -> None:
        if plan.ending is Ending.LOW_TIME:  # untried, nothing failed: back as soon as a retry would be
            delay = min(routing.LOW_TIME_RETRY_SECONDS, self._config.retry_max_seconds)
        else:
            slow = self._backoff(received.delivery.receive_count, RetryDelay.SLOW)
            delay = min(MAX_REQUEUE_DELAY_SECONDS, slow)
        try:
            self._requeuer.requeue(
                received.delivery.body,
                delay,
                first_sent_ms=received.first_sent_ms,
                requeues=received.requeues + 1,
                attributes=received.attributes,
            )
        except Exception as error:
            obs.add_count(INFRASTRUCTURE_ERROR_METRIC)
            logger.warning("re-enqueue failed; message left on the queue", extra={"error": str(error)})
            raise

    def _delay(self, received: Received, plan: Plan) -> int | None:
        """Sets the message's visibility timeout; returns the seconds set (None: the queue's own)."""
        wait = plan.wait
        if wait is Wait.QUEUE_DEFAULT:
            return None
        if wait is Wait.SOON:
            seconds = min(routing.LOW_TIME_RETRY_SECONDS, self._config.retry_max_seconds)
        elif wait is Wait.FIRST_BACKOFF:
            seconds = self._backoff(1, RetryDelay.NORMAL)
        else:
            delay = RetryDelay.SLOW if wait is Wait.SLOW_BACKOFF else RetryDelay.NORMAL
            seconds = self._backoff(received.delivery.receive_count, delay)
            if plan.ending in (Ending.RETRY, Ending.SLOW_RETRY):
                # The next try lands no later than the horizon (routing gives up at it).
                left = received.delivery.horizon_seconds - received.delivery.sent_age_seconds
                seconds = max(1, min(seconds, left))
        try:
            self._visibility.delay(received.receipt_handle, seconds)
        except Exception as error:  # noqa: BLE001 - the queue's own visibility timeout still applies
            logger.warning("could not set the retry delay", extra={"error": str(error), "delay": seconds})
            return None
        return seconds

    def _backoff(self, receive_count: int, delay: RetryDelay) -> int:
        with self._rng_lock:  # random.Random is not documented as thread-safe
            return visibility_timeout(
                receive_count,
                delay,
                base_seconds=self._config.retry_base_seconds,
                max_seconds=self._config.retry_max_seconds,
                slow_base_seconds=self._config.retry_slow_base_seconds,
                rng=self._rng,
            )


def _aws_error(error: Exception) -> str:
    """What failed, readable, for a dead letter's reason. botocore's text names the error code and the
    operation (e.g. "An error occurred (ThrottlingException) when calling the UpdateItem operation ...")."""
    return str(error) or type(error).__name__
