"""template.yaml, transformed by aws-sam-translator the way CloudFormation would, has the properties
that keep payments safe: partial batch responses, retry arithmetic, least privilege, encryption,
and an environment that matches what the function reads."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from alipay_cancel import config as config_module
from tests.template_support import (
    ACCOUNT,
    DATA_SERVICES,
    LOCAL_ONLY_VARS,
    PARTITION,
    POWERTOOLS_VARS,
    REGION,
    ROOT,
    SECRET_ARN,
    SECRET_NAME,
    TEMPLATE_PATH,
    Resolver,
    allowed,
    app_secret_arn,
    as_list,
    config_env_names,
    function_env,
    param_default,
    resource_props,
    resources,
    role_statements,
    sam_template,
    transform,
)

APP_ID = "2021000000000001"
APP_SECRET_PREFIX = "alipay-cancel/prod/apps/"


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return sam_template()


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    return transform(sam)


# ---------------------------------------------------------------------------- event source mapping


def test_sqs_event_source_reports_partial_batch_failures_and_caps_concurrency(cfn: dict[str, Any]) -> None:
    mappings = resources(cfn, "AWS::Lambda::EventSourceMapping")
    (esm,) = [
        m["Properties"]
        for m in mappings.values()
        if m["Properties"]["FunctionName"] == {"Ref": "CancelFunction"}
    ]
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["CancelQueue", "Arn"]}
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}
    assert int(cfn["Parameters"]["MaximumConcurrency"]["MinValue"]) >= 2  # the ESM's own minimum
    assert esm["BatchSize"] == {"Ref": "BatchSize"}
    assert esm["MaximumBatchingWindowInSeconds"] == {"Ref": "BatchingWindowSeconds"}


def test_queue_visibility_timeout_is_at_least_six_function_timeouts(cfn: dict[str, Any]) -> None:
    timeout = resource_props(cfn, "CancelFunction")["Timeout"]
    assert isinstance(timeout, int)
    assert resource_props(cfn, "CancelQueue")["VisibilityTimeout"] >= 6 * timeout
    # The whole Alipay exchange must fit in a function's run, several times over.
    worst_call = float(cfn["Parameters"]["AlipayConnectTimeoutSeconds"]["MaxValue"]) + float(
        cfn["Parameters"]["AlipayReadTimeoutSeconds"]["MaxValue"]
    )
    assert worst_call * 3 <= timeout


def test_redrive_count_is_the_parameter_the_function_also_reads(cfn: dict[str, Any]) -> None:
    redrive = resource_props(cfn, "CancelQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["CancelDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert function_env(cfn)["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}


def test_retry_horizon_defaults_are_consistent_with_the_queue_and_the_age_alarm(cfn: dict[str, Any]) -> None:
    """A default deploy retries for a day, the receive limit leaves room for that, the queue keeps the
    message long enough, and the age alarm fires between one retry delay and the horizon."""
    from alipay_cancel.decisions.retry_policy import RetrySchedule, receives_within_horizon, schedule_problems

    assert function_env(cfn)["RETRY_HORIZON_SECONDS"] == {"Ref": "RetryHorizonSeconds"}
    horizon = int(param_default(cfn, "RetryHorizonSeconds"))
    schedule = RetrySchedule(
        horizon_seconds=horizon,
        base_seconds=int(param_default(cfn, "RetryBaseSeconds")),
        max_seconds=int(param_default(cfn, "RetryMaxSeconds")),
        slow_base_seconds=int(param_default(cfn, "RetrySlowBaseSeconds")),
        max_receive_count=int(param_default(cfn, "MaxReceiveCount")),
    )
    assert horizon == 86400
    assert schedule_problems(schedule) == []
    assert schedule.max_receive_count >= receives_within_horizon(schedule) + 5  # room for throttles, crashes
    assert int(cfn["Parameters"]["MaxReceiveCount"]["MaxValue"]) == 1000  # SQS's own limit
    longest = int(cfn["Parameters"]["RetryHorizonSeconds"]["MaxValue"])
    retention = Resolver(cfn).resolve(resource_props(cfn, "CancelQueue")["MessageRetentionPeriod"])
    assert longest + 43200 <= retention  # the last try of the longest horizon still fits in the queue
    age_alarm = int(param_default(cfn, "OldestMessageAgeAlarmSeconds"))
    assert schedule.max_seconds < age_alarm < horizon


def test_batch_size_over_ten_requires_a_batching_window_rule(cfn: dict[str, Any]) -> None:
    rule = cfn["Rules"]["BatchOver10NeedsWindow"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "BatchingWindowSeconds"}, "0"]}
    allowed = rule["Assertions"][0]["Assert"]["Fn::Contains"][0]
    assert sorted(int(v) for v in allowed) == list(range(1, 11))


# ---------------------------------------------------------------------------- queues and tables


def test_queues_are_encrypted_and_dead_letters_are_kept_14_days(cfn: dict[str, Any]) -> None:
    for queue in ("CancelQueue", "CancelDeadLetterQueue"):
        props = resource_props(cfn, queue)
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, queue
        assert cfn["Resources"][queue]["DeletionPolicy"] == "Retain", queue
    resolver = Resolver(cfn)
    assert (
        resolver.resolve(resource_props(cfn, "CancelDeadLetterQueue")["MessageRetentionPeriod"])
        == 14 * 24 * 3600
    )


def test_function_is_told_the_queues_retention(cfn: dict[str, Any]) -> None:
    """Where it stops re-enqueuing a kept message: the cancel queue's own retention."""
    resolver = Resolver(cfn, {"SecretId": SECRET_NAME, "DefaultAppId": APP_ID})
    env = resolver.resolve(function_env(cfn))
    queue = resolver.resolve(resource_props(cfn, "CancelQueue")["MessageRetentionPeriod"])
    assert int(env["CANCEL_QUEUE_RETENTION_SECONDS"]) == queue


