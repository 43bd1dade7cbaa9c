"""The deployment artifact as `sam build` makes it (src/Makefile), offline.

The Makefile's dependency step (pip, wheels for the function's platform) needs the package index;
here it is replaced by copying the files pip installed for the requirement closure into this
machine's environment (each distribution's RECORD). The rest is the Makefile itself: its
``package`` step, and its ``bytecode`` step when ``byte_code`` is set (python_pip, the builder used
before, shipped no byte-code). Byte-code is compiled by the running interpreter.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
REQUIREMENTS = SRC / "requirements.txt"
OWN_CODE = "alipay_cancel (src)"


def runtime_requirements() -> list[str]:
    """src/requirements.txt; falling back to pyproject's runtime dependencies."""
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


def build_artifact(
    dest: Path,
    *,
    byte_code: bool,
    dists: dict[str, md.Distribution] | None = None,
    package_src: Path = SRC,
) -> dict[str, str]:
    """Builds the artifact into ``dest``; returns the owner (distribution name or OWN_CODE) of every file
    in it, by path relative to ``dest``. ``package_src``: the folder holding ``alipay_cancel`` (another
    release's ``src/``, built by this release's Makefile, to compare releases with the same build)."""
    dists = resolve_closure(runtime_requirements()) if dists is None else dists
    owner_of: dict[str, str] = {}
    for name, dist in dists.items():
        for src, rel in _dist_files(dist):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            owner_of[rel] = name
    steps = ["package", "bytecode"] if byte_code else ["package"]
    version = "{}.{}".format(*sys.version_info[:2])
    env = {**os.environ, "ARTIFACTS_DIR": str(dest)}
    make = ["make", "--no-print-directory", "-f", str(SRC / "Makefile"), *steps]
    done = subprocess.run(
        [*make, f"PYTHON={sys.executable}", f"PYTHON_VERSION={version}"],
        cwd=package_src,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"src/Makefile {' '.join(steps)} failed: {done.stderr.strip()[-500:]}")
    for path in dest.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(dest).as_posix()
        if rel in owner_of:
            continue
        if rel.startswith("alipay_cancel/"):
            owner_of[rel] = OWN_CODE
        elif rel.endswith(".pyc"):
            owner_of[rel] = owner_of.get(importlib.util.source_from_cache(rel), "other")
        else:
            owner_of[rel] = "other"
    return owner_of
