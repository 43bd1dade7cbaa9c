"""The AWS side and the Alipay gateway for benchmarks, both in child processes.

``local.stack.LocalStack`` runs the emulator inside the calling process; for CPU accounting that would
bill the emulator's own RSA work (verify our request, sign its answer) to the process under test. Here
both servers are real process boundaries: the moto server (``local.stack.MotoServer``) and the emulator
(``python -m local.alipay_gateway``) as subprocesses on free loopback ports; resources are provisioned
from ``template.yaml`` exactly as the local stack does (``local.provision``).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from local.alipay_gateway.admin_client import GatewayAdmin
from local.keygen import KeyMaterial, generate_key_material, write_key_files
from local.provision import Provisioned, lambda_environment, provision
from local.stack import MotoServer
from local.template_settings import TemplateSettings, read_template_settings

REPO = Path(__file__).resolve().parent.parent
_URL = re.compile(r"listening on (http://\S+)")
START_TIMEOUT_SECONDS = 30.0


class GatewayProcess:
    """The Alipay gateway emulator as a child process on a free port."""

    def __init__(self, keys_dir: Path, app_id: str) -> None:
        self.keys_dir = keys_dir
        self.app_id = app_id
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.alipay_gateway",
                "--port",
                "0",
                "--app-id",
                self.app_id,
                "--app-public-key",
                str(self.keys_dir / "app_public_key.pem"),
                "--alipay-private-key",
                str(self.keys_dir / "alipay_private_key.pem"),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        seen = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if not line and self.proc.poll() is not None:
                    break
                seen.append(line)
                match = _URL.search(line)
                if match:
                    self.url = match.group(1)
                    # The emulator only logs with --verbose: nothing more will fill the pipe.
                    return self.url
            elif self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError("gateway emulator did not start: " + "".join(seen)[-1000:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


class BenchStack:
    """``with BenchStack() as stack:`` moto + emulator up, resources provisioned, ``lambda_env`` ready."""

    def __init__(self, env_overrides: dict[str, str] | None = None) -> None:
        self.settings: TemplateSettings = read_template_settings()
        self.env_overrides = dict(env_overrides or {})
        self.key_material: KeyMaterial = generate_key_material(aes_bits=None, cert_mode=False)
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-keys-")
        self.moto = MotoServer()
        self.gateway = GatewayProcess(Path(self._tmp.name), self.key_material.app_id)
        self.provisioned: Provisioned | None = None
        self.lambda_env: dict[str, str] = {}
        self.admin: GatewayAdmin | None = None

    def start(self) -> BenchStack:
        try:
            write_key_files(self.key_material, Path(self._tmp.name))
            self.moto.start()
            self.gateway.start()
            self.admin = GatewayAdmin(self.gateway.url)
            self.provisioned = provision(self.settings, self.moto.url, self.key_material.secret())
            self.lambda_env = lambda_environment(
                self.settings,
                self.provisioned,
                alipay_endpoint=self.gateway.url,
                overrides=self.env_overrides,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.close()
        self.gateway.stop()
        self.moto.stop()
        self._tmp.cleanup()

    def __enter__(self) -> BenchStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def resources(self) -> Provisioned:
        assert self.provisioned is not None, "stack not started"
        return self.provisioned

    def set_latency(self, milliseconds: int) -> None:
        assert self.admin is not None
        self.admin.settings(latency_ms=milliseconds)

    @contextlib.contextmanager
    def applied_env(self, **extra: str) -> Iterator[dict[str, str]]:
        """The Lambda's environment in this process (the handler reads it on first use)."""
        saved = dict(os.environ)
        os.environ.update(self.lambda_env)
        os.environ.update(extra)
        try:
            yield dict(os.environ)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def child_env(self, **extra: str) -> dict[str, Any]:
        """Environment for a child Python process that runs the handler."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
        env.update(self.lambda_env)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
        env.update(extra)
        return env