def test_the_ledger_is_on_demand_with_pitr_and_encryption(cfn: dict[str, Any]) -> None:
    props = resource_props(cfn, "CancelResultsTable")
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_results_table_is_keyed_by_trade_key_and_never_expires_or_drops(cfn: dict[str, Any]) -> None:
    props = resource_props(cfn, "CancelResultsTable")
    assert props["KeySchema"] == [{"AttributeName": "trade_key", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "trade_key", "AttributeType": "S"}]
    assert "TimeToLiveSpecification" not in props
    assert cfn["Resources"]["CancelResultsTable"]["DeletionPolicy"] == "Retain"


def test_the_ledger_is_the_only_table(cfn: dict[str, Any]) -> None:
    """No idempotency table: the results item is the claim, the memory and the history."""
    tables = [k for k, v in cfn["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"]
    assert tables == ["CancelResultsTable"]


# ---------------------------------------------------------------------------- function


def test_function_runtime_architecture_tracing_and_sizing(cfn: dict[str, Any]) -> None:
    props = resource_props(cfn, "CancelFunction")
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "alipay_cancel.handler.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert isinstance(props["MemorySize"], int) and props["MemorySize"] >= 256
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "CancelFunctionLogGroup"}}
    assert sam_template()["Resources"]["CancelFunction"]["Properties"]["CodeUri"] == "src/"


def test_environment_names_exactly_what_load_config_reads(cfn: dict[str, Any]) -> None:
    names = set(function_env(cfn))
    assert names - POWERTOOLS_VARS - LOCAL_ONLY_VARS == config_env_names()
    assert POWERTOOLS_VARS <= names


