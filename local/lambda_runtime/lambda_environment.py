"""Lambda execution environments on this machine: each one a separate process running ``awslambdaric``
(the runtime interface client of Lambda's Python images) against its own local Runtime API
(``local.lambda_runtime.runtime_api``), in its own process group.

As Lambda does it:
- cold start: a new process imports the handler module when it first asks for an invocation; the
  environment is then reused while warm, one invocation at a time;
- the invocation's deadline (``Lambda-Runtime-Deadline-Ms``) is the function timeout from the moment
  the runtime takes the event; ``context.get_remaining_time_in_millis()`` counts down to it;
- at the timeout the environment's whole process group is SIGKILLed wherever it is; so is an
  environment a fault injector asks to kill (``POST /__local/kill`` on its Runtime API, or
  ``EnvironmentPool.kill_where``). A dead environment is never reused: the next invocation cold-starts
  a fresh one;
- at most ``max_environments`` exist at once (the event source's ``MaximumConcurrency``).

The process sees the template's environment variables (``local.aws.template_settings``) plus the ones
Lambda sets (``AWS_LAMBDA_RUNTIME_API``, ``_HANDLER``, ``AWS_LAMBDA_FUNCTION_*``, ``LAMBDA_TASK_ROOT``,
...), not this process's. Its ``AWS_ACCESS_KEY_ID`` is ``LOCALENV<runtime api port>``: the local AWS
stand-in accepts any key, and a fault rule there can tell which environment called
(``local.aws.moto_atomic``). Its stdout/stderr (Powertools JSON logs, EMF metrics, awslambdaric's
lines) go line by line to ``log_sink``: its CloudWatch.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local.lambda_runtime.runtime_api import Invocation, RuntimeApi, error_summary

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HANDLER = "alipay_cancel.handler.lambda_handler"
ENV_KEY_PREFIX = "LOCALENV"  # AWS_ACCESS_KEY_ID of an environment: prefix + its Runtime API port
LogSink = Callable[[str], None]

_LIVE: set[ExecutionEnvironment] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _kill_all() -> None:
    with _LIVE_LOCK:
        envs = list(_LIVE)
    for env in envs:
        env.kill("interpreter exit")


@dataclass(frozen=True)
class FunctionSpec:
    environment: Mapping[str, str]  # the template's variables, resolved (LocalStack.lambda_env)
    function_name: str
    function_arn: str
    memory_mb: int
    timeout_seconds: float
    handler: str = DEFAULT_HANDLER
    # Lambda allows 10 s of init; a loaded 2-core machine needs more to start Python and import.
    init_timeout_seconds: float = 60.0
    python: str = sys.executable
    # ``-m <module>``: awslambdaric itself, or a wrapper that installs chaos hooks and then runs it.
    bootstrap_module: str = "awslambdaric"
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvokeResult:
    """``kind``: response | error (the function raised) | timeout | crash (the environment died or was
    killed) | init_error. ``payload``: the decoded response (kind "response")."""

    kind: str
    payload: Any = None
    detail: str = ""
    env_id: int = 0
    cold: bool = False
    duration: float = 0.0


def stderr_sink(line: str) -> None:
    sys.stderr.write(line + "\n")


class FileSink:
    """Lines of every environment into one file, whole lines only (thread-safe)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    import ctypes

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class ExecutionEnvironment:
    """One awslambdaric process and its Runtime API. Not thread-safe: one invocation at a time."""

    def __init__(self, env_id: int, spec: FunctionSpec, log_sink: LogSink) -> None:
        self.env_id = env_id
        self.spec = spec
        self._log_sink = log_sink
        self.api = RuntimeApi(on_kill_request=self.request_kill)
        self.proc: subprocess.Popen[bytes] | None = None
        self.invocations = 0
        self.killed_because: str | None = None
        self.current_event: dict[str, Any] | None = None
        self._kill_lock = threading.Lock()

    @property
    def access_key_id(self) -> str:
        return f"{ENV_KEY_PREFIX}{self.api.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.killed_because is None

    def process_env(self) -> dict[str, str]:
        spec = self.spec
        stream = time.strftime("%Y/%m/%d") + "/[$LATEST]" + uuid.uuid4().hex
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
            **spec.environment,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "_HANDLER": spec.handler,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "LAMBDA_TASK_ROOT": str(REPO_ROOT / "src"),
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "LOCAL_LAMBDA_ENVIRONMENT_ID": str(self.env_id),  # 1, 2, ... in start order
            **spec.extra_env,
        }
        return env

    def start(self) -> None:
        """Start the Runtime API and the process (call from a long-lived thread: see the pool)."""
        self.api.start()
        self.proc = subprocess.Popen(
            [self.spec.python, "-m", self.spec.bootstrap_module, self.spec.handler],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.process_env(),
            cwd=str(REPO_ROOT),
            start_new_session=True,  # its own process group: a kill takes everything it started
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        threading.Thread(target=self._pump_logs, name=f"env-{self.env_id}-log", daemon=True).start()

    def _pump_logs(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._log_sink(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def request_kill(self, reason: str) -> bool:
        """A fault injector's kill: refused while the invocation is held for its timeout, so a crash
        planned elsewhere cannot cut short the timeout fault it is meant to produce."""
        if self.api.held:
            return False
        self.kill(reason)
        return True

    def kill(self, reason: str) -> None:
        """SIGKILL the environment's process group (wherever it is) and close its Runtime API."""
        with self._kill_lock:
            if self.killed_because is None:
                self.killed_because = reason
            if self.proc is not None and self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self.api.close()

    def invoke(self, event: dict[str, Any]) -> InvokeResult:
        spec = self.spec
        cold = self.invocations == 0
        self.invocations += 1
        request_id = str(uuid.uuid4())
        deadline_ms = int((time.time() + spec.timeout_seconds) * 1000)
        self.current_event = event
        started = time.monotonic()
        self.api.submit(
            Invocation(
                request_id=request_id,
                event=json.dumps(event).encode(),
                deadline_ms=deadline_ms,
                function_arn=spec.function_arn,
                trace_id=f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            )
        )
        try:
            return self._await(request_id, cold, started)
        finally:
            self.current_event = None

    def _await(self, request_id: str, cold: bool, started: float) -> InvokeResult:
        spec = self.spec

        def result(kind: str, payload: Any = None, detail: str = "") -> InvokeResult:
            return InvokeResult(kind, payload, detail, self.env_id, cold, time.monotonic() - started)

        while True:
            outcome = self.api.wait(request_id, timeout=0.05)
            if outcome is not None:
                if outcome.kind == "response":
                    try:
                        payload = json.loads(outcome.body) if outcome.body else None
                    except ValueError:
                        return result("error", None, f"response is not JSON: {outcome.body[:200]!r}")
                    return result("response", payload)
                if outcome.kind == "init_error":
                    self.kill("init error")
                    return result("init_error", None, error_summary(outcome))
                return result("error", None, error_summary(outcome))
            if self.killed_because is not None or (self.proc is not None and self.proc.poll() is not None):
                reason = (
                    self.killed_because or f"process exited with {self.proc.returncode if self.proc else '?'}"
                )
                self.kill(reason)
                return result("crash", None, reason)
            delivered = self.api.delivered_at()
            now = time.monotonic()
            if delivered is None and now - started > spec.init_timeout_seconds:
                self.kill("init timeout")
                return result("init_error", None, f"no /next within {spec.init_timeout_seconds:.0f}s")
            if delivered is not None and now - delivered > spec.timeout_seconds:
                self.kill("timeout")
                return result("timeout", None, f"Task timed out after {spec.timeout_seconds:.2f} seconds")


@dataclass
class PoolStats:
    cold_starts: int = 0
    kills: Counter[str] = field(default_factory=Counter)  # reason -> environments killed/died
    peak_environments: int = 0


class EnvironmentPool:
    """At most ``max_environments`` warm-or-busy environments; ``invoke`` takes an idle warm one or
    cold-starts a new one (waiting while all are busy). Processes are started from one long-lived
    thread: the kernel's parent-death signal follows the thread that forked."""

    def __init__(self, spec: FunctionSpec, max_environments: int, log_sink: LogSink = stderr_sink) -> None:
        if max_environments < 1:
            raise ValueError("max_environments must be >= 1")
        self.spec = spec
        self.max_environments = max_environments
        self.log_sink = log_sink
        self._cond = threading.Condition()
        self._idle: list[ExecutionEnvironment] = []
        self._busy: set[ExecutionEnvironment] = set()
        self._starting = 0
        self._next_id = 1
        self._closed = False
        self._stats = PoolStats()
        self._spawn_requests: queue.Queue[tuple[ExecutionEnvironment, Future[None]] | None] = queue.Queue()
        self._spawner = threading.Thread(target=self._spawn_loop, name="env-spawner", daemon=True)
        self._spawner.start()

    def _spawn_loop(self) -> None:
        while (item := self._spawn_requests.get()) is not None:
            env, done = item
            try:
                env.start()
                done.set_result(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)

    def stats(self) -> PoolStats:
        with self._cond:
            return PoolStats(
                self._stats.cold_starts, Counter(self._stats.kills), self._stats.peak_environments
            )

    def environments(self) -> list[ExecutionEnvironment]:
        with self._cond:
            return [*self._idle, *self._busy]

    def _acquire(self) -> ExecutionEnvironment:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("environment pool closed")
                while self._idle:
                    env = self._idle.pop()
                    if env.alive:
                        self._busy.add(env)
                        return env
                if len(self._busy) + self._starting < self.max_environments:
                    self._starting += 1
                    env_id, self._next_id = self._next_id, self._next_id + 1
                    break
                self._cond.wait()
        env = ExecutionEnvironment(env_id, self.spec, self.log_sink)
        done: Future[None] = Future()
        self._spawn_requests.put((env, done))
        try:
            done.result()
        finally:
            with self._cond:
                self._starting -= 1
                if done.done() and done.exception() is None:
                    self._busy.add(env)
                    self._stats.cold_starts += 1
                    self._stats.peak_environments = max(
                        self._stats.peak_environments, len(self._busy) + len(self._idle)
                    )
                self._cond.notify_all()
        return env

    def _release(self, env: ExecutionEnvironment) -> None:
        with self._cond:
            self._busy.discard(env)
            if env.alive and not self._closed:
                self._idle.append(env)
            else:
                self._stats.kills[env.killed_because or "exited"] += 1
            self._cond.notify_all()
        if not env.alive:
            env.kill(env.killed_because or "exited")

    def invoke(self, event: dict[str, Any]) -> InvokeResult:
        env = self._acquire()
        try:
            return env.invoke(event)
        finally:
            self._release(env)

    def kill_where(self, predicate: Callable[[dict[str, Any]], bool], reason: str) -> int:
        """Kill every busy environment whose current event matches; how many were killed."""
        with self._cond:
            busy = list(self._busy)
        killed = 0
        for env in busy:
            event = env.current_event
            if event is not None and env.alive and predicate(event) and env.request_kill(reason):
                killed += 1
        return killed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            envs = [*self._idle, *self._busy]
            self._idle.clear()
            self._cond.notify_all()
        for env in envs:
            env.kill("pool closed")
        self._spawn_requests.put(None)
        self._spawner.join(timeout=5)

    def __enter__(self) -> EnvironmentPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
