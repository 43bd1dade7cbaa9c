"""The whole AWS side of the app on loopback, plus the Alipay gateway emulator, with no AWS account.

- a moto server in a SUBPROCESS (``python -m local.aws.moto_atomic``: moto's own server app, each request
  processed atomically as AWS does; a real process boundary, real HTTP), in its own process group so
  stopping it stops everything it started;
- the Alipay gateway emulator (``local.alipay_gateway``) in-process, with throwaway keys (or what
  ``gateway_factory`` builds: the benchmarks run it as a child process);
- the queue, dead-letter queue, tables and signing-material secrets (the default app's, and one per
  further app in ``extra_apps``, which the emulator knows too) created with the settings read from
  ``template.yaml`` (``local.aws.provision``); ``merchants`` (app_auth_token -> merchant id) are the ISV
  merchants the emulator knows;
- the environment the Lambda would see (``LocalStack.lambda_env``); ``environments()`` runs the
  function as Lambda does (``local.lambda_runtime.lambda_environment``: awslambdaric processes), and
  ``driver()`` is the event source mapping built from the template's settings (``local.aws.esm_driver``).
  ``applied_env()`` runs the handler in-process instead (fast tests of logic, benchmarks).

Use it as a context manager (free ports; tests, demo, chaos); ``make local-stack`` runs one until
stopped on the default ports (moto on 4566, the gateway on 8089: ``python -m local.stack``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from local.alipay_gateway.gateway_state import AppConfig, GatewayConfig
from local.alipay_gateway.server import GatewayServer
from local.aws.esm_driver import EsmConfig, EsmDriver, Function, Handler
from local.aws.provision import Provisioned, aws_client, lambda_environment, provision
from local.aws.template_settings import DEFAULT_TEMPLATE, REPO_ROOT, TemplateSettings, read_template_settings
from local.keygen import KeyMaterial, generate_key_material
from local.lambda_runtime.lambda_environment import EnvironmentPool, FunctionSpec, LogSink, stderr_sink

DEFAULT_MOTO_PORT = 4566
DEFAULT_GATEWAY_PORT = 8089
LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0

# Every moto process this interpreter started and has not stopped yet: atexit and signal handlers
# stop them, so an error anywhere never leaves a server behind.
_LIVE: dict[int, subprocess.Popen[bytes]] = {}
_LIVE_LOCK = threading.Lock()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the kernel sends SIGTERM to the moto server if this Python process dies, even by SIGKILL.
    (The signal follows the *thread* that started it: start the stack from a long-lived thread.)"""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM the child's whole process group, SIGKILL it if it lingers, reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)  # its own group: start_new_session=True
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
    with _LIVE_LOCK:
        _LIVE.pop(proc.pid, None)


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE.values())
    for proc in procs:
        stop_process(proc)