def test_parameter_defaults_equal_config_defaults(cfn: dict[str, Any]) -> None:
    """Deploying with defaults configures the function exactly as its documented defaults."""
    env = Resolver(cfn, {"SecretId": SECRET_NAME, "DefaultAppId": APP_ID}).resolve(function_env(cfn))
    source = Path(config_module.__file__).read_text()
    for field in dataclasses.fields(config_module.Config):
        if field.default is dataclasses.MISSING:
            continue
        var = re.search(rf"^\s+{field.name}:[^#\n]*#\s*([A-Z][A-Z0-9_]+)", source, re.MULTILINE)
        assert var
        assert type(field.default)(env[var.group(1)]) == field.default, var.group(1)


def test_load_config_accepts_the_deployed_environment(cfn: dict[str, Any]) -> None:
    params = {"SecretId": SECRET_ARN, "DefaultAppId": APP_ID, "MaxReceiveCount": "75"}
    env = Resolver(cfn, params).resolve(function_env(cfn))
    env = {k: str(v) for k, v in env.items()}  # CloudFormation passes mapped numbers as strings
    assert "AWS_ENDPOINT_URL" not in env  # only for sam local
    try:
        config = config_module.load_config(env)
    except NotImplementedError:
        pytest.skip("load_config is not implemented yet")
    assert config.secret_id == SECRET_ARN
    assert config.max_receive_count == 75
    assert config.alipay_endpoint == "https://openapi.alipay.com"
    assert config.cancel_queue_url == env["CANCEL_QUEUE_URL"]
    assert config.dead_letter_queue_url == env["DEAD_LETTER_QUEUE_URL"]


def test_no_environment_variable_carries_a_secret(cfn: dict[str, Any]) -> None:
    """Only the secret's id travels; every value is a resource name, a bounded parameter or a literal."""
    env = function_env(cfn)
    assert env["ALIPAY_SECRET_ID"] == {"Ref": "SecretId"}
    for name, value in env.items():
        if isinstance(value, str):
            assert len(value) < 32, name
            continue
        if "Fn::If" in value:  # the loopback-only local endpoint
            value = value["Fn::If"][1]
        if "Fn::FindInMap" in value:
            assert value["Fn::FindInMap"][0] in ("Observability", "Retention"), name
            continue
        ref = value["Ref"]
        if ref in cfn["Resources"]:
            continue
        spec = cfn["Parameters"][ref]
        assert not spec.get("NoEcho"), name
        assert spec["Type"] == "Number" or "AllowedPattern" in spec or "AllowedValues" in spec, name
    # Pasting key material into SecretId by mistake is refused before it reaches the environment.
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    assert not allowed(cfn, "SecretId", pem)
    assert not allowed(cfn, "SecretId", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 50)  # bare base64 RSA key
    for name in cfn["Parameters"]:
        assert not re.search(r"PrivateKey|EncryptKey|AuthToken|Password", name), name


def test_endpoint_parameter_refuses_anything_but_https(cfn: dict[str, Any]) -> None:
    assert param_default(cfn, "AlipayEndpoint") == "https://openapi.alipay.com"
    assert allowed(cfn, "AlipayEndpoint", "https://openapi.alipay.com")
    assert allowed(cfn, "AlipayEndpoint", "https://openapi-sandbox.dl.alipaydev.com")
    for bad in (
        "http://openapi.alipay.com",
        "HTTP://openapi.alipay.com",
        "ftp://openapi.alipay.com",
        "https://user:pw@openapi.alipay.com",
        "https://openapi.alipay.com/gateway.do?x=1",
        "openapi.alipay.com",
        "",
    ):
        assert not allowed(cfn, "AlipayEndpoint", bad), bad


def test_secret_id_parameter_takes_a_name_or_a_full_arn_only(cfn: dict[str, Any]) -> None:
    assert allowed(cfn, "SecretId", SECRET_NAME)
    assert allowed(cfn, "SecretId", SECRET_ARN)
    for bad in (
        "",
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_NAME}",  # partial ARN: policy would miss
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
        "alipay cancel",
        "*",
    ):
        assert not allowed(cfn, "SecretId", bad), bad


