"""README.md and the pages under docs/ make concrete promises to users (parameter names and defaults,
environment variables, alarm and metric names, CLI commands and flags, record and dead-letter
attributes, outcome rows). Each test here reads the promise from the page that makes it and checks it
against the code or the template, so the two cannot drift apart silently."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from alipay_cancel import observability
from alipay_cancel.alipay import TradeRef
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.alipay.signing_material import load_signing_material
from alipay_cancel.alipay.signing_material_error import SigningMaterialError
from alipay_cancel.config import ConfigError, load_config
from alipay_cancel.decisions import waits
from alipay_cancel.decisions.classification import BUSINESS_RULES, RetryDelay, classify
from alipay_cancel.decisions.operation_codes import OPERATION_RULES
from alipay_cancel.decisions.remedies import REMEDIES, Remedy
from alipay_cancel.decisions.steps import Answer, Call, Start, next_step
from alipay_cancel.pipeline import messages
from alipay_cancel.pipeline import service as cancel_service
from alipay_cancel.pipeline.messages import BadMessage, parse_message
from alipay_cancel.shared.dead_letter import DeadLetter
from alipay_cancel.shared.endings import ENDINGS, Ending
from alipay_cancel.shared.ledger_item import Op, Status
from alipay_cancel.shared.trade import PaidTradePolicy, trade_key
from alipay_cancel.signing import secret as signing_secret
from alipay_cancel.stores.dead_letters import DeadLetterSender
from tests.docs_support import PAGES, flat, page, section, table

ROOT = Path(__file__).resolve().parent.parent
README = page("README.md")
FLAT = flat(README)
CONTRACTS = "docs/contracts.md"
CONFIGURATION = "docs/configuration.md"
OPERATIONS = "docs/operations.md"
TEMPLATE: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())
FUNCTION = TEMPLATE["Resources"]["CancelFunction"]["Properties"]
ENVIRONMENT: dict[str, Any] = FUNCTION["Environment"]["Variables"]
_table = table


def _ticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def _ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


# ---- Configuration ------------------------------------------------------------------------------


CONFIG_ROWS = _table(section(CONFIGURATION, "Parameters"))


def _config_rows() -> list[tuple[str, str, str]]:
    """(parameter, environment variable or '' / '(event source mapping)', default) per parameter;
    paired rows ("`A` / `B` | `X` / `Y` | 3 / 10") are split."""
    rows = []
    for param_cell, env_cell, default_cell, _meaning in CONFIG_ROWS:
        params = _ticked(param_cell)
        envs = _ticked(env_cell) or [env_cell] * len(params)
        defaults = [d.strip() for d in default_cell.split(" / ")] if len(params) > 1 else [default_cell]
        assert len(params) == len(envs) == len(defaults), f"malformed configuration row {param_cell}"
        rows.extend(zip(params, envs, defaults, strict=True))
    return rows


def test_configuration_table_lists_every_template_parameter_and_nothing_else() -> None:
    assert {p for p, _, _ in _config_rows()} == set(TEMPLATE["Parameters"])


def test_the_readmes_configuration_table_gives_the_template_defaults() -> None:
    """README: "Everything is a template.yaml parameter with a working default, except" the ones it
    names; each row's parameters exist and have the default it gives (or none, for "(required)")."""
    text = section("README.md", "Configuration")
    required = re.search(r"with a working default, except ([^.]+)\.", flat(text))
    assert required
    assert set(_ticked(required.group(1))) == {
        name for name, declared in TEMPLATE["Parameters"].items() if "Default" not in declared
    }
    rows = _table(text)
    assert rows
    for names, default, _meaning in rows:
        for name in _ticked(names):
            declared = TEMPLATE["Parameters"][name]
            if default == "(required)":
                assert "Default" not in declared, name
            elif default.startswith("empty"):
                assert declared["Default"] == "", name
            else:
                assert str(declared["Default"]) == default.strip("`"), name


