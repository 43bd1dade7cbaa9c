"""The function's JSON log lines (Powertools Logger), read by the local tools: the line that ends each
record's delivery (it carries ``ending``) becomes one short line for a terminal.

The function writes one such line per record and delivery (``pipeline.apply``): its message, the
record's ``message_id`` and ``trade_key``, the ``ending``, and when there is one the ``status`` written,
Alipay's ``action``, the error code and the retry ``delay``. Tokens are never in the function's logs;
the lines are shown through the operator tools' masking anyway.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, NamedTuple, TextIO

from alipay_cancel.shared.endings import Ending
from alipay_cancel_ops.masking import mask_text

# Endings that hand the record back to the queue for a later delivery (in batchItemFailures).
HANDED_BACK = frozenset(
    {
        Ending.RETRY,
        Ending.SLOW_RETRY,
        Ending.CONFIG_ERROR,
        Ending.DUPLICATE_IN_FLIGHT,
        Ending.LOW_TIME,
        Ending.AWS_FAILURE,
    }
)
DEFERRED = Ending.LOW_TIME  # untried: too little invocation time was left for an Alipay call


class RecordEnd(NamedTuple):
    """How one delivery of one record ended, as the function logged it."""

    message_id: str
    trade_key: str | None
    ending: Ending
    status: str | None
    message: str
    action: str | None  # Alipay's action on a success (close, refund)
    code: str | None  # the error's sub_code, else its code
    detail: str  # action, error code, delay: what a person reads next
    at: str  # HH:MM:SS from the log line's timestamp

    def line(self) -> str:
        key = self.trade_key or "(no trade key)"
        status = f" {self.status}" if self.status else ""
        detail = f" ({self.detail})" if self.detail else ""
        return mask_text(f"{self.at}  {self.ending:<19} {key}{status}: {self.message}{detail}")


def record_end(line: str) -> RecordEnd | None:
    """The record ending a log line reports, or None for any other line (not JSON, or no ending this
    release knows)."""
    try:
        entry = json.loads(line)
        ending = Ending(entry["ending"]) if isinstance(entry, dict) and "message_id" in entry else None
    except (ValueError, KeyError, TypeError):
        return None
    if ending is None:
        return None
    details = []
    if entry.get("action"):
        details.append(f"action {entry['action']}")
    code = entry.get("error_sub_code") or entry.get("error_code")
    if code:
        details.append(str(code))
    if entry.get("delay") is not None:
        details.append(f"back in {entry['delay']} s")
    timestamp = str(entry.get("timestamp", ""))
    return RecordEnd(
        message_id=str(entry["message_id"]),
        trade_key=_optional(entry.get("trade_key")),
        ending=ending,
        status=_optional(entry.get("status")),
        message=str(entry.get("message", "")),
        action=_optional(entry.get("action")),
        code=_optional(code),
        detail=", ".join(details),
        at=timestamp[11:19] if len(timestamp) >= 19 else timestamp,
    )


def _optional(value: Any) -> str | None:
    return str(value) if value else None


def terminal_sink(file_sink: Callable[[str], None], out: TextIO) -> Callable[[str], None]:
    """A log sink that keeps every line in ``file_sink`` and prints each record's ending to ``out``."""

    lock = threading.Lock()  # environments log from threads of their own

    def sink(line: str) -> None:
        file_sink(line)
        ended = record_end(line)
        if ended is not None:
            with lock:
                out.write(ended.line() + "\n")
                out.flush()

    return sink
