"""The Lambda Runtime API (version 2018-06-01) for ONE execution environment, over HTTP on 127.0.0.1.

What a runtime interface client (``awslambdaric``) talks to inside a real execution environment, as
AWS documents it (docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):

- ``GET  /2018-06-01/runtime/invocation/next``: blocks until there is an invocation; 200 with the
  event as body and the headers ``Lambda-Runtime-Aws-Request-Id``, ``Lambda-Runtime-Deadline-Ms``
  (Unix epoch ms), ``Lambda-Runtime-Invoked-Function-Arn``, ``Lambda-Runtime-Trace-Id``;
- ``POST /2018-06-01/runtime/invocation/{id}/response``: the result, 202;
- ``POST /2018-06-01/runtime/invocation/{id}/error``: an error (JSON ``errorMessage``/``errorType``,
  header ``Lambda-Runtime-Function-Error-Type``), 202;
- ``POST /2018-06-01/runtime/init/error``: the function could not initialise, 202.

Unknown request ids get 400 ``InvalidRequestID``, as from Lambda. One server per environment: a
killed environment's state dies with its server, and nothing routes by environment id.
``POST /__local/kill`` (not Lambda's) lets a fault injector in another process ask the driver to kill
this environment at a chosen point (see ``local.lambda_runtime.lambda_environment``);
``POST /__local/hold`` marks its current invocation as held on purpose until the timeout (a stalled
store write): injected kills are refused until then, so only the timeout ends it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PREFIX = "/2018-06-01/runtime"
KILL_PATH = "/__local/kill"
HOLD_PATH = "/__local/hold"


@dataclass(frozen=True)
class Invocation:
    request_id: str
    event: bytes
    deadline_ms: int  # Unix epoch milliseconds
    function_arn: str
    trace_id: str


@dataclass(frozen=True)
class Outcome:
    """What the runtime posted for an invocation: ``kind`` is "response" or "error"."""

    kind: str
    body: bytes
    error_type: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: RuntimeApi

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a killed environment drops its connections: nothing to report


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._reply(404, b'{"errorType":"NotFound"}')
            return
        invocation = self.server.api.next_invocation()
        if invocation is None:  # the environment is being shut down
            self._reply(500, b'{"errorType":"ShuttingDown"}')
            return
        self._reply(
            200,
            invocation.event,
            {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
            },
        )

    def do_POST(self) -> None:
        body = self._read_body()
        api = self.server.api
        if self.path == f"{API_PREFIX}/init/error":
            api.post(
                None, Outcome("init_error", body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            )
            self._reply(202, b'{"status":"OK"}')
            return
        if self.path == KILL_PATH:
            try:
                reason = str(json.loads(body or b"{}").get("reason", "kill requested"))
            except ValueError:
                reason = "kill requested"
            killed = api.request_kill(reason)
            self._reply(200, b'{"status":"killed"}' if killed else b'{"status":"held"}')
            return
        if self.path == HOLD_PATH:
            api.hold()
            self._reply(200, b'{"status":"held"}')
            return
        parts = self.path.split("/")
        # ['', '2018-06-01', 'runtime', 'invocation', '{id}', 'response'|'error']
        if len(parts) == 6 and parts[3] == "invocation" and parts[5] in ("response", "error"):
            kind = parts[5]
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type") if kind == "error" else None
            if api.post(parts[4], Outcome(kind, body, error_type)):
                self._reply(202, b'{"status":"OK"}')
            else:
                self._reply(400, b'{"errorType":"InvalidRequestID"}')
            return
        self._reply(404, b'{"errorType":"NotFound"}')


class RuntimeApi:
    """The server side of one environment's Runtime API; the driver calls ``submit``/``wait``."""

    def __init__(self, on_kill_request: Callable[[str], bool] | None = None) -> None:
        self._cond = threading.Condition()
        self._pending: Invocation | None = None
        self._current: str | None = None  # request id handed to the runtime, not yet answered
        self._outcomes: dict[str | None, Outcome] = {}
        self._closed = False
        self._delivered_at: float | None = None
        self._held = False  # the current invocation is held until its timeout (``hold``)
        self._on_kill_request = on_kill_request
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.api = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        """``host:port``: the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._httpd.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> RuntimeApi:
        self._thread.start()
        return self

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- runtime side (HTTP handlers) ------------------------------------------------------------
    def next_invocation(self) -> Invocation | None:
        with self._cond:
            while self._pending is None and not self._closed:
                self._cond.wait()
            if self._closed or self._pending is None:
                return None
            invocation, self._pending = self._pending, None
            self._current = invocation.request_id
            self._delivered_at = time.monotonic()
            self._cond.notify_all()
            return invocation

    def post(self, request_id: str | None, outcome: Outcome) -> bool:
        with self._cond:
            if request_id is not None and request_id != self._current:
                return False
            self._outcomes[request_id] = outcome
            if request_id is not None:
                self._current = None
            self._cond.notify_all()
            return True

    def request_kill(self, reason: str) -> bool:
        """Pass a fault injector's kill to the driver; False when it was refused (held)."""
        if self._on_kill_request is None:
            return False
        return self._on_kill_request(reason)

    def hold(self) -> None:
        with self._cond:
            self._held = True

    @property
    def held(self) -> bool:
        """The current invocation is held until its timeout: only the timeout may end it."""
        with self._cond:
            return self._held

    # --- driver side ------------------------------------------------------------------------------
    def submit(self, invocation: Invocation) -> None:
        with self._cond:
            self._pending = invocation
            self._delivered_at = None
            self._held = False
            self._cond.notify_all()

    def delivered_at(self) -> float | None:
        """Monotonic time the runtime took the pending invocation (None: not yet)."""
        with self._cond:
            return self._delivered_at

    def wait(self, request_id: str, timeout: float) -> Outcome | None:
        """The invocation's outcome, or an init error, or None after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for key in (request_id, None):
                    if key in self._outcomes:
                        return self._outcomes.pop(key)
                left = end - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._cond.wait(left)


def error_summary(outcome: Outcome) -> str:
    """``errorType: errorMessage`` of an error outcome (what CloudWatch would show first)."""
    try:
        data: Any = json.loads(outcome.body or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    kind = outcome.error_type or data.get("errorType") or "Unknown"
    return f"{kind}: {str(data.get('errorMessage', ''))[:300]}"
