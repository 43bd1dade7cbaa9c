"""Cancelling at a given time (alipay_cancel_ops.scheduling, the CLI's schedule / unschedule): validation
of times and messages, the one-time schedule as EventBridge Scheduler receives it, deletion when the payment
succeeded first, and firing at the deadline against the AWS stand-in (local.aws.schedule_runner)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from local.aws.schedule_runner import ScheduleRunner
from moto import mock_aws

from alipay_cancel.pipeline.messages import parse_message
from alipay_cancel_ops import cli
from alipay_cancel_ops.scheduling import (
    MAX_AHEAD,
    ScheduleError,
    ScheduleExists,
    UseSqsDelay,
    at_expression,
    check_deadline,
    parse_at_expression,
    parse_deadline,
    schedule_cancel,
    schedule_name,
    unschedule_cancel,
)

REGION, ACCOUNT = "us-east-1", "123456789012"
NOW = dt.datetime(2024, 5, 1, 4, 0, 0, tzinfo=dt.UTC)
GROUP = "alipay-cancel-cancels"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/alipay-cancel-CancelSchedulerRole"
TOKEN = "202405BBd1b0e2a9f8c7d6e5f4a3b2c1"  # an ISV token: never printed


# ---------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2024-05-01T12:30:00Z", dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)),
        ("2024-05-01T20:30:00+08:00", dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)),  # Beijing time
        (" 2024-05-01 12:30:45.5+00:00 ", dt.datetime(2024, 5, 1, 12, 30, 45, 500000, tzinfo=dt.UTC)),
    ],
)
def test_a_deadline_is_iso_8601_with_its_zone(text: str, utc: dt.datetime) -> None:
    assert parse_deadline(text) == utc


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2024-05-01T12:30:00", "has no time zone"),
        ("tomorrow noon", "is not a time"),
        ("2024-13-01T00:00:00Z", "is not a time"),
        ("1714566600", "is not a time"),
        ("", "is not a time"),
    ],
)
def test_a_malformed_or_zoneless_deadline_is_refused_saying_how_to_write_one(text: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says) as refused:
        parse_deadline(text)
    assert "+08:00" in str(refused.value)


def test_a_deadline_in_the_past_says_to_cancel_now() -> None:
    for past in (NOW, NOW - dt.timedelta(minutes=5)):
        with pytest.raises(ScheduleError, match="in the past: send the cancel now") as refused:
            check_deadline(past, NOW)
        assert not isinstance(refused.value, UseSqsDelay)
    with pytest.raises(ScheduleError, match="5 min in the past"):
        check_deadline(NOW - dt.timedelta(minutes=5), NOW)


@pytest.mark.parametrize("seconds", [1, 450, 899, 900])
def test_within_15_minutes_it_says_an_sqs_delay_is_enough_and_how(seconds: int) -> None:
    with pytest.raises(UseSqsDelay) as refused:
        check_deadline(NOW + dt.timedelta(seconds=seconds), NOW)
    assert refused.value.delay_seconds == seconds
    assert f"DelaySeconds={seconds}" in str(refused.value) and "at most 900 s" in str(refused.value)


def test_more_than_15_minutes_and_up_to_15_days_ahead_is_a_schedule() -> None:
    check_deadline(NOW + dt.timedelta(seconds=901), NOW)
    check_deadline(NOW + MAX_AHEAD, NOW)
    with pytest.raises(ScheduleError, match="more than 15 d") as refused:
        check_deadline(NOW + MAX_AHEAD + dt.timedelta(seconds=1), NOW)
    assert "check the time" in str(refused.value)
    check_deadline(
        NOW + dt.timedelta(days=30), NOW, max_ahead=dt.timedelta(days=31)
    )  # the caller's own limit


def test_the_at_expression_is_utc_and_reads_back_as_the_same_moment() -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    deadline = dt.datetime(2024, 5, 1, 20, 30, 15, tzinfo=beijing)
    assert at_expression(deadline) == "at(2024-05-01T12:30:15)"
    assert parse_at_expression("at(2024-05-01T12:30:15)") == deadline
    assert parse_at_expression("at(2024-05-01T20:30:15)", "Asia/Shanghai") == deadline
    for other in ("rate(5 minutes)", "cron(0 12 * * ? *)", "at(2024-05-01 12:30:15)"):
        with pytest.raises(ScheduleError):
            parse_at_expression(other)


# ---------------------------------------------------------------------------- names


def test_the_schedule_name_is_derived_from_the_trade_and_valid_for_scheduler() -> None:
    name = schedule_name("ORDER-1001")
    assert name == schedule_name("ORDER-1001")  # the producer can find it again without storing it
    assert name.startswith("cancel-ORDER-1001-")
    scoped = schedule_name("app:2021000000000002 merchant:2088000000000001 ORDER-1001")
    assert scoped.startswith("cancel-ORDER-1001-") and scoped != name  # another trade, another name


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=200))
def test_any_trade_key_gives_a_name_of_at_most_64_valid_characters(trade_key: str) -> None:
    name = schedule_name(trade_key)
    assert re.fullmatch(r"[0-9A-Za-z_.-]{1,64}", name)
    assert name.endswith(schedule_name(trade_key + "x")[-32:]) is False  # the digest tells them apart


# ---------------------------------------------------------------------------- AWS stand-in


@dataclass
class Stand:
    scheduler: Any
    sqs: Any
    queue_url: str
    queue_arn: str

    def schedule(self, body: str, deadline: dt.datetime, **kw: Any) -> Any:
        return schedule_cancel(
            self.scheduler,
            body=body,
            deadline=deadline,
            group=GROUP,
            queue_arn=self.queue_arn,
            role_arn=ROLE,
            now=NOW,
            **kw,
        )

    def messages(self) -> list[str]:
        got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [m["Body"] for m in got]


@pytest.fixture
def stand(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stand]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        scheduler, sqs = (
            boto3.client("scheduler", region_name=REGION),
            boto3.client("sqs", region_name=REGION),
        )
        scheduler.create_schedule_group(Name=GROUP)
        url = sqs.create_queue(QueueName="alipay-cancel-cancel")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield Stand(scheduler, sqs, url, arn)


def test_a_schedule_is_one_time_exact_deletes_itself_and_sends_the_message_to_the_cancel_queue(
    stand: Stand,
) -> None:
    body = json.dumps({"out_trade_no": "ORDER-1001", "if_paid": "keep"})
    deadline = NOW + dt.timedelta(hours=2)
    scheduled = stand.schedule(body, deadline)
    assert (scheduled.name, scheduled.trade_key, scheduled.deadline) == (
        schedule_name("ORDER-1001"),
        "ORDER-1001",
        deadline,
    )
    created = stand.scheduler.get_schedule(Name=scheduled.name, GroupName=GROUP)
    assert created["ScheduleExpression"] == "at(2024-05-01T06:00:00)"
    assert created["ScheduleExpressionTimezone"] == "UTC"
    assert created["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert created["ActionAfterCompletion"] == "DELETE"
    assert created["State"] == "ENABLED"
    target = created["Target"]
    assert (target["Arn"], target["RoleArn"], target["Input"]) == (stand.queue_arn, ROLE, body)
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert "KmsKeyArn" not in created or not created["KmsKeyArn"]


def test_a_schedule_fires_at_its_deadline_once_and_is_gone_afterwards(stand: Stand) -> None:
    body = json.dumps({"out_trade_no": "ORDER-1002"})
    scheduled = stand.schedule(body, NOW + dt.timedelta(minutes=30))
    runner = ScheduleRunner(stand.scheduler, stand.sqs, group=GROUP)
    assert runner.fire_due(NOW + dt.timedelta(minutes=29, seconds=59)) == []  # not yet
    assert stand.messages() == []
    (fired,) = runner.fire_due(NOW + dt.timedelta(minutes=30))
    assert (fired.name, fired.target_arn, fired.deleted) == (scheduled.name, stand.queue_arn, True)
    assert stand.messages() == [body]  # exactly the message, as a producer would have sent it
    assert parse_message(body).trade_key == "ORDER-1002"
    assert stand.scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []  # deleted after it ran
    assert runner.fire_due(NOW + dt.timedelta(hours=1)) == []


def test_a_schedule_deleted_because_the_payment_succeeded_first_never_fires(stand: Stand) -> None:
    stand.schedule(json.dumps({"out_trade_no": "ORDER-1003"}), NOW + dt.timedelta(hours=1))
    stand.schedule(json.dumps({"out_trade_no": "ORDER-1004"}), NOW + dt.timedelta(hours=1))
    assert unschedule_cancel(stand.scheduler, trade_key="ORDER-1003", group=GROUP) is True
    assert unschedule_cancel(stand.scheduler, trade_key="ORDER-1003", group=GROUP) is False  # nothing left
    fired = ScheduleRunner(stand.scheduler, stand.sqs, group=GROUP).fire_due(NOW + dt.timedelta(hours=2))
    assert [f.name for f in fired] == [schedule_name("ORDER-1004")]
    assert [json.loads(b)["out_trade_no"] for b in stand.messages()] == ["ORDER-1004"]


def test_the_same_trade_cannot_be_scheduled_twice_unless_asked_to_move_it(stand: Stand) -> None:
    body = json.dumps({"out_trade_no": "ORDER-1005"})
    stand.schedule(body, NOW + dt.timedelta(hours=1))
    with pytest.raises(ScheduleExists, match="already has a scheduled cancel"):
        stand.schedule(body, NOW + dt.timedelta(hours=3))
    # A message naming the default app is the same trade as one naming none.
    same_trade = json.dumps({"out_trade_no": "ORDER-1005", "app_id": "2021000000000001"})
    with pytest.raises(ScheduleExists):
        stand.schedule(same_trade, NOW + dt.timedelta(hours=3), default_app_id="2021000000000001")
    moved = stand.schedule(body, NOW + dt.timedelta(hours=3), replace=True)
    assert moved.replaced
    schedule = stand.scheduler.get_schedule(Name=moved.name, GroupName=GROUP)
    assert schedule["ScheduleExpression"] == "at(2024-05-01T07:00:00)"
    assert len(stand.scheduler.list_schedules(GroupName=GROUP)["Schedules"]) == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not JSON", "not a valid cancel request"),
        (json.dumps({"amount": "1.00"}), "not a valid cancel request"),
        (json.dumps({"out_trade_no": "A" * 65}), "not a valid cancel request"),
        (
            json.dumps({"out_trade_no": "X1", "app_auth_token": TOKEN}),
            "not a valid cancel request",
        ),  # no merchant
    ],
)
def test_a_message_the_function_would_dead_letter_is_never_scheduled(
    stand: Stand, body: str, says: str
) -> None:
    with pytest.raises(ScheduleError, match=says) as refused:
        stand.schedule(body, NOW + dt.timedelta(hours=1))
    assert TOKEN not in str(refused.value)
    assert stand.scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []


def test_a_fifo_cancel_queue_gets_the_trade_as_message_group_and_a_kms_key_is_passed_on(stand: Stand) -> None:
    url = stand.sqs.create_queue(
        QueueName="c.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    arn = stand.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    scheduled = schedule_cancel(
        stand.scheduler,
        body=json.dumps({"out_trade_no": "ORDER-1006"}),
        deadline=NOW + dt.timedelta(hours=1),
        group=GROUP,
        queue_arn=arn,
        role_arn=ROLE,
        kms_key_arn=key,
        now=NOW,
    )
    schedule = stand.scheduler.get_schedule(Name=scheduled.name, GroupName=GROUP)
    assert schedule["Target"]["SqsParameters"] == {"MessageGroupId": "ORDER-1006"}
    assert schedule["KmsKeyArn"] == key
    ScheduleRunner(stand.scheduler, stand.sqs, group=GROUP).fire_due(NOW + dt.timedelta(hours=1))
    (message,) = stand.sqs.receive_message(QueueUrl=url, AttributeNames=["MessageGroupId"])["Messages"]
    assert message["Attributes"]["MessageGroupId"] == "ORDER-1006"


def test_an_isv_message_keeps_its_token_in_the_input_only(stand: Stand) -> None:
    body = json.dumps(
        {"out_trade_no": "ORDER-1007", "app_auth_token": TOKEN, "merchant_id": "2088000000000001"}
    )
    scheduled = stand.schedule(body, NOW + dt.timedelta(hours=1))
    assert TOKEN not in repr(scheduled)
    schedule = stand.scheduler.get_schedule(Name=scheduled.name, GroupName=GROUP)
    assert TOKEN not in schedule["Name"] + schedule.get("Description", "")
    assert json.loads(schedule["Target"]["Input"])["app_auth_token"] == TOKEN  # delivered as sent


# ---------------------------------------------------------------------------- CLI


def _cli(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, out=out, err=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def test_the_cli_schedules_and_unschedules_by_the_trades_parts_and_never_prints_the_token(
    stand: Stand, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANCEL_SCHEDULE_GROUP", GROUP)
    monkeypatch.setenv("CANCEL_QUEUE_ARN", stand.queue_arn)
    monkeypatch.setenv("CANCEL_SCHEDULER_ROLE_ARN", ROLE)
    code, out, err = _cli(
        [
            "schedule",
            "--in",
            "2h",
            "--out-trade-no",
            "ORDER-2001",
            "--merchant-id",
            "2088000000000001",
            "--app-auth-token-file",
            "-",
        ],
        stdin=TOKEN + "\n",
    )
    assert code == 0, err
    key = "merchant:2088000000000001 ORDER-2001"
    assert f"scheduled trade_key={key} " in out and f"schedule={schedule_name(key)}" in out
    assert TOKEN not in out + err
    (summary,) = stand.scheduler.list_schedules(GroupName=GROUP)["Schedules"]
    schedule = stand.scheduler.get_schedule(Name=summary["Name"], GroupName=GROUP)
    assert json.loads(schedule["Target"]["Input"]) == {
        "out_trade_no": "ORDER-2001",
        "merchant_id": "2088000000000001",
        "app_auth_token": TOKEN,
    }
    code, out, _ = _cli(["unschedule", "--out-trade-no", "ORDER-2001", "--merchant-id", "2088000000000001"])
    assert (code, out.strip()) == (0, f"deleted the scheduled cancel of trade_key={key}")
    code, out, _ = _cli(["unschedule", key])  # nothing left to delete is success too (exit codes)
    assert code == 0 and "no scheduled cancel" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["schedule", "--in", "10m", "--out-trade-no", "X"], "DelaySeconds=600"),
        (["schedule", "--at", "2020-01-01T00:00:00Z", "--out-trade-no", "X"], "in the past"),
        (["schedule", "--at", "2024-05-01T12:00:00", "--out-trade-no", "X"], "no time zone"),
        (["schedule", "--in", "40d", "--out-trade-no", "X"], "more than 15 d"),
        (["schedule", "--out-trade-no", "X"], "--at TIME or --in DURATION"),
        (["schedule", "--in", "2h"], "not a valid cancel request"),
    ],
)
def test_the_cli_refuses_bad_times_with_exit_status_2_and_says_why(
    stand: Stand, monkeypatch: pytest.MonkeyPatch, argv: list[str], says: str
) -> None:
    for name, value in (
        ("CANCEL_SCHEDULE_GROUP", GROUP),
        ("CANCEL_QUEUE_ARN", stand.queue_arn),
        ("CANCEL_SCHEDULER_ROLE_ARN", ROLE),
    ):
        monkeypatch.setenv(name, value)
    code, _, err = _cli(argv)
    assert code == 2 and says in err, err
    assert stand.scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []


def test_the_cli_names_the_missing_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CANCEL_SCHEDULE_GROUP", "CANCEL_QUEUE_ARN", "CANCEL_SCHEDULER_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    parser = cli.parser()
    args = parser.parse_args(["schedule", "--in", "2h", "--out-trade-no", "X", "--group", GROUP])
    assert args.within == dt.timedelta(hours=2)
    code, _, err = _cli(
        ["schedule", "--in", "2h", "--out-trade-no", "X", "--group", GROUP, "--role-arn", ROLE]
    )
    assert code == 2 and "--queue-arn is required (or set CANCEL_QUEUE_ARN)" in err
