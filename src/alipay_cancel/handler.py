"""Lambda entry point: SQS batch in, partial batch response out. Thin: the work is in cancel_service.

Configuration is read from the environment once per container, on the first invocation; a missing or
invalid variable fails the invocation loudly (error log naming it + ConfigurationError counting each of
its records), so the whole batch is retried rather than mishandled. ``reset()`` drops the cached
runtime: tests and the local ESM driver call it after changing environment variables.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from alipay_cancel.config import ConfigError, load_config
from alipay_cancel.observability import (
    CONFIGURATION_ERROR_METRIC,
    add_count,
    apply_environment,
    logger,
    metrics,
    tracer,
)
from alipay_cancel.pipeline.builder import Runtime, build_runtime

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            apply_environment(os.environ)
            try:
                config = load_config(os.environ)
            except ConfigError as error:
                logger.error("configuration error: invalid environment", extra={"problem": str(error)})
                raise
            _runtime = build_runtime(config)
        return _runtime


def reset() -> None:
    """Forget the cached configuration, clients and thread pool (next call rebuilds them)."""
    global _runtime
    with _runtime_lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.close()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        runtime = get_runtime()
    except ConfigError:
        records = len(event.get("Records") or ())
        if records:
            add_count(CONFIGURATION_ERROR_METRIC, records)  # per record, like every other config error
        raise
    if event.get("Records") == []:  # nothing to do (Powertools refuses an empty batch)
        return {"batchItemFailures": []}
    runtime.service.begin_invocation(context)
    processor = runtime.new_processor()
    process_partial_response(
        event=event, record_handler=runtime.service.handle, processor=processor, context=context
    )
    failures = processor.failed_message_ids_in_order()
    logger.info(
        "batch processed",
        extra={"records": len(processor.records), "failures": len(failures)},
    )
    return {"batchItemFailures": failures}
