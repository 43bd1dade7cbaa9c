"""One mutant as the report sees it, whichever tool made it, and how its source change is described."""

from __future__ import annotations

import difflib
from typing import NamedTuple

KILLED = "killed"
SURVIVED = "survived"
NOT_REACHED = "not reached"  # no mapped test runs the mutated function
TIMEOUT = "timeout"  # counted as killed: the tests noticed (they hung)
NOT_RUN = "not run"  # a wording table mutant: not counted, so not run
ERROR = "error"  # the tests could not run (a broken mutant, or our runner): not counted as killed


class Mutant(NamedTuple):
    module: str  # path under src/, e.g. alipay_cancel/decisions/routing.py
    function: str  # the function (Class.method) or, for a table mutant, the top-level name
    line: int  # 1-based line in the module's source
    before: str  # the source lines the mutant changes, stripped, joined by " ⏎ "
    after: str  # what they became
    status: str
    ident: str  # mutmut's mutant name, or "table:<module>:<n>"

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Stable across unrelated edits: no mutant number, no line number."""
        return (self.module, self.function, self.before, self.after)

    @property
    def killed(self) -> bool:
        return self.status in (KILLED, TIMEOUT)


def mutmut_skips(decorators: list[str]) -> bool:
    """mutmut leaves a decorated function alone (a property, say) unless its one decorator is
    ``staticmethod`` or ``classmethod``; ``decorators`` are their source texts."""
    return bool(decorators) and decorators not in (["staticmethod"], ["classmethod"])


def describe_change(original: str, mutated: str) -> tuple[int, str, str]:
    """(first changed line, 1-based within ``original``; the removed lines; the added lines)."""
    old, new = original.splitlines(), mutated.splitlines()
    removed: list[str] = []
    added: list[str] = []
    first = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if not first:
            first = i1 + 1
        removed += old[i1:i2]
        added += new[j1:j2]
    return first, join(removed), join(added)


def join(lines: list[str]) -> str:
    return " ⏎ ".join(line.strip() for line in lines if line.strip())
