"""docs/deploy.md's promises: the checklist names every placeholder samconfig.toml holds, and the IAM
policy examples grant what the producer and the operator CLI really call (recorded against moto), on
the stack's resources only."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.client import BaseClient

from tests.fixtures.ops_cli import Terminal, fill_dead_letters, run
from tests.template_support import ROOT

DEPLOY = (ROOT / "docs" / "deploy.md").read_text()
# Batch calls are authorised as their single forms (SQS has no separate batch permissions).
IAM_ACTION = {
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "DeleteMessageBatch": "DeleteMessage",
}


def _policy(heading: str) -> dict[str, Any]:
    section = DEPLOY.split(f"### {heading}")[1]
    return json.loads(section.split("```json")[1].split("```")[0])  # type: ignore[no-any-return]


def _allowed(policy: dict[str, Any]) -> dict[str, set[str]]:
    """action -> the resources the policy allows it on."""
    allowed: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            allowed.setdefault(action, set()).add(statement["Resource"])
    return allowed


@contextmanager
def _recorded() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        calls.append((f"{service}:{IAM_ACTION.get(operation, operation)}", params))
        return original(self, operation, params)

    BaseClient._make_api_call = recording  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def test_the_checklist_names_every_placeholder_of_samconfig() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    names = {"stack_name", "region"}
    for environment in config.values():
        if isinstance(environment, dict):
            deploy = environment.get("deploy", {}).get("parameters", {})
            names |= {override.split("=")[0] for override in deploy.get("parameter_overrides", [])}
    commented = set(re.findall(r'^\s*# "(\w+)=', (ROOT / "samconfig.toml").read_text(), re.M))
    placeholders = names | commented
    checklist = DEPLOY.split("## Checklist")[1].split("## IAM policies")[0]
    skip = {
        "MaximumConcurrency",
        "ParallelCancelsPerInvocation",
        "RetryHorizonSeconds",
        "MaxReceiveCount",
        "LogLevel",
    }
    for name in placeholders - skip:  # tuning values have working defaults; these must be yours
        assert f"`{name}`" in checklist, name


def test_the_producer_policy_allows_sending_to_the_cancel_queue_only() -> None:
    assert _allowed(_policy("Producer policy")) == {
        "sqs:SendMessage": {"arn:aws:sqs:REGION:ACCOUNT_ID:STACK_NAME-cancel"}
    }


def test_the_operator_policy_grants_every_call_the_cli_makes_on_the_right_resource(
    sqs: Any, queues: tuple[str, str], table: str
) -> None:
    cancel, dlq = queues
    resource = {
        cancel: "arn:aws:sqs:REGION:ACCOUNT_ID:STACK_NAME-cancel",
        dlq: "CANCEL_DEAD_LETTER_QUEUE_ARN",
        table: "CANCEL_RESULTS_TABLE_ARN",
    }
    fill_dead_letters(sqs, dlq)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"out_trade_no": "o-77"}))  # a trade with a record
    with _recorded() as calls:
        for argv in (
            ("enqueue", "--trade-no", "t-1"),
            ("result", "o-77"),
            ("dead-letters", "--wait-seconds", "0"),
            ("redrive", "--wait-seconds", "0", "--outcome-class", "exhausted"),
            ("discard", "--wait-seconds", "0", "--trade-key", "o-77", "--ask-above", "1"),
            ("discard", "--wait-seconds", "0", "--all", "--yes"),
        ):
            code, out, err = run(*argv, stdin=Terminal("yes\n"))
            assert code == 0, (argv, out, err)
    granted = _allowed(_policy("Operator policy"))
    used = {(action, resource[params.get("QueueUrl") or params.get("TableName")]) for action, params in calls}
    assert {action for action, _ in used} == set(granted)  # every grant is used, every call granted
    for action, target in used:
        assert target in granted[action], (action, target)


def test_the_operator_policy_lets_discard_write_only_its_note() -> None:
    (statement,) = [
        s for s in _policy("Operator policy")["Statement"] if s["Action"] == "dynamodb:UpdateItem"
    ]
    assert statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"] == [
        "trade_key",
        "discarded",
    ]


@pytest.mark.parametrize("heading", ["Producer policy", "Operator policy"])
def test_policies_name_their_resources(heading: str) -> None:
    policy = _policy(heading)
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert "*" not in json.dumps(statement["Resource"])
