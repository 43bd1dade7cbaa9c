"""What to mutate and what not to count: ``modules.toml`` and ``equivalents.toml``, read once."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODULES_FILE = HERE / "modules.toml"
EQUIVALENTS_FILE = HERE / "equivalents.toml"


class Module(NamedTuple):
    path: str  # under src/, e.g. alipay_cancel/decisions/routing.py
    tests: tuple[str, ...]  # test files, relative to the repository root
    tables: bool = True  # also mutate the top-level constants
    wording: bool = True  # False: its strings are contract values, no mutant of them is message wording

    @property
    def source(self) -> Path:
        return ROOT / "src" / self.path

    @property
    def dotted(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    @property
    def short(self) -> str:
        """How reports, ``--module`` and work folders name it: ``decisions/routing.py`` in
        ``alipay_cancel``, the package's own name kept elsewhere (``events/contract.py`` for
        ``alipay_cancel_events/contract.py``), so that no two packages' modules share a name."""
        package, _, rest = self.path.partition("/")
        if package == "alipay_cancel":
            return rest
        return f"{package.removeprefix('alipay_cancel_')}/{rest}"


class Equivalent(NamedTuple):
    module: str
    function: str
    before: str
    after: str
    why: str


def modules() -> list[Module]:
    data = tomllib.loads(MODULES_FILE.read_text())
    found = []
    for path, entry in data["modules"].items():
        module = Module(
            path,
            tuple(entry["tests"]),
            bool(entry.get("tables", True)),
            bool(entry.get("wording", True)),
        )
        missing = [test for test in module.tests if not (ROOT / test).is_file()]
        if not module.source.is_file() or missing:
            raise SystemExit(f"{MODULES_FILE.name}: {path}: missing {missing or [str(module.source)]}")
        found.append(module)
    return found


def select(names: list[str]) -> list[Module]:
    """The modules named (by path, short path or file name); all of them when none is named."""
    every = modules()
    if not names:
        return every
    chosen = []
    for name in names:
        matches = [m for m in every if name in (m.path, m.short, Path(m.path).name, Path(m.path).stem)]
        if len(matches) != 1:
            known = ", ".join(m.short for m in every)
            raise SystemExit(f"--module {name}: matches {len(matches)} modules (known: {known})")
        chosen.extend(matches)
    return chosen


def equivalents() -> list[Equivalent]:
    if not EQUIVALENTS_FILE.is_file():
        return []
    data = tomllib.loads(EQUIVALENTS_FILE.read_text())
    return [
        Equivalent(e["module"], e["function"], e["before"], e["after"], e["why"])
        for e in data.get("equivalent", [])
    ]