@pytest.mark.parametrize(("parameter", "env", "default"), _config_rows(), ids=lambda v: str(v))
def test_configuration_table_default_is_the_template_default(parameter: str, env: str, default: str) -> None:
    declared = TEMPLATE["Parameters"][parameter]
    if default == "(required)":
        assert "Default" not in declared
    elif default == "empty":
        assert declared["Default"] == ""
    else:
        assert str(declared["Default"]) == default.strip("`")


@pytest.mark.parametrize(("parameter", "env", "default"), _config_rows(), ids=lambda v: str(v))
def test_configuration_table_names_the_variable_the_template_sets(
    parameter: str, env: str, default: str
) -> None:
    if env == "(event source mapping)":
        event = FUNCTION["Events"]["CancelQueueMessages"]["Properties"]
        used = [_ref(v) for v in event.values()] + [_ref(v) for v in event.get("ScalingConfig", {}).values()]
        assert parameter in used
    elif env:
        value = ENVIRONMENT[env]
        refs = (
            {_ref(value)} | {_ref(v) for v in value.get("Fn::If", [])[1:]}
            if isinstance(value, dict)
            else set()
        )
        assert parameter in refs, f"{env} is not set from {parameter}"
    else:
        assert all(parameter not in json.dumps(v) for v in ENVIRONMENT.values())


def test_every_function_variable_is_documented_in_the_configuration_section() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section(CONFIGURATION, "Parameters")))
    assert set(ENVIRONMENT) <= documented, set(ENVIRONMENT) - documented


def test_template_set_values_on_the_configuration_page_are_the_template_values() -> None:
    text = " ".join(section(CONFIGURATION, "Parameters").split())
    mapping = TEMPLATE["Mappings"]["Observability"]["Service"]
    assert f"`POWERTOOLS_SERVICE_NAME` (`{mapping['Name']}`)" in text
    assert f"`POWERTOOLS_METRICS_NAMESPACE` (`{mapping['MetricsNamespace']}`)" in text
    assert f"`POWERTOOLS_TRACE_DISABLED` (`{ENVIRONMENT['POWERTOOLS_TRACE_DISABLED']}`)" in text
    match = re.search(r"Python (\d+\.\d+) on (\w+), (\d+) MB,\s+(\d+) s timeout", text)
    assert match, "docs/configuration.md no longer states the function's runtime, memory and timeout"
    assert FUNCTION["Runtime"] == f"python{match.group(1)}"
    assert FUNCTION["Architectures"] == [match.group(2)]
    assert (FUNCTION["MemorySize"], FUNCTION["Timeout"]) == (int(match.group(3)), int(match.group(4)))
    visibility = re.search(r"visibility timeout is (\d+) s", text)
    assert visibility
    queue = TEMPLATE["Resources"]["CancelQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == int(visibility.group(1))
    assert "keep messages 14 days" in text
    retention = TEMPLATE["Mappings"]["Retention"]["Seconds"]
    for name, key in (("CancelQueue", "CancelQueue"), ("CancelDeadLetterQueue", "DeadLetterQueue")):
        assert TEMPLATE["Resources"][name]["Properties"]["MessageRetentionPeriod"] == {
            "Fn::FindInMap": ["Retention", "Seconds", key]
        }
        assert retention[key] == 14 * 86400


def _valid_environment() -> dict[str, str]:
    return {
        "ALIPAY_SECRET_ID": "alipay-cancel/signing-material",
        "ALIPAY_DEFAULT_APP_ID": "2021000000000001",
        "RESULTS_TABLE_NAME": "results",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        "CANCEL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/queue",
    }


def _function_variables_documented() -> list[str]:
    """Every variable docs/configuration.md names among the parameters that the function itself reads
    (Powertools' own and boto3's AWS_ENDPOINT_URL are read by those libraries)."""
    names = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section(CONFIGURATION, "Parameters")))
    return sorted(n for n in names if not n.startswith(("POWERTOOLS_", "AWS_")))


@pytest.mark.parametrize("name", _function_variables_documented())
def test_load_config_reads_the_variable_the_configuration_page_names(name: str) -> None:
    """Promise: "a wrong value fails the invocation with an error naming the variable"."""
    load_config(_valid_environment())
    with pytest.raises(ConfigError) as error:
        load_config({**_valid_environment(), name: "not valid"})
    assert str(error.value).startswith(name)


