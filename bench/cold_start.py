"""Cold start: import + init of the handler module in fresh processes, against a floor.

Each sample is a new interpreter (``python -c``, this Python version with no packages installed, so
that it imports only the artifact and the standard library, as in Lambda) that times, with
``perf_counter`` inside the process (interpreter start-up itself is the same for both and is left
out):

- import: ``import alipay_cancel.handler`` (module-level Logger/Metrics/Tracer construction included);
- init: ``handler.get_runtime()``, what the first invocation builds before any network call (config,
  boto3 session and clients, HTTP session, the ledger store, thread pool).

The floor does the least any implementation needs: import boto3, requests and the cryptography
primitives that sign and verify (``import cryptography`` alone loads almost nothing), then build one
DynamoDB client and one ``requests.Session``.

The handler is measured twice: tracing off (``POWERTOOLS_TRACE_DISABLED=true``, the local default)
and tracing on as in Lambda (``LAMBDA_TASK_ROOT`` set), where the X-Ray SDK is imported and patches
boto3/requests. A separate set of runs under ``-X importtime`` gives the breakdown: self time per
top-level package, and which packages the handler loads that the floor does not.

Every target imports from the deployment artifact as src/Makefile builds it (``bench.artifact``:
this environment's installed files of the requirements, the package, byte-code for all of it,
compiled unchecked as ``sam build`` now ships it; ``/var/task`` is read-only, so
``PYTHONDONTWRITEBYTECODE`` is set). One more target imports from the artifact as SAM's python_pip
builder made it before, with no byte-code at all (every module compiled at every cold start), tracing
on as in Lambda: what the build change is worth. A first unmeasured run per target warms the page
cache.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import venv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.artifact import build_artifact

_PROBE = """
import json, sys, time
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
{init}
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "init_s": t2 - t1, "xray_loaded": "aws_xray_sdk" in sys.modules,
                   "modules": len(sys.modules)}}))
