"""Carry out a routing plan as it is: ledger write, dead letter, re-enqueue or visibility change,
metrics, log.

A record is acknowledged (``apply`` returns) only when everything it needs is durably done: its ledger
write made and, when it needs one, its dead letter or re-enqueued copy sent. Otherwise ``apply`` raises
``RecordNotAcknowledged`` and the batch processor reports it in ``batchItemFailures``.

Write first, then the dead letter: if the send fails the message comes back and the next delivery
finds the trade's state in the ledger; the other order could leave duplicate dead letters. On the last
allowed receive a failed write is not the end: the plan says what to do instead (``Plan.unrecorded``,
decided by routing with the rest): its dead letter goes out saying the result was not recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from alipay_cancel import observability as obs
from alipay_cancel.decisions.plans import Delivery, Plan
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import INFRASTRUCTURE_ERROR_METRIC
from alipay_cancel.shared.ledger_item import LedgerWrite
from alipay_cancel.stores.dead_letters import DeadLetterSender
from alipay_cancel.stores.ledger import Ledger
from alipay_cancel.stores.requeue import Requeuer
from alipay_cancel.stores.visibility import VisibilityScheduler

logger = obs.logger

_LOG_AT: dict[int, Callable[..., None]] = {
    logging.INFO: logger.info,
    logging.WARNING: logger.warning,
    logging.ERROR: logger.error,
}


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
        *,
        ledger: Ledger,
        dead_letters: DeadLetterSender,
        visibility: VisibilityScheduler,
        requeuer: Requeuer,
    ) -> None:
        self._ledger = ledger
        self._dead_letters = dead_letters
        self._visibility = visibility
        self._requeuer = requeuer

    def apply(self, received: Received, plan: Plan) -> str:
        """Returns the ending's outcome class when the record is acknowledged; raises otherwise."""
        if plan.write is not None and not self._written(plan.write):
            if plan.unrecorded is None:
                raise RecordNotAcknowledged("ledger write failed")
            self._send(plan.unrecorded.dead_letter)  # raises: left to the queue's redrive
            self._requeue(received, plan.unrecorded.requeue_seconds)
            self._write_again(plan.write)
            return self._finish(plan.unrecorded)
        self._send(plan.dead_letter)
        self._requeue(received, plan.requeue_seconds)
        delay = self._delay(received, plan.visibility_seconds)
        return self._finish(plan, delay)

    def _finish(self, plan: Plan, delay: int | None = None) -> str:
        for metric in plan.metrics:
            obs.add_count(metric)
        extra = {k: v for k, v in plan.detail.items() if v is not None}
        extra.update(ending=plan.ending.value, outcome_class=plan.outcome_class.value)
        if delay is not None:
            extra["delay"] = delay
        if plan.write is not None:
            extra["status"] = plan.write.record.status.value
        _LOG_AT[plan.log_level](plan.log, extra=extra)
        if not plan.acknowledge:
            raise RecordNotAcknowledged(str(plan.detail.get("reason") or plan.log))
        return plan.outcome_class.value

    def _written(self, write: LedgerWrite) -> bool:
        """False when the write failed (DynamoDB, or the lease is no longer this delivery's)."""
        try:
            if not self._ledger.write(write):
                logger.info(
                    "ledger note not written: the trade is settled or another delivery holds it",
                    extra={"not_written_status": write.record.status.value},
                )
        except Exception as error:  # noqa: BLE001 - every failure leaves the message (or the plan's dead letter)
            obs.add_count(INFRASTRUCTURE_ERROR_METRIC)
            logger.warning("ledger write failed", extra={"error": str(error) or type(error).__name__})
            return False
        return True

    def _write_again(self, write: LedgerWrite) -> None:
        try:  # once more, best effort: the dead letter already says what to check
            self._ledger.write(write)
        except Exception as again:  # noqa: BLE001 - the message is dead-lettered with a reason either way
            logger.warning("ledger write failed again after the dead letter", extra={"error": str(again)})

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

    def _requeue(self, received: Received, delay_seconds: int | None) -> None:
        if delay_seconds is None:
            return
        try:
            self._requeuer.requeue(
                received.delivery.body,
                delay_seconds,
                first_sent_ms=received.first_sent_ms,
                requeues=received.requeues + 1,
                attributes=received.attributes,
            )
        except Exception as error:
            obs.add_count(INFRASTRUCTURE_ERROR_METRIC)
            logger.warning("re-enqueue failed; message left on the queue", extra={"error": str(error)})
            raise

    def _delay(self, received: Received, seconds: int | None) -> int | None:
        """Sets the message's visibility timeout; returns the seconds set (None: the queue's own)."""
        if seconds is None:
            return None
        try:
            self._visibility.delay(received.receipt_handle, seconds)
        except Exception as error:  # noqa: BLE001 - the queue's own visibility timeout still applies
            logger.warning("could not set the retry delay", extra={"error": str(error), "delay": seconds})
            return None
        return seconds