def test_local_endpoint_override_is_loopback_only_and_absent_by_default(cfn: dict[str, Any]) -> None:
    assert param_default(cfn, "LocalAwsEndpointUrl") == ""
    assert allowed(cfn, "LocalAwsEndpointUrl", "http://127.0.0.1:4566")
    assert not allowed(cfn, "LocalAwsEndpointUrl", "https://sqs.evil.example.com")
    env = Resolver(cfn, {"LocalAwsEndpointUrl": "http://127.0.0.1:4566"}).resolve(function_env(cfn))
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"


# ---------------------------------------------------------------------------- IAM


def test_every_role_is_an_explicit_one_without_managed_policies(cfn: dict[str, Any]) -> None:
    roles = resources(cfn, "AWS::IAM::Role")
    # The cancel function's, the outcome-event publisher's (tests/test_template_events.py) and the
    # one EventBridge Scheduler sends scheduled cancels with: no role SAM generated.
    assert set(roles) == {"CancelFunctionRole", "OutcomeEventsFunctionRole", "CancelSchedulerRole"}
    # SAM would attach AWSLambdaSQSQueueExecutionRole (sqs:* data actions on "*") to a generated role.
    assert not any(role["Properties"].get("ManagedPolicyArns") for role in roles.values())
    assert not resources(cfn, "AWS::IAM::ManagedPolicy")
    role = roles["CancelFunctionRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert resource_props(cfn, "CancelFunction")["Role"] == {"Fn::GetAtt": ["CancelFunctionRole", "Arn"]}


@pytest.mark.parametrize("secret_id", [SECRET_NAME, SECRET_ARN])
def test_data_actions_are_granted_on_named_resources_only(cfn: dict[str, Any], secret_id: str) -> None:
    grants: dict[str, set[str]] = {}
    for statement in role_statements(cfn, {"SecretId": secret_id}):
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        assert all("*" not in a for a in actions), actions
        resources = as_list(statement["Resource"])
        if not any(a.split(":")[0] in DATA_SERVICES for a in actions):
            continue
        for resource in resources:
            assert "*" not in resource, statement
            grants.setdefault(resource, set()).update(actions)

    def arn(logical: str) -> str:
        return f"arn:{PARTITION}:getatt:::{logical}.Arn"

    secret = (
        SECRET_ARN
        if secret_id == SECRET_ARN
        else f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_NAME}-??????"
    )
    assert grants == {
        arn("CancelQueue"): {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",
            "sqs:SendMessage",  # re-enqueue while our configuration is broken
        },
        arn("CancelDeadLetterQueue"): {"sqs:SendMessage"},
        # Conditional updates only: a PutItem could overwrite a settled trade.
        arn("CancelResultsTable"): {"dynamodb:UpdateItem"},
        secret: {"secretsmanager:GetSecretValue"},
    }


def _secret_grants(cfn: dict[str, Any], params: dict[str, str]) -> list[str]:
    return [
        resource
        for statement in role_statements(cfn, {"SecretId": SECRET_NAME, **params})
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def test_only_the_declared_apps_secrets_are_readable(cfn: dict[str, Any]) -> None:
    """On the transformed template: one grant per app of FurtherAppIds, by its secret's exact name."""
    default_secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_NAME}-??????"
    assert param_default(cfn, "FurtherAppIds") == "" and param_default(cfn, "AppSecretPrefix") == ""
    assert _secret_grants(cfn, {}) == [default_secret]  # one app: nothing else is readable
    # A folder alone grants nothing: only declared apps are read.
    assert _secret_grants(cfn, {"AppSecretPrefix": APP_SECRET_PREFIX}) == [default_secret]
    two = {"FurtherAppIds": "2021000000000002,2021000000000003", "AppSecretPrefix": APP_SECRET_PREFIX}
    assert _secret_grants(cfn, two) == [
        default_secret,
        app_secret_arn("2021000000000002", APP_SECRET_PREFIX),
        app_secret_arn("2021000000000003", APP_SECRET_PREFIX),
    ]
    ten = [f"20210000000000{n:02d}" for n in range(10, 20)]
    folder = "alipay-cancel/prod/apps/"
    grants = _secret_grants(cfn, {"FurtherAppIds": ",".join(ten), "AppSecretPrefix": folder})
    assert grants == [default_secret, *(app_secret_arn(app, folder) for app in ten)]
    assert all("*" not in grant for grant in grants)


