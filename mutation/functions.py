"""Function mutants: mutmut, run in a work folder of its own per module (``.mutation/<module>/``).

The work folder links the repository's code and tests and holds a ``pyproject.toml`` made from the
repository's ``[tool.mutmut]`` and ``[tool.pytest.ini_options]``, plus this module's ``only_mutate``
and its tests from ``modules.toml``. mutmut copies it all into ``mutants/``, finds which of those tests
reach each function, and runs every mutant against them (stopping at the first failure).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from mutation.mutants import (
    ERROR,
    KILLED,
    NOT_REACHED,
    SURVIVED,
    TIMEOUT,
    Mutant,
    describe_change,
    mutmut_skips,
)
from mutation.plan import ROOT, Module

WORK = ROOT / ".mutation"
# What the tests read besides src/ and tests/: linked into the work folder, copied by mutmut.
_LINKED = ("src", "tests", "local", "bench", "events", "docs", "README.md", "template.yaml")
_STATUS = {
    "killed": KILLED,
    "timeout": TIMEOUT,
    "segfault": TIMEOUT,
    "survived": SURVIVED,
    "no tests": NOT_REACHED,
}


def work_folder(module: Module) -> Path:
    return WORK / module.short.replace("/", "-").removesuffix(".py")


def has_functions(module: Module) -> bool:
    """mutmut stops with an error on a module without functions it mutates (a table module, or one
    whose only functions are properties: ``tables`` mutates those)."""
    for node in ast.walk(ast.parse(module.source.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not mutmut_skips(
            [ast.unparse(d) for d in node.decorator_list]
        ):
            return True
    return False


def run(module: Module, jobs: int, log: Path) -> None:
    """Run mutmut on ``module`` from scratch (results of an earlier run are not reused: tests change)."""
    folder = work_folder(module)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in _LINKED:
        (folder / name).symlink_to(ROOT / name)
    (folder / "pyproject.toml").write_text(_pyproject(module))
    mutmut = Path(sys.executable).with_name("mutmut")
    with log.open("w") as out:
        done = subprocess.run(  # noqa: S603 - our own venv's mutmut, fixed arguments
            [str(mutmut), "run", "--max-children", str(jobs)],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        raise SystemExit(f"mutmut failed on {module.path} (exit {done.returncode}); see {log}")


def results(module: Module) -> list[Mutant]:
    """Every mutant of ``module`` with its status and source change (read from mutmut's files)."""
    from mutmut.mutation.diff_apply import read_functions_from_index
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    folder = work_folder(module)
    relative = Path("src") / module.path
    meta = json.loads((folder / "mutants" / f"{relative}.meta").read_text())
    source = module.source.read_text()
    starts = _function_starts(source)
    found: list[Mutant] = []
    previous = Path.cwd()
    os.chdir(folder)  # mutmut reads its index relative to the work folder
    try:
        for name, exit_code in meta["exit_code_by_key"].items():
            function, cls = orig_function_and_class_names_from_key(name)
            qualified = f"{cls}.{function}" if cls else function
            pair = read_functions_from_index(name, relative)
            if pair is None:
                raise SystemExit(f"mutmut left no index for {name}; rerun the module")
            import libcst as cst

            orig_code, mutant_code = (cst.Module([f]).code for f in pair)
            offset, before, after = describe_change(orig_code, mutant_code)
            line = starts.get(qualified, 0) + offset - _def_line(orig_code)
            status = _STATUS.get(status_by_exit_code[exit_code], ERROR)
            found.append(Mutant(module.path, qualified, line, before, after, status, name))
    finally:
        os.chdir(previous)
    return found


def _pyproject(module: Module) -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    settings: dict[str, Any] = dict(project["tool"]["mutmut"])
    settings["only_mutate"] = [f"src/{module.path}"]
    settings["pytest_add_cli_args_test_selection"] = list(module.tests)
    return _toml_table("tool.mutmut", settings) + _toml_table(
        "tool.pytest.ini_options", project["tool"]["pytest"]["ini_options"]
    )


def _toml_table(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")  # strings, numbers, booleans, lists of them
    return "\n".join(lines) + "\n\n"


def _function_starts(source: str) -> dict[str, int]:
    """Qualified name -> first line (its first decorator, else ``def``)."""
    starts: dict[str, int] = {}
    for node in ast.parse(source).body:
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        for member in members:
            if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{node.name}.{member.name}" if isinstance(node, ast.ClassDef) else member.name
                starts[name] = min([member.lineno, *(d.lineno for d in member.decorator_list)])
    return starts


def _def_line(code: str) -> int:
    """1-based line of the first decorator or ``def`` in a function's code (comments may precede it)."""
    for number, text in enumerate(code.splitlines(), start=1):
        if text.lstrip().startswith(("@", "def ", "async def ")):
            return number
    return 1
