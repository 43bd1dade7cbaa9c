"""moto's server with every request processed atomically, as AWS does: ``python -m local.aws.moto_atomic``.

moto's backends are not thread-safe: two concurrent ReceiveMessage calls can both get one message, two
conditional writes can both succeed. AWS never does that, and the function's ledger (one claim per
trade) relies on it. This launcher runs moto's own WSGI app (``moto.server``'s
``DomainDispatcherApplication``) behind a middleware that holds one lock around each request, from
reading it to the last byte of its answer.

A long poll (ReceiveMessage with WaitTimeSeconds > 0) must not hold that lock for seconds: it becomes
short polls (WaitTimeSeconds=0), each under the lock, retried outside it every 50 ms until a message
comes or the wait is over. Without WaitTimeSeconds in the request, it is one short poll.

Fault rules (chaos; ``POST /__atomic/rules`` with a JSON list, ``GET /__atomic/stats``): a rule
matches an operation (``AmazonSQS.SendMessage``, ``DynamoDB_20120810.UpdateItem``, ...) whose body
contains ``body_contains``, made by a local Lambda environment (its access key id is
``LOCALENV<port>``: ``local.lambda_runtime.lambda_environment``). On match number ``first`` and
every ``every``-th one after it, up to ``max`` times, it acts: ``kill`` asks that environment's
Runtime API to SIGKILL it (``when``: "before" the request is processed, or "after" it was processed
but before the answer leaves), or ``stall`` holds the request ``seconds`` (outside the lock) before
processing it, after telling the environment it is held (``/__local/hold``: no injected kill may
end it before its timeout does).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import signal
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from local.lambda_runtime.runtime_api import HOLD_PATH, KILL_PATH

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ADMIN_PREFIX = "/__atomic/"
POLL_INTERVAL = 0.05
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
ENV_KEY = re.compile(r"^LOCALENV(\d+)$")


@dataclass
class Rule:
    name: str
    operation: str
    action: str  # "kill" | "stall"
    body_contains: str = ""
    every: int = 1
    first: int = 1
    max: int | None = None
    when: str = "before"  # kill: "before" or "after" processing
    seconds: float = 0.0  # stall
    matched: int = 0
    acted: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        rule = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        valid = rule.action in ("kill", "stall") and rule.when in ("before", "after")
        if not valid or rule.every < 1 or rule.first < 1:
            raise ValueError(f"invalid rule {data!r}")
        return rule


@dataclass
class _Captured:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def operation_of(environ: dict[str, Any], body: bytes) -> str:
    """``X-Amz-Target`` (JSON protocols) or ``Action`` of a query-protocol request."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target)
    params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode("utf-8", errors="replace")))
    return params.get("Action", f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}")


def environment_port(environ: dict[str, Any]) -> int | None:
    """The Runtime API port of the local Lambda environment that signed this request, if any."""
    found = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    match = ENV_KEY.match(found.group(1)) if found else None
    return int(match.group(1)) if match else None


def short_poll(operation: str, environ: dict[str, Any], body: bytes) -> tuple[bytes, float]:
    """(the request as a short poll, the long poll's wait in seconds) for ReceiveMessage."""
    if not operation.endswith("ReceiveMessage"):
        return body, 0.0
    if environ.get("HTTP_X_AMZ_TARGET"):
        data = json.loads(body or b"{}")
        wait = float(data.get("WaitTimeSeconds") or 0)
        data["WaitTimeSeconds"] = 0
        return json.dumps(data).encode(), wait
    params = parse_qsl(body.decode())
    wait = float(dict(params).get("WaitTimeSeconds") or 0)
    params = [(k, v) for k, v in params if k != "WaitTimeSeconds"] + [("WaitTimeSeconds", "0")]
    return urlencode(params).encode(), wait


def _has_messages(captured: _Captured) -> bool:
    return b"ReceiptHandle" in captured.body or not captured.status.startswith("200")


