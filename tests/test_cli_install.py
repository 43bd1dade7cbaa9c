"""`pip install .` gives one `alipay-cancel` command, without the development tools.

The project (its pyproject.toml, README and the two packages under src/, copied as a fresh clone has
them) is installed into a new virtual environment, offline: without its dependencies (``--no-deps``,
``--no-index``; the new environment reads them from this one's site-packages through a .pth file, in
which Python does not process further .pth files, so this checkout's editable install stays out) and
without build isolation. The command then runs outside the checkout with no PYTHONPATH, against moto.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ops_cli import REGION, receive_all
from tests.template_support import ROOT

RUNTIME_DEPENDENCIES = {"boto3", "requests", "aws-lambda-powertools", "cryptography"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The new environment's bin/ folder."""
    base = tmp_path_factory.mktemp("install")
    project = base / "project"
    (project / "src").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    for package in ("alipay_cancel", "alipay_cancel_ops"):
        shutil.copytree(
            ROOT / "src" / package,
            project / "src" / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin"


def _run(bin_dir: Path, *argv: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd), **env}  # no PYTHONPATH, no venv
    return subprocess.run(
        [str(bin_dir / "alipay-cancel"), *argv],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_installed_command_reports_its_version(installed: Path, tmp_path: Path) -> None:
    done = _run(installed, "--version", cwd=tmp_path, env={})
    assert (done.returncode, done.stdout.strip()) == (0, "alipay-cancel 0.1.0"), done.stderr
    entries = sorted(p.name for p in installed.iterdir() if p.name.startswith("alipay"))
    assert entries == ["alipay-cancel"]  # one command


def test_the_install_holds_the_two_packages_and_only_the_runtime_dependencies(installed: Path) -> None:
    python = installed / "python"
    probe = (
        "import json, alipay_cancel, alipay_cancel_ops\n"
        "from importlib import metadata\n"
        "files = sorted({str(f).split('/')[0] for f in metadata.files('alipay-cancel')})\n"
        "requires = metadata.requires('alipay-cancel')\n"
        "print(json.dumps({'files': files, 'requires': requires, 'ops': alipay_cancel_ops.__file__}))"
    )
    done = subprocess.run(
        [str(python), "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=installed,
        env={"PATH": "/bin"},
    )
    found: dict[str, Any] = json.loads(done.stdout)
    assert str(ROOT) not in found["ops"]  # the installed copy, not this checkout's
    assert [f for f in found["files"] if not f.startswith("..")] == [
        "alipay_cancel",
        "alipay_cancel-0.1.0.dist-info",
        "alipay_cancel_ops",
    ]
    runtime = {r.split(">")[0].split("<")[0].split("=")[0] for r in found["requires"] if "extra ==" not in r}
    assert runtime == RUNTIME_DEPENDENCIES  # a plain install pulls no test or lint tools


def test_the_installed_command_enqueues_against_moto(
    installed: Path, tmp_path: Path, aws_env: str, sqs: Any, queues: tuple[str, str]
) -> None:
    cancel, dlq = queues
    env = {
        "AWS_ENDPOINT_URL": aws_env,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CANCEL_QUEUE_URL": cancel,
        "DEAD_LETTER_QUEUE_URL": dlq,
    }
    done = _run(installed, "enqueue", "--out-trade-no", "ORDER-INSTALLED", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trade_key"] == "ORDER-INSTALLED"
    assert [json.loads(m["Body"]) for m in receive_all(sqs, cancel)] == [{"out_trade_no": "ORDER-INSTALLED"}]
    empty = _run(installed, "dead-letters", "--wait-seconds", "0", cwd=tmp_path, env=env)
    assert (empty.returncode, empty.stdout.strip()) == (
        0,
        "0 dead letter(s) shown; none were removed from the queue",
    )
    unreachable = _run(
        installed, "dead-letters", "--endpoint-url", "http://127.0.0.1:9", cwd=tmp_path, env=env
    )
    assert unreachable.returncode == 1 and "AWS call failed" in unreachable.stderr
