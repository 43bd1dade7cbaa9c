"""``python -m local.chaos.env_hooks <handler>``: awslambdaric, with chaos's AWS fault injector on the
function's own boto3 clients (chaos only; ``make demo`` and ``make local-stack`` run plain awslambdaric).

The injector (``local.chaos.aws_faults``) hooks every DynamoDB / SQS / Secrets Manager client the
function creates in this environment, with ``CHAOS_AWS_CALL_RATE`` / ``CHAOS_AWS_WIRE_RATE`` and a seed
of ``CHAOS_AWS_SEED`` plus this environment's number (1, 2, ... in start order: each environment
draws its own sequence, the same in every run). Every count and every injected error the function
received (with the function's log keys at that moment: message id, receive count) is appended as
one JSON line to ``CHAOS_AWS_EVENTS``, one ``write`` per line, so lines of concurrent environments
never mix and a kill loses at most the last.
Then awslambdaric's own entry point runs, unchanged.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any


def _log_keys() -> dict[str, Any]:
    """The keys the function logs with for the record at hand (message_id, receive_count, ...)."""
    try:
        from alipay_cancel.observability import logger  # imported by the handler already

        return dict(logger.thread_safe_get_current_keys())
    except (ImportError, AttributeError):  # the function's layout changed: no context, still counted
        return {}


def _ledger_every(text: str) -> dict[str, int]:
    """``claim=30,final=30``: fail every 30th claim and every 30th final write of the ledger."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {kind.strip(): int(n) for kind, n in pairs}


def install_from_environment() -> None:
    path = os.environ.get("CHAOS_AWS_EVENTS")
    if not path:
        return
    import botocore.client

    from local.chaos.aws_faults import ERRORS, AwsFaultInjector

    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    lock = threading.Lock()

    def sink(event: dict[str, Any]) -> None:
        line = (json.dumps(event, default=str) + "\n").encode()
        with lock:
            os.write(fd, line)

    env_id = int(os.environ.get("LOCAL_LAMBDA_ENVIRONMENT_ID", "0"))
    injector = AwsFaultInjector(
        call_rate=float(os.environ.get("CHAOS_AWS_CALL_RATE", "0")),
        wire_rate=float(os.environ.get("CHAOS_AWS_WIRE_RATE", "0")),
        seed=int(os.environ.get("CHAOS_AWS_SEED", "1")) * 100_003 + env_id,
        context=_log_keys,
        sink=sink,
        ledger_every=_ledger_every(os.environ.get("CHAOS_AWS_LEDGER_EVERY", "")),
    )
    original = botocore.client.ClientCreator.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)
        if service_name in ERRORS:
            injector.install(client)
        return client

    botocore.client.ClientCreator.create_client = create_client  # type: ignore[method-assign]


def main() -> None:
    install_from_environment()
    from awslambdaric.__main__ import main as awslambdaric_main

    awslambdaric_main(sys.argv)


if __name__ == "__main__":
    main()
