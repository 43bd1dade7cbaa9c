"""The template reader: settings come out of template.yaml (intrinsics resolved), never copied."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.decode import decode_str
from local.aws.template_intrinsics import PhysicalResource, TemplateSettingsError
from local.aws.template_settings import DEFAULT_TEMPLATE, read_template_settings, settings_from_template

SAMPLE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  SecretId: {Type: String, Default: alipay-cancel/signing-material}
  AlipayEndpoint: {Type: String, Default: https://openapi.alipay.com}
  BatchSize: {Type: Number, Default: 7}
  BatchingWindowSeconds: {Type: Number, Default: 2}
  MaximumConcurrency: {Type: Number, Default: 4}
  MaxReceiveCount: {Type: Number, Default: '6'}
  LogLevel: {Type: String, Default: INFO}
  AlarmTopicArn: {Type: String, Default: ''}
Conditions:
  HasAlarmTopic: !Not [!Equals [!Ref AlarmTopicArn, '']]
Mappings:
  Tuning: {Retry: {Base: 30}}
Globals:
  Function:
    Timeout: 25
    MemorySize: 384
    Environment:
      Variables:
        POWERTOOLS_SERVICE_NAME: alipay-cancel
        POWERTOOLS_LOG_LEVEL: !Ref LogLevel
Resources:
  CancelDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
      SqsManagedSseEnabled: true
  CancelQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 150
      MessageRetentionPeriod: 345600
      SqsManagedSseEnabled: true
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt CancelDeadLetterQueue.Arn
        maxReceiveCount: !Ref MaxReceiveCount
  CancelResultsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: trade_key, AttributeType: S}]
      KeySchema: [{AttributeName: trade_key, KeyType: HASH}]
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
  CancelFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: alipay_cancel.handler.lambda_handler
      Runtime: python3.13
      Architectures: [arm64]
      MemorySize: 512
      Environment:
        Variables:
          ALIPAY_SECRET_ID: !Ref SecretId
          ALIPAY_ENDPOINT: !Ref AlipayEndpoint
          RESULTS_TABLE_NAME: !Ref CancelResultsTable
          CANCEL_QUEUE_URL: !Ref CancelQueue
          DEAD_LETTER_QUEUE_URL: !GetAtt CancelDeadLetterQueue.QueueUrl
          MAX_RECEIVE_COUNT: !Ref MaxReceiveCount
          RETRY_BASE_SECONDS: !FindInMap [Tuning, Retry, Base]
          ALARM_TOPIC: !If [HasAlarmTopic, !Ref AlarmTopicArn, !Ref AWS::NoValue]
          STACK_HINT: !Sub '${AWS::StackName}-${AWS::Region}-${!Literal}'
      Events:
        Cancels:
          Type: SQS
          Properties:
            Queue: !GetAtt CancelQueue.Arn
            BatchSize: !Ref BatchSize
            MaximumBatchingWindowInSeconds: !Ref BatchingWindowSeconds
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig:
              MaximumConcurrency: !Ref MaximumConcurrency
"""


def _sample(text: str = SAMPLE):  # type: ignore[no-untyped-def]
    template, matches = decode_str(text)
    assert not matches
    return settings_from_template(template)


def test_queue_and_redrive_settings_are_read_and_resolved() -> None:
    s = _sample()
    assert s.queue.visibility_timeout == 150
    assert s.queue.message_retention_period == 345600
    assert s.queue.max_receive_count == 6  # string default of a Number parameter, through !Ref
    assert s.queue.dead_letter_target == "CancelDeadLetterQueue"
    assert s.queue.sqs_managed_sse
    assert s.dead_letter_queue.message_retention_period == 1209600
    assert s.dead_letter_queue.visibility_timeout == 30  # SQS default when the template leaves it out


def test_the_ledger_table_is_found_by_id() -> None:
    s = _sample()
    assert s.results_table.key_schema == (("trade_key", "HASH"),)
    assert s.results_table.ttl_attribute is None
    assert s.results_table.point_in_time_recovery


def test_function_merges_sam_globals_and_event_source_reads_parameter_defaults() -> None:
    s = _sample()
    assert s.function.timeout == 25  # from Globals
    assert s.function.memory_size == 512  # own property wins over Globals
    assert s.function.handler == "alipay_cancel.handler.lambda_handler"
    assert s.function.architectures == ("arm64",)
    assert "POWERTOOLS_SERVICE_NAME" in s.function.environment  # Globals env merged
    assert s.event_source.batch_size == 7
    assert s.event_source.maximum_batching_window_seconds == 2
    assert s.event_source.maximum_concurrency == 4
    assert s.event_source.report_batch_item_failures


