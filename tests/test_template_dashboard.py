"""The CloudWatch dashboard shows what an operator needs, with the metric names, namespace and
dimension the function really emits (observability.py) and the stack's own queues and function."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alipay_cancel import observability
from tests.template_support import Resolver, resources, sam_template, transform

# Every custom metric the function emits, by the names observability.py defines.
EMITTED = observability.EMITTED_METRICS


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transform(sam_template())


@pytest.fixture(scope="module")
def widgets(cfn: dict[str, Any]) -> list[dict[str, Any]]:
    (dashboard,) = resources(cfn, "AWS::CloudWatch::Dashboard").values()
    body = Resolver(cfn).resolve(dashboard["Properties"]["DashboardBody"])
    return list(json.loads(body)["widgets"])  # valid JSON once the stack's names are filled in


def _metrics(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, name, dimensions, options) per metric line of a widget (full rows only)."""
    rows = []
    for row in widget["properties"]["metrics"]:
        options = row[-1] if isinstance(row[-1], dict) else {}
        names = row[:-1] if options else row
        assert "..." not in names and len(names) % 2 == 0, row
        rows.append((names[0], names[1], dict(zip(names[2::2], names[3::2], strict=True)), options))
    return rows


def _widget(widgets: list[dict[str, Any]], title_word: str) -> dict[str, Any]:
    (found,) = [w for w in widgets if title_word.lower() in w["properties"]["title"].lower()]
    return found


def test_custom_metrics_are_ones_the_function_emits_with_its_namespace_and_dimension(
    widgets: list[dict[str, Any]],
) -> None:
    custom = [m for w in widgets for m in _metrics(w) if not m[0].startswith("AWS/")]
    assert custom
    for namespace, name, dimensions, _ in custom:
        assert namespace == observability.DEFAULT_NAMESPACE
        assert name in EMITTED, name
        # Powertools Metrics adds the service as the "service" dimension, nothing else.
        assert dimensions == {"service": observability.DEFAULT_SERVICE}


def test_outcomes_by_class(widgets: list[dict[str, Any]]) -> None:
    shown = {name for _, name, _, _ in _metrics(_widget(widgets, "outcomes"))}
    assert shown == set(observability.OUTCOME_METRICS)


def test_alipay_latency_p50_and_p99(widgets: list[dict[str, Any]]) -> None:
    rows = _metrics(_widget(widgets, "latency"))
    assert {(name, options.get("stat")) for _, name, _, options in rows} == {
        (observability.ALIPAY_LATENCY_METRIC, "p50"),
        (observability.ALIPAY_LATENCY_METRIC, "p99"),
    }


def test_configuration_and_infrastructure_errors(widgets: list[dict[str, Any]]) -> None:
    shown = {name for _, name, _, _ in _metrics(_widget(widgets, "errors (per"))}
    assert {
        observability.CONFIGURATION_ERROR_METRIC,
        observability.INFRASTRUCTURE_ERROR_METRIC,
        observability.REQUEUED_METRIC,
    } <= shown


def test_queue_depth_oldest_age_and_dead_letters_of_this_stacks_queues(widgets: list[dict[str, Any]]) -> None:
    queue = "arn:aws:getatt:::CancelQueue.QueueName"
    dlq = "arn:aws:getatt:::CancelDeadLetterQueue.QueueName"
    depth = {
        (n, d["QueueName"]) for ns, n, d, _ in _metrics(_widget(widgets, "cancel queue")) if ns == "AWS/SQS"
    }
    assert {
        ("ApproximateNumberOfMessagesVisible", queue),
        ("ApproximateNumberOfMessagesNotVisible", queue),
        ("ApproximateAgeOfOldestMessage", queue),
    } <= depth
    dead = {
        (n, d["QueueName"]) for ns, n, d, _ in _metrics(_widget(widgets, "dead letters")) if ns == "AWS/SQS"
    }
    assert ("ApproximateNumberOfMessagesVisible", dlq) in dead


def test_throttles_errors_and_concurrency_of_this_function(widgets: list[dict[str, Any]]) -> None:
    rows = _metrics(_widget(widgets, "function"))
    assert {name for ns, name, _, _ in rows if ns == "AWS/Lambda"} >= {
        "Throttles",
        "Errors",
        "ConcurrentExecutions",
    }
    assert all(d == {"FunctionName": "stack-CancelFunction-XYZ"} for _, _, d, _ in rows)


def test_every_widget_is_in_the_stacks_region(widgets: list[dict[str, Any]]) -> None:
    assert {w["properties"]["region"] for w in widgets} == {"us-east-1"}
