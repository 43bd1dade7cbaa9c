"""Running the function in this process (fast tests of logic, bench): what Lambda never does.

In Lambda each execution environment is a process that handles one invocation at a time and reads
its environment before the handler module is imported (``local.lambda_runtime.lambda_environment``
does the same). A test or benchmark that calls ``lambda_handler`` directly breaks both assumptions, so
what it needs lives here, not in ``src/``:

- ``reload_function`` forgets the cached runtime and re-reads the Powertools variables, after the
  caller changed the environment (the next invocation is a cold start);
- ``serialise_metrics_flush`` makes Powertools' metrics flush wait for ``add_count`` /
  ``timed_alipay_call``, for callers that run several invocations on threads of one process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

_FLUSH_PATCHED = "_alipay_cancel_serialised"


def reload_function(environ: Mapping[str, str] = os.environ) -> None:
    from alipay_cancel import handler, observability

    if handler.get_runtime.cache_info().currsize:
        handler.get_runtime().close()  # its thread pool
    handler.get_runtime.cache_clear()
    observability.metrics.namespace = (
        environ.get("POWERTOOLS_METRICS_NAMESPACE") or observability.DEFAULT_NAMESPACE
    )
    observability.metrics.service = environ.get("POWERTOOLS_SERVICE_NAME") or observability.DEFAULT_SERVICE
    level = environ.get("POWERTOOLS_LOG_LEVEL")
    if level:
        observability.logger.setLevel(level.upper())


def serialise_metrics_flush() -> None:
    from alipay_cancel import observability

    provider = observability.metrics.provider
    flush: Callable[..., None] = provider.flush_metrics
    if getattr(flush, _FLUSH_PATCHED, False):
        return

    def locked(*args: Any, **kwargs: Any) -> None:
        with observability.metrics_lock:
            flush(*args, **kwargs)

    setattr(locked, _FLUSH_PATCHED, True)
    provider.flush_metrics = locked  # type: ignore[method-assign]
