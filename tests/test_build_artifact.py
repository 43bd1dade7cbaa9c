"""What `sam build` makes of src/Makefile: the function's package with byte-code Lambda really uses.

SAM's python_pip builder shipped no byte-code, and /var/task is read-only, so every cold start
compiled every module again. These tests run the Makefile's offline steps (the package and its
byte-code; the dependency step needs the package index and is checked as a command) into a folder,
carry it through a zip as a deployment does, and import the handler from it in a fresh interpreter
that records every module it compiles.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.template_support import ROOT, sam_template

SRC = ROOT / "src"
RUNNING = "{}.{}".format(*sys.version_info[:2])

_PROBE = """
import json, sys
from importlib.machinery import SourceFileLoader
compiled = []
_original = SourceFileLoader.source_to_code
def _recording(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return _original(self, data, path, *args, **kwargs)
SourceFileLoader.source_to_code = _recording
import alipay_cancel.handler
import alipay_cancel.alipay.cert_sn, alipay_cancel.alipay.body_encryption  # imported when a secret needs them
print(json.dumps({"handler": alipay_cancel.handler.__file__, "compiled": compiled}))
"""


def _make(
    *targets: str, artifacts: Path | None = None, src: Path = SRC, **variables: str
) -> subprocess.CompletedProcess[str]:
    """src/Makefile run in ``src`` (as sam build runs it in its copy of src/)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    args = ["make", "--no-print-directory", "-f", str(SRC / "Makefile"), *targets]
    args += [f"{name}={value}" for name, value in variables.items()]
    env = {k: v for k, v in os.environ.items() if k != "ARTIFACTS_DIR"}
    if artifacts is not None:
        env["ARTIFACTS_DIR"] = str(artifacts)  # as sam build passes it
    return subprocess.run(args, cwd=src, env=env, capture_output=True, text=True, timeout=300, check=False)


def _build_offline(artifacts: Path, src: Path = SRC) -> None:
    done = _make(
        "check-python",
        "package",
        "bytecode",
        artifacts=artifacts,
        src=src,
        PYTHON=sys.executable,
        PYTHON_VERSION=RUNNING,
    )
    assert done.returncode == 0, done.stderr


def _deploy_like(artifacts: Path, to: Path) -> Path:
    """Zip and unzip: what reaches /var/task, with new modification times on every file."""
    archive = to.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(artifacts.rglob("*")):
            zf.write(path, path.relative_to(artifacts))
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(to)  # zipfile does not restore modification times
    return to


def _import_handler(task_root: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_"))}
    env.update(
        PYTHONPATH=str(task_root),  # the dependencies come from this interpreter's site-packages
        PYTHONDONTWRITEBYTECODE="1",  # /var/task is read-only
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_SERVICE_NAME="alipay-cancel",
    )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=task_root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _package_modules(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "alipay_cancel").rglob("*.py")}


def test_the_deployed_package_is_imported_without_compiling_a_module(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    _build_offline(artifacts)
    task_root = _deploy_like(artifacts, tmp_path / "task")

    seen = _import_handler(task_root)

    assert str(seen["handler"]).startswith(str(task_root))  # the built copy, not src/
    compiled = [p for p in seen["compiled"] if str(p).startswith(str(task_root))]  # type: ignore[attr-defined]
    assert compiled == []
    assert _package_modules(task_root) == _package_modules(SRC)  # every module shipped
    assert sorted(p.name for p in task_root.iterdir()) == ["alipay_cancel"]  # not the operator CLI


def test_without_the_byte_code_step_every_imported_module_is_compiled(tmp_path: Path) -> None:
    # The instrument above can fail: the same package without byte-code (as python_pip shipped it).
    done = _make("package", artifacts=tmp_path / "artifacts", PYTHON=sys.executable)
    assert done.returncode == 0, done.stderr
    task_root = _deploy_like(tmp_path / "artifacts", tmp_path / "task")

    compiled = {Path(p).relative_to(task_root).as_posix() for p in _import_handler(task_root)["compiled"]}  # type: ignore[attr-defined]

    assert {"alipay_cancel/handler.py", "alipay_cancel/pipeline/service.py"} <= compiled


def test_byte_code_left_in_src_by_other_interpreters_is_not_shipped(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy: the checkout's src/ is not written to
    shutil.copytree(SRC, src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    stale = src / "alipay_cancel" / "__pycache__" / "handler.cpython-39.pyc"
    stale.parent.mkdir()
    stale.write_bytes(b"not byte-code")
    _build_offline(tmp_path / "artifacts", src)
    shipped = {p.name for p in (tmp_path / "artifacts" / "alipay_cancel" / "__pycache__").iterdir()}
    tag = sys.implementation.cache_tag
    assert shipped and all(name.endswith(f".{tag}.pyc") for name in shipped), shipped


def test_the_build_targets_the_templates_runtime_and_architecture() -> None:
    function = sam_template()["Resources"]["CancelFunction"]
    assert function["Metadata"]["BuildMethod"] == "makefile"
    runtime = function["Properties"]["Runtime"]
    (architecture,) = function["Properties"]["Architectures"]
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]

    done = _make("-n", "build-CancelFunction", artifacts=Path("/nonexistent/artifacts"))
    assert done.returncode == 0, done.stderr
    commands = done.stdout.replace("\\\n", " ").splitlines()  # one line per command
    pip = next(shlex.split(line) for line in commands if " pip install " in line)

    assert pip[0] == runtime  # python3.13: the byte-code must be the runtime's
    assert pip[pip.index("--python-version") + 1] == runtime.removeprefix("python")
    platforms = [pip[i + 1] for i, word in enumerate(pip) if word == "--platform"]
    assert platforms and all(p.endswith(f"_{machine}") for p in platforms)
    assert "--only-binary=:all:" in pip and pip[pip.index("--target") + 1] == "/nonexistent/artifacts"


def test_another_architecture_is_given_to_the_build_and_a_wrong_one_stops_it() -> None:
    done = _make("-n", "dependencies", artifacts=Path("/nonexistent"), ARCHITECTURE="x86_64")
    pip = shlex.split(done.stdout.replace("\\\n", " "))
    platforms = [pip[i + 1] for i, word in enumerate(pip) if word == "--platform"]
    assert platforms and all(p.endswith("_x86_64") for p in platforms)

    wrong = _make("-n", "dependencies", artifacts=Path("/nonexistent"), ARCHITECTURE="amd64")
    assert wrong.returncode != 0 and 'ARCHITECTURE must be arm64 or x86_64, not "amd64"' in wrong.stderr


def test_a_build_with_another_python_stops_and_says_which() -> None:
    done = _make("check-python", artifacts=Path("/nonexistent"), PYTHON=sys.executable, PYTHON_VERSION="3.99")
    assert done.returncode != 0
    assert f"is Python {RUNNING}, the function runs 3.99" in done.stderr


def test_a_build_without_artifacts_dir_stops() -> None:
    done = _make("check-python", PYTHON=sys.executable, PYTHON_VERSION=RUNNING)
    assert done.returncode != 0 and "ARTIFACTS_DIR is not set" in done.stderr


SAM = ROOT / ".tools" / "venv" / "bin" / "sam"  # installed by `make template-check`


def test_sam_build_runs_the_makefile_and_ships_the_byte_code(tmp_path: Path) -> None:
    if not SAM.exists():
        pytest.skip("SAM CLI not installed (make template-check installs it)")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "template.yaml", project)
    shutil.copytree(SRC, project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    assert (project / "src" / "alipay_cancel_ops").is_dir()
    # SAM CLI asks PyPI for a newer version once a week, unless its settings say it just did.
    sam_home = tmp_path / "sam-cli"
    sam_home.mkdir()
    (sam_home / "metadata.json").write_text(
        json.dumps({"lastVersionCheck": time.time(), "telemetryEnabled": False})
    )
    env = {k: v for k, v in os.environ.items() if k != "ARTIFACTS_DIR"}
    # Offline: the dependency step needs the package index (its command is checked above).
    env.update(WITH_DEPENDENCIES="no", PYTHON=sys.executable, PYTHON_VERSION=RUNNING)
    env.update(SAM_CLI_TELEMETRY="0", __SAM_CLI_APP_DIR=str(sam_home))
    done = subprocess.run(
        [str(SAM), "build", "--template-file", "template.yaml", "--build-dir", "built"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    function = project / "built" / "CancelFunction"
    assert _package_modules(function) == _package_modules(SRC)
    assert not (function / "alipay_cancel_ops").exists()  # src/ also holds the operator CLI: not shipped
    assert not (function / "Makefile").exists() and not (function / "requirements.txt").exists()
    seen = _import_handler(_deploy_like(function, tmp_path / "task"))
    assert [p for p in seen["compiled"] if "/task/" in str(p)] == []  # type: ignore[attr-defined]


def test_the_outcome_event_publisher_ships_its_own_package_with_byte_code(tmp_path: Path) -> None:
    """`build-OutcomeEventsFunction` (template.yaml's second function): the same steps, the other package."""
    artifacts = tmp_path / "artifacts"
    done = _make(
        "build-OutcomeEventsFunction",
        artifacts=artifacts,
        WITH_DEPENDENCIES="no",
        PYTHON=sys.executable,
        PYTHON_VERSION=RUNNING,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in artifacts.iterdir()) == ["alipay_cancel_events"]
    task_root = _deploy_like(artifacts, tmp_path / "task")
    probe = (
        _PROBE.replace("import alipay_cancel.handler\n", "import alipay_cancel_events.handler\n")
        .replace("import alipay_cancel.alipay.cert_sn, alipay_cancel.alipay.body_encryption", "pass")
        .replace("alipay_cancel.handler.__file__", "alipay_cancel_events.handler.__file__")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_"))}
    env.update(PYTHONPATH=str(task_root), PYTHONDONTWRITEBYTECODE="1", AWS_DEFAULT_REGION="us-east-1")
    ran = subprocess.run(
        [sys.executable, "-c", probe], cwd=task_root, env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    assert str(seen["handler"]).startswith(str(task_root))
    assert [p for p in seen["compiled"] if str(p).startswith(str(task_root))] == []
    function = sam_template()["Resources"]["OutcomeEventsFunction"]
    assert function["Metadata"]["BuildMethod"] == "makefile"
    assert (
        function["Properties"]["Runtime"]
        == sam_template()["Resources"]["CancelFunction"]["Properties"]["Runtime"]
    )


def _sam_home(tmp_path: Path) -> dict[str, str]:
    """SAM CLI settings that say it just checked for a newer version (no network), no telemetry."""
    home = tmp_path / "sam-cli"
    home.mkdir()
    (home / "metadata.json").write_text(
        json.dumps({"lastVersionCheck": time.time(), "telemetryEnabled": False})
    )
    return {"SAM_CLI_TELEMETRY": "0", "__SAM_CLI_APP_DIR": str(home)}


PY313 = shutil.which("python3.13") or next(
    (str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))), None
)


def test_make_build_runs_sam_with_the_lambda_runtimes_python(tmp_path: Path) -> None:
    """`make build`: SAM CLI from .tools/venv (never reinstalled here: -o), src/Makefile with python3.13,
    so the byte-code is the runtime's. Offline: the dependency step is left out (WITH_DEPENDENCIES=no)."""
    if not SAM.exists() or PY313 is None:
        pytest.skip("needs SAM CLI in .tools/venv and python3.13")
    project = tmp_path / "project"  # a copy: sam build leaves .aws-sam/ behind in the folder it runs in
    project.mkdir()
    for name in ("Makefile", "template.yaml", "samconfig.toml", "pyproject.toml", ".tools-requirements.txt"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(SRC, project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (project / ".tools").mkdir()
    (project / ".tools" / "venv").symlink_to((ROOT / ".tools" / "venv").resolve())
    env = {k: v for k, v in os.environ.items() if k not in ("ARTIFACTS_DIR", "PYTHON", "MAKEFLAGS")}
    env.update(_sam_home(tmp_path))
    build = tmp_path / "build"
    command = [
        "make",
        "--no-print-directory",
        "-o",
        ".tools/venv/.installed",
        "build",
        "WITH_DEPENDENCIES=no",
    ]
    done = subprocess.run(
        [*command, f"BUILD_ARGS=--build-dir {build}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    function = build / "CancelFunction"
    assert _package_modules(function) == _package_modules(SRC)
    compiled = {p.name.split(".")[1] for p in (function / "alipay_cancel").glob("__pycache__/*.pyc")}
    assert compiled == {"cpython-313"}  # what Lambda's python3.13 loads


def test_make_build_without_python313_says_so_in_one_line() -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", ".tools/venv/.installed", "build", "PY313="],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "make build: python3.13 not found" in done.stderr and "PY313=" in done.stderr
