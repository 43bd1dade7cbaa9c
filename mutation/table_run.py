"""Runs table mutants: each in a forked child that imports the mutated module in place of the real one.

The parent imports pytest and the heavy libraries the tests use once; each child installs an import
hook that serves the mutated source for the one module, runs the module's tests with pytest (stopping
at the first failure) and exits with pytest's code. Nothing is written to src/.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import signal
import sys
import time
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from mutation.mutants import ERROR, KILLED, NOT_RUN, SURVIVED, TIMEOUT, Mutant
from mutation.plan import ROOT, Module
from mutation.tables import TableMutant, table_mutants
from mutation.verdicts import is_wording

# Imported once in the parent so that each child starts warm (none of them imports alipay_cancel).
_WARM = (
    "pytest",
    "hypothesis",
    "boto3",
    "botocore",
    "moto",
    "cryptography",
    "requests",
    "aws_lambda_powertools",
)
_PYTEST_ARGS = ("-x", "-q", "-s", "-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", str(ROOT))


class _Serve(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``name`` before anything on sys.path and executes ``code`` as its source."""

    def __init__(self, name: str, code: str, origin: str) -> None:
        self._name, self._code, self._origin = name, code, origin

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != self._name:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=self._origin)

    def exec_module(self, module: ModuleType) -> None:
        module.__file__ = self._origin
        exec(compile(self._code, self._origin, "exec"), module.__dict__)  # noqa: S102 - the mutant


def run(module: Module, jobs: int, timeout_floor: float = 60.0) -> list[Mutant]:
    for name in _WARM:
        __import__(name)
    source = module.source.read_text()
    clean_started = time.monotonic()
    clean = _wait([_start(module, None)], 600.0)[0]
    clean_seconds = time.monotonic() - clean_started
    if clean != 0:
        raise SystemExit(f"{module.path}: its tests fail without any mutation (pytest exit {clean})")
    limit = max(timeout_floor, 10 * clean_seconds)
    mutants = table_mutants(source)
    found: list[Mutant] = []
    running: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
    codes: dict[int, int | None] = {}
    # Wording mutants are not counted whatever happens to them: not worth a run each.
    queue = [
        i for i, m in enumerate(mutants) if not (module.wording and is_wording(_result(module, i, m, 0)))
    ]
    while queue or running:
        while queue and len(running) < jobs:
            index = queue.pop(0)
            running[_start(module, mutants[index].code)] = (index, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for late, (index, started) in list(running.items()):
                if now - started > limit:
                    os.kill(late, signal.SIGKILL)
                    os.waitpid(late, 0)
                    codes[index] = None
                    del running[late]
            time.sleep(0.05)
            continue
        index, _ = running.pop(pid)
        codes[index] = os.waitstatus_to_exitcode(status)
        if len(codes) % 50 == 0:
            print(
                f"  {len(codes)} of {len(queue) + len(running) + len(codes)} run", file=sys.stderr, flush=True
            )
    for index, mutant in enumerate(mutants):
        found.append(_result(module, index, mutant, codes.get(index, -1)))
    return found


def _result(module: Module, index: int, mutant: TableMutant, code: int | None) -> Mutant:
    if code == -1:
        status = NOT_RUN
    elif code is None:
        status = TIMEOUT
    elif code == 0:
        status = SURVIVED
    elif code == 1:
        status = KILLED  # a test failed
    elif code in (2, 3):
        status = KILLED  # a collection error or pytest's internal error: the mutant broke the import
    else:
        status = ERROR
    return Mutant(
        module.path,
        mutant.name,
        mutant.line,
        mutant.before,
        mutant.after,
        status,
        f"table:{module.short}:{index}",
    )


def _start(module: Module, code: str | None) -> int:
    pid = os.fork()
    if pid:
        return pid
    exit_code = 99
    try:
        os.setpgid(0, 0)
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        os.chdir(ROOT)
        if code is not None:
            sys.meta_path.insert(0, _Serve(module.dotted, code, str(module.source)))
        import pytest

        exit_code = int(pytest.main([*_PYTEST_ARGS, *module.tests]))
    finally:
        os._exit(exit_code)


def _wait(pids: Sequence[int], limit: float) -> list[int | None]:
    codes: list[int | None] = []
    for pid in pids:
        deadline = time.monotonic() + limit
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes.append(os.waitstatus_to_exitcode(status))
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                codes.append(None)
                break
            time.sleep(0.05)
    return codes
