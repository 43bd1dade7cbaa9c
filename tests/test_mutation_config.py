"""`make mutation`'s own rules, checked without running it: the module list and the equivalents list
stay true to the code, and the message-wording rule counts every mutant that is not prose."""

from __future__ import annotations

import ast

import pytest
from mutation.functions import WORK, work_folder
from mutation.mutants import KILLED, SURVIVED, Mutant
from mutation.plan import Equivalent, Module, equivalents, modules, select
from mutation.verdicts import is_wording, matches, tally


def _names(module_source: str) -> set[str]:
    """Functions (Class.method too) and top-level names a mutant can be reported under."""
    names: set[str] = set()
    for node in ast.parse(module_source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{m.name}" for m in node.body if isinstance(m, ast.FunctionDef)}
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_every_listed_module_and_test_file_exists() -> None:
    listed = modules()  # raises when a module or a test file is missing
    assert len({m.path for m in listed}) == len(listed)
    assert {"alipay_cancel/decisions/classification.py", "alipay_cancel/alipay/success_checks.py"} <= {
        m.path for m in listed
    }


def test_short_names_keep_the_package_outside_alipay_cancel_and_never_collide() -> None:
    core = Module("alipay_cancel/decisions/routing.py", ())
    events = Module("alipay_cancel_events/contract.py", ())
    ops = Module("alipay_cancel_ops/masking.py", ())
    assert (core.short, events.short, ops.short) == (
        "decisions/routing.py",
        "events/contract.py",
        "ops/masking.py",
    )
    assert (work_folder(core), work_folder(events), work_folder(ops)) == (
        WORK / "decisions-routing",
        WORK / "events-contract",
        WORK / "ops-masking",
    )
    listed = modules()
    assert len({m.short for m in listed}) == len({work_folder(m) for m in listed}) == len(listed)
    for module in listed:  # each is chosen by its path, its short name and (when unique) its file name
        assert select([module.path]) == select([module.short]) == [module]


def test_every_equivalent_names_a_listed_module_a_real_function_and_says_why() -> None:
    by_path = {m.path: m for m in modules()}
    for entry in equivalents():
        assert entry.module in by_path, entry
        assert entry.function in _names(by_path[entry.module].source.read_text()), entry
        assert entry.before and len(entry.why.split()) >= 5, entry  # an empty `after`: the line removed
        if "*" not in entry.before:  # the source text it names is still there
            first = entry.before.split(" ⏎ ")[0]
            assert first in by_path[entry.module].source.read_text(), entry


def mutant(before: str, after: str, status: str = SURVIVED, function: str = "f") -> Mutant:
    return Mutant("m.py", function, 1, before, after, status, "id")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('retry(f, "the call to Alipay timed out")', 'retry(f, "XXthe call to Alipay timed outXX")'),
        ('reason = "Alipay found no such trade"', 'reason = "ALIPAY FOUND NO SUCH TRADE"'),
        ('Rule(_R, "the merchant is out", "top up")', 'Rule(_R, "XXthe merchant is outXX", "top up")'),
    ],
)  # fmt: skip
def test_a_change_inside_prose_is_wording(before: str, after: str) -> None:
    assert is_wording(mutant(before, after))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('if "app-auth-token" in sub:', 'if "XXapp-auth-tokenXX" in sub:'),  # a code
        ('"ACQ.SYSTEM_ERROR": Rule(_R, "x y z")', '"acq.system_error": Rule(_R, "x y z")'),
        ('log_level="warning",', 'log_level="WARNING",'),  # a level, one word
        ('return text.removeprefix("HTTP ")', 'return text.removeprefix("XXHTTP XX")'),  # a format piece
        ('retry(f, "the call timed out")', "retry(f, None)"),  # the words gone
        ('retry(f, "the call timed out")', "retry(f, )"),
        ('x = "the call timed out" if a else "no"', 'x = "the call timed out" if not a else "no"'),
        ('"a b c" + "d"', '"a b c" - "d"'),
        ("slow=True,", "slow=False,"),
    ],
)
def test_anything_else_is_not_wording(before: str, after: str) -> None:
    assert not is_wording(mutant(before, after))


def test_equivalents_match_by_source_text_and_star() -> None:
    exact = Equivalent("m.py", "f", "matched = False", "matched = None", "why")
    star = Equivalent("m.py", "Enum", "*", '* = "*"', "why")
    assert matches(exact, mutant("matched = False", "matched = None"))
    assert not matches(exact, mutant("matched = False", "matched = True"))
    assert matches(star, mutant('A = "a"', 'A = "XXaXX"', function="Enum"))
    assert not matches(star, mutant('A = "a"', "A = None", function="Enum"))
    assert matches(Equivalent("m.py", "f", "a[1]?", "*", "why"), mutant("a[1]?", "b"))


def test_the_rate_counts_neither_wording_nor_equivalents() -> None:
    mutants = [
        mutant('retry(f, "the call timed out")', 'retry(f, "XXthe call timed outXX")'),  # wording, survived
        mutant("matched = False", "matched = None"),  # listed
        mutant("a < b", "a <= b", KILLED),
        mutant("a < b", "a > b", KILLED),
        mutant("a + b", "a - b"),  # a real survivor
    ]
    row, wording = tally("m.py", mutants, [Equivalent("m.py", "f", "matched = False", "matched = None", "w")])
    assert (row.total, row.wording, row.equivalent, row.counted, row.killed) == (5, 1, 1, 3, 2)
    assert [m.after for m in row.survivors] == ["a - b"] and len(wording) == 1
    assert round(row.rate, 1) == 66.7


def test_a_module_whose_strings_are_contract_values_has_no_wording() -> None:
    detail_type = mutant('FinalState.CLOSED: "Trade Closed",', 'FinalState.CLOSED: "trade closed",')
    assert is_wording(detail_type)  # prose by the rule: two words and a space
    row, wording = tally("m.py", [detail_type], [], wording=False)
    assert (row.total, row.wording, row.counted, row.killed, wording) == (1, 0, 1, 0, [])
    assert {m.path for m in modules() if not m.wording} == {"alipay_cancel_events/contract.py"}