# ---- Operations: alarms and metrics ------------------------------------------------------------


def test_alarm_table_names_exactly_the_template_alarms() -> None:
    named = {n for row in _table(section(OPERATIONS, "Alarms")) for n in _ticked(row[0])}
    alarms = {k for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert named == alarms


def test_configuration_error_alarm_row_names_the_metric_the_alarm_watches() -> None:
    rows = _table(section(OPERATIONS, "Alarms"))
    row = next(r for r in rows if "`ConfigurationErrorAlarm`" in r[0])
    mapping = TEMPLATE["Mappings"]["Observability"]["Service"]
    assert f"`{mapping['MetricsNamespace']}/{mapping['ConfigurationErrorMetric']}`" in row[1]
    assert mapping["ConfigurationErrorMetric"] == observability.CONFIGURATION_ERROR_METRIC


def _metrics_paragraph() -> str:
    text = section(OPERATIONS, "Metrics and logs")
    start = text.index("Metrics (EMF")
    return text[start : text.index("Logs are JSON", start)]


def test_metric_names_on_the_operations_page_are_the_metrics_the_function_emits() -> None:
    paragraph = _metrics_paragraph()
    namespace, dimension = re.search(r"namespace `(\w+)`, dimension `(\w+)`", paragraph).groups()  # type: ignore[union-attr]
    assert namespace == observability.DEFAULT_NAMESPACE
    assert dimension == "service"  # Powertools Metrics' service dimension
    documented = set(_ticked(paragraph)) - {namespace, dimension}
    emitted = {
        *(metric for row in ENDINGS.values() for metric in row.metrics),
        observability.DUPLICATE_IN_FLIGHT_METRIC,
        observability.REQUEUED_METRIC,
        observability.ALIPAY_LATENCY_METRIC,
        "ColdStart",  # Powertools' capture_cold_start_metric
    }
    assert documented == emitted
    assert emitted - {"ColdStart"} == observability.EMITTED_METRICS
    # Every *_METRIC constant in observability is one of them: a new metric must be documented.
    constants = {v for k, v in vars(observability).items() if k.endswith("_METRIC")}
    assert constants <= documented


# ---- Operator CLI -------------------------------------------------------------------------------


def _cli_lines() -> list[str]:
    """Every ``alipay-cancel ...`` command the README's Operations, the operations page's CLI section
    and the dead-letter remedies show."""
    text = section("README.md", "Operations") + section(OPERATIONS, "The operator CLI")
    lines = [
        line.split("#")[0].strip()
        for line in text.splitlines()
        if line.strip().startswith("alipay-cancel ") and not line.strip().startswith("alipay-cancel --")
    ]  # (--version and --help: tests/test_cli_install.py)
    remedies = [rule.remedy or "" for rule in BUSINESS_RULES.values()]
    lines += [m for r in remedies for m in re.findall(r"alipay-cancel [^)]+", r)]
    assert len(lines) >= 4
    return sorted(set(lines))


@pytest.mark.parametrize("line", _cli_lines())
def test_every_documented_cli_command_parses(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    from alipay_cancel_ops import cli

    words = shlex.split(line)[1:]
    # "[--flag V]" means optional: use it. Placeholders (K, C, <trade_key>) become real values.
    argv: list[str] = []
    for word in (w.strip("[]") for w in words):
        if argv and argv[-1] == "--outcome-class" and not word.startswith("-"):
            word = "terminal" if word in ("C",) else word
        argv.append(word)
    args = cli.parser().parse_args(argv)
    assert args.command == words[0]
    with pytest.raises(SystemExit) as done:
        cli.main([words[0], "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    for flag in (w for w in argv if w.startswith("--")):
        assert flag in help_text


@pytest.mark.parametrize(
    ("command", "flag", "variable"),
    [
        ("enqueue", "queue_url", "CANCEL_QUEUE_URL"),
        ("result", "table", "RESULTS_TABLE_NAME"),
        ("dead-letters", "queue_url", "DEAD_LETTER_QUEUE_URL"),
        ("redrive", "queue_url", "DEAD_LETTER_QUEUE_URL"),
        ("redrive", "to_queue_url", "CANCEL_QUEUE_URL"),
    ],
)
def test_cli_reads_the_function_variable_names_the_readme_gives(
    command: str, flag: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alipay_cancel_ops import cli

    assert f"`{variable}`" in section("README.md", "Operations")
    assert f"`${variable}`" in section(OPERATIONS, "The operator CLI")
    monkeypatch.setenv(variable, "https://example.invalid/from-env")
    argv = [command, "K"] if command == "result" else [command]
    assert getattr(cli.parser().parse_args(argv), flag) == "https://example.invalid/from-env"


def test_cli_accepts_the_endpoint_flag_the_operations_page_shows() -> None:
    from alipay_cancel_ops import cli

    assert "`--endpoint-url http://127.0.0.1:4566`" in section(OPERATIONS, "The operator CLI")
    args = cli.parser().parse_args(["--endpoint-url", "http://127.0.0.1:4566", "dead-letters"])
    assert args.endpoint_url == "http://127.0.0.1:4566"


# ---- make targets, demo, emulator, local stack ---------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_every_make_target_the_documentation_shows_exists(name: str) -> None:
    """Commands (in code, or a code block's line): each target exists, and each variable given to it is
    read by the Makefile or by src/Makefile (which `make build` runs through `sam build`)."""
    makefile = (ROOT / "Makefile").read_text()
    makefiles = makefile + (ROOT / "src" / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    text = page(name)
    used = set(re.findall(r"(?:^\s*|`)make ([a-z][a-z0-9-]*)", text, re.M))
    assert used <= targets, used - targets
    for variable in set(re.findall(r"(?:^\s*|`)make [a-z-]+ ([A-Z_0-9]+)=", text, re.M)):
        assert f"$({variable})" in makefiles, variable


def test_the_readme_shows_the_make_targets() -> None:
    assert re.findall(r"^make (demo|test) ", README, re.M) == ["demo", "test"]


@pytest.mark.parametrize(
    ("name", "module", "pattern"),
    [
        ("README.md", "local.demo.__main__", r'make demo DEMO_ARGS="([^"]+)"'),
        ("README.md", "local.alipay_gateway.__main__", r'make gateway GATEWAY_ARGS="([^"]+)"'),
        ("README.md", "local.keygen", r"python -m local\.keygen (.+)"),
        ("docs/deploy.md", "local.keygen", r"python -m local\.keygen (.+)"),
        ("README.md", "local.invoke", r'make invoke EVENT=\S+ INVOKE_ARGS="([^"]+)"'),
        ("README.md", "local.stack.__main__", r'make local-stack STACK_ARGS="([^"]+)"'),
        ("docs/reliability.md", "local.chaos.__main__", r'make chaos CHAOS_ARGS="([^"]+)"'),
        ("docs/performance.md", "bench.run", r'make bench BENCH_ARGS="([^"]+)"'),
    ],
)
def test_documented_local_tool_flags_are_accepted(
    name: str, module: str, pattern: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    match = re.search(pattern, page(name))
    assert match, f"{name} no longer shows {pattern}"
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    for flag in re.findall(r"--[a-z][a-z-]*", match.group(1)):
        assert flag in help_text, f"{module} has no {flag}"


def test_local_stack_ports_are_the_documented_ones() -> None:
    from local.stack import local_stack

    assert "moto on 127.0.0.1:4566, Alipay emulator on 127.0.0.1:8089" in FLAT
    assert (local_stack.DEFAULT_MOTO_PORT, local_stack.DEFAULT_GATEWAY_PORT) == (4566, 8089)


@pytest.mark.parametrize("name", PAGES)
def test_event_files_the_documentation_names_exist(name: str) -> None:
    for path in re.findall(r"`?(events/[\w.-]+\.json)", page(name)):
        assert (ROOT / path).is_file(), path


def test_files_and_modules_the_layout_names_exist() -> None:
    development = section("docs/architecture.md", "Layout")
    package = ROOT / "src/alipay_cancel"
    for module in re.findall(r"\b(\w+\.py)\b", development):
        assert list(package.rglob(module)) or (ROOT / "bench" / module).is_file(), module
    for folder in re.findall(r"^  (\w+)/ ", development, flags=re.M):
        assert (package / folder / "__init__.py").is_file(), folder
    assert (ROOT / "local/alipay_gateway/README.md").is_file()


# ---- Contracts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "title", "link"),
    [
        ("README.md", "Results and dead letters", "[docs/ledger.md](docs/ledger.md)"),
        (CONTRACTS, "Results: DynamoDB `CancelResultsTable` (the ledger)", "[ledger.md](ledger.md)"),
    ],
)
def test_the_results_section_points_at_the_ledgers_page_and_names_its_states(
    name: str, title: str, link: str
) -> None:
    text = section(name, title)
    assert link in text
    named = set(_ticked(text))
    assert {s.value for s in Status} <= named


class _RecordingSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, str]:
        self.sent.append(kwargs)
        return {"MessageId": "m-1"}


def test_dead_letter_attributes_are_the_ones_the_contracts_list() -> None:
    paragraph = section(CONTRACTS, "Dead letters: SQS `CancelDeadLetterQueue`")
    listed = set(
        re.findall(
            r"`([a-z_]+)`", re.split(r"Message\s+attributes\s+say\s+why:", paragraph)[1].split("(each")[0]
        )
    )
    listed -= {"terminal", "bad_message", "exhausted"}
    sqs = _RecordingSqs()
    body = '{"out_trade_no": "T-1"}\n'
    DeadLetterSender(sqs, "https://sqs.example/dlq").send(
        DeadLetter(
            body=body,
            reason="why",
            source_message_id="src-1",
            outcome_class=Ending.TERMINAL,
            error_code="40004",
            error_sub_code="ACQ.TRADE_HAS_FINISHED",
            alipay_trace_id="trace-1",
            trade_key="T-1",
            attempts=3,
            alipay_facts="trade_status=TRADE_FINISHED total_amount=88.88",
        )
    )
    (sent,) = sqs.sent
    assert set(sent["MessageAttributes"]) == listed
    assert sent["MessageBody"] == body  # "the original message body, byte for byte"


def _outcome_rows() -> list[tuple[str, str]]:
    rows = []
    for what, klass, _happens in _table(section(CONTRACTS, "Outcomes")):
        for code in _ticked(what):
            if re.fullmatch(r"[A-Z]{3}\.[A-Z_]+|\d{5}", code):
                rows.append((code, klass))
    return rows


@pytest.mark.parametrize(("code", "klass"), _outcome_rows())
def test_outcome_table_rows_are_how_the_classifier_decides(code: str, klass: str) -> None:
    if code.isdigit():
        failure = AlipayFailure(
            FailureKind.SERVICE_UNAVAILABLE, "m", http_status=200, code=code, verified=True
        )
    else:
        failure = AlipayFailure(
            FailureKind.BUSINESS, "m", http_status=200, code="40004", sub_code=code, verified=True
        )
    decision = classify(failure)
    if klass == "settle":  # cancel cannot settle it: the settle flow queries the trade next
        answer = Answer(Call(Op.CANCEL), failure, decision)
        assert next_step(Start("T-1", PaidTradePolicy.REFUND), (answer,)) == Call(Op.QUERY)
        return
    expected = {
        "retry": Ending.RETRY,
        "retry, slower": Ending.RETRY,
        "terminal": Ending.TERMINAL,
    }
    assert decision.outcome is expected[klass]
    if klass == "retry, slower":
        assert decision.delay is RetryDelay.SLOW
    elif klass == "retry":
        assert decision.delay is RetryDelay.NORMAL


def _v3_outcome_rows() -> list[tuple[str, str]]:
    rows = []
    for what, klass, _happens in _table(section(CONTRACTS, "Outcomes")):
        for code in _ticked(what):
            if re.fullmatch(r"[a-z]+(-[a-z]+)+", code) and code not in ("alipay-sn", "decryption-error-*"):
                rows.append((code, klass))
    return rows


@pytest.mark.parametrize(("code", "klass"), _v3_outcome_rows())
def test_outcome_table_v3_codes_are_how_the_classifier_decides(code: str, klass: str) -> None:
    decision = classify(AlipayFailure(FailureKind.V3_ERROR, "m", http_status=400, code=code, verified=True))
    expected = {
        "retry": (Ending.RETRY, RetryDelay.NORMAL),
        "retry, slower": (Ending.RETRY, RetryDelay.SLOW),
        "terminal": (Ending.TERMINAL, None),
        "config error": (Ending.CONFIG_ERROR, RetryDelay.SLOW),
    }
    assert (decision.outcome, decision.delay) == expected[klass], code


def test_outcome_table_names_codes_of_every_group() -> None:
    assert len(_v3_outcome_rows()) >= 45


def test_redrive_leaves_what_the_operations_page_says_it_leaves() -> None:
    """docs/operations.md: a redrive leaves bad messages and what no call can settle (a finished trade,
    a trade refunded in part by someone else, a refund Alipay will not do through its API) and
    redrives a frozen trade whose remedy says so."""
    from alipay_cancel_ops.queues import DeadLetterView
    from alipay_cancel_ops.redrive_plan import redrive_blocker

    dead_letters = section(OPERATIONS, "Dead letters: read, redrive, discard")
    text = flat(dead_letters)
    assert "bad messages (the same body fails the same way)" in text
    assert (
        "what no call can settle (a finished trade, a trade refunded in part by someone else, a refund"
        " Alipay will not do through its API, ...:" in text
    )
    assert "(a frozen trade once Alipay released it) is redriven" in text

    def blocked(outcome_class: str, reason: str) -> bool:
        attributes = {"outcome_class": outcome_class, "reason": reason}
        return redrive_blocker(DeadLetterView("m", "r", "{}", attributes, {})) is not None

    refund = OPERATION_RULES[Op.REFUND]
    for rule in (
        BUSINESS_RULES["ACQ.TRADE_HAS_FINISHED"],  # a finished trade
        refund["ACQ.REASON_TRADE_REFUND_FEE_ERR"],  # refunded in part by someone else
        refund["ACQ.NOT_ALLOW_PARTIAL_REFUND"],  # a refund Alipay will not do through its API
    ):
        assert blocked("terminal", f"{rule.what}. {rule.remedy}"), rule.what
    for frozen in (BUSINESS_RULES["ACQ.REASON_TRADE_BEEN_FREEZEN"], refund["ACQ.REASON_TRADE_BEEN_FREEZEN"]):
        assert not blocked("terminal", f"{frozen.what}. {frozen.remedy}")
    assert blocked("bad_message", REMEDIES[Remedy.BAD_MESSAGE])
    for flag in ("--include-unredrivable", "--yes", "--ask-above", "--dry-run"):
        assert flag in dead_letters, flag


def _default(name: str) -> int:
    return int(TEMPLATE["Parameters"][name]["Default"])


def test_retry_horizon_span_and_table_are_what_the_policy_computes() -> None:
    from alipay_cancel.decisions.retry_policy import (
        MAX_HORIZON_SECONDS,
        RetrySchedule,
        receives_within_horizon,
    )
    from tests.fixtures.retries import fewest_receives

    horizon = section(CONFIGURATION, "Retry horizon")
    text = flat(horizon)

    def schedule(horizon: int) -> RetrySchedule:
        return RetrySchedule(
            horizon_seconds=horizon,
            base_seconds=_default("RetryBaseSeconds"),
            max_seconds=_default("RetryMaxSeconds"),
            slow_base_seconds=_default("RetrySlowBaseSeconds"),
            max_receive_count=_default("MaxReceiveCount"),
        )

    default = schedule(_default("RetryHorizonSeconds"))
    assert _default("RetryHorizonSeconds") == 86400 and "**one day of retries**" in text
    most, fewest = receives_within_horizon(default), fewest_receives(default)
    assert f"**{fewest} to {most} times in all**" in text
    assert f"leaves {default.max_receive_count - most} receives for throttled" in text
    rows = _table(horizon)
    assert rows
    for horizon, _span, tries, at_least in rows:
        computed = schedule(int(horizon))
        low, high = fewest_receives(computed), receives_within_horizon(computed)
        assert tries == f"{low} to {high}", horizon
        assert int(at_least) == high, horizon
    assert (
        int(rows[-1][0])
        == MAX_HORIZON_SECONDS
        == int(TEMPLATE["Parameters"]["RetryHorizonSeconds"]["MaxValue"])
    )


def _table_text(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.startswith("|"))


def test_dashboard_widgets_the_operations_page_lists_show_metrics_the_function_emits() -> None:
    dashboard = section(OPERATIONS, "Dashboard")
    body = TEMPLATE["Resources"]["CancelDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    custom = observability.EMITTED_METRICS
    named = set(_ticked(_table_text(dashboard)))
    assert named <= custom, named - custom
    for name in named:
        assert f'"{name}"' in body, name
    assert "`CancelDashboardName`" in dashboard and "CancelDashboardName" in TEMPLATE["Outputs"]


def test_message_limits_are_the_documented_ones() -> None:
    contract = flat(section(CONTRACTS, "Input: one SQS message = one payment to cancel"))
    assert (
        "at most 64 printable ASCII characters" in contract and "1-256 visible ASCII characters" in contract
    )
    parse_message(json.dumps({"out_trade_no": "x" * 64}))
    example = re.search(r"e\.g\. `(out_trade_no contains U\+0410 .*?)`", contract)
    assert example is not None
    with pytest.raises(BadMessage) as refused:
        parse_message(json.dumps({"out_trade_no": "20\u0410B"}))
    assert example.group(1) in refused.value.reason
    with pytest.raises(BadMessage):
        parse_message(json.dumps({"out_trade_no": "x" * 65}))
    parse_message(json.dumps({"out_trade_no": "x", "app_auth_token": "t" * 256, "merchant_id": "m"}))
    with pytest.raises(BadMessage):
        parse_message(json.dumps({"out_trade_no": "x", "app_auth_token": "t" * 257, "merchant_id": "m"}))
    assert "1-64 visible ASCII characters" in contract
    parse_message(json.dumps({"out_trade_no": "x", "app_auth_token": "t", "merchant_id": "m" * 64}))
    with pytest.raises(BadMessage):
        parse_message(json.dumps({"out_trade_no": "x", "app_auth_token": "t", "merchant_id": "m" * 65}))
    with pytest.raises(BadMessage, match="without merchant_id"):
        parse_message(json.dumps({"out_trade_no": "x", "app_auth_token": "t"}))
    assert messages.MAX_BODY_CHARS == 256 * 1024 and "256 Ki characters" in contract


def test_low_time_margin_and_deferral_are_the_documented_ones() -> None:
    text = flat(section(CONTRACTS, "How a batch is processed"))
    margin = re.search(r"connect \+ read timeout \+ (\d+) s left", text)
    deferred = re.search(r"visible again in (\d+) s", text)
    assert margin and deferred
    assert cancel_service.SAFETY_MARGIN_MS == int(margin.group(1)) * 1000
    assert waits.LOW_TIME_RETRY_SECONDS == int(deferred.group(1))


def test_failed_secret_load_reuse_is_the_documented_one() -> None:
    text = flat(section(CONTRACTS, "Signing material (Secrets Manager)"))
    reused = re.search(r"is not read again for (\d+) seconds per container", text)
    picked = re.search(r"a fixed secret is picked up within (\d+) s", text)
    assert reused and picked and reused.group(1) == picked.group(1)
    assert signing_secret.FAILED_LOAD_REUSE_SECONDS == int(reused.group(1))


def test_maximum_concurrency_range_is_the_template_range() -> None:
    capacity = section(CONFIGURATION, "Capacity")
    low, high = re.search(r"`MaximumConcurrency` \((\d+)-(\d+)\)", capacity).groups()  # type: ignore[union-attr]
    declared = TEMPLATE["Parameters"]["MaximumConcurrency"]
    assert (declared["MinValue"], declared["MaxValue"]) == (int(low), int(high))


def test_a_success_is_remembered_without_an_expiry_and_the_idempotency_table_is_gone() -> None:
    text = flat(section(CONTRACTS, "Idempotency"))
    assert "Settled items have no expiry" in text
    assert not {"IdempotencyExpirySeconds", "LegacyIdempotencyReadsUntil"} & set(TEMPLATE["Parameters"])
    tables = {k for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"}
    assert tables == {"CancelResultsTable"}


def test_trade_key_table_is_what_the_code_builds() -> None:
    text = section(CONTRACTS, "Results: DynamoDB `CancelResultsTable` (the ledger)")
    keys = re.findall(r"^\| [^|]+ \| `([^`]*ORDER-1001)`", text, re.MULTILINE)
    assert keys == [
        trade_key("ORDER-1001"),
        trade_key("ORDER-1001", merchant_id="2088A"),
        trade_key("ORDER-1001", app_id="2021000000000002"),
        trade_key("ORDER-1001", app_id="2021000000000002", merchant_id="2088A"),
    ]


# ---- Signing material ---------------------------------------------------------------------------


def _signing_fields() -> list[str]:
    return [
        n for row in _table(section(CONTRACTS, "Signing material (Secrets Manager)")) for n in _ticked(row[0])
    ]


def test_signing_material_table_lists_the_fields() -> None:
    fields = set(_signing_fields())
    assert fields == {
        "app_id",
        "private_key",
        "alipay_public_key",
        "app_cert",
        "alipay_cert",
        "alipay_root_cert",
        "encrypt_key",
    }


@pytest.mark.parametrize("field", _signing_fields())
def test_a_bad_signing_field_is_refused_naming_the_field(
    field: str, public_key_secret: dict[str, str], cert_secret: dict[str, str]
) -> None:
    """docs/deploy.md: a wrong key "is refused when the function loads the secret, with an error naming
    the field"; this also proves the function reads each field under the documented name."""
    assert "is refused when the function loads the secret, with an error naming the field" in flat(
        page("docs/deploy.md")
    )
    secret = cert_secret if field in ("app_cert", "alipay_cert", "alipay_root_cert") else public_key_secret
    load_signing_material(secret)
    with pytest.raises(SigningMaterialError) as error:
        load_signing_material({**secret, field: "not a key!"})
    assert error.value.field_name == field


def test_client_page_uses_the_real_signatures() -> None:
    """docs/client.md's "Using it in code": keyword names and the failure's fields exist."""
    import inspect

    using = section("docs/client.md", "Using it in code")
    assert "connect_timeout=3, read_timeout=10" in using
    parameters = inspect.signature(AlipayClient).parameters
    assert {"connect_timeout", "read_timeout", "response_max_age_seconds", "session"} <= set(parameters)
    TradeRef(out_trade_no="20150320010101001", trade_no=None)
    assert {"action", "trace_id"} <= {f.name for f in dataclasses.fields(CancelSuccess)}
    fields = re.search(r"an `AlipayFailure` \(([^)]*)\)", flat(page("docs/client.md")))
    assert fields, "docs/client.md no longer lists the failure's fields"
    assert set(_ticked(fields.group(1))) <= {f.name for f in dataclasses.fields(AlipayFailure)}
    assert {"kind", "code", "sub_code"} <= set(_ticked(fields.group(1)))


def test_nothing_points_at_contract_files_the_repository_does_not_have() -> None:
    """The README and docs/contracts.md carry the contracts; the design notes they came from are not in
    the repository."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".yaml", ".toml", ".json", ".txt"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for missing in ("DESIGN" + ".md", "COMMON" + ".md"):
            assert missing not in text or (ROOT / missing).exists(), f"{name} refers to {missing}"