def test_declared_apps_parameter_takes_up_to_ten_app_ids(cfn: dict[str, Any]) -> None:
    ten = ",".join(f"20210000000000{n:02d}" for n in range(10, 20))
    for good in ("", "2021000000000002", "2021000000000002,app_2.x-y", ten):
        assert allowed(cfn, "FurtherAppIds", good), good
    for bad in (
        ten + ",2021000000000099",
        "2021000000000002, 2021000000000003",
        "a,,b",
        ",a",
        "a,",
        "*",
        "a/b",
    ):
        assert not allowed(cfn, "FurtherAppIds", bad), bad
    # Further apps need the folder of their secrets (a template rule; the function checks it too).
    (rule,) = [r for r in cfn["Rules"].values() if "FurtherAppIds" in str(r["RuleCondition"])]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "FurtherAppIds"}, ""]}]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AppSecretPrefix"}, ""]}]}


def test_app_secret_prefix_is_a_folder_of_its_own(cfn: dict[str, Any]) -> None:
    for good in ("", APP_SECRET_PREFIX, "alipay-cancel/prod/apps/", "a/b/", "team_1/alipay+cancel/apps@2/"):
        assert allowed(cfn, "AppSecretPrefix", good), good
    # One level ("prod/") names far more than these apps; no trailing "/" lets "<prefix><id>" run into
    # other names; wildcards and ARNs are not names.
    for bad in (
        "prod/",
        "apps",
        "alipay-cancel/prod/apps",
        "alipay-cancel//apps/",
        "/alipay/apps/",
        "*",
        "apps/*",
        "apps prefix/x/",
        "arn:aws:secretsmanager:us-east-1:1:secret:x/y/",
    ):
        assert not allowed(cfn, "AppSecretPrefix", bad), bad
    assert allowed(cfn, "DefaultAppId", APP_ID)
    for bad in ("", "2021 0001", "apps/*", "a" * 33):
        assert not allowed(cfn, "DefaultAppId", bad), bad


@pytest.mark.parametrize(
    "prefix",
    ["", APP_SECRET_PREFIX, "prod/", "apps", "a/b", "a/b/", "a//b/", "x/" * 8, "x/" * 9, "é/x/", "a b/c/"],
)
def test_the_function_accepts_exactly_the_prefixes_the_template_does(
    cfn: dict[str, Any], prefix: str
) -> None:
    env = {**_minimal_env(), "ALIPAY_APP_SECRET_PREFIX": prefix}
    try:
        config_module.load_config(env)
    except config_module.ConfigError:
        accepted = False
    else:
        accepted = True
    assert accepted == allowed(cfn, "AppSecretPrefix", prefix)


def _minimal_env() -> dict[str, str]:
    return {
        "ALIPAY_SECRET_ID": SECRET_NAME,
        "ALIPAY_DEFAULT_APP_ID": APP_ID,
        "RESULTS_TABLE_NAME": "results",
        "IDEMPOTENCY_TABLE_NAME": "idempotency",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
        "CANCEL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
    }


