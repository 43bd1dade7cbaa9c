"""Read the deployed settings out of ``template.yaml`` so the local stack is built like the real one.

Nothing here is copied from the template: queue timeouts, the redrive count, table keys and TTL, the
event source mapping's batch size / window / concurrency and the function's timeout, memory and
environment are all read (through cfn-lint's decoder, which understands ``!Ref``/``!GetAtt``/``!Sub``)
and resolved against parameter defaults, SAM ``Globals`` and, for resource references, the physical
ids of whatever the local stack created.

Resources are found by the fixed logical ids (docs/contracts.md "Fixed names") and by following
references: the dead-letter queue is whatever the queue's redrive policy points at, the event source
is the SQS event (SAM) or ``AWS::Lambda::EventSourceMapping`` that reads ``CancelQueue``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

from local.aws.template_intrinsics import NO_VALUE, PhysicalResource, Resolver, TemplateSettingsError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

FUNCTION_ID = "CancelFunction"
QUEUE_ID = "CancelQueue"
DLQ_ID = "CancelDeadLetterQueue"
RESULTS_TABLE_ID = "CancelResultsTable"

# Service defaults that apply when the template leaves a property out (AWS documentation values).
SQS_DEFAULT_VISIBILITY_TIMEOUT = 30
SQS_DEFAULT_RETENTION = 345_600
LAMBDA_DEFAULT_TIMEOUT = 3
LAMBDA_DEFAULT_MEMORY = 128
ESM_DEFAULT_BATCH_SIZE = 10
ESM_DEFAULT_WINDOW = 0


@dataclass(frozen=True)
class QueueSettings:
    logical_id: str
    visibility_timeout: int
    message_retention_period: int
    max_receive_count: int | None = None  # redrive policy, None without one
    dead_letter_target: str | None = None  # logical id of the redrive target
    sqs_managed_sse: bool = False
    kms_master_key_id: str | None = None


@dataclass(frozen=True)
class TableSettings:
    logical_id: str
    key_schema: tuple[tuple[str, str], ...]  # (AttributeName, KeyType HASH|RANGE)
    attribute_types: Mapping[str, str]  # AttributeName -> S|N|B for the key attributes
    ttl_attribute: str | None
    billing_mode: str = "PAY_PER_REQUEST"
    point_in_time_recovery: bool = False


@dataclass(frozen=True)
class EventSourceSettings:
    queue_logical_id: str
    batch_size: int
    maximum_batching_window_seconds: int
    maximum_concurrency: int | None  # None: not limited by the mapping
    report_batch_item_failures: bool


@dataclass(frozen=True)
class FunctionSettings:
    logical_id: str
    handler: str
    runtime: str | None
    architectures: tuple[str, ...]
    timeout: int
    memory_size: int
    environment: Mapping[str, Any]  # raw template values (intrinsics unresolved)


@dataclass(frozen=True)
class TemplateSettings:
    template: Mapping[str, Any] = field(repr=False)
    parameter_defaults: Mapping[str, Any]
    queue: QueueSettings
    dead_letter_queue: QueueSettings
    results_table: TableSettings
    function: FunctionSettings
    event_source: EventSourceSettings

    def resolver(
        self,
        *,
        parameters: Mapping[str, Any] | None = None,
        resources: Mapping[str, PhysicalResource] | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        stack_name: str = "alipay-cancel",
    ) -> Resolver:
        params = dict(self.parameter_defaults)
        params.update(parameters or {})
        return Resolver(self.template, params, resources or {}, region, account_id, stack_name)

    def function_environment(
        self,
        *,
        parameters: Mapping[str, Any] | None = None,
        resources: Mapping[str, PhysicalResource] | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> dict[str, str]:
        """The function's environment variables with every intrinsic resolved (AWS::NoValue drops)."""
        resolver = self.resolver(
            parameters=parameters, resources=resources, region=region, account_id=account_id
        )
        out: dict[str, str] = {}
        for name, raw in self.function.environment.items():
            value = resolver.resolve(raw, f"{FUNCTION_ID}.Environment.{name}")
            if value is NO_VALUE:
                continue
            out[name] = _env_string(value)
        return out


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- reading ---------------------------------------------------------------------------------


def load_template(path: Path | str = DEFAULT_TEMPLATE) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    template, matches = decode_str(text)
    if matches or not isinstance(template, Mapping):
        problems = "; ".join(str(m) for m in matches) or "not a mapping"
        raise TemplateSettingsError(f"{path}: cannot decode template: {problems}")
    return dict(template)


def _parameter_defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if isinstance(spec, Mapping) and "Default" in spec:
            default = spec["Default"]
            if spec.get("Type") == "Number" and isinstance(default, str):
                default = float(default) if "." in default else int(default)
            out[name] = default
    return out


def _resource(template: Mapping[str, Any], logical_id: str) -> Mapping[str, Any]:
    res = (template.get("Resources") or {}).get(logical_id)
    if not isinstance(res, Mapping):
        raise TemplateSettingsError(f"template has no resource {logical_id}")
    return res


