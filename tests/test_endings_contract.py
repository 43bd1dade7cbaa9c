"""The endings as others read them: the ``outcome_class`` records and dead letters store (dashboards,
``ops.cli`` and the redrive plan read it), the metrics each ending counts (the alarms and the dashboard
name them), the ``ending`` log field, and which endings write the trade's record. Changing any of these
is a contract change: this test is where it is made on purpose."""

from __future__ import annotations

from alipay_cancel.decisions.endings import (
    CONFIGURATION_ERROR_METRIC,
    DUPLICATE_IN_FLIGHT_METRIC,
    ENDINGS,
    INFRASTRUCTURE_ERROR_METRIC,
    LOW_TIME_DEFERRED_METRIC,
    OUTCOME_METRICS,
    RECORDED_ENDINGS,
    REQUEUED_METRIC,
    Ending,
)


def test_each_ending_is_stored_and_counted_as_documented() -> None:
    assert {ending.value: tuple(ENDINGS[ending]) for ending in Ending} == {
        "succeeded": ("succeeded", ("OutcomeSucceeded",)),
        "retry": ("retry", ("OutcomeRetry",)),
        "slow_retry": ("retry", ("OutcomeRetry",)),
        "terminal": ("terminal", ("OutcomeTerminal",)),
        "config_error": ("config_error", ("OutcomeConfigError", "ConfigurationError")),
        "bad_message": ("bad_message", ("OutcomeBadMessage",)),
        "exhausted": ("exhausted", ("OutcomeExhausted",)),
        "duplicate_in_flight": ("duplicate_in_flight", ()),
        "low_time": ("low_time", ("DeferredLowTime",)),
        "aws_failure": ("aws_failure", ("InfrastructureError",)),
    }


def test_the_metric_names_the_alarms_and_dashboard_use() -> None:
    assert (
        CONFIGURATION_ERROR_METRIC,
        INFRASTRUCTURE_ERROR_METRIC,
        LOW_TIME_DEFERRED_METRIC,
        DUPLICATE_IN_FLIGHT_METRIC,
        REQUEUED_METRIC,
    ) == ("ConfigurationError", "InfrastructureError", "DeferredLowTime", "DuplicateInFlight",
          "RequeuedWhileMisconfigured")  # fmt: skip
    assert OUTCOME_METRICS == [
        "OutcomeBadMessage", "OutcomeConfigError", "OutcomeExhausted", "OutcomeRetry", "OutcomeSucceeded",
        "OutcomeTerminal",
    ]  # fmt: skip


def test_the_endings_that_write_the_trades_record() -> None:
    assert {e.value for e in RECORDED_ENDINGS} == {
        "succeeded", "retry", "slow_retry", "terminal", "config_error", "bad_message", "exhausted",
    }  # fmt: skip
