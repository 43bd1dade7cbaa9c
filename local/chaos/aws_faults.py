"""DynamoDB, SQS and Secrets Manager failures injected into the function's own boto3 clients (chaos only).

Through botocore's event system, no change to the function's code, at two levels:

- ``before-send`` (the wire): the HTTP attempt is answered with a real-shaped AWS error (throttling,
  500, 503) instead of reaching moto. botocore's retry handler sees it as it would see AWS's answer, so
  these exercise the SDK retry path and reach the function only when every attempt fails.
- ``before-call`` (the API call): a ``ClientError`` is raised as if the SDK had already used up its
  retries, so the function's own error handling has to cope (message not acknowledged, retried).
- the ledger's own writes, by kind (``ledger_every``): every n-th claim, or every n-th final write,
  fails the same way, so that those two moments are hit in every run, not only by chance.

Each API call and each HTTP attempt draws once against its rate; every injection is counted by
service, operation, level and error code. Every injected error the function itself received (a
``before-call`` one, or a ``before-send`` one on the SDK's last attempt) is also kept as a
``FailedCall`` with the caller's context at that moment (e.g. the SQS message id and receive count
the function is working on), so a check can tell which receipts an injected failure really hit.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

# (error code, HTTP status) per service: throttling first, then server-side errors.
ERRORS: dict[str, list[tuple[str, int]]] = {
    "dynamodb": [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("InternalServerError", 500),
    ],
    "sqs": [("ThrottlingException", 400), ("RequestThrottled", 400), ("InternalError", 500)],
    "secretsmanager": [("ThrottlingException", 400), ("InternalServiceError", 500)],
}
INJECTED_REQUEST_ID = "chaos-injected"  # x-amzn-RequestId of every injected wire answer
LEDGER_WRITE_FAULT = ("ProvisionedThroughputExceededException", 400)
# In a chaos run every n-th ledger claim and final write of each environment fails (on top of the
# random faults): ``make chaos`` passes it to the environments as CHAOS_AWS_LEDGER_EVERY.
LEDGER_WRITE_FAULT_EVERY = {"claim": 25, "final": 25}
_JSON_TARGET_PREFIX = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810",
    "sqs": "com.amazonaws.sqs",
    "secretsmanager": "com.amazonaws.secretsmanager",
}


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass(frozen=True)
class FailedCall:
    """An injected error the caller received: its API call failed because of this injector."""

    service: str
    operation: str
    level: str  # "call", "wire" (the SDK's retries ended on an injected answer) or "ledger <kind>"
    code: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class AwsFaultStats:
    calls: Counter[str]  # "service.Operation" -> API calls made
    attempts: Counter[str]  # "service.Operation" -> HTTP attempts made
    injected: Counter[tuple[str, str, str, str]]  # (service, operation, level, code) -> n
    received_by_caller: int = 0  # injected errors the function got (not absorbed by SDK retries)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())

    def by_code(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (service, _op, level, code), n in self.injected.items():
            out[f"{service} {code} ({level})"] += n
        return dict(sorted(out.items()))

    def by_operation(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (service, op, level, _code), n in self.injected.items():
            out[f"{service}.{op} ({level})"] += n
        return dict(sorted(out.items()))


def ledger_write_kind(params: Mapping[str, Any]) -> str:
    """Which of the ledger's UpdateItems (``stores.ledger``) these API parameters are: "claim" (takes
    the lease), "step" (a further call under it), "final" (ends it) or "note" (no lease held)."""
    update, condition = str(params.get("UpdateExpression", "")), str(params.get("ConditionExpression", ""))
    if "#lease_holder = :lease_holder" in update:
        return "claim"
    if ":previous_at" in condition:
        return "step"
    if condition == "#lease_holder = :holder":
        return "final"
    return "note"


class AwsFaultInjector:
    """``install(client)`` on each of the function's clients; ``uninstall()`` removes every hook."""

    def __init__(
        self,
        *,
        call_rate: float,
        wire_rate: float,
        seed: int,
        context: Callable[[], Mapping[str, Any]] | None = None,
        sink: Callable[[dict[str, Any]], None] | None = None,
        ledger_every: Mapping[str, int] | None = None,
    ) -> None:
        """``context``: called in the caller's thread when an injected error reaches it; what it
        returns is kept with the ``FailedCall``. ``sink``: gets every count as an event (the
        injector runs inside a function environment; ``read_events`` rebuilds the stats)."""
        if not (0 <= call_rate <= 1 and 0 <= wire_rate <= 1):
            raise ValueError("rates are probabilities")
        self.call_rate = call_rate
        self.wire_rate = wire_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._injected: Counter[tuple[str, str, str, str]] = Counter()
        self._failed: list[FailedCall] = []
        self._context = context
        self._installed: list[tuple[Any, str, Any]] = []
        self._sink = sink
        self._ledger_every = dict(ledger_every or {})  # ledger write kind -> fail every n-th
        self._ledger_seen: Counter[str] = Counter()
        self.enabled = True

    def _emit(self, event: dict[str, Any]) -> None:
        if self._sink is not None:
            self._sink(event)

    def _draw(self, rate: float, service: str) -> tuple[str, int] | None:
        with self._lock:
            if not self.enabled or self._rng.random() >= rate:
                return None
            return self._rng.choice(ERRORS[service])

    def _failed_call(self, service: str, operation: str, level: str, code: str) -> None:
        context = dict(self._context()) if self._context is not None else {}
        with self._lock:
            self._failed.append(FailedCall(service, operation, level, code, context))
        self._emit(
            {"t": "failed", "service": service, "op": operation, "level": level, "code": code, "ctx": context}
        )

    def install(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        if service not in ERRORS:
            raise ValueError(f"no fault list for {service}")
        events = client.meta.events

        def before_call(model: Any = None, **_: Any) -> None:
            name = f"{service}.{model.name}"
            with self._lock:
                self._calls[name] += 1
            self._emit({"t": "call", "name": name})
            error = self._draw(self.call_rate, service)
            if error is None:
                return
            code, status = error
            with self._lock:
                self._injected[(service, model.name, "call", code)] += 1
            self._emit({"t": "injected", "key": [service, model.name, "call", code]})
            self._failed_call(service, model.name, "call", code)
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": "chaos: injected failure"},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                },
                model.name,
            )

        def before_send(request: Any = None, event_name: str = "", **_: Any) -> AWSResponse | None:
            operation = event_name.rsplit(".", 1)[-1]
            with self._lock:
                self._attempts[f"{service}.{operation}"] += 1
            self._emit({"t": "attempt", "name": f"{service}.{operation}"})
            error = self._draw(self.wire_rate, service)
            if error is None:
                return None
            code, status = error
            with self._lock:
                self._injected[(service, operation, "wire", code)] += 1
            self._emit({"t": "injected", "key": [service, operation, "wire", code]})
            body = json.dumps(
                {"__type": f"{_JSON_TARGET_PREFIX[service]}#{code}", "message": "chaos: injected failure"}
            ).encode()
            headers = {
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-RequestId": INJECTED_REQUEST_ID,
                "Content-Length": str(len(body)),
            }
            if service == "sqs":  # SQS speaks JSON but reports query-style codes in this header
                headers["x-amzn-query-error"] = f"{code};{'Receiver' if status >= 500 else 'Sender'}"
            return AWSResponse(request.url, status, headers, _Body(body))

        def after_call(http_response: Any = None, parsed: Any = None, model: Any = None, **_: Any) -> None:
            # The SDK's last answer was one of ours: the function gets this error.
            if http_response is None or http_response.status_code < 300 or not isinstance(parsed, dict):
                return
            if parsed.get("ResponseMetadata", {}).get("RequestId") != INJECTED_REQUEST_ID:
                return
            self._failed_call(service, model.name, "wire", str(parsed.get("Error", {}).get("Code")))

        def ledger_write(params: Any = None, **_: Any) -> None:
            kind = ledger_write_kind(params or {})
            every = self._ledger_every.get(kind)
            if not every or not self.enabled:
                return
            with self._lock:
                self._ledger_seen[kind] += 1
                if self._ledger_seen[kind] % every:
                    return
                code, status = LEDGER_WRITE_FAULT
                self._injected[(service, "UpdateItem", f"ledger {kind}", code)] += 1
            self._emit({"t": "injected", "key": [service, "UpdateItem", f"ledger {kind}", code]})
            self._failed_call(service, "UpdateItem", f"ledger {kind}", code)
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": f"chaos: injected failure of the ledger's {kind}"},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                },
                "UpdateItem",
            )

        hooks = [
            (f"before-call.{service}", before_call),
            (f"before-send.{service}", before_send),
            (f"after-call.{service}", after_call),
        ]
        if service == "dynamodb" and self._ledger_every:
            hooks.append(("provide-client-params.dynamodb.UpdateItem", ledger_write))
        for event, hook in hooks:
            events.register(event, hook)
            self._installed.append((events, event, hook))

    def uninstall(self) -> None:
        for events, event, hook in self._installed:
            events.unregister(event, hook)
        self._installed.clear()

    def failed_calls(self) -> list[FailedCall]:
        with self._lock:
            return list(self._failed)

    def stats(self) -> AwsFaultStats:
        with self._lock:
            return AwsFaultStats(
                Counter(self._calls), Counter(self._attempts), Counter(self._injected), len(self._failed)
            )


def read_events(lines: Iterable[str]) -> tuple[AwsFaultStats, list[FailedCall]]:
    """The stats and failed calls from the events of every environment's injector (a line cut short
    by a killed environment is skipped)."""
    calls: Counter[str] = Counter()
    attempts: Counter[str] = Counter()
    injected: Counter[tuple[str, str, str, str]] = Counter()
    failed: list[FailedCall] = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        kind = event.get("t") if isinstance(event, dict) else None
        if kind == "call":
            calls[event["name"]] += 1
        elif kind == "attempt":
            attempts[event["name"]] += 1
        elif kind == "injected":
            service, operation, level, code = event["key"]
            injected[(service, operation, level, code)] += 1
        elif kind == "failed":
            failed.append(
                FailedCall(
                    event["service"], event["op"], event["level"], event["code"], event.get("ctx") or {}
                )
            )
    return AwsFaultStats(calls, attempts, injected, len(failed)), failed