def test_secret_kms_key_is_granted_only_when_given_and_only_via_secrets_manager(cfn: dict[str, Any]) -> None:
    def kms(params: dict[str, str]) -> list[dict[str, Any]]:
        return [
            s for s in role_statements(cfn, params) if any(a.startswith("kms:") for a in as_list(s["Action"]))
        ]

    assert kms({"SecretId": SECRET_NAME}) == []
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert allowed(cfn, "SecretKmsKeyArn", key)
    assert not allowed(cfn, "SecretKmsKeyArn", "*")
    (statement,) = kms({"SecretId": SECRET_NAME, "SecretKmsKeyArn": key})
    assert statement["Action"] == "kms:Decrypt"
    assert statement["Resource"] == key
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    }


def test_non_data_wildcards_are_limited_to_xray(cfn: dict[str, Any]) -> None:
    for statement in role_statements(cfn, {"SecretId": SECRET_NAME}):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
        for action in as_list(statement["Action"]):
            if action.startswith("logs:"):
                assert statement["Resource"] == f"arn:{PARTITION}:getatt:::CancelFunctionLogGroup.Arn"


# ---------------------------------------------------------------------------- alarms and outputs


def _alarm(cfn: dict[str, Any], metric: str, watching: str | None = None) -> dict[str, Any]:
    """The one alarm on ``metric`` (whose dimensions name ``watching``, when given)."""
    (alarm,) = [
        a["Properties"]
        for a in resources(cfn, "AWS::CloudWatch::Alarm").values()
        if Resolver(cfn).resolve(a["Properties"]["MetricName"]) == metric
        and (watching is None or watching in json.dumps(a["Properties"].get("Dimensions")))
    ]
    return alarm


def test_alarms_watch_dead_letters_backlog_errors_throttles_and_configuration(cfn: dict[str, Any]) -> None:
    alarms = resources(cfn, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 11  # and four for events and schedules (tests/test_template_events.py)
    dead_letter_queue = [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["CancelDeadLetterQueue", "QueueName"]}}
    ]
    for metric in ("NumberOfMessagesSent", "ApproximateNumberOfMessagesVisible"):  # new ones; left waiting
        dlq = _alarm(cfn, metric, "CancelDeadLetterQueue")
        assert dlq["Dimensions"] == dead_letter_queue
        assert (dlq["Threshold"], dlq["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    age = _alarm(cfn, "ApproximateAgeOfOldestMessage")
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["CancelQueue", "QueueName"]}
    assert age["Threshold"] == {"Ref": "OldestMessageAgeAlarmSeconds"}
    for metric in ("Errors", "Throttles"):
        alarm = _alarm(cfn, metric)
        assert alarm["Namespace"] == "AWS/Lambda"
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "CancelFunction"}}]


def test_configuration_error_alarm_watches_the_metric_the_function_emits(cfn: dict[str, Any]) -> None:
    resolver = Resolver(cfn)
    alarm = resolver.resolve(_alarm(cfn, "ConfigurationError"))
    env = resolver.resolve(function_env(cfn))
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"] == "AlipayCancel"
    # Powertools Metrics adds the service as dimension "service" by default.
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert env["POWERTOOLS_SERVICE_NAME"] == "alipay-cancel"
    observability = pytest.importorskip("alipay_cancel.observability")
    assert alarm["MetricName"] == observability.CONFIGURATION_ERROR_METRIC
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == observability.DEFAULT_NAMESPACE
    assert env["POWERTOOLS_SERVICE_NAME"] == observability.DEFAULT_SERVICE


def test_infrastructure_error_alarm_watches_the_metric_the_function_emits(cfn: dict[str, Any]) -> None:
    from alipay_cancel.observability import INFRASTRUCTURE_ERROR_METRIC

    resolver = Resolver(cfn)
    alarm = resolver.resolve(resource_props(cfn, "InfrastructureErrorAlarm"))
    configuration = resolver.resolve(_alarm(cfn, "ConfigurationError"))
    assert alarm["MetricName"] == INFRASTRUCTURE_ERROR_METRIC == "InfrastructureError"
    assert (alarm["Namespace"], alarm["Dimensions"]) == (
        configuration["Namespace"],
        configuration["Dimensions"],
    )
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )
    assert "DynamoDB or SQS" in alarm["AlarmDescription"]


