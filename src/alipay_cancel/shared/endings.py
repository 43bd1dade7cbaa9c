"""Every way one delivery of a message can end, as one enum, with what each means for records and metrics.

The results table and dead letters store an ending as ``outcome_class``; CloudWatch gets the ending's
metrics. Both come from this table, so a new ending cannot be half-wired (``tests/test_routing.py``
checks every ending has a row and every metric is one the template's dashboard and alarms can name).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

# Metric names (EMF). ConfigurationError is watched by an alarm in template.yaml: the name matters.
CONFIGURATION_ERROR_METRIC = "ConfigurationError"  # one per record our own configuration failed
INFRASTRUCTURE_ERROR_METRIC = "InfrastructureError"  # DynamoDB/SQS/idempotency store failed
LOW_TIME_DEFERRED_METRIC = "DeferredLowTime"  # untried: too little invocation time left
DUPLICATE_IN_FLIGHT_METRIC = "DuplicateInFlight"  # dead-lettered: its trade was in progress every time
REQUEUED_METRIC = "RequeuedWhileMisconfigured"  # kept past the last receive while configuration is broken


class Ending(StrEnum):
    SUCCEEDED = "succeeded"  # Alipay cancelled (or found no trade): the trade is settled in the ledger
    RETRY = "retry"  # a temporary failure: back on the queue with a backoff
    SLOW_RETRY = "slow_retry"  # someone must act first (e.g. the merchant's balance): long backoff
    TERMINAL = "terminal"  # Alipay refused for good: FAILED in the ledger, dead-lettered with the remedy
    CONFIG_ERROR = "config_error"  # our deployment is wrong: kept (never bulk dead-lettered), alarm
    BAD_MESSAGE = "bad_message"  # the producer sent something we cannot read: dead-lettered at once
    EXHAUSTED = "exhausted"  # the last allowed receive ended without success: dead-lettered
    DUPLICATE = "duplicate"  # the trade is already settled (by another delivery): nothing to do
    DUPLICATE_IN_FLIGHT = "duplicate_in_flight"  # the trade's cancel is in progress elsewhere: look later
    LOW_TIME = "low_time"  # too little invocation time left to call Alipay: untried, back soon
    AWS_FAILURE = "aws_failure"  # DynamoDB/SQS failed: left on the queue for the next receive


class EndingRow(NamedTuple):
    """How one ending is stored and counted."""

    # The ending records and dead letters store as ``outcome_class`` (its value: stable, dashboards and
    # tools read it); a slow retry is filed as a retry.
    outcome_class: Ending
    metrics: tuple[str, ...]  # counted once per delivery that ends this way


ENDINGS: dict[Ending, EndingRow] = {
    Ending.SUCCEEDED: EndingRow(Ending.SUCCEEDED, ("OutcomeSucceeded",)),
    Ending.RETRY: EndingRow(Ending.RETRY, ("OutcomeRetry",)),
    # Stored as "retry": the delay is the difference, and readers of the table already know "retry".
    Ending.SLOW_RETRY: EndingRow(Ending.RETRY, ("OutcomeRetry",)),
    Ending.TERMINAL: EndingRow(Ending.TERMINAL, ("OutcomeTerminal",)),
    Ending.CONFIG_ERROR: EndingRow(Ending.CONFIG_ERROR, ("OutcomeConfigError", CONFIGURATION_ERROR_METRIC)),
    Ending.BAD_MESSAGE: EndingRow(Ending.BAD_MESSAGE, ("OutcomeBadMessage",)),
    Ending.EXHAUSTED: EndingRow(Ending.EXHAUSTED, ("OutcomeExhausted",)),
    # Not an outcome of this delivery: the delivery that settled or holds the trade records it.
    Ending.DUPLICATE: EndingRow(Ending.DUPLICATE, ()),
    Ending.DUPLICATE_IN_FLIGHT: EndingRow(Ending.DUPLICATE_IN_FLIGHT, ()),
    Ending.LOW_TIME: EndingRow(Ending.LOW_TIME, (LOW_TIME_DEFERRED_METRIC,)),
    Ending.AWS_FAILURE: EndingRow(Ending.AWS_FAILURE, (INFRASTRUCTURE_ERROR_METRIC,)),
}

OUTCOME_METRICS = sorted({m for row in ENDINGS.values() for m in row.metrics if m.startswith("Outcome")})