def test_function_environment_resolves_against_local_physical_resources() -> None:
    s = _sample()
    resources = {
        "CancelQueue": PhysicalResource("http://q/cancel", {"Arn": "arn:q", "QueueUrl": "http://q/cancel"}),
        "CancelDeadLetterQueue": PhysicalResource("http://q/dlq", {"QueueUrl": "http://q/dlq"}),
        "CancelResultsTable": PhysicalResource("results"),
    }
    env = s.function_environment(resources=resources, parameters={"AlipayEndpoint": "http://127.0.0.1:9"})
    assert env["CANCEL_QUEUE_URL"] == "http://q/cancel"
    assert env["DEAD_LETTER_QUEUE_URL"] == "http://q/dlq"
    assert env["RESULTS_TABLE_NAME"] == "results"
    assert env["ALIPAY_ENDPOINT"] == "http://127.0.0.1:9"  # parameter override
    assert env["ALIPAY_SECRET_ID"] == "alipay-cancel/signing-material"
    assert env["MAX_RECEIVE_COUNT"] == "6"
    assert env["RETRY_BASE_SECONDS"] == "30"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert "ALARM_TOPIC" not in env  # !If chose AWS::NoValue
    assert env["STACK_HINT"] == "alipay-cancel-us-east-1-${Literal}"
    with_topic = s.function_environment(resources=resources, parameters={"AlarmTopicArn": "arn:sns:t"})
    assert with_topic["ALARM_TOPIC"] == "arn:sns:t"


def test_unresolvable_reference_names_where() -> None:
    with pytest.raises(TemplateSettingsError, match=r"Environment\.\w+: cannot resolve !Ref Cancel"):
        _sample().function_environment(resources={})


def test_missing_redrive_policy_is_an_error() -> None:
    text = SAMPLE.replace("      RedrivePolicy:\n", "      XRedrivePolicy:\n")
    with pytest.raises(TemplateSettingsError, match="RedrivePolicy"):
        _sample(text)


def test_changing_the_template_changes_the_settings() -> None:
    """Proof the values are read, not copied: edit the text, the settings follow."""
    s = _sample(
        SAMPLE.replace("VisibilityTimeout: 150", "VisibilityTimeout: 901").replace("Default: 7", "Default: 3")
    )
    assert s.queue.visibility_timeout == 901
    assert s.event_source.batch_size == 3


def test_repository_template_is_readable_and_consistent(tmp_path: Path) -> None:
    assert DEFAULT_TEMPLATE.exists(), "template.yaml is missing"
    s = read_template_settings(DEFAULT_TEMPLATE)
    assert s.queue.visibility_timeout >= 6 * s.function.timeout
    assert s.queue.max_receive_count is not None and s.queue.max_receive_count >= 1
    assert s.dead_letter_queue.message_retention_period == 14 * 24 * 3600
    assert s.results_table.key_schema == (("trade_key", "HASH"),)
    assert s.results_table.ttl_attribute is None  # the ledger is never dropped
    assert s.event_source.report_batch_item_failures
    assert s.event_source.maximum_concurrency is not None
    for name in ("ALIPAY_SECRET_ID", "RESULTS_TABLE_NAME", "CANCEL_QUEUE_URL"):
        assert name in s.function.environment


def test_parameter_overrides_change_queue_and_function_alike_as_a_deploy_would() -> None:
    """The demo and the chaos run override parameters (short retries), never copy settings."""
    s = read_template_settings(parameters={"MaxReceiveCount": "14", "RetryHorizonSeconds": "12"})
    assert s.queue.max_receive_count == 14
    resources = {
        "CancelQueue": PhysicalResource("http://q/cancel", {"Arn": "arn:q", "QueueUrl": "http://q/cancel"}),
        "CancelDeadLetterQueue": PhysicalResource("http://q/dlq", {"Arn": "arn:dlq"}),
        "CancelResultsTable": PhysicalResource("results"),
        "CancelFunctionRole": PhysicalResource("role", {"Arn": "arn:role"}),
    }
    env = s.function_environment(
        parameters={"SecretId": "local-secret", "DefaultAppId": "2021000000000001"}, resources=resources
    )
    assert (env["MAX_RECEIVE_COUNT"], env["RETRY_HORIZON_SECONDS"]) == ("14", "12")
    with pytest.raises(TemplateSettingsError, match="MaxReceiveCont"):
        read_template_settings(parameters={"MaxReceiveCont": "14"})