class AtomicMiddleware:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()
        self._rules_lock = threading.Lock()
        self.rules: list[Rule] = []
        self.operations: Counter[str] = Counter()
        self.long_polls = 0
        # Environments with a request held by a stall rule: no kill rule acts on them meanwhile, so a
        # stall meant to reach the function's timeout is not cut short by a kill at another point.
        self._stalled: Counter[int] = Counter()

    def _call(self, environ: dict[str, Any], body: bytes) -> _Captured:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(body)
        env["CONTENT_LENGTH"] = str(len(body))
        got: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            got["status"], got["headers"] = status, headers
            return lambda _data: None

        with self.lock:  # one request at a time, start to last byte: AWS's per-request atomicity
            chunks = self.app(env, start_response)
            try:
                data = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        return _Captured(got["status"], got["headers"], data)

    def _matching(self, operation: str, body: bytes, port: int | None) -> list[Rule]:
        if port is None:
            return []
        acting = []
        with self._rules_lock:
            stalled = self._stalled[port] > 0
            for rule in self.rules:
                if stalled and rule.action == "kill":
                    continue
                if rule.operation != operation or (
                    rule.body_contains and rule.body_contains.encode() not in body
                ):
                    continue
                rule.matched += 1
                n = rule.matched - rule.first
                if n < 0 or n % rule.every or (rule.max is not None and rule.acted >= rule.max):
                    continue
                rule.acted += 1
                acting.append(rule)
        return acting

    @staticmethod
    def _tell(port: int, path: str, data: dict[str, Any]) -> None:
        """POST to the environment's Runtime API (``local.lambda_runtime.runtime_api``): kill or hold it."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", data=json.dumps(data).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback only
                answer.read()
        except OSError:
            pass  # the environment is already gone

    def _kill(self, port: int, rule: Rule) -> None:
        self._tell(port, KILL_PATH, {"reason": f"chaos: {rule.name}"})

    def _admin(self, environ: dict[str, Any], body: bytes, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == ADMIN_PREFIX + "rules" and environ.get("REQUEST_METHOD") == "POST":
            rules = [Rule.from_dict(r) for r in json.loads(body or b"[]")]
            with self._rules_lock:
                self.rules = rules
        with self._rules_lock:
            stats = {
                "operations": dict(self.operations),
                "long_polls": self.long_polls,
                "rules": [{"name": r.name, "matched": r.matched, "acted": r.acted} for r in self.rules],
            }
        data = json.dumps(stats).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if str(environ.get("PATH_INFO", "")).startswith(ADMIN_PREFIX):
            return self._admin(environ, body, start_response)
        operation = operation_of(environ, body)
        port = environment_port(environ)
        with self._rules_lock:
            self.operations[operation] += 1
        rules = self._matching(operation, body, port)
        for rule in rules:
            if rule.action == "stall" and port is not None:
                with self._rules_lock:
                    self._stalled[port] += 1
                # The stall is meant to end in the timeout kill: no injected kill (a tap crash of
                # another record of the batch) may end the environment first.
                self._tell(port, HOLD_PATH, {})
                try:
                    time.sleep(rule.seconds)
                finally:
                    with self._rules_lock:
                        self._stalled[port] -= 1
            elif rule.when == "before" and port is not None:
                self._kill(port, rule)
                return self._failed(start_response)
        short, wait = short_poll(operation, environ, body)
        captured = self._call(environ, short)
        if wait > 0:
            with self._rules_lock:
                self.long_polls += 1
            end = time.monotonic() + wait
            while not _has_messages(captured) and time.monotonic() < end:
                time.sleep(POLL_INTERVAL)  # outside the lock: other requests go on
                captured = self._call(environ, short)
        for rule in rules:
            if rule.action == "kill" and rule.when == "after" and port is not None:
                self._kill(port, rule)  # processed, but its caller never learns it
                return self._failed(start_response)
        start_response(captured.status, captured.headers)
        return [captured.body]

    @staticmethod
    def _failed(start_response: StartResponse) -> list[bytes]:
        data = b'{"__type":"InternalFailure","message":"the caller was killed"}'
        start_response("500 Internal Server Error", [("Content-Length", str(len(data)))])
        return [data]


def build_app() -> AtomicMiddleware:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    return AtomicMiddleware(app)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto server, one request at a time (see module doc)")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    import os

    os.environ.setdefault("MOTO_PORT", str(args.port))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(0))
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from werkzeug.serving import run_simple

    run_simple(args.host, args.port, build_app(), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
