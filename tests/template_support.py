"""template.yaml as tests read it: the SAM source, the CloudFormation that aws-sam-translator makes of
it (as CloudFormation would), and a resolver for the intrinsic functions the template uses, with
parameter values. Shared by the template, IAM, queue-policy and dashboard tests."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from alipay_cancel import config as config_module

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
REGION, ACCOUNT, PARTITION = "us-east-1", "123456789012", "aws"
SECRET_NAME = "alipay-cancel/signing-material"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_NAME}-AbC123"
POWERTOOLS_VARS = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_TRACE_DISABLED",
}
# Present only when LocalAwsEndpointUrl is set (sam local); boto3 reads it, not load_config.
LOCAL_ONLY_VARS = {"AWS_ENDPOINT_URL"}
DATA_SERVICES = ("sqs", "dynamodb", "secretsmanager", "kms", "s3", "sns", "ssm")


def sam_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE_PATH.read_text())  # type: ignore[no-any-return]


def transform(sam: dict[str, Any]) -> dict[str, Any]:
    sam = copy.deepcopy(sam)
    # The translator wants an S3 location, as after `sam package`.
    for logical_id, resource in sam["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://artifacts/{logical_id}.zip"
    # Managed policies would only be looked up for SAM-generated roles; none is expected.
    translator = Translator({}, Parser(), boto_session=boto3.Session(region_name=REGION))
    return translator.translate(sam, parameter_values={}, get_managed_policy_map=lambda: {})  # type: ignore[no-any-return]


def resources(cfn: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == type_}


def resource_props(cfn: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return cfn["Resources"][logical_id]["Properties"]  # type: ignore[no-any-return]


def param_default(cfn: dict[str, Any], name: str) -> Any:
    return cfn["Parameters"][name]["Default"]


class Resolver:
    """Evaluates the intrinsic functions this template uses, for given parameter values."""

    def __init__(self, cfn: dict[str, Any], params: dict[str, str] | None = None) -> None:
        self.cfn = cfn
        self.params = {k: str(v.get("Default", "")) for k, v in cfn["Parameters"].items()}
        self.params.update(params or {})
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::StackName": "alipay-cancel",
        }

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            if self.cfn["Parameters"][name]["Type"] == "CommaDelimitedList":
                return self.params[name].split(",")
            return self.params[name]
        type_ = self.cfn["Resources"][name]["Type"]
        return {  # what CloudFormation's Ref returns for each type
            "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/stack-{name}-XYZ",
            "AWS::DynamoDB::Table": f"stack-{name}-XYZ",
            "AWS::Lambda::Function": f"stack-{name}-XYZ",
            "AWS::Logs::LogGroup": f"stack-{name}-XYZ",
            "AWS::Events::EventBus": f"stack-{name}",  # Ref of a bus or a schedule group: its name
            "AWS::Scheduler::ScheduleGroup": f"stack-{name}",
        }[type_]

    def _sub_value(self, name: str, variables: dict[str, Any]) -> Any:
        if name in variables:
            return variables[name]
        if "." in name and not name.startswith("AWS::"):
            return self.resolve({"Fn::GetAtt": name.split(".", 1)})
        return self.ref(name)

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.cfn["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, arg), *_ = node.items()
            if fn == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if fn == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"arn:{PARTITION}:getatt:::{logical}.{attr}"
            if fn == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if fn == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not self.resolve(arg[0])
            if fn == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if fn == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if fn == "Fn::Select":
                return self.resolve(arg[1])[int(arg[0])]
            if fn == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if fn == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(x) for x in arg)
                return self.cfn["Mappings"][m][k1][k2]
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(self._sub_value(m.group(1), variables)), text)
            if fn == "Condition":
                return self.condition(arg)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE}


NO_VALUE = object()


def function_env(cfn: dict[str, Any]) -> dict[str, Any]:
    return resource_props(cfn, "CancelFunction")["Environment"]["Variables"]  # type: ignore[no-any-return]


def config_env_names() -> set[str]:
    """The variable names load_config reads, from the field comments of Config (the contract)."""
    source = Path(config_module.__file__).read_text()
    names = set()
    for field in dataclasses.fields(config_module.Config):
        match = re.search(rf"^\s+{field.name}:[^#\n]*#\s*([A-Z][A-Z0-9_]+)", source, re.MULTILINE)
        assert match, f"Config.{field.name} has no '# ENV_VAR' comment"
        names.add(match.group(1))
    return names


def allowed(cfn: dict[str, Any], param: str, value: str) -> bool:
    spec = cfn["Parameters"][param]
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return False
    if "AllowedValues" in spec and value not in {str(v) for v in spec["AllowedValues"]}:
        return False
    if spec["Type"] == "Number":
        number = float(value)
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return False
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return False
    return True


def role_statements(
    cfn: dict[str, Any], params: dict[str, str], role: str = "CancelFunctionRole"
) -> list[dict[str, Any]]:
    """The resolved statements of ``role``'s inline policies and of the policies attached to it."""
    resolver = Resolver(cfn, params)
    statements: list[dict[str, Any]] = []
    for policy in cfn["Resources"][role]["Properties"].get("Policies", []):
        statements += resolver.resolve(policy["PolicyDocument"])["Statement"]
    for policy in resources(cfn, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"].get("Roles", []):
            statements += resolver.resolve(policy["Properties"]["PolicyDocument"])["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# Where a data action's resource comes from: the function's environment variable that names it.
RESOURCE_VARIABLES = (
    "CANCEL_QUEUE_URL",
    "DEAD_LETTER_QUEUE_URL",
    "RESULTS_TABLE_NAME",
    "ALIPAY_SECRET_ID",
)
DATA_PREFIXES = ("sqs:", "dynamodb:", "secretsmanager:")
# Further apps' secrets are named <ALIPAY_APP_SECRET_PREFIX><app_id>, one grant per declared app.
APP_SECRET_PREFIX_VARIABLE = "ALIPAY_APP_SECRET_PREFIX"
APP_SECRET_PREFIX = "alipay-cancel/apps/"
FURTHER_APP_ID = "2021000000000002"  # the further app the function's tests declare


def app_secret_arn(app_id: str, prefix: str = APP_SECRET_PREFIX) -> str:
    """What IAM is granted on for a declared app: its secret's ARN by name (any 6-character suffix)."""
    return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{prefix}{app_id}-??????"


def function_grants(cfn: dict[str, Any] | None = None) -> set[tuple[str, str]]:
    """(IAM action, environment variable naming its resource) for every data action the function's
    role grants: e.g. ("dynamodb:UpdateItem", "RESULTS_TABLE_NAME")."""
    cfn = cfn or transform(sam_template())
    env = function_env(cfn)
    by_arn: dict[str, str] = {}
    for name in RESOURCE_VARIABLES:
        ref = env[name].get("Ref") if isinstance(env[name], dict) else None
        if ref in cfn["Resources"]:
            by_arn[f"arn:{PARTITION}:getatt:::{ref}.Arn"] = name
    by_arn[SECRET_ARN] = "ALIPAY_SECRET_ID"
    by_arn[app_secret_arn(FURTHER_APP_ID)] = APP_SECRET_PREFIX_VARIABLE
    grants: set[tuple[str, str]] = set()
    params = {"SecretId": SECRET_ARN, "FurtherAppIds": FURTHER_APP_ID, "AppSecretPrefix": APP_SECRET_PREFIX}
    for statement in role_statements(cfn, params):
        for action in as_list(statement["Action"]):
            if not action.startswith(DATA_PREFIXES):
                continue
            for resource in as_list(statement["Resource"]):
                assert resource in by_arn, (
                    f"{action} granted on {resource}, which the function is not told about"
                )
                grants.add((action, by_arn[resource]))
    return grants
