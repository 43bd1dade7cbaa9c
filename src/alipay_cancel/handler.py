"""Lambda entry point: SQS batch in, partial batch response out. Thin: the work is in pipeline.service.

Configuration is read from the environment once per container, on the first invocation; a missing or
invalid variable fails the invocation loudly (error log naming it + ConfigurationError counting each of
its records), so the whole batch is retried rather than mishandled. Code that runs the handler in its
own process (tests, bench) resets it with ``local.lambda_runtime.in_process.reload_function``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from alipay_cancel.config import ConfigError, load_config
from alipay_cancel.observability import (
    CONFIGURATION_ERROR_METRIC,
    add_count,
    logger,
    metrics,
    tracer,
)
from alipay_cancel.pipeline.builder import Runtime, build_runtime


@functools.cache
def get_runtime() -> Runtime:
    """The container's configuration, clients and thread pool, built on the first invocation. Lambda
    runs one invocation at a time per environment, so no lock; an invalid environment is not cached
    (the next invocation reads it again)."""
    try:
        config = load_config(os.environ)
    except ConfigError as error:
        logger.error("configuration error: invalid environment", extra={"problem": str(error)})
        raise
    return build_runtime(config)


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
    runtime.service.begin_invocation()
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
