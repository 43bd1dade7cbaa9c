"""Deployment artifact size: what `sam build` zips, and what dominates it.

The artifact is built offline as ``bench.artifact`` builds it (the requirement closure's installed
files, then src/Makefile's package and byte-code steps) and zipped (deflate); byte-code is counted
with the file it was compiled from, and also on its own. No network is used. Caveat: the wheels
installed here are for this machine (see ``machine``), while the function runs on the template's
runtime/architecture; native libraries differ slightly in size between the two.

Scenarios, each a subtraction from the full artifact:
- ``runtime_sdk``: boto3 and its dependencies come from the Lambda runtime instead of the zip;
- ``powertools_layer``: the official Powertools layer (``aws-lambda-powertools[all]`` minus what the
  runtime has, per the layer's Dockerfile) plus the runtime SDK;
- ``powertools_layer_with_its_cryptography``: as above, also taking ``cryptography`` from the layer
  (the layer pins a newer major than ours may allow: see ``layer_cryptography_note``).
"""

from __future__ import annotations

import importlib.metadata as md
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.artifact import build_artifact, resolve_closure, runtime_requirements

# In every Lambda Python runtime (and removed from the Powertools layer for that reason).
RUNTIME_SDK = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
# What the Powertools layer adds on top of the runtime for the features this function uses.
POWERTOOLS_LAYER = {"aws-lambda-powertools", "aws-xray-sdk", "wrapt", "typing-extensions"}
LAYER_CRYPTOGRAPHY = {"cryptography", "cffi", "pycparser"}

LAMBDA_ZIP_LIMIT_MB = 50  # direct upload, zipped
LAMBDA_UNZIPPED_LIMIT_MB = 250  # function + layers, unzipped


def measure_package_size() -> dict[str, Any]:
    requirements = runtime_requirements()
    dists = resolve_closure(requirements)

    unzipped: dict[str, int] = defaultdict(int)
    zipped: dict[str, int] = defaultdict(int)
    byte_code = {"unzipped": 0, "zipped": 0}
    with tempfile.TemporaryDirectory(prefix="bench-artifact-") as tmp:
        root = Path(tmp) / "artifact"
        owner_of = build_artifact(root, byte_code=True, dists=dists)
        archive = Path(tmp) / "function.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for rel in sorted(owner_of):
                zf.write(root / rel, rel)
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                unzipped[owner_of[info.filename]] += info.file_size
                zipped[owner_of[info.filename]] += info.compress_size
                if info.filename.endswith(".pyc"):
                    byte_code["unzipped"] += info.file_size
                    byte_code["zipped"] += info.compress_size
        zip_bytes = archive.stat().st_size
    members = sorted(unzipped)

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
        "method": (
            "installed distributions' RECORD files copied (offline pip install --target), then src/Makefile's"
            " package and bytecode steps, zipped"
        ),
        "full": {"unzipped_mb": _mb(sum(unzipped.values())), "zipped_mb": _mb(zip_bytes)},
        "byte_code": {"unzipped_mb": _mb(byte_code["unzipped"]), "zipped_mb": _mb(byte_code["zipped"])},
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
