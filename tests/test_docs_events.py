"""docs/events.md and docs/scheduling.md make promises to order systems and producers; each is read
from the page and checked against the code and the template, so they cannot drift apart."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from local.aws.event_routes import EXAMPLE_RULE_PATTERN
from samtranslator.yaml_helper import yaml_parse

from alipay_cancel_events import handler
from alipay_cancel_events.contract import DETAIL_FIELDS, SOURCE, FinalState
from alipay_cancel_events.outcome_event import outcome_event
from alipay_cancel_ops import cli, scheduling
from tests.fixtures.ledger_items import typed_image

ROOT = Path(__file__).resolve().parent.parent
EVENTS = (ROOT / "docs" / "events.md").read_text()
SCHEDULING = (ROOT / "docs" / "scheduling.md").read_text()
FLAT_EVENTS, FLAT_SCHEDULING = (" ".join(text.split()) for text in (EVENTS, SCHEDULING))  # wrapped phrases
TEMPLATE: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def _table_rows(text: str, header: str) -> list[list[str]]:
    start = text.index(header)
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_detail_type_table_is_the_contract() -> None:
    rows = _table_rows(EVENTS, "| state | detail-type |")
    assert [(r[0].strip("`"), r[1].strip("`")) for r in rows] == [
        (s.value, s.detail_type) for s in FinalState
    ]
    assert f"Source: `{SOURCE}`" in EVENTS


def test_the_example_event_is_what_the_publisher_builds_from_such_an_item() -> None:
    (example,) = [json.loads(b) for b in _blocks(EVENTS, "json")]
    detail = example["detail"]
    assert list(detail) == list(DETAIL_FIELDS)
    assert (example["source"], example["detail-type"]) == (SOURCE, FinalState(detail["state"]).detail_type)
    expected_id = hashlib.sha256(f"{detail['trade_key']}\n{detail['state']}".encode()).hexdigest()[:32]
    assert detail["event_id"] == expected_id
    item = {k: v for k, v in detail.items() if v is not None and k not in ("version", "state")}
    built = outcome_event(typed_image({**item, "status": detail["state"]}))
    assert json.loads(built.put_events_entry("bus")["Detail"]) == detail


def test_the_field_table_names_every_detail_field() -> None:
    documented = {
        name for row in _table_rows(EVENTS, "| field | meaning |") for name in re.findall(r"`(\w+)`", row[0])
    }
    assert documented == set(DETAIL_FIELDS)


def test_the_rule_example_is_the_rule_the_local_stack_creates() -> None:
    (rule_yaml,) = [b for b in _blocks(EVENTS, "yaml") if "AWS::Events::Rule" in b]
    resources = yaml_parse(rule_yaml)
    assert resources["AlipayOutcomesRule"]["Properties"]["EventPattern"] == EXAMPLE_RULE_PATTERN


def test_the_delivery_numbers_and_names_are_the_templates() -> None:
    retry = TEMPLATE["Mappings"]["OutcomeEvents"]["Publish"]["RetrySeconds"]
    assert f"`RetrySeconds` {retry}" in FLAT_EVENTS and retry == 3600
    mapping = TEMPLATE["Resources"]["OutcomeEventsFunction"]["Properties"]["Events"]["ResultsStream"][
        "Properties"
    ]
    assert mapping["MaximumRecordAgeInSeconds"] == 23 * 3600 and "23 hours" in FLAT_EVENTS
    for alarm in (
        "OutcomeEventsDeadLetterQueueNewLettersAlarm",
        "OutcomeEventsDeadLetterQueueUnhandledAlarm",
        "OutcomeEventsDelayedAlarm",
    ):
        assert f"`{alarm}`" in EVENTS and alarm in TEMPLATE["Resources"]
    delayed = TEMPLATE["Resources"]["OutcomeEventsDelayedAlarm"]["Properties"]["Threshold"]
    assert delayed == 10 * 60 * 1000 and "more than 10 minutes behind" in FLAT_EVENTS
    for metric in (handler.PUBLISHED_METRIC, handler.DEAD_LETTERED_METRIC, handler.RETRIED_METRIC):
        assert f"`{metric}`" in EVENTS


def test_the_scheduling_outputs_and_alarm_exist() -> None:
    outputs = {row[0].strip("`") for row in _table_rows(SCHEDULING, "| output | what it is |")}
    assert outputs <= set(TEMPLATE["Outputs"]) and len(outputs) == 3
    assert (
        "`ScheduledCancelsDroppedAlarm`" in SCHEDULING
        and "ScheduledCancelsDroppedAlarm" in TEMPLATE["Resources"]
    )


def test_the_validation_limits_are_the_librarys() -> None:
    assert scheduling.SQS_MAX_DELAY_SECONDS == 900 and "up to 900" in FLAT_SCHEDULING
    assert scheduling.MAX_AHEAD.days == 15 and "more than 15 days ahead" in FLAT_SCHEDULING
    assert scheduling.RETRY_POLICY == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    name = scheduling.schedule_name("merchant:2088000000000001 " + "O" * 64)
    assert len(name) == 64 and name.startswith("cancel-" + "O" * 24 + "-")
    assert "at most 24 characters" in FLAT_SCHEDULING and "32 hex" in FLAT_SCHEDULING


def test_the_python_example_uses_real_names() -> None:
    (example,) = _blocks(SCHEDULING, "python")
    for name in re.findall(r"from alipay_cancel_ops\.scheduling import (.+)", example)[0].split(","):
        assert hasattr(scheduling, name.strip())
    for keyword in re.findall(r"^\s+(\w+)=", example, re.M):
        assert keyword in scheduling.schedule_cancel.__code__.co_varnames, keyword


@pytest.mark.parametrize(
    "line",
    [
        line
        for b in _blocks(SCHEDULING, "bash")
        for line in b.splitlines()
        if line.startswith("alipay-cancel ")
    ],
)
def test_every_documented_schedule_command_parses(line: str) -> None:
    args = cli.parser().parse_args(shlex.split(line)[1:])
    assert args.command in ("schedule", "unschedule")
