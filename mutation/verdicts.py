"""Which mutants count, and the report: kill rates per module, then every survivor that counts.

**Message wording** (reported apart, not counted): a mutant that changes nothing but the characters
inside string literals (no operator, name, number, argument, element or statement changes) where
every literal it changes is *prose*: its text contains a space and at least two words of two or more
letters. Reasons, remedies and log messages are prose; codes (``ACQ.SYSTEM_ERROR``,
``invalid-signature``), field names, enum values, headers, actions, format pieces (``HTTP ``) and
separators never contain two words with a space, so a mutant of one of those always counts. A
mutant that replaces a prose literal with ``None`` or removes it counts too (a record or dead letter
would then say nothing, or "None").

**Equivalent** (listed in ``equivalents.toml``, not counted): a mutant that cannot change behaviour,
keyed by module, function and the source text before and after, never by mutant number or line;
``*`` in ``before`` or ``after`` matches any text (e.g. ``* = "*"``: every mutant that changes an
enum's value to another string, for an enum whose values are never read).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from mutation.mutants import ERROR, NOT_REACHED, SURVIVED, Mutant
from mutation.plan import Equivalent

TARGET = 90.0
_TOKEN = re.compile(
    r"""(?P<string>[rRbBuUfF]{0,2}(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'))"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>\d[\d_.]*)|(?P<other>\S)"""
)
_WORD = re.compile(r"[A-Za-z]{2,}")


def is_wording(mutant: Mutant) -> bool:
    before, after = _tokens(mutant.before), _tokens(mutant.after)
    if len(before) != len(after) or before == after:
        return False
    for (kind, old), (new_kind, new) in zip(before, after, strict=True):
        if old == new:
            continue
        if kind != "string" or new_kind != "string" or not _prose(old):
            return False
    return True


def _tokens(text: str) -> list[tuple[str, str]]:
    return [(match.lastgroup or "", match.group()) for match in _TOKEN.finditer(text)]


def _prose(literal: str) -> bool:
    body = literal.lstrip("rRbBuUfF")[1:-1]
    return " " in body and len(_WORD.findall(body)) >= 2


class Row(NamedTuple):
    module: str
    total: int
    wording: int
    equivalent: int
    killed: int
    survivors: list[Mutant]

    @property
    def counted(self) -> int:
        return self.total - self.wording - self.equivalent

    @property
    def rate(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 100.0


def tally(
    module: str, mutants: Iterable[Mutant], equivalents: list[Equivalent], *, wording: bool = True
) -> tuple[Row, list[Mutant]]:
    """(the module's row, its wording survivors); ``wording``: the module's ``wording`` setting of
    modules.toml (False: its strings are contract values, none of its mutants is wording)."""
    total = worded = equivalent = killed = 0
    survivors: list[Mutant] = []
    wording_survivors: list[Mutant] = []
    for mutant in mutants:
        total += 1
        if wording and is_wording(mutant):
            worded += 1
            if mutant.status == SURVIVED:
                wording_survivors.append(mutant)
        elif any(matches(e, mutant) for e in equivalents):
            equivalent += 1
        elif mutant.killed:
            killed += 1
        else:
            survivors.append(mutant)
    return Row(module, total, worded, equivalent, killed, survivors), wording_survivors


def unused_equivalents(
    equivalents: list[Equivalent], mutants: Iterable[Mutant], modules: set[str]
) -> list[Equivalent]:
    """Listed equivalents of the modules run that no mutant matched (stale after an edit)."""
    every = list(mutants)
    return [e for e in equivalents if e.module in modules and not any(matches(e, m) for m in every)]


def matches(entry: Equivalent, mutant: Mutant) -> bool:
    return (
        (entry.module, entry.function) == (mutant.module, mutant.function)
        and _glob(entry.before, mutant.before)
        and _glob(entry.after, mutant.after)
    )


def _glob(pattern: str, text: str) -> bool:
    """``*`` matches any text; everything else literally (source text is full of ``[`` and ``?``)."""
    if "*" not in pattern:
        return pattern == text
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), text, re.S) is not None


def report(
    rows: list[Row], wording_survivors: list[Mutant], stale: list[Equivalent], *, verbose: bool
) -> str:
    heading = ("mutants", "wording", "equiv.", "counted", "killed", "rate")
    out = [f"{'module':<34} " + " ".join(f"{h:>7}" for h in heading)]
    for row in rows:
        mark = "" if row.rate >= TARGET else "  < target"
        out.append(
            f"{row.module:<34} {row.total:>7} {row.wording:>7} {row.equivalent:>7} {row.counted:>7} "
            f"{row.killed:>7} {row.rate:>6.1f}%{mark}"
        )
    survivors = [m for row in rows for m in row.survivors]
    out.append("")
    out.append(f"Survivors that count ({len(survivors)}): file:line [function] before  ->  after")
    for m in sorted(survivors, key=lambda m: (m.module, m.line)):
        note = {NOT_REACHED: "  (no mapped test reaches it)", ERROR: "  (tests could not run)"}.get(
            m.status, ""
        )
        out.append(f"  src/{m.module}:{m.line} [{m.function}] {m.before}  ->  {m.after}{note}  ({m.ident})")
    out.append("")
    out.append(
        f"Message-wording mutants that survived, not counted: {len(wording_survivors)} "
        "(table ones are not run)"
    )
    if verbose:
        for m in sorted(wording_survivors, key=lambda m: (m.module, m.line)):
            out.append(f"  src/{m.module}:{m.line} [{m.function}] {m.before[:60]}  ->  {m.after[:60]}")
    if stale:
        out.append("")
        out.append(f"Listed equivalents that matched no mutant (update equivalents.toml): {len(stale)}")
        for e in stale:
            out.append(f"  src/{e.module} [{e.function}] {e.before}  ->  {e.after}")
    return "\n".join(out)
