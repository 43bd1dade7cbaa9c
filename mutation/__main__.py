"""``python -m mutation [--module NAME ...] [--jobs N] [--only functions|tables] [--report] [--verbose]``

Runs the mutants of each module in ``modules.toml`` (or of the modules named) against that module's
fast tests, then prints the kill rates and every survivor that counts. Exit status 1 when a module is
below the target. ``--report`` prints the last run's results again without running anything.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mutation import functions, table_run
from mutation.mutants import Mutant
from mutation.plan import Module, equivalents, select
from mutation.verdicts import TARGET, Row, report, tally, unused_equivalents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__.split("\n\n")[1])
    parser.add_argument("--module", action="append", default=[], help="path, short path or file name")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--only", choices=("functions", "tables"), help="one kind of mutant")
    parser.add_argument("--report", action="store_true", help="print the last run's results, run nothing")
    parser.add_argument("--verbose", action="store_true", help="also list the wording survivors")
    args = parser.parse_args(argv)
    chosen = select(args.module)
    listed = equivalents()
    rows: list[Row] = []
    wording: list[Mutant] = []
    every: list[Mutant] = []
    for module in chosen:
        mutants = _saved(module) if args.report else _run(module, args.jobs, args.only)
        every += mutants
        row, wording_survivors = tally(module.short, mutants, listed, wording=module.wording)
        rows.append(row)
        wording += wording_survivors
    stale = unused_equivalents(listed, every, {m.path for m in chosen}) if not args.only else []
    print(report(rows, wording, stale, verbose=args.verbose))
    return 0 if all(row.rate >= TARGET for row in rows) else 1


def _run(module: Module, jobs: int, only: str | None) -> list[Mutant]:
    functions.WORK.mkdir(exist_ok=True)
    mutants: list[Mutant] = []
    started = time.monotonic()
    if only != "tables" and functions.has_functions(module):
        _say(f"{module.short}: function mutants (mutmut; log in {functions.work_folder(module)}.log)")
        functions.run(module, jobs, functions.work_folder(module).with_suffix(".log"))
        mutants += functions.results(module)
    if only != "functions" and module.tables:
        _say(f"{module.short}: table mutants")
        mutants += table_run.run(module, jobs)
    _say(f"{module.short}: {len(mutants)} mutants in {time.monotonic() - started:.0f} s")
    if only is not None and _results_file(module).is_file():  # keep the other kind's last results
        mutants += [m for m in _saved(module) if m.ident.startswith("table:") == (only == "functions")]
    _results_file(module).write_text(json.dumps([list(m) for m in mutants], indent=0))
    return mutants


def _saved(module: Module) -> list[Mutant]:
    path = _results_file(module)
    if not path.is_file():
        raise SystemExit(f"no saved results for {module.short}: run it first")
    return [Mutant(*fields) for fields in json.loads(path.read_text())]


def _results_file(module: Module) -> Path:
    return functions.work_folder(module).with_suffix(".json")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
