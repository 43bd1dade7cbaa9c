"""AWS as an in-process latency model, for ``make bench``: every DynamoDB, SQS and Secrets Manager call of
a client it is installed on answers after a fixed delay (a sleep: next to no CPU), from a small
in-memory model instead of the network.

Against moto, a batch measures moto's CPU (a Python server doing every request one at a time) as much
as the function's. Here a call costs the client its own work (serialising, signing, parsing) plus a
wait, as on AWS, so a batch measures the function's structure: how many calls it waits on, in what
order, and its own CPU.

The model is small but honest where the function depends on it: DynamoDB ``UpdateItem`` evaluates the
condition (``attribute_not_exists``/``attribute_exists``, ``=``, ``<>``, ``<``, ``<=``, ``>``,
``>=``, ``AND``/``OR``/``NOT``, parentheses, nested ``#a.#b`` paths) and applies the update (``SET``
with ``if_not_exists``, ``ADD`` of numbers, ``REMOVE``) on one lock, so a second claim of a trade is
refused, with the item when ``ReturnValuesOnConditionCheckFailure`` asks for it; ``ReturnValues``
``ALL_OLD`` is honoured. SQS answers ``SendMessage``, ``ChangeMessageVisibility`` and
``DeleteMessage``; Secrets Manager ``GetSecretValue`` from the secrets it is given. The CPU the model
spends on its own answers (parsing a request, evaluating, writing an answer) is counted apart
(``own_cpu_seconds``), so that a benchmark can leave it out of the function's.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from botocore.awsrequest import AWSResponse

SERVICES = ("dynamodb", "sqs", "secretsmanager")
_CONTENT_TYPE = {
    "dynamodb": "application/x-amz-json-1.0",
    "sqs": "application/x-amz-json-1.0",
    "secretsmanager": "application/x-amz-json-1.1",
}
_TOKEN = re.compile(r"\s*(<>|<=|>=|[()=<>,]|#[\w.#]+|:\w+|\w+)")


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class AwsModel:
    def __init__(self, *, latency_seconds: float = 0.010, secrets: Mapping[str, str] | None = None) -> None:
        self.latency_seconds = latency_seconds
        self._secrets = dict(secrets or {})
        self._tables: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.own_cpu_seconds = 0.0

    def install(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        if service in SERVICES:
            client.meta.events.register(f"before-send.{service}", self._answer)

    def item(self, table: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._tables.get(table, {}).get(key)

    # --- the wire ----------------------------------------------------------------------------------

    def _answer(self, request: Any = None, event_name: str = "", **_: Any) -> AWSResponse:
        started = time.thread_time()
        # botocore names events by service id ("secrets-manager"), registrations by the old name
        service, operation = event_name.split(".")[1].replace("-", ""), event_name.rsplit(".", 1)[-1]
        params = json.loads(request.body or b"{}")
        handler: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]] = getattr(
            self, f"_{service}_{operation}", self._unsupported
        )
        status, answer = handler(params)
        body = json.dumps(answer).encode()
        response = AWSResponse(
            request.url,
            status,
            {
                "Content-Type": _CONTENT_TYPE[service],
                "x-amzn-RequestId": uuid.uuid4().hex,
                "Content-Length": str(len(body)),
            },
            _Body(body),
        )
        spent = time.thread_time() - started
        with self._lock:
            self.calls[f"{service}.{operation}"] += 1
            self.own_cpu_seconds += spent
        time.sleep(self.latency_seconds)  # the round trip: waiting costs no CPU
        return response

    @staticmethod
    def _unsupported(params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError(f"the AWS model does not answer this call: {sorted(params)}")

    # --- DynamoDB ----------------------------------------------------------------------------------

    def _dynamodb_UpdateItem(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        names: dict[str, str] = params.get("ExpressionAttributeNames") or {}
        values: dict[str, Any] = params.get("ExpressionAttributeValues") or {}
        key_name, key_value = next(iter(params["Key"].items()))
        key = str(key_value.get("S"))
        with self._lock:
            table = self._tables.setdefault(params["TableName"], {})
            old = table.get(key)
            current = old if old is not None else {}
            condition = params.get("ConditionExpression")
            if condition and not _Condition(condition, names, values).holds(current):
                answer: dict[str, Any] = {
                    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "message": "The conditional request failed",
                }
                if params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old is not None:
                    answer["Item"] = old
                return 400, answer
            new = json.loads(json.dumps(current))  # a deep copy of plain JSON
            new[key_name] = key_value
            _apply_update(params["UpdateExpression"], names, values, new)
            table[key] = new
        if params.get("ReturnValues") == "ALL_OLD" and old is not None:
            return 200, {"Attributes": old}
        return 200, {}

    def _dynamodb_GetItem(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = str(next(iter(params["Key"].values())).get("S"))
        found = self.item(params["TableName"], key)
        return 200, ({"Item": found} if found is not None else {})

    # --- SQS and Secrets Manager -------------------------------------------------------------------

    def _sqs_SendMessage(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        digest = hashlib.md5(str(params.get("MessageBody", "")).encode(), usedforsecurity=False).hexdigest()
        return 200, {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": digest}

    def _sqs_ChangeMessageVisibility(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {}

    def _sqs_DeleteMessage(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {}

    def _secretsmanager_GetSecretValue(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        secret_id = str(params["SecretId"])
        if secret_id not in self._secrets:
            return 400, {
                "__type": "ResourceNotFoundException",
                "message": "Secrets Manager can't find the specified secret.",
            }
        return 200, {
            "ARN": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{secret_id}-AbCdEf",
            "Name": secret_id,
            "SecretString": self._secrets[secret_id],
            "VersionId": "1",
            "VersionStages": ["AWSCURRENT"],
        }


@contextmanager
def modelled_clients(model: AwsModel) -> Iterator[None]:
    """Every DynamoDB, SQS and Secrets Manager client created inside answers from ``model``."""
    from botocore.client import ClientCreator

    original = ClientCreator.create_client

    def create_client(self: ClientCreator, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)
        model.install(client)
        return client

    ClientCreator.create_client = create_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        ClientCreator.create_client = original  # type: ignore[method-assign]


# --- expressions --------------------------------------------------------------------------------


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _apply_update(
    expression: str, names: dict[str, str], values: dict[str, Any], item: dict[str, Any]
) -> None:
    clauses = re.split(r"\b(SET|ADD|REMOVE)\b", expression)
    for keyword, body in zip(clauses[1::2], clauses[2::2], strict=True):
        for action in _split_top_level(body):
            if keyword == "SET":
                target, _, source = (s.strip() for s in action.partition("="))
                absent = re.fullmatch(r"if_not_exists\(\s*(#\w+)\s*,\s*(:\w+)\s*\)", source)
                if absent:
                    if names[absent.group(1)] not in item:
                        item[names[target]] = values[absent.group(2)]
                else:
                    item[names[target]] = values[source]
            elif keyword == "ADD":
                target, amount = action.split()
                before = Decimal(item.get(names[target], {"N": "0"})["N"])
                item[names[target]] = {"N": str(before + Decimal(values[amount]["N"]))}
            else:
                item.pop(names[action], None)


class _Condition:
    """A recursive-descent evaluator of the condition expressions the function writes."""

    def __init__(self, text: str, names: dict[str, str], values: dict[str, Any]) -> None:
        self._tokens = _TOKEN.findall(text)
        self._names, self._values = names, values
        self._at = 0

    def holds(self, item: dict[str, Any]) -> bool:
        self._item = item
        self._at = 0
        result = self._or()
        if self._at != len(self._tokens):
            raise ValueError(f"cannot read the condition from {self._tokens[self._at]!r}")
        return result

    def _peek(self) -> str | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self, expected: str | None = None) -> str:
        word = self._tokens[self._at]
        if expected is not None and word != expected:
            raise ValueError(f"expected {expected!r}, found {word!r}")
        self._at += 1
        return word

    def _or(self) -> bool:
        result = self._and()
        while self._peek() == "OR":
            self._take()
            right = self._and()
            result = result or right
        return result

    def _and(self) -> bool:
        result = self._not()
        while self._peek() == "AND":
            self._take()
            right = self._not()
            result = result and right
        return result

    def _not(self) -> bool:
        if self._peek() == "NOT":
            self._take()
            return not self._not()
        return self._primary()

    def _primary(self) -> bool:
        word = self._peek()
        if word == "(":
            self._take()
            result = self._or()
            self._take(")")
            return result
        if word in ("attribute_not_exists", "attribute_exists"):
            self._take()
            self._take("(")
            present = self._value(self._take()) is not None
            self._take(")")
            return present if word == "attribute_exists" else not present
        left = self._value(self._take())
        operator = self._take()
        right = self._value(self._take())
        if left is None or right is None:
            return operator == "<>" and (left is not None or right is not None)
        a, b = _scalar(left), _scalar(right)
        return {
            "=": a == b,
            "<>": a != b,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }[operator]

    def _value(self, word: str) -> Any:
        if word.startswith(":"):
            return self._values[word]
        value: Any = {"M": self._item}
        for part in word.split("."):
            if not isinstance(value, dict) or "M" not in value:
                return None
            value = value["M"].get(self._names[part] if part.startswith("#") else part)
            if value is None:
                return None
        return value


def _scalar(value: dict[str, Any]) -> Any:
    if "N" in value:
        return Decimal(value["N"])
    return value.get("S", json.dumps(value, sort_keys=True))
