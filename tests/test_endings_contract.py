"""The endings as others read them: the ``outcome_class`` ledger items and dead letters store
(dashboards, the operator CLI and the redrive plan read it), the metrics each ending counts (the alarms
and the dashboard name them) and the ``ending`` log field. Changing any of these is a contract change:
this test is where it is made on purpose. (Which endings write the trade's ledger item is routing's
decision, pinned row by row in ``tests/test_routing.py``.)"""

from __future__ import annotations

from alipay_cancel.shared.endings import (
    CONFIGURATION_ERROR_METRIC,
    DUPLICATE_IN_FLIGHT_METRIC,
    ENDINGS,
    INFRASTRUCTURE_ERROR_METRIC,
    LOW_TIME_DEFERRED_METRIC,
    OUTCOME_METRICS,
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
        "duplicate": ("duplicate", ()),
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
