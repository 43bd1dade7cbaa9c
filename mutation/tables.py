"""Table mutants: mutations of a module's top-level constants, which mutmut leaves alone.

mutmut mutates function bodies only, but most of what this service decides lives in tables: the
code rules, the trusted-unsigned codes, the endings and their metrics, the field limits. Here every
top-level statement that is not a function (and every class-level constant: enum values, named-tuple
defaults) gets mutmut's own node mutations (strings, numbers, booleans, ``x = None``, argument
removal, operators) plus three of ours:

* an element left out of a list, tuple, set or dict literal (a code missing from a table);
* an enum member swapped for another of the same enum (``Ending.RETRY`` -> ``TERMINAL``);
* a module-level alias of an enum member swapped for another alias (``Rule(_R, ...)`` -> ``Rule(_T, ...)``).

The bodies of functions mutmut leaves alone (decorated ones: properties such as ``Delivery.last``) are
mutated here the same way, reported under ``Class.name``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import libcst as cst
from mutmut.mutation.mutators import mutation_operators

from mutation.mutants import describe_change, mutmut_skips


class TableMutant(NamedTuple):
    name: str  # the top-level name (or class) whose statement is mutated
    line: int
    before: str
    after: str
    code: str  # the whole mutated module


def table_mutants(source: str) -> list[TableMutant]:
    module = cst.parse_module(source)
    aliases = _enum_aliases(module)
    members = _enum_members(module)
    found: list[TableMutant] = []
    seen: set[str] = set()
    for owner, statement in _constant_statements(module):
        for node in _walk(statement):
            for replacement in _mutations(node, aliases, members):
                mutated = module.deep_replace(node, replacement)
                assert isinstance(mutated, cst.Module)
                code = mutated.code
                if code == source or code in seen:
                    continue
                seen.add(code)
                line, before, after = describe_change(source, code)
                found.append(TableMutant(owner, line, before, after, code))
    return found


def _constant_statements(module: cst.Module) -> Iterator[tuple[str, cst.CSTNode]]:
    """(owner name, statement) for top-level assignments and class-level constants, and the body
    statements of the functions mutmut leaves alone (properties)."""
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Assign | cst.AnnAssign):
                    yield _target_name(small), small
        elif isinstance(statement, cst.FunctionDef):
            yield from _skipped_body(statement.name.value, statement)
        elif isinstance(statement, cst.ClassDef) and isinstance(statement.body, cst.IndentedBlock):
            for line in statement.body.body:
                if isinstance(line, cst.FunctionDef):
                    yield from _skipped_body(f"{statement.name.value}.{line.name.value}", line)
                if isinstance(line, cst.SimpleStatementLine):
                    for small in line.body:
                        if isinstance(small, cst.Assign | cst.AnnAssign) and small.value is not None:
                            yield statement.name.value, small


def _skipped_body(owner: str, function: cst.FunctionDef) -> Iterator[tuple[str, cst.CSTNode]]:
    """A function mutmut does not mutate: each statement of its body but the docstring."""
    decorators = [cst.Module([]).code_for_node(d.decorator) for d in function.decorators]
    if not mutmut_skips(decorators) or not isinstance(function.body, cst.IndentedBlock):
        return
    for statement in function.body.body:
        if not (
            isinstance(statement, cst.SimpleStatementLine)
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, cst.SimpleString | cst.ConcatenatedString)
        ):
            yield owner, statement


def _target_name(node: cst.Assign | cst.AnnAssign) -> str:
    target = node.targets[0].target if isinstance(node, cst.Assign) else node.target
    if isinstance(target, cst.Tuple):
        return ",".join(cst.Module([]).code_for_node(e.value) for e in target.elements)
    return cst.Module([]).code_for_node(target)


def _walk(statement: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The statement and every node below it, except type annotations and assignment targets."""
    yield statement
    children = list(statement.children)
    if isinstance(statement, cst.AnnAssign):
        children = [statement.value] if statement.value is not None else []
    elif isinstance(statement, cst.Assign):
        children = [statement.value]
    for child in children:
        yield from _walk(child)


def _mutations(
    node: cst.CSTNode,
    aliases: dict[str, str],
    members: dict[str, set[str]],
) -> Iterator[cst.CSTNode]:
    for node_type, operator in mutation_operators:
        if isinstance(node, node_type):
            yield from operator(node)
    yield from _drop_element(node)
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
        for other in sorted(members.get(node.value.value, set()) - {node.attr.value}):
            yield node.with_changes(attr=cst.Name(other))
    if isinstance(node, cst.Name) and node.value in aliases:
        for other, target in sorted(aliases.items()):
            if target != aliases[node.value] and target.split(".")[0] == aliases[node.value].split(".")[0]:
                yield node.with_changes(value=other)


def _drop_element(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    if isinstance(node, cst.List | cst.Tuple | cst.Dict) or (
        isinstance(node, cst.Set) and len(node.elements) > 1
    ):
        elements = list(node.elements)
        for i in range(len(elements)):
            rest = elements[:i] + elements[i + 1 :]
            if isinstance(node, cst.Tuple) and len(rest) == 1:  # still a tuple: ("x",)
                rest[-1] = rest[-1].with_changes(comma=cst.Comma())
            yield node.with_changes(elements=rest)


def _enum_members(module: cst.Module) -> dict[str, set[str]]:
    """Enum name -> its UPPER_CASE members referenced (or defined) in this module."""
    members: dict[str, set[str]] = {}

    class Visitor(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            if (
                isinstance(node.value, cst.Name)
                and node.attr.value.isupper()
                and node.value.value[:1].isupper()
            ):
                members.setdefault(node.value.value, set()).add(node.attr.value)

    module.visit(Visitor())
    return {name: found for name, found in members.items() if len(found) > 1}


def _enum_aliases(module: cst.Module) -> dict[str, str]:
    """Module-level names bound to an enum member (``_R = Ending.RETRY``) -> "Enum.MEMBER"."""
    aliases: dict[str, str] = {}
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if (
                    isinstance(small, cst.Assign)
                    and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name)
                    and isinstance(small.value, cst.Attribute)
                    and isinstance(small.value.value, cst.Name)
                    and small.value.attr.value.isupper()
                ):
                    aliases[small.targets[0].target.value] = (
                        f"{small.value.value.value}.{small.value.attr.value}"
                    )
    return aliases
