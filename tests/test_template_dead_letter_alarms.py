"""The dead-letter alarms, as the template declares them, over days of dead-letter queue life.

The queue's life is played minute by minute and turned into the two SQS metrics as AWS documents
them (NumberOfMessagesSent counts SendMessage calls, not the redrive policy's moves;
ApproximateNumberOfMessagesVisible is what waits, sampled each minute), and each alarm is evaluated
the way CloudWatch does (its statistic per period, the last EvaluationPeriods datapoints,
DatapointsToAlarm of them breaching, missing data not breaching). What an operator must see: new
dead letters alarm at once and clear by themselves; letters left waiting alarm after the chosen hours
however often they were read; nothing alarms for a backlog that is handled in time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.template_support import Resolver, resources, sam_template, transform

HOUR = 60  # minutes
DAY = 24 * HOUR


@dataclass
class Letter:
    arrives: int  # minute
    removed: int | None = None  # redriven or discarded at this minute; None: still there
    sent_by_function: bool = True  # False: moved by the queue's redrive policy (not in NumberOfMessagesSent)
    read_at: list[int] = field(default_factory=list)  # minutes it was hidden while listed


def _metrics(letters: Iterable[Letter], minutes: int) -> dict[str, list[float | None]]:
    letters = list(letters)
    sent: list[float | None] = [0.0] * minutes
    visible: list[float | None] = [0.0] * minutes
    for letter in letters:
        if letter.sent_by_function and letter.arrives < minutes:
            sent[letter.arrives] = (sent[letter.arrives] or 0) + 1
        end = minutes if letter.removed is None else min(letter.removed, minutes)
        for minute in range(letter.arrives, end):
            if minute not in letter.read_at:
                visible[minute] = (visible[minute] or 0) + 1
    return {"NumberOfMessagesSent": sent, "ApproximateNumberOfMessagesVisible": visible}


def _state(alarm: dict[str, Any], metrics: dict[str, list[float | None]], at: int) -> str:
    """ALARM or OK at minute ``at`` (the datapoints of the periods that ended by then)."""
    period = int(alarm["Period"]) // 60
    series = metrics[alarm["MetricName"]][:at]
    statistic = {"Sum": sum, "Maximum": max}[alarm["Statistic"]]
    datapoints = []
    for start in range(0, len(series) - period + 1, period):
        values = [v for v in series[start : start + period] if v is not None]
        datapoints.append(statistic(values) if values else None)
    evaluated = datapoints[-int(alarm["EvaluationPeriods"]) :]
    assert (
        alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["TreatMissingData"] == "notBreaching"
    )
    breaching = sum(1 for v in evaluated if v is not None and v > float(alarm["Threshold"]))
    return "ALARM" if breaching >= int(alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])) else "OK"


@pytest.fixture(scope="module")
def alarms() -> dict[str, dict[str, Any]]:
    cfn = transform(sam_template())
    resolver = Resolver(cfn)
    return {
        name: resolver.resolve(alarm["Properties"])
        for name, alarm in resources(cfn, "AWS::CloudWatch::Alarm").items()
        if name.startswith("DeadLetterQueue")
    }


def test_there_is_one_alarm_for_new_dead_letters_and_one_for_letters_left_waiting(
    alarms: dict[str, dict[str, Any]],
) -> None:
    assert set(alarms) == {"DeadLetterQueueNewLettersAlarm", "DeadLetterQueueUnhandledAlarm"}


def test_a_letter_read_and_left_alarms_once_then_again_after_a_day(alarms: dict[str, dict[str, Any]]) -> None:
    new, unhandled = alarms["DeadLetterQueueNewLettersAlarm"], alarms["DeadLetterQueueUnhandledAlarm"]
    letter = Letter(arrives=3, read_at=[30, 31, 90, 600])  # listed four times: SQS's age metric drops it
    metrics = _metrics([letter], 4 * DAY)
    assert _state(new, metrics, 5) == "ALARM"  # once the 5-minute period it arrived in is evaluated
    assert _state(new, metrics, 2 * HOUR) == "OK"  # back to OK by itself: the backlog does not hold it
    assert _state(unhandled, metrics, 23 * HOUR) == "OK"
    assert _state(unhandled, metrics, DAY + HOUR) == "ALARM"
    letter.removed = 2 * DAY  # discarded
    metrics = _metrics([letter], 4 * DAY)
    assert _state(unhandled, metrics, 2 * DAY - 5) == "ALARM"
    assert _state(unhandled, metrics, 2 * DAY + HOUR + 1) == "OK"


def test_a_backlog_handled_within_the_day_never_alarms_as_unhandled(
    alarms: dict[str, dict[str, Any]],
) -> None:
    unhandled = alarms["DeadLetterQueueUnhandledAlarm"]
    letters = [Letter(arrives=HOUR * i, removed=HOUR * i + 5 * HOUR) for i in (0, 30, 60)]
    metrics = _metrics(letters, 4 * DAY)
    assert all(_state(unhandled, metrics, minute) == "OK" for minute in range(HOUR, 4 * DAY, HOUR))


def test_a_new_letter_alarms_even_while_an_old_one_waits(alarms: dict[str, dict[str, Any]]) -> None:
    new = alarms["DeadLetterQueueNewLettersAlarm"]
    old, fresh = Letter(arrives=0), Letter(arrives=3 * DAY + 7)
    metrics = _metrics([old, fresh], 4 * DAY)
    assert _state(new, metrics, 3 * DAY) == "OK"  # the old one no longer counts as news
    assert _state(new, metrics, 3 * DAY + 10) == "ALARM"


def test_a_letter_the_queue_moved_itself_is_caught_as_left_waiting(alarms: dict[str, dict[str, Any]]) -> None:
    """The redrive policy's moves are not in NumberOfMessagesSent (CancelFunctionErrorsAlarm fires for
    the crashes behind them); left waiting, they alarm like any other."""
    moved = Letter(arrives=10, sent_by_function=False)
    metrics = _metrics([moved], 2 * DAY)
    assert _state(alarms["DeadLetterQueueNewLettersAlarm"], metrics, 15) == "OK"
    assert _state(alarms["DeadLetterQueueUnhandledAlarm"], metrics, DAY + 2 * HOUR) == "ALARM"


def test_the_hours_are_a_parameter() -> None:
    cfn = transform(sam_template())
    alarm = Resolver(cfn, {"DeadLetterUnhandledAlarmHours": "4"}).resolve(
        cfn["Resources"]["DeadLetterQueueUnhandledAlarm"]["Properties"]
    )
    metrics = _metrics([Letter(arrives=0)], DAY)
    assert _state(alarm, metrics, 3 * HOUR) == "OK" and _state(alarm, metrics, 4 * HOUR) == "ALARM"
