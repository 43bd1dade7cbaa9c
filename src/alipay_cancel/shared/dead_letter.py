"""A dead letter (README "Dead letters"): the original body byte for byte, attributes say why."""

from __future__ import annotations

from typing import NamedTuple

from alipay_cancel.shared.endings import Ending


class DeadLetter(NamedTuple):
    body: str  # the original SQS body, unchanged, so that a redrive replays it as it was
    reason: str  # what happened and what to do; never key material or tokens
    source_message_id: str
    outcome_class: Ending | None = None
    error_code: str | None = None
    error_sub_code: str | None = None
    alipay_trace_id: str | None = None
    trade_key: str | None = None
    attempts: int | None = None  # receives of the message so far
    alipay_facts: str | None = None  # what Alipay said about the trade: "trade_status=... total_amount=..."
