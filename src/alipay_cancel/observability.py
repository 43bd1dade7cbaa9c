"""The function's Powertools Logger, Metrics and Tracer, and the metric names it emits.

One instance of each per container. Metrics are not thread-safe in Powertools (a metric's value list is
created on first use), so records running in worker threads add metrics through ``add_count`` /
``timed_alipay_call`` under a lock.

The X-Ray SDK costs ~200 ms to import, so a real ``Tracer`` is built only when tracing can be on (in
Lambda and not disabled: Powertools' own rule); otherwise a pass-through stand-in keeps the same
decorator API without importing it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from alipay_cancel.shared.endings import (
    CONFIGURATION_ERROR_METRIC,
    DUPLICATE_IN_FLIGHT_METRIC,
    INFRASTRUCTURE_ERROR_METRIC,
    LOW_TIME_DEFERRED_METRIC,
    OUTCOME_METRICS,
    REQUEUED_METRIC,
)

DEFAULT_SERVICE = "alipay-cancel"
DEFAULT_NAMESPACE = "AlipayCancel"

# Metric names live beside the endings that count them (shared.endings); re-exported here.
ALIPAY_LATENCY_METRIC = "AlipayLatency"
# Every custom metric the function emits (the dashboard, alarms and docs/operations.md name only these).
EMITTED_METRICS = frozenset(
    {
        *OUTCOME_METRICS,
        CONFIGURATION_ERROR_METRIC,
        INFRASTRUCTURE_ERROR_METRIC,
        ALIPAY_LATENCY_METRIC,
        LOW_TIME_DEFERRED_METRIC,
        DUPLICATE_IN_FLIGHT_METRIC,
        REQUEUED_METRIC,
    }
)
__all__ = [
    "ALIPAY_LATENCY_METRIC",
    "CONFIGURATION_ERROR_METRIC",
    "DUPLICATE_IN_FLIGHT_METRIC",
    "EMITTED_METRICS",
    "INFRASTRUCTURE_ERROR_METRIC",
    "LOW_TIME_DEFERRED_METRIC",
    "OUTCOME_METRICS",
    "REQUEUED_METRIC",
    "add_count",
    "logger",
    "metrics",
    "timed_alipay_call",
    "tracer",
]

F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE)
metrics = Metrics(
    namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
    service=os.getenv("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE,
)
# Records run on worker threads and Powertools metrics are not thread-safe: every add takes this lock.
metrics_lock = threading.RLock()


def add_count(name: str, value: int = 1) -> None:
    with metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@contextmanager
def timed_alipay_call() -> Iterator[None]:
    """Times the Alipay call inside it (its whole wall time, in milliseconds) into ALIPAY_LATENCY_METRIC."""
    started = time.perf_counter()
    yield
    milliseconds = (time.perf_counter() - started) * 1000.0
    with metrics_lock:
        metrics.add_metric(name=ALIPAY_LATENCY_METRIC, unit=MetricUnit.Milliseconds, value=milliseconds)


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
