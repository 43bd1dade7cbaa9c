"""CloudFormation's intrinsic functions evaluated for the local stack: ``!Ref``, ``!GetAtt``, ``!Sub``,
``!Join``, ``!Select``, ``!Split``, ``!FindInMap``, ``!If`` and conditions, against parameter values,
pseudo parameters and the physical ids of what the local stack created (``local.aws.template_settings``
reads the settings through it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()  # AWS::NoValue


class TemplateSettingsError(ValueError):
    """The template cannot be read, or a setting is missing or cannot be resolved (names where)."""


@dataclass(frozen=True)
class PhysicalResource:
    """What ``!Ref`` and ``!GetAtt`` give for one resource once it exists."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


class Resolver:
    """Evaluates CloudFormation intrinsics against parameter values and known physical resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any],
        resources: Mapping[str, PhysicalResource],
        region: str,
        account_id: str,
        stack_name: str,
    ) -> None:
        self._template = template
        self._parameters = parameters
        self._resources = resources
        self._pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v, where) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            (key, arg), *_ = value.items()
            method = _INTRINSICS.get(key)
            if method is not None:
                return method(self, arg, where)
        return {k: v for k, v in ((k, self.resolve(v, f"{where}.{k}")) for k, v in value.items())}

    # --- intrinsics -------------------------------------------------------------------------
    def _ref(self, name: Any, where: str) -> Any:
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        if name in self._resources:
            return self._resources[name].ref
        raise TemplateSettingsError(f"{where}: cannot resolve !Ref {name} (no parameter value or resource)")

    def _get_att(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            resource, _, attribute = arg.partition(".")
        else:
            resource, attribute = arg[0], self.resolve(arg[1], where)
        phys = self._resources.get(resource)
        if phys is None or attribute not in phys.attributes:
            raise TemplateSettingsError(f"{where}: cannot resolve !GetAtt {resource}.{attribute}")
        return phys.attributes[attribute]

    def _sub(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            text, local_vars = arg, {}
        else:
            text, local_vars = arg[0], {k: self.resolve(v, where) for k, v in arg[1].items()}

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in local_vars:
                return str(local_vars[token])
            if "." in token and not token.startswith("AWS::"):
                return str(self._get_att(token, where))
            return str(self._ref(token, where))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _join(self, arg: Any, where: str) -> Any:
        sep, items = arg
        return str(sep).join(str(v) for v in self.resolve(items, where))

    def _select(self, arg: Any, where: str) -> Any:
        index, items = self.resolve(arg, where)
        return items[int(index)]

    def _split(self, arg: Any, where: str) -> Any:
        sep, text = self.resolve(arg, where)
        return str(text).split(str(sep))

    def _find_in_map(self, arg: Any, where: str) -> Any:
        name, top, second = (self.resolve(a, where) for a in arg[:3])
        try:
            return self._template["Mappings"][name][top][second]
        except KeyError as exc:
            raise TemplateSettingsError(f"{where}: !FindInMap {name}/{top}/{second} not found") from exc

    def _if(self, arg: Any, where: str) -> Any:
        condition, when_true, when_false = arg
        chosen = when_true if self.condition(condition, where) else when_false
        return self.resolve(chosen, where)

    def condition(self, name: str, where: str) -> bool:
        conditions = self._template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateSettingsError(f"{where}: unknown condition {name}")
        return bool(self._evaluate_condition(conditions[name], f"Conditions.{name}"))

    def _evaluate_condition(self, expr: Any, where: str) -> Any:
        if isinstance(expr, Mapping) and len(expr) == 1:
            (key, arg), *_ = expr.items()
            if key == "Fn::Equals":
                left, right = (self._evaluate_condition(a, where) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._evaluate_condition(arg[0], where)
            if key == "Fn::And":
                return all(self._evaluate_condition(a, where) for a in arg)
            if key == "Fn::Or":
                return any(self._evaluate_condition(a, where) for a in arg)
            if key == "Condition":
                return self.condition(arg, where)
        return self.resolve(expr, where)


_INTRINSICS = {
    "Ref": Resolver._ref,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Sub": Resolver._sub,
    "Fn::Join": Resolver._join,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::If": Resolver._if,
}