class MotoServer:
    """``python -m moto.server -H 127.0.0.1 -p PORT`` as a child process."""

    def __init__(self, port: int = 0, *, log_path: Path | None = None) -> None:
        self.requested_port = port
        self.port = 0
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._own_log = False  # a temp log of ours: removed on stop

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> str:
        attempts = 1 if self.requested_port else 3  # a free port can be taken before moto binds it
        for attempt in range(attempts):
            self.port = self.requested_port or free_port()
            if self.log_path is None:
                fd, name = tempfile.mkstemp(prefix="moto-server-", suffix=".log")
                os.close(fd)
                self.log_path = Path(name)
                self._own_log = True
            log = open(self.log_path, "ab")  # the child owns it for its lifetime
            try:
                env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
                env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "local.aws.moto_atomic", "-H", LOOPBACK, "-p", str(self.port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=str(REPO_ROOT),
                    start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                )
            finally:
                log.close()
            with _LIVE_LOCK:
                _LIVE[self.proc.pid] = self.proc
            if self._wait_ready():
                return self.url
            stop_process(self.proc)
            if attempt == attempts - 1:
                tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path else ""
                raise RuntimeError(f"moto server did not start on port {self.port}:\n{tail}")
        raise AssertionError("unreachable")

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                    pass
                aws_client("sqs", self.url).list_queues()
                return True
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        return False

    def set_rules(self, rules: list[dict[str, Any]]) -> dict[str, Any]:
        """Fault rules of ``local.aws.moto_atomic`` (kill or stall an environment at an operation)."""
        import requests

        answer = requests.post(f"{self.url}/__atomic/rules", json=rules, timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def stats(self) -> dict[str, Any]:
        import requests

        answer = requests.get(f"{self.url}/__atomic/stats", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)


class Gateway(Protocol):
    """What the stack needs of a running emulator: ``GatewayServer`` (in-process) is one."""

    @property
    def base_url(self) -> str: ...

    def start(self) -> str: ...

    def stop(self) -> None: ...


# Builds the emulator from its config, host and port (0: a free one); not started yet.
GatewayFactory = Callable[[GatewayConfig, str, int], Gateway]


class LocalStack:
    """Start with ``with LocalStack() as stack:``; everything is stopped on exit, even on errors."""

    def __init__(
        self,
        *,
        moto_port: int = 0,
        gateway_port: int = 0,
        template_path: Path | str = DEFAULT_TEMPLATE,
        key_material: KeyMaterial | None = None,
        aes: bool = False,
        cert_mode: bool = False,
        env_overrides: Mapping[str, str] | None = None,
        gateway_options: Mapping[str, Any] | None = None,
        gateway_factory: GatewayFactory = GatewayServer,
        extra_apps: Sequence[KeyMaterial] = (),
        merchants: Mapping[str, str] | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        # ``parameters``: template parameter overrides (as at deploy time), e.g. a short retry horizon.
        self.settings: TemplateSettings = read_template_settings(template_path, parameters)
        self._key_material = key_material
        self.aes = aes
        self.cert_mode = cert_mode
        self.env_overrides = dict(env_overrides or {})
        self.gateway_options = dict(gateway_options or {})
        self.moto = MotoServer(moto_port)
        self.gateway_port = gateway_port
        self.gateway_factory = gateway_factory  # e.g. a child process, to keep its CPU out of ours
        self.extra_apps = list(extra_apps)  # further Alipay apps (public-key mode)
        self.merchants = dict(merchants or {})
        self.gateway: Gateway | None = None
        self.provisioned: Provisioned | None = None
        self.lambda_env: dict[str, str] = {}

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def key_material(self) -> KeyMaterial:
        if self._key_material is None:
            self._key_material = generate_key_material(
                aes_bits=256 if self.aes else None, cert_mode=self.cert_mode
            )
        return self._key_material

    def start(self) -> LocalStack:
        try:
            self.moto.start()  # first: before any thread of ours exists (fork safety)
            km = self.key_material
            config = GatewayConfig(
                app_id=km.app_id,
                alipay_private_key=km.alipay.private_pem,
                app_public_key=km.app.public_pem,
                encrypt_key=km.encrypt_key if self.aes else None,
                app_cert=km.certs.app_cert_pem if self.cert_mode and km.certs else None,
                alipay_cert=km.certs.alipay_cert_pem if self.cert_mode and km.certs else None,
                alipay_root_cert=km.certs.root_bundle_pem if self.cert_mode and km.certs else None,
                apps=[
                    AppConfig(app.app_id, app.app.public_pem, app.alipay.private_pem)
                    for app in self.extra_apps
                ],
                merchants=self.merchants,
                **self.gateway_options,
            )
            self.gateway = self.gateway_factory(config, LOOPBACK, self.gateway_port)
            self.gateway.start()
            secret = km.secret(cert_mode=self.cert_mode, aes=self.aes)
            app_secrets = {app.app_id: app.secret() for app in self.extra_apps}
            self.provisioned = provision(self.settings, self.moto.url, secret, app_secrets)
            self.lambda_env = lambda_environment(
                self.settings,
                self.provisioned,
                alipay_endpoint=self.gateway_url,
                overrides=self.env_overrides,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        self.moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what users of the stack need ---------------------------------------------------------
    @property
    def moto_url(self) -> str:
        return self.moto.url

    @property
    def gateway_url(self) -> str:
        assert self.gateway is not None, "stack not started"
        return self.gateway.base_url

    @property
    def resources(self) -> Provisioned:
        assert self.provisioned is not None, "stack not started"
        return self.provisioned

    def client(self, service: str) -> Any:
        return aws_client(service, self.moto_url)

    @contextlib.contextmanager
    def applied_env(self) -> Iterator[dict[str, str]]:
        """Run code (the handler, in-process) with the Lambda's environment; restored afterwards."""
        saved = dict(os.environ)
        os.environ.update(self.lambda_env)
        try:
            yield self.lambda_env
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def esm_config(self, **overrides: Any) -> EsmConfig:
        """The event source mapping as the template declares it (overrides for experiments)."""
        res = self.resources
        es = self.settings.event_source
        values: dict[str, Any] = {
            "queue_url": res.queue_url,
            "queue_arn": res.queue_arn,
            "endpoint_url": self.moto_url,
            "function_name": res.function_name,
            "function_arn": res.function_arn,
            "function_timeout": self.settings.function.timeout,
            "memory_size": self.settings.function.memory_size,
            "batch_size": es.batch_size,
            "batching_window_seconds": es.maximum_batching_window_seconds,
            "report_batch_item_failures": es.report_batch_item_failures,
        }
        if es.maximum_concurrency is not None:
            values["maximum_concurrency"] = es.maximum_concurrency
        values.update(overrides)
        return EsmConfig(**values)

    def function_spec(
        self,
        *,
        timeout: float | None = None,
        bootstrap_module: str = "awslambdaric",
        extra_env: Mapping[str, str] | None = None,
    ) -> FunctionSpec:
        """The function as the template declares it, with this stack's environment."""
        res = self.resources
        return FunctionSpec(
            environment=dict(self.lambda_env),
            function_name=res.function_name,
            function_arn=res.function_arn,
            memory_mb=self.settings.function.memory_size,
            timeout_seconds=float(timeout if timeout is not None else self.settings.function.timeout),
            handler=self.settings.function.handler,
            bootstrap_module=bootstrap_module,
            extra_env=dict(extra_env or {}),
        )

    def environments(
        self,
        *,
        log_sink: LogSink = stderr_sink,
        max_environments: int | None = None,
        **spec: Any,
    ) -> EnvironmentPool:
        """Execution environments (awslambdaric processes), at most the template's MaximumConcurrency."""
        limit = max_environments or self.settings.event_source.maximum_concurrency or 5
        return EnvironmentPool(self.function_spec(**spec), limit, log_sink)

    def driver(self, function: Handler | Function, **overrides: Any) -> EsmDriver:
        """The event source mapping over ``function``: an ``environments()`` pool (as Lambda runs it)
        or a handler callable (in-process, fast tests of logic)."""
        return EsmDriver(function, self.esm_config(**overrides), dlq_url=self.resources.dlq_url)
