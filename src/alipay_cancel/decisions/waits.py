"""How long a message left on the queue waits, and how long a re-enqueued copy is delayed: computed
once, by routing, from the delivery (its receive count, age, schedule and jitter draw)."""

from __future__ import annotations

from alipay_cancel.decisions.alipay_codes import RetryDelay
from alipay_cancel.decisions.plans import Delivery
from alipay_cancel.decisions.retry_policy import visibility_timeout
from alipay_cancel.shared.sqs_limits import SQS_MAX_DELAY_SECONDS

# A record left untried for lack of time comes back this soon: nothing failed, so no backoff is due,
# but not at once either, so that a function whose timeout can never fit a call does not spin.
LOW_TIME_RETRY_SECONDS = 5


def backoff(delivery: Delivery, delay: RetryDelay, *, receive_count: int | None = None) -> int:
    """The schedule's delay for this receive (or ``receive_count``)."""
    return visibility_timeout(
        delivery.receive_count if receive_count is None else receive_count,
        delay,
        **delivery.schedule.backoff_bounds(),
        jitter=delivery.jitter,
    )


def until_retry(delivery: Delivery, delay: RetryDelay) -> int:
    """After a retryable Alipay failure: the backoff, shortened so the next try lands no later than the
    horizon (where routing gives up)."""
    left = delivery.schedule.horizon_seconds - delivery.sent_age_seconds
    return max(1, min(backoff(delivery, delay), left))


def soon(delivery: Delivery) -> int:
    """Untried for lack of time: back as soon as a retry could be."""
    return min(LOW_TIME_RETRY_SECONDS, delivery.schedule.max_seconds)


def requeued_configuration_error(delivery: Delivery) -> int:
    """A copy kept while our configuration is broken: the slow delay, within SQS's DelaySeconds."""
    return min(SQS_MAX_DELAY_SECONDS, backoff(delivery, RetryDelay.SLOW))