"""

FLOOR_IMPORTS = (
    "import boto3, requests\n"
    "from cryptography.hazmat.primitives import hashes, serialization\n"
    "from cryptography.hazmat.primitives.asymmetric import padding, rsa"
)
FLOOR_INIT = "boto3.session.Session().client('dynamodb'); requests.Session()"
HANDLER_IMPORTS = "import alipay_cancel.handler as handler"
HANDLER_INIT = "handler.get_runtime()"


@dataclass(frozen=True)
class Target:
    name: str
    imports: str
    init: str
    trace: bool = False
    byte_code: bool = True  # False: the artifact as python_pip built it


TARGETS = (
    Target("floor", FLOOR_IMPORTS, FLOOR_INIT),
    Target("handler", HANDLER_IMPORTS, HANDLER_INIT),
    Target("handler_traced", HANDLER_IMPORTS, HANDLER_INIT, trace=True),
    Target("handler_traced_no_byte_code", HANDLER_IMPORTS, HANDLER_INIT, trace=True, byte_code=False),
)


def probe_env(*, trace: bool, task_root: Path) -> dict[str, str]:
    """A Lambda-like environment with dummy resources: init builds clients but calls nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_"))}
    env.update(
        {
            "PYTHONPATH": str(task_root),  # the built artifact, as /var/task
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # never contacted: init makes no calls
            "AWS_LAMBDA_FUNCTION_NAME": "bench-cold-start",
            "ALIPAY_SECRET_ID": "bench/signing-material",
            "ALIPAY_DEFAULT_APP_ID": "2021000000000001",
            "RESULTS_TABLE_NAME": "bench-results",
            "IDEMPOTENCY_TABLE_NAME": "bench-idempotency",  # required by releases before the ledger
            "DEAD_LETTER_QUEUE_URL": "http://127.0.0.1:9/123456789012/bench-dlq",
            "CANCEL_QUEUE_URL": "http://127.0.0.1:9/123456789012/bench-queue",
            "ALIPAY_ENDPOINT": "http://127.0.0.1:9",
            "POWERTOOLS_SERVICE_NAME": "alipay-cancel",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    if trace:
        # Powertools' rule for "in Lambda": LAMBDA_TASK_ROOT set; the SDK has no daemon to talk to here
        # (segments are dropped, UDP to a closed loopback port).
        env["LAMBDA_TASK_ROOT"] = str(task_root)
        env["POWERTOOLS_TRACE_DISABLED"] = "false"
        env["AWS_XRAY_CONTEXT_MISSING"] = "IGNORE_ERROR"
        env["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:9"
    else:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def bare_python(folder: Path) -> Path:
    """An interpreter of this version with nothing installed: a venv without pip. Its ``site`` runs, as
    in Lambda, but finds no packages, so a probe imports only the artifact on PYTHONPATH and the
    standard library (not, say, this environment's simplejson, which ``requests`` would pick up)."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    return folder / "bin" / "python"


def _run(
    target: Target, env: dict[str, str], python: Path, importtime: bool = False
) -> tuple[dict[str, Any], str]:
    code = _PROBE.format(imports=target.imports, init=target.init)
    args = [str(python), *(["-X", "importtime"] if importtime else []), "-c", code]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"cold-start probe {target.name} failed: {' | '.join(tail)}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    """(module, self_us, cumulative_us, depth) per ``-X importtime`` line, in output order."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
            depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
            rows.append((name.strip(), int(self_us), int(cumulative_us), depth))
        except ValueError:
            continue
    return rows


def package_self_times(rows: list[tuple[str, int, int, int]]) -> dict[str, float]:
    """Self import time in ms per top-level package (``botocore.x.y`` -> ``botocore``)."""
    totals: dict[str, float] = defaultdict(float)
    for name, self_us, _, _ in rows:
        totals[name.split(".", 1)[0]] += self_us / 1000.0
    return dict(totals)


def handler_direct_imports(rows: list[tuple[str, int, int, int]]) -> dict[str, float]:
    """Cumulative ms of each module ``alipay_cancel.handler`` imports itself (first importer pays)."""
    out: dict[str, float] = {}
    pending: list[tuple[str, float]] = []
    for name, _, cumulative_us, depth in rows:
        if depth == 1:
            pending.append((name, cumulative_us / 1000.0))
        elif depth == 0:
            if name == "alipay_cancel.handler":
                out = dict(pending)
            pending = []
    return out


_CLIENTS_PROBE = """
import json, time, boto3
from botocore.config import Config
session = boto3.session.Session()
config = Config(max_pool_connections=12, retries={"mode": "standard", "max_attempts": 3})
out = {}
for service in ("dynamodb", "sqs", "secretsmanager"):  # the handler's three, in its order
    t = time.perf_counter()
    session.client(service, config=config)
    out[service] = (time.perf_counter() - t) * 1000
print(json.dumps(out))
"""


def client_creation_ms(env: dict[str, str], runs: int, python: Path) -> dict[str, float]:
    """What each boto3 client the handler builds at init costs in a fresh process (median)."""
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [str(python), "-c", _CLIENTS_PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {k: round(v, 1) for k, v in _median_dicts(samples).items()}


def _median_dicts(samples: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for s in samples for k in s}
    return {k: statistics.median(s.get(k, 0.0) for s in samples) for k in keys}


def _top(d: dict[str, float], n: int) -> list[dict[str, Any]]:
    return [{"name": k, "ms": round(v, 2)} for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:n] if v > 0]


BASELINE = "baseline_release"


def _describe_release(src: Path) -> str:
    """The commit of a git checkout's ``src/`` (as ``git worktree add`` makes), else the name of the
    folder holding it (e.g. ``git archive <commit> src`` unpacked into a folder named by the commit):
    never a machine path, which docs/performance.md would show."""
    done = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else src.resolve().parent.name


def measure_cold_start(
    runs: int = 11, breakdown_runs: int = 5, baseline_src: Path | None = None
) -> dict[str, Any]:
    """Interleaves targets run by run so that background load hits them alike. ``baseline_src``:
    another release's ``src/``, built the same way and measured alongside (tracing off)."""
    targets = TARGETS + ((Target(BASELINE, HANDLER_IMPORTS, HANDLER_INIT),) if baseline_src else ())
    with tempfile.TemporaryDirectory(prefix="bench-task-root-") as tmp:
        artifacts = {flag: Path(tmp) / ("built" if flag else "python_pip") for flag in (True, False)}
        for flag, folder in artifacts.items():
            build_artifact(folder, byte_code=flag)
        roots = {t.name: artifacts[t.byte_code] for t in targets}
        if baseline_src is not None:
            roots[BASELINE] = Path(tmp) / "baseline"
            build_artifact(roots[BASELINE], byte_code=True, package_src=baseline_src)
        envs = {t.name: probe_env(trace=t.trace, task_root=roots[t.name]) for t in targets}
        python = bare_python(Path(tmp) / "bare-python")
        for t in targets:  # warm the page cache; not measured
            _run(t, envs[t.name], python)
        samples: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        for _ in range(runs):
            for t in targets:
                samples[t.name].append(_run(t, envs[t.name], python)[0])
        packages: dict[str, list[dict[str, float]]] = {t.name: [] for t in targets}
        direct: list[dict[str, float]] = []
        for _ in range(breakdown_runs):
            for t in targets:
                _, stderr = _run(t, envs[t.name], python, importtime=True)
                rows = parse_importtime(stderr)
                packages[t.name].append(package_self_times(rows))
                if t.name == "handler":
                    direct.append(handler_direct_imports(rows))

        clients = client_creation_ms(envs["handler"], max(3, breakdown_runs), python)

    out: dict[str, Any] = {"runs": runs, "breakdown_runs": breakdown_runs, "targets": {}}
    out["boto3_client_creation_ms"] = clients
    for t in targets:
        imp = [s["import_s"] * 1000 for s in samples[t.name]]
        total = [(s["import_s"] + s["init_s"]) * 1000 for s in samples[t.name]]
        out["targets"][t.name] = {
            "import_ms_median": round(statistics.median(imp), 1),
            "init_ms_median": round(statistics.median(total) - statistics.median(imp), 1),
            "total_ms_median": round(statistics.median(total), 1),
            "total_ms_min": round(min(total), 1),
            "import_ms_min": round(min(imp), 1),
            "total_ms_max": round(max(total), 1),
            "xray_loaded": all(s["xray_loaded"] for s in samples[t.name]),
            "modules_loaded": samples[t.name][-1]["modules"],
        }
    floor = out["targets"]["floor"]["total_ms_median"]
    floor_min = out["targets"]["floor"]["total_ms_min"]
    for target in out["targets"].values():
        # Medians are the figure asked for; the ratio of minima is the least disturbed by other load.
        target["ratio_of_minima"] = round(target["total_ms_min"] / floor_min, 2) if floor_min else None
        target["ratio_to_floor"] = round(target["total_ms_median"] / floor, 2) if floor else None
        target["import_ratio_to_floor"] = (
            round(target["import_ms_median"] / out["targets"]["floor"]["import_ms_median"], 2)
            if out["targets"]["floor"]["import_ms_median"]
            else None
        )

    floor_pkgs = _median_dicts(packages["floor"])
    before, now = out["targets"]["handler_traced_no_byte_code"], out["targets"]["handler_traced"]
    out["build_change"] = {
        "python_pip_ms_median": before["total_ms_median"],
        "makefile_ms_median": now["total_ms_median"],
        "ratio": round(now["total_ms_median"] / before["total_ms_median"], 2),
    }
    if baseline_src is not None:
        then = out["targets"][BASELINE]
        out["baseline_release"] = {
            "src": _describe_release(baseline_src),
            "ms_median": then["total_ms_median"],
            "ms_min": then["total_ms_min"],
            "ratio_to_floor": then["ratio_to_floor"],
            "ratio_of_minima": then["ratio_of_minima"],
        }
    for name in ("handler", "handler_traced"):
        pkgs = _median_dicts(packages[name])
        beyond = {k: v - floor_pkgs.get(k, 0.0) for k, v in pkgs.items()}
        out["targets"][name]["by_package_ms"] = _top(pkgs, 12)
        out["targets"][name]["beyond_floor_by_package_ms"] = _top(beyond, 12)
    out["targets"]["floor"]["by_package_ms"] = _top(floor_pkgs, 8)
    out["targets"]["handler"]["direct_imports_ms"] = _top(_median_dicts(direct), 12)
    return out


def measure_with(python: Path, runs: int, breakdown_runs: int) -> dict[str, Any]:
    """``measure_cold_start`` run by another interpreter (e.g. the Lambda runtime's Python 3.13 in its
    own environment): the artifact is then built from that environment's installed files and compiled
    to its byte-code, and every probe runs on it. Adds ``python``: that interpreter's version."""
    done = subprocess.run(
        [str(python), "-m", "bench.cold_start", "--runs", str(runs), "--breakdown-runs", str(breakdown_runs)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"cold start with {python.name} failed: {' | '.join(tail)}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description="cold start, as JSON")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--breakdown-runs", type=int, default=1)
    args = parser.parse_args()
    measured = measure_cold_start(runs=args.runs, breakdown_runs=args.breakdown_runs)
    measured["python"] = ".".join(map(str, sys.version_info[:3]))
    print(json.dumps(measured, indent=2))
