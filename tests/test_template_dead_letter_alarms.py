"""The dead-letter alarms, as the template declares them, over days of dead-letter queue life: the
cancel dead letters (CancelDeadLetterQueue) and the outcome events' (OutcomeEventsDeadLetterQueue),
each with one alarm for new letters and one for letters left waiting.

The queue's life is played minute by minute and turned into the two SQS metrics as AWS documents
them (NumberOfMessagesSent counts SendMessage calls, not the redrive policy's moves;
ApproximateNumberOfMessagesVisible is what waits, sampled each minute), and each alarm is evaluated
the way CloudWatch does (its statistic per period, the last EvaluationPeriods datapoints,
DatapointsToAlarm of them breaching, missing data not breaching). What an operator must see: new
dead letters alarm at once and clear by themselves; letters left waiting alarm after the chosen hours
however often they were read; nothing alarms for a backlog that is handled in time; a letter kept
after it was handled never hides a new one."""

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


# The queue each pair of alarms watches -> (new letters, left waiting).
PAIRS = {
    "CancelDeadLetterQueue": ("DeadLetterQueueNewLettersAlarm", "DeadLetterQueueUnhandledAlarm"),
    "OutcomeEventsDeadLetterQueue": (
        "OutcomeEventsDeadLetterQueueNewLettersAlarm",
        "OutcomeEventsDeadLetterQueueUnhandledAlarm",
    ),
}


@pytest.fixture(scope="module")
def every_alarm() -> dict[str, dict[str, Any]]:
    cfn = transform(sam_template())
    resolver = Resolver(cfn)
    return {
        name: resolver.resolve(alarm["Properties"])
        for name, alarm in resources(cfn, "AWS::CloudWatch::Alarm").items()
    }


@pytest.fixture(params=sorted(PAIRS))
def alarms(
    request: pytest.FixtureRequest, every_alarm: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """One queue's two alarms, under the cancel queue's names: the same tests hold for both."""
    new, unhandled = PAIRS[request.param]
    return {
        "DeadLetterQueueNewLettersAlarm": every_alarm[new],
        "DeadLetterQueueUnhandledAlarm": every_alarm[unhandled],
    }


def test_each_dead_letter_queue_has_one_alarm_for_new_letters_and_one_for_letters_left_waiting(
    every_alarm: dict[str, dict[str, Any]],
) -> None:
    watching: dict[str, set[tuple[str, str]]] = {}
    for name, alarm in every_alarm.items():
        if alarm["Namespace"] == "AWS/SQS" and alarm["MetricName"] != "ApproximateAgeOfOldestMessage":
            (dimension,) = alarm["Dimensions"]
            queue = str(dimension["Value"]).rsplit(":", 1)[-1].removesuffix(".QueueName")
            watching.setdefault(queue, set()).add((name, alarm["MetricName"]))
    assert watching == {
        queue: {(new, "NumberOfMessagesSent"), (unhandled, "ApproximateNumberOfMessagesVisible")}
        for queue, (new, unhandled) in PAIRS.items()
    }


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


@pytest.mark.parametrize("queue", sorted(PAIRS))
def test_the_hours_are_one_parameter_for_both_queues(queue: str) -> None:
    cfn = transform(sam_template())
    _, unhandled = PAIRS[queue]
    alarm = Resolver(cfn, {"DeadLetterUnhandledAlarmHours": "4"}).resolve(
        cfn["Resources"][unhandled]["Properties"]
    )
    metrics = _metrics([Letter(arrives=0)], DAY)
    assert _state(alarm, metrics, 3 * HOUR) == "OK" and _state(alarm, metrics, 4 * HOUR) == "ALARM"


def test_an_event_dead_letter_replayed_and_kept_for_a_ticket_does_not_hide_the_next_one(
    every_alarm: dict[str, dict[str, Any]],
) -> None:
    """What the events' single "not empty" alarm could not do: a letter handled (replayed) but kept
    held it in ALARM for the 14 days the letter lives, so the next failure notified nobody."""
    new, unhandled = (every_alarm[name] for name in PAIRS["OutcomeEventsDeadLetterQueue"])
    kept = Letter(arrives=10)  # replayed at once, kept
    later = Letter(arrives=2 * DAY, removed=2 * DAY + 30)  # the next failure, replayed and deleted
    metrics = _metrics([kept, later], 3 * DAY)
    assert _state(new, metrics, 15) == "ALARM" and _state(new, metrics, HOUR) == "OK"
    assert _state(unhandled, metrics, DAY + 2 * HOUR) == "ALARM"  # the kept one: once, after the hours
    assert _state(new, metrics, 2 * DAY + 5) == "ALARM"  # the next one is news again
