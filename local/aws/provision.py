"""Create the app's AWS resources on a moto server with the settings read from ``template.yaml``.

Queue, dead-letter queue (redrive policy with the template's maxReceiveCount), the results table
(the ledger: key schema, billing mode), the default app's signing-material secret and
one secret per further app, named by the template's convention (``APP_SECRET_PREFIX`` + app id).
The function's environment is then derived from the template's ``Environment`` block with the
created resources' physical ids substituted for ``!Ref``/``!GetAtt``
(``TemplateSettings.function_environment``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from local.aws.template_intrinsics import PhysicalResource
from local.aws.template_settings import FUNCTION_ID, QueueSettings, TableSettings, TemplateSettings

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
QUEUE_NAME = "alipay-cancel-queue"
DLQ_NAME = "alipay-cancel-dlq"
RESULTS_TABLE_NAME = "alipay-cancel-results"
SECRET_NAME = "alipay-cancel/signing-material"
APP_SECRET_PREFIX = "alipay-cancel/apps/"  # the AppSecretPrefix parameter's value locally
FUNCTION_NAME = "alipay-cancel-CancelFunction"

# Credentials moto accepts; never real ones (the local stack must not be able to reach AWS).
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def aws_client(service: str, endpoint_url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@dataclass(frozen=True)
class Provisioned:
    endpoint_url: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    results_table: str
    secret_id: str
    secret_arn: str
    default_app_id: str = ""
    app_secret_ids: Mapping[str, str] = field(default_factory=dict)  # further apps: app id -> secret name
    function_name: str = FUNCTION_NAME
    resources: Mapping[str, PhysicalResource] = field(default_factory=dict)

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"


def _queue_attributes(settings: QueueSettings, dlq_arn: str | None) -> dict[str, str]:
    attrs = {
        "VisibilityTimeout": str(settings.visibility_timeout),
        "MessageRetentionPeriod": str(settings.message_retention_period),
    }
    if settings.sqs_managed_sse:
        attrs["SqsManagedSseEnabled"] = "true"
    if settings.max_receive_count is not None:
        assert dlq_arn is not None
        attrs["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count}
        )
    return attrs


def _create_table(ddb: Any, name: str, table: TableSettings) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in table.key_schema],
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": t} for n, t in table.attribute_types.items()
        ],
        BillingMode="PAY_PER_REQUEST",  # moto ignores capacity; the template uses on-demand
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    if table.point_in_time_recovery:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    if table.ttl_attribute:
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute}
        )


def provision(
    settings: TemplateSettings,
    endpoint_url: str,
    secret: Mapping[str, str],
    app_secrets: Mapping[str, Mapping[str, str]] | None = None,
) -> Provisioned:
    """Create every resource; ``secret`` is the default app's signing-material dict
    (``KeyMaterial.secret()``), ``app_secrets`` further apps' by app id."""
    sqs = aws_client("sqs", endpoint_url)
    ddb = aws_client("dynamodb", endpoint_url)
    sm = aws_client("secretsmanager", endpoint_url)

    dlq_url = sqs.create_queue(
        QueueName=DLQ_NAME, Attributes=_queue_attributes(settings.dead_letter_queue, None)
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(QueueName=QUEUE_NAME, Attributes=_queue_attributes(settings.queue, dlq_arn))[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    _create_table(ddb, RESULTS_TABLE_NAME, settings.results_table)
    secret_arn = sm.create_secret(Name=SECRET_NAME, SecretString=json.dumps(dict(secret)))["ARN"]
    app_secret_ids: dict[str, str] = {}
    for app_id, app_secret in (app_secrets or {}).items():
        app_secret_ids[app_id] = APP_SECRET_PREFIX + app_id
        sm.create_secret(Name=app_secret_ids[app_id], SecretString=json.dumps(dict(app_secret)))

    resources = {
        settings.queue.logical_id: PhysicalResource(
            queue_url, {"Arn": queue_arn, "QueueUrl": queue_url, "QueueName": QUEUE_NAME}
        ),
        settings.dead_letter_queue.logical_id: PhysicalResource(
            dlq_url, {"Arn": dlq_arn, "QueueUrl": dlq_url, "QueueName": DLQ_NAME}
        ),
        settings.results_table.logical_id: PhysicalResource(
            RESULTS_TABLE_NAME,
            {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{RESULTS_TABLE_NAME}"},
        ),
        FUNCTION_ID: PhysicalResource(
            FUNCTION_NAME, {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{FUNCTION_NAME}"}
        ),
    }
    return Provisioned(
        endpoint_url=endpoint_url,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        results_table=RESULTS_TABLE_NAME,
        secret_id=SECRET_NAME,
        secret_arn=secret_arn,
        default_app_id=str(secret["app_id"]),
        app_secret_ids=app_secret_ids,
        resources=resources,
    )


def lambda_environment(
    settings: TemplateSettings,
    provisioned: Provisioned,
    *,
    alipay_endpoint: str,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What the Lambda runtime would see: the template's variables resolved against the local
    resources (secret by name, endpoint = the emulator), plus AWS_ENDPOINT_URL, dummy credentials and
    the region; ``overrides`` last (e.g. short retry backoffs for the demo)."""
    env = settings.function_environment(
        parameters={
            "SecretId": provisioned.secret_id,
            "DefaultAppId": provisioned.default_app_id,
            "FurtherAppIds": ",".join(provisioned.app_secret_ids),
            "AppSecretPrefix": APP_SECRET_PREFIX,
            "AlipayEndpoint": alipay_endpoint,
            "LocalAwsEndpointUrl": provisioned.endpoint_url,
        },
        resources=provisioned.resources,
        region=REGION,
        account_id=ACCOUNT_ID,
    )
    env.update(
        {
            "AWS_ENDPOINT_URL": provisioned.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": provisioned.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(settings.function.memory_size),
            # No X-Ray daemon locally: tracing off (Powertools) and the SDK quiet.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_XRAY_SDK_ENABLED": "false",
            **DUMMY_CREDENTIALS,
        }
    )
    env.update(overrides or {})
    return env
