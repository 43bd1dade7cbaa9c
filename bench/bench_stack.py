"""The local stack for benchmarks, with the Alipay gateway emulator in a child process.

``local.stack.local_stack.LocalStack`` runs the emulator inside the calling process by default; for
CPU accounting that would bill the emulator's own RSA work (verify our request, sign its answer) to
the process under test. ``BenchStack`` is that same stack (moto server subprocess, resources
provisioned from ``template.yaml``, ``lambda_env``, ``applied_env()``) with the emulator run as
``python -m local.alipay_gateway`` on a free loopback port instead (``GatewayProcess``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from local.alipay_gateway.admin_client import GatewayAdmin
from local.alipay_gateway.gateway_state import GatewayConfig
from local.stack.local_stack import LocalStack, stop_process

REPO = Path(__file__).resolve().parent.parent
_URL = re.compile(r"listening on (http://\S+)")
START_TIMEOUT_SECONDS = 30.0

# The emulator CLI's option for a GatewayConfig field is the field's name in dashes (``--latency-ms``);
# key material goes in a file. These fields have no such option.
_KEY_FIELDS = {
    "alipay_private_key",
    "app_public_key",
    "encrypt_key",
    "app_cert",
    "alipay_cert",
    "alipay_root_cert",
}
_NO_CLI_OPTION = {"fault_rates", "trades", "app_auth_tokens"}


def _cli_args(config: GatewayConfig, files_dir: Path) -> list[str]:
    """The emulator CLI arguments that give it ``config``; key material goes in files under ``files_dir``."""
    defaults = GatewayConfig(app_id="", alipay_private_key="")
    args: list[str] = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value is None or value == getattr(defaults, field.name):
            continue  # the CLI's default is the same
        if field.name in _NO_CLI_OPTION:
            raise ValueError(f"the gateway emulator's CLI has no option for {field.name}")
        if field.name in _KEY_FIELDS:
            path = files_dir / field.name
            path.write_text(value)
            value = path
        args += ["--" + field.name.replace("_", "-"), str(value)]
    return args


class GatewayProcess:
    """The Alipay gateway emulator as a child process; a ``local.stack.local_stack.GatewayFactory``."""

    def __init__(self, config: GatewayConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self._files_dir: str | None = None

    @property
    def base_url(self) -> str:
        return self.url

    def start(self) -> str:
        self._files_dir = tempfile.mkdtemp(prefix="bench-gateway-")
        cli = _cli_args(self.config, Path(self._files_dir))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.alipay_gateway",
                "--host",
                self.host,
                "--port",
                str(self.port),
                *cli,
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
                    self._remove_files()  # read before the emulator says it is listening
                    # The emulator only logs with --verbose: nothing more will fill the pipe.
                    return self.url
            elif self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError("gateway emulator did not start: " + "".join(seen)[-1000:])

    def _remove_files(self) -> None:
        if self._files_dir is not None:
            shutil.rmtree(self._files_dir, ignore_errors=True)
            self._files_dir = None

    def stop(self) -> None:
        self._remove_files()
        if self.proc is not None:
            stop_process(self.proc)


class BenchStack(LocalStack):
    """``with BenchStack() as stack:`` moto + emulator processes up, resources provisioned, ``lambda_env``
    ready; ``set_latency`` and ``child_env`` for the benchmarks."""

    def __init__(self, env_overrides: dict[str, str] | None = None) -> None:
        super().__init__(env_overrides=env_overrides, gateway_factory=GatewayProcess)
        self.admin: GatewayAdmin | None = None

    def start(self) -> BenchStack:
        super().start()
        self.admin = GatewayAdmin(self.gateway_url)
        return self

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.close()
            self.admin = None
        super().stop()

    def __enter__(self) -> BenchStack:
        return self.start()

    @property
    def gateway_pid(self) -> int | None:
        """The emulator process, for CPU accounting."""
        proc = self.gateway.proc if isinstance(self.gateway, GatewayProcess) else None
        return proc.pid if proc else None

    def set_latency(self, milliseconds: int) -> None:
        assert self.admin is not None
        self.admin.settings(latency_ms=milliseconds)

    def child_env(self, **extra: str) -> dict[str, Any]:
        """Environment for a child Python process that runs the handler."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
        env.update(self.lambda_env)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
        env.update(extra)
        return env
