"""The function's Powertools Logger, Metrics and Tracer, and the metric names it emits.

One instance of each per container. Metrics are not thread-safe in Powertools (a metric's value list is
created on first use), so records running in worker threads add metrics through ``add_count`` /
``add_latency`` under a lock.

The X-Ray SDK costs ~200 ms to import, so a real ``Tracer`` is built only when tracing can be on (in
Lambda and not disabled: Powertools' own rule); otherwise a pass-through stand-in keeps the same
decorator API without importing it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

DEFAULT_SERVICE = "alipay-cancel"
DEFAULT_NAMESPACE = "AlipayCancel"

# Watched by the alarm in template.yaml: the exact name matters. One count per record (delivery) that
# could not be cancelled because our own configuration is wrong: invalid environment (every record of
# the invocation), unusable signing secret, or Alipay rejecting our signature/app id/permissions. An
# invocation with 10 records and a broken secret counts 10, not 1 + 10.
CONFIGURATION_ERROR_METRIC = "ConfigurationError"
ALIPAY_LATENCY_METRIC = "AlipayLatency"
INFRASTRUCTURE_ERROR_METRIC = "InfrastructureError"  # DynamoDB/SQS/idempotency-store failure: message retried
# A record not tried because the invocation had too little time left for an Alipay call (see
# cancel_service.SAFETY_MARGIN_MS): retried shortly, not counted as an attempt. Persistently non-zero:
# the function's Timeout is too short or batches queue for workers too long.
LOW_TIME_DEFERRED_METRIC = "DeferredLowTime"
# A message dead-lettered (with a reason) on its last allowed receive because the same trade's cancel
# was still in progress every time (usually another delivery of it, which records the outcome).
DUPLICATE_IN_FLIGHT_METRIC = "DuplicateInFlight"
OUTCOME_METRICS = {
    "succeeded": "OutcomeSucceeded",
    "retry": "OutcomeRetry",
    "terminal": "OutcomeTerminal",
    "config_error": "OutcomeConfigError",
    "bad_message": "OutcomeBadMessage",
    "exhausted": "OutcomeExhausted",
}

F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE)
metrics = Metrics(
    namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
    service=os.getenv("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE,
)
_metrics_lock = threading.RLock()


def _serialised_flush(flush: Callable[..., None]) -> Callable[..., None]:
    def locked(*args: Any, **kwargs: Any) -> None:
        with _metrics_lock:
            flush(*args, **kwargs)

    return locked


# log_metrics flushes through the provider; in-process drivers run invocations on several threads, so
# a flush must not interleave with another invocation's add_metric.
metrics.provider.flush_metrics = _serialised_flush(metrics.provider.flush_metrics)  # type: ignore[method-assign]


def apply_environment(environ: Mapping[str, str]) -> None:
    """Re-read the Powertools variables at cold start (the module may have been imported before the
    environment was set, e.g. by the local driver): metrics namespace and service, log level."""
    service = environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE
    metrics.namespace = environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    metrics.service = service
    level = environ.get("POWERTOOLS_LOG_LEVEL")
    if level:
        logger.setLevel(level.upper())


def add_count(name: str, value: int = 1) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def add_latency(milliseconds: float) -> None:
    with _metrics_lock:
        metrics.add_metric(name=ALIPAY_LATENCY_METRIC, unit=MetricUnit.Milliseconds, value=milliseconds)


def count_outcome(outcome_class: str) -> None:
    add_count(OUTCOME_METRICS[outcome_class])


class TracerLike(Protocol):
    def capture_lambda_handler(self, lambda_handler: F) -> F: ...

    def capture_method(self, method: F) -> F: ...


class _PassThroughTracer:
    """Tracing is off: same decorators, no X-Ray SDK import."""

    def capture_lambda_handler(self, lambda_handler: F) -> F:
        return lambda_handler

    def capture_method(self, method: F) -> F:
        return method


_TRUTHY = {"1", "true", "yes", "on", "y"}


def tracing_enabled(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Powertools' rule: on in Lambda unless POWERTOOLS_TRACE_DISABLED is truthy or under SAM local."""
    disabled = environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY
    in_lambda = bool(environ.get("LAMBDA_TASK_ROOT"))
    emulated = bool(environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated and not disabled


def _build_tracer() -> TracerLike:
    if not tracing_enabled():
        return _PassThroughTracer()
    from aws_lambda_powertools import Tracer  # imports aws_xray_sdk: only paid when tracing is on

    return cast(TracerLike, Tracer(service=os.getenv("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE))


tracer = _build_tracer()