def _props(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    props = resource.get("Properties") or {}
    return props if isinstance(props, Mapping) else {}


def _target_logical_id(value: Any) -> str | None:
    """The resource a ``!GetAtt X.Arn`` / ``!Ref X`` / ``!Sub ${X.Arn}`` points at."""
    if isinstance(value, Mapping) and len(value) == 1:
        (key, arg), *_ = value.items()
        if key == "Fn::GetAtt":
            return str(arg.split(".")[0] if isinstance(arg, str) else arg[0])
        if key == "Ref":
            return str(arg)
        if key == "Fn::Sub" and isinstance(arg, str):
            found = re.fullmatch(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", arg)
            return found.group(1) if found else None
    return None


def _int(resolver: Resolver, value: Any, where: str, default: int | None = None) -> int:
    if value is None:
        if default is None:
            raise TemplateSettingsError(f"{where} is not set")
        return default
    resolved = resolver.resolve(value, where)
    if resolved is NO_VALUE:
        if default is None:
            raise TemplateSettingsError(f"{where} resolves to AWS::NoValue")
        return default
    try:
        return int(resolved)
    except (TypeError, ValueError) as exc:
        raise TemplateSettingsError(f"{where}: {resolved!r} is not an integer") from exc


def _queue(template: Mapping[str, Any], resolver: Resolver, logical_id: str) -> QueueSettings:
    props = _props(_resource(template, logical_id))
    where = f"{logical_id}.Properties"
    redrive = props.get("RedrivePolicy")
    max_receive: int | None = None
    target: str | None = None
    if isinstance(redrive, Mapping):
        max_receive = _int(resolver, redrive.get("maxReceiveCount"), f"{where}.RedrivePolicy.maxReceiveCount")
        target = _target_logical_id(redrive.get("deadLetterTargetArn"))
        if target is None:
            raise TemplateSettingsError(
                f"{where}.RedrivePolicy.deadLetterTargetArn: not a resource reference"
            )
    sse = resolver.resolve(props.get("SqsManagedSseEnabled", False), where)
    kms = props.get("KmsMasterKeyId")
    return QueueSettings(
        logical_id=logical_id,
        visibility_timeout=_int(
            resolver,
            props.get("VisibilityTimeout"),
            f"{where}.VisibilityTimeout",
            SQS_DEFAULT_VISIBILITY_TIMEOUT,
        ),
        message_retention_period=_int(
            resolver,
            props.get("MessageRetentionPeriod"),
            f"{where}.MessageRetentionPeriod",
            SQS_DEFAULT_RETENTION,
        ),
        max_receive_count=max_receive,
        dead_letter_target=target,
        sqs_managed_sse=str(sse).lower() == "true",
        kms_master_key_id=None if kms is None else str(resolver.resolve(kms, where)),
    )


def _table(template: Mapping[str, Any], resolver: Resolver, logical_id: str) -> TableSettings:
    resource = _resource(template, logical_id)
    props = _props(resource)
    where = f"{logical_id}.Properties"
    kind = resource.get("Type")
    if kind == "AWS::Serverless::SimpleTable":
        pk = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        type_code = {"String": "S", "Number": "N", "Binary": "B"}[str(pk.get("Type", "String"))]
        return TableSettings(logical_id, ((str(pk["Name"]), "HASH"),), {str(pk["Name"]): type_code}, None)
    if kind != "AWS::DynamoDB::Table":
        raise TemplateSettingsError(f"{logical_id}: {kind} is not a DynamoDB table")
    schema = resolver.resolve(props.get("KeySchema"), f"{where}.KeySchema")
    definitions = resolver.resolve(props.get("AttributeDefinitions") or [], f"{where}.AttributeDefinitions")
    if not schema:
        raise TemplateSettingsError(f"{where}.KeySchema is not set")
    types = {str(d["AttributeName"]): str(d["AttributeType"]) for d in definitions}
    keys = tuple((str(k["AttributeName"]), str(k["KeyType"])) for k in schema)
    for name, _ in keys:
        if name not in types:
            raise TemplateSettingsError(f"{where}: key attribute {name} has no AttributeDefinition")
    ttl_spec = resolver.resolve(
        props.get("TimeToLiveSpecification") or {}, f"{where}.TimeToLiveSpecification"
    )
    ttl = ttl_spec.get("AttributeName") if str(ttl_spec.get("Enabled", False)).lower() == "true" else None
    pitr = resolver.resolve(props.get("PointInTimeRecoverySpecification") or {}, where)
    return TableSettings(
        logical_id=logical_id,
        key_schema=keys,
        attribute_types={name: types[name] for name, _ in keys},
        ttl_attribute=None if ttl is None else str(ttl),
        billing_mode=str(resolver.resolve(props.get("BillingMode", "PROVISIONED"), where)),
        point_in_time_recovery=str(pitr.get("PointInTimeRecoveryEnabled", False)).lower() == "true",
    )


def _merged_function_props(template: Mapping[str, Any]) -> dict[str, Any]:
    """SAM Globals.Function merged under the function's own properties (maps merge, scalars override)."""
    resource = _resource(template, FUNCTION_ID)
    own = dict(_props(resource))
    if resource.get("Type") != "AWS::Serverless::Function":
        return own
    globals_ = dict(((template.get("Globals") or {}).get("Function")) or {})
    merged = {**globals_, **own}
    g_env = ((globals_.get("Environment") or {}).get("Variables")) or {}
    o_env = ((own.get("Environment") or {}).get("Variables")) or {}
    if g_env or o_env:
        merged["Environment"] = {"Variables": {**g_env, **o_env}}
    return merged


def _event_source(
    template: Mapping[str, Any], resolver: Resolver, function_props: Mapping[str, Any]
) -> EventSourceSettings:
    candidates: list[tuple[str, Mapping[str, Any], str | None]] = []
    for name, event in (function_props.get("Events") or {}).items():
        if isinstance(event, Mapping) and event.get("Type") == "SQS":
            props = event.get("Properties") or {}
            candidates.append((f"{FUNCTION_ID}.Events.{name}", props, _target_logical_id(props.get("Queue"))))
    for logical_id, res in (template.get("Resources") or {}).items():
        if isinstance(res, Mapping) and res.get("Type") == "AWS::Lambda::EventSourceMapping":
            props = _props(res)
            if _target_logical_id(props.get("FunctionName")) == FUNCTION_ID:
                candidates.append((logical_id, props, _target_logical_id(props.get("EventSourceArn"))))
    for where, props, queue_id in candidates:
        if queue_id != QUEUE_ID:
            continue
        scaling = resolver.resolve(props.get("ScalingConfig") or {}, f"{where}.ScalingConfig")
        concurrency = scaling.get("MaximumConcurrency") if isinstance(scaling, Mapping) else None
        types = resolver.resolve(props.get("FunctionResponseTypes") or [], f"{where}.FunctionResponseTypes")
        return EventSourceSettings(
            queue_logical_id=queue_id,
            batch_size=_int(resolver, props.get("BatchSize"), f"{where}.BatchSize", ESM_DEFAULT_BATCH_SIZE),
            maximum_batching_window_seconds=_int(
                resolver,
                props.get("MaximumBatchingWindowInSeconds"),
                f"{where}.MaximumBatchingWindowInSeconds",
                ESM_DEFAULT_WINDOW,
            ),
            maximum_concurrency=None
            if concurrency in (None, NO_VALUE)
            else _int(resolver, concurrency, f"{where}.ScalingConfig.MaximumConcurrency"),
            report_batch_item_failures="ReportBatchItemFailures" in types,
        )
    raise TemplateSettingsError(f"no SQS event source maps {QUEUE_ID} to {FUNCTION_ID}")


def read_template_settings(
    path: Path | str = DEFAULT_TEMPLATE, parameters: Mapping[str, Any] | None = None
) -> TemplateSettings:
    return settings_from_template(load_template(path), parameters)


def settings_from_template(
    template: Mapping[str, Any], parameters: Mapping[str, Any] | None = None
) -> TemplateSettings:
    """``parameters`` override the defaults, as ``sam deploy --parameter-overrides`` would: the queue
    and the function's environment then agree, like a real deploy."""
    defaults = _parameter_defaults(template)
    unknown = sorted(set(parameters or {}) - set(defaults))
    if unknown:
        raise TemplateSettingsError(f"no such template parameter(s) with a default: {', '.join(unknown)}")
    defaults.update(parameters or {})
    # Structural settings resolve with parameter defaults only: no physical resource is needed.
    resolver = Resolver(template, defaults, {}, "us-east-1", "123456789012", "alipay-cancel")
    fprops = _merged_function_props(template)
    where = f"{FUNCTION_ID}.Properties"
    environment = dict(((fprops.get("Environment") or {}).get("Variables")) or {})
    function = FunctionSettings(
        logical_id=FUNCTION_ID,
        handler=str(resolver.resolve(fprops.get("Handler", ""), where)),
        runtime=None if fprops.get("Runtime") is None else str(resolver.resolve(fprops["Runtime"], where)),
        architectures=tuple(str(a) for a in resolver.resolve(fprops.get("Architectures") or [], where)),
        timeout=_int(resolver, fprops.get("Timeout"), f"{where}.Timeout", LAMBDA_DEFAULT_TIMEOUT),
        memory_size=_int(resolver, fprops.get("MemorySize"), f"{where}.MemorySize", LAMBDA_DEFAULT_MEMORY),
        environment=environment,
    )
    queue = _queue(template, resolver, QUEUE_ID)
    if queue.dead_letter_target is None:
        raise TemplateSettingsError(f"{QUEUE_ID} has no RedrivePolicy")
    dlq = _queue(template, resolver, queue.dead_letter_target)
    return TemplateSettings(
        template=template,
        parameter_defaults=defaults,
        queue=queue,
        dead_letter_queue=dlq,
        results_table=_table(template, resolver, RESULTS_TABLE_ID),
        function=function,
        event_source=_event_source(template, resolver, fprops),
    )


def main() -> None:
    """Print what the local stack will use (``python -m local.aws.template_settings``)."""
    import json
    from dataclasses import asdict

    settings = read_template_settings()
    data = {k: v for k, v in asdict(settings).items() if k != "template"}
    print(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    main()