def test_configuration_error_alarm_says_the_messages_are_kept(cfn: dict[str, Any]) -> None:
    """Configuration errors are re-enqueued on their last receive, not dead-lettered: no deadline."""
    text = " ".join(_alarm(cfn, "ConfigurationError")["AlarmDescription"].split())
    assert "MaxReceiveCount" not in text and "runs out" not in text
    assert "never dead-lettered" in text and "re-enqueued unchanged on their last receive" in text
    assert "14-day retention" in text


def test_alarms_notify_the_topic_only_when_one_is_given(cfn: dict[str, Any]) -> None:
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alipay-cancel-alarms"
    assert allowed(cfn, "AlarmTopicArn", topic)
    assert allowed(cfn, "AlarmTopicArn", "")
    for alarm in resources(cfn, "AWS::CloudWatch::Alarm").values():
        without = Resolver(cfn).resolve(alarm["Properties"])
        with_topic = Resolver(cfn, {"AlarmTopicArn": topic}).resolve(alarm["Properties"])
        assert "AlarmActions" not in without and "OKActions" not in without
        assert with_topic["AlarmActions"] == [topic] == with_topic["OKActions"]


def test_outputs_name_queues_tables_and_function(cfn: dict[str, Any]) -> None:
    outputs = {k: v["Value"] for k, v in cfn["Outputs"].items()}
    assert outputs["CancelQueueUrl"] == {"Ref": "CancelQueue"}
    assert outputs["CancelQueueArn"] == {"Fn::GetAtt": ["CancelQueue", "Arn"]}
    assert outputs["CancelDeadLetterQueueUrl"] == {"Ref": "CancelDeadLetterQueue"}
    assert outputs["CancelResultsTableName"] == {"Ref": "CancelResultsTable"}
    assert outputs["CancelFunctionName"] == {"Ref": "CancelFunction"}
    assert outputs["CancelFunctionLogGroupName"] == {"Ref": "CancelFunctionLogGroup"}


# ---------------------------------------------------------------------------- lint, config files


def test_cfn_lint_is_clean_including_informational_checks() -> None:
    from cfnlint.api import ManualArgs, lint

    matches = lint(
        TEMPLATE_PATH.read_text(),
        config=ManualArgs(include_checks=["I"], regions=["us-east-1", "eu-west-1", "ap-southeast-1"]),
    )
    assert [str(m) for m in matches] == []


def test_every_checkov_suppression_has_a_written_reason(sam: dict[str, Any]) -> None:
    for logical_id, resource in sam["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), logical_id
            assert len(skip.get("comment", "")) >= 60, (logical_id, skip["id"])


def test_samconfig_overrides_name_real_parameters_with_allowed_values(cfn: dict[str, Any]) -> None:
    samconfig = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "prod"):
        deploy = samconfig[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["confirm_changeset"] is True and deploy["resolve_s3"] is True
        overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"])
        assert "SecretId" in overrides
        for name, value in overrides.items():
            assert name in cfn["Parameters"], name
            assert allowed(cfn, name, value), (env, name, value)
        # The function starts with these settings (the retry schedule is consistent).
        resolved = Resolver(cfn, overrides).resolve(function_env(cfn))
        config_module.load_config({k: str(v) for k, v in resolved.items()})  # as Lambda passes them
    assert (
        samconfig["prod"]["global"]["parameters"]["stack_name"]
        != samconfig["default"]["global"]["parameters"]["stack_name"]
    )


def test_lambda_requirements_match_the_package_runtime_dependencies() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = set(pyproject["dependencies"]) | set(pyproject["optional-dependencies"]["tracing"])
    lines = (ROOT / "src" / "requirements.txt").read_text().splitlines()
    assert {line.strip() for line in lines if line.strip() and not line.startswith("#")} == expected
