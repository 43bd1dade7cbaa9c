"""Lambda entry point of the outcome-event publisher: a results-table stream batch in, events out.

Thin: ``stream_batch.publish_batch`` does the work. The response names the first record to retry
(``ReportBatchItemFailures``); the event source mapping resumes there.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from alipay_cancel_events.config import EventsConfig, load_config
from alipay_cancel_events.publisher import Publisher
from alipay_cancel_events.stream_batch import BatchReport, publish_batch

PUBLISHED_METRIC = "OutcomeEventsPublished"
DEAD_LETTERED_METRIC = "OutcomeEventsDeadLettered"
RETRIED_METRIC = "OutcomeEventPublishRetried"

# The template sets both from its Observability mapping; the defaults are the same names.
DEFAULT_NAMESPACE = "AlipayCancel"
logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE)

# The SDK retries throttles and 5xx itself (standard mode) before a record is reported as failed.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)


@dataclass(frozen=True)
class Runtime:
    config: EventsConfig
    publisher: Publisher


def build_runtime(config: EventsConfig, *, session: Any = None, endpoint_url: str | None = None) -> Runtime:
    """Clients and publisher; ``session`` / ``endpoint_url`` for runs outside Lambda (the local stack)."""
    session = session or boto3.session.Session()
    publisher = Publisher(
        session.client("events", config=_CLIENT_CONFIG, endpoint_url=endpoint_url),
        session.client("sqs", config=_CLIENT_CONFIG, endpoint_url=endpoint_url),
        bus=config.bus_name,
        dead_letter_queue_url=config.dead_letter_queue_url,
    )
    return Runtime(config, publisher)


@functools.cache
def get_runtime() -> Runtime:
    return build_runtime(load_config(os.environ))


def process_event(
    event: Mapping[str, Any], runtime: Runtime, now: float
) -> tuple[dict[str, Any], BatchReport]:
    """The partial batch response for one stream event, and what happened (for logs and tests)."""
    report = publish_batch(
        event.get("Records") or (), runtime.publisher, retry_seconds=runtime.config.retry_seconds, now=now
    )
    return {"batchItemFailures": report.batch_item_failures()}, report


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response, report = process_event(event, get_runtime(), time.time())
    for published in report.published:
        logger.info(
            "outcome event published",
            extra={
                "trade_key": published.trade_key,
                "event_id": published.event_id,
                "detail_type": published.detail_type,
            },
        )
    for trade_key, reason in report.dead_lettered:
        logger.error("outcome event dead-lettered", extra={"trade_key": trade_key, "reason": reason})
    if report.failed_sequence_number is not None:
        logger.warning(
            "outcome event not published yet: the stream retries from this record",
            extra={"sequence_number": report.failed_sequence_number, "error_code": report.failure},
        )
        metrics.add_metric(name=RETRIED_METRIC, unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=PUBLISHED_METRIC, unit=MetricUnit.Count, value=len(report.published))
    metrics.add_metric(name=DEAD_LETTERED_METRIC, unit=MetricUnit.Count, value=len(report.dead_lettered))
    return response
