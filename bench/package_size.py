"""Deployment artifact size: what `sam build` zips, and what dominates it.

Offline equivalent of ``pip install --target <dir> -r src/requirements.txt`` plus ``src/``: the
requirement closure is resolved against the installed distributions (markers evaluated for this
interpreter) and each distribution's files, as listed in its RECORD, are copied into a folder and zipped
(deflate), skipping byte-code caches (`sam build` ships none). No network is used. Caveat: the
wheels installed here are for this machine (see ``machine``), while the function runs on the
template's runtime/architecture; native libraries differ slightly in size between the two.

Scenarios, each a subtraction from the full artifact:
- ``runtime_sdk``: boto3 and its dependencies come from the Lambda runtime instead of the zip;
- ``powertools_layer``: the official Powertools layer (``aws-lambda-powertools[all]`` minus what the
  runtime has, per the layer's Dockerfile) plus the runtime SDK;
- ``powertools_layer_with_its_cryptography``: as above, also taking ``cryptography`` from the layer
  (the layer pins a newer major than ours may allow: see ``layer_cryptography_note``).
"""

from __future__ import annotations

import importlib.metadata as md
import shutil
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "src" / "requirements.txt"
PACKAGE_DIR = REPO / "src" / "alipay_cancel"
OWN_CODE = "alipay_cancel (src)"

# In every Lambda Python runtime (and removed from the Powertools layer for that reason).
RUNTIME_SDK = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
# What the Powertools layer adds on top of the runtime for the features this function uses.
POWERTOOLS_LAYER = {"aws-lambda-powertools", "aws-xray-sdk", "wrapt", "typing-extensions"}
LAYER_CRYPTOGRAPHY = {"cryptography", "cffi", "pycparser"}

LAMBDA_ZIP_LIMIT_MB = 50  # direct upload, zipped
LAMBDA_UNZIPPED_LIMIT_MB = 250  # function + layers, unzipped


def runtime_requirements() -> list[str]:
    """src/requirements.txt (H4's); falling back to pyproject's runtime dependencies."""
    if REQUIREMENTS.exists():
        lines = REQUIREMENTS.read_text().splitlines()
        return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]
    return list(md.requires("alipay-cancel") or [])


def resolve_closure(requirements: list[str]) -> dict[str, md.Distribution]:
    """Installed distributions the requirements pull in, by canonical name."""
    found: dict[str, md.Distribution] = {}
    queue = [(Requirement(r), "") for r in requirements]
    while queue:
        req, extra = queue.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name in found:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue  # not installed here: cannot be measured (reported as missing)
        found[name] = dist
        for sub in dist.requires or []:
            queue.append((Requirement(sub), ""))
            for wanted in req.extras:
                queue.append((Requirement(sub), wanted))
    return found


def _dist_files(dist: md.Distribution) -> list[tuple[Path, str]]:
    """(absolute source, path inside the artifact) for the files pip installed into site-packages."""
    out = []
    for file in dist.files or []:
        rel = str(file)
        if rel.startswith("..") or "__pycache__" in rel or rel.endswith((".pyc", ".pyo")):
            continue  # scripts in bin/, byte-code caches
        src = Path(str(dist.locate_file(file)))
        if src.is_file():
            out.append((src, rel))
    return out


def _own_files() -> list[tuple[Path, str]]:
    return [
        (p, str(p.relative_to(PACKAGE_DIR.parent)))
        for p in sorted(PACKAGE_DIR.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    ]


def measure_package_size() -> dict[str, Any]:
    requirements = runtime_requirements()
    dists = resolve_closure(requirements)
    members: dict[str, list[tuple[Path, str]]] = {n: _dist_files(d) for n, d in dists.items()}
    members[OWN_CODE] = _own_files()

    unzipped: dict[str, int] = defaultdict(int)
    zipped: dict[str, int] = defaultdict(int)
    with tempfile.TemporaryDirectory(prefix="bench-artifact-") as tmp:
        root = Path(tmp) / "artifact"
        archive = Path(tmp) / "function.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for owner, files in members.items():
                for src, rel in files:
                    dest = root / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest)
                    zf.write(dest, rel)
                    unzipped[owner] += dest.stat().st_size
        with zipfile.ZipFile(archive) as zf:
            owner_of = {rel: owner for owner, files in members.items() for _, rel in files}
            for info in zf.infolist():
                zipped[owner_of[info.filename]] += info.compress_size
        zip_bytes = archive.stat().st_size

    def total(exclude: set[str]) -> dict[str, float]:
        keep = [o for o in members if o not in exclude]
        return {
            "unzipped_mb": _mb(sum(unzipped[o] for o in keep)),
            "zipped_mb": _mb(sum(zipped[o] for o in keep)),
            "excluded": sorted(o for o in members if o in exclude),
        }

    by_owner = sorted(members, key=lambda o: -unzipped[o])
    versions = {n: d.version for n, d in dists.items()}
    crypto = versions.get("cryptography")
    return {
        "requirements": requirements,
        "method": "installed distributions' RECORD files copied and zipped (offline pip install --target)",
        "full": {"unzipped_mb": _mb(sum(unzipped.values())), "zipped_mb": _mb(zip_bytes)},
        "by_distribution": [
            {
                "name": o,
                "version": versions.get(o, ""),
                "unzipped_mb": _mb(unzipped[o]),
                "zipped_mb": _mb(zipped[o]),
                "share": round(unzipped[o] / max(1, sum(unzipped.values())), 3),
            }
            for o in by_owner
        ],
        "scenarios": {
            "runtime_sdk": total(RUNTIME_SDK),
            "powertools_layer": total(RUNTIME_SDK | POWERTOOLS_LAYER),
            "powertools_layer_with_its_cryptography": total(
                RUNTIME_SDK | POWERTOOLS_LAYER | LAYER_CRYPTOGRAPHY
            ),
        },
        "layer_cryptography_note": (
            f"installed cryptography {crypto}; aws-lambda-powertools[all] (the layer) requires "
            + next(
                (r for r in (md.requires("aws-lambda-powertools") or []) if r.startswith("cryptography")),
                "cryptography (not listed)",
            ).split(";")[0]
        ),
        "limits_mb": {"zipped": LAMBDA_ZIP_LIMIT_MB, "unzipped": LAMBDA_UNZIPPED_LIMIT_MB},
    }


def _mb(n: int) -> float:
    return round(n / 1_000_000, 2)


if __name__ == "__main__":
    import json

    print(json.dumps(measure_package_size(), indent=2))
