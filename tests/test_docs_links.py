"""The documentation holds together: every relative link of the README and docs/ leads to a file of the
repository (and to a heading that exists, when it names one), the README stays short with a table of
contents that lists its sections, and docs/README.md lists every page under docs/."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest

from tests.docs_support import PAGES, README, ROOT, anchor, anchors, headings, links, page

MAX_README_LINES = 350


def _relative(target: str) -> bool:
    return not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: ...


def _resolve(name: str, target: str) -> tuple[str, str]:
    """(repository path, anchor) of a relative link on page ``name``; the path is ``name`` itself for
    a link to a heading of the same page."""
    path, _, fragment = target.partition("#")
    if not path:
        return name, fragment
    parts: list[str] = []
    for part in (*PurePosixPath(name).parent.parts, *PurePosixPath(path).parts):
        if part == "..":
            assert parts, f"{name}: {target} leads out of the repository"
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts), fragment


@pytest.mark.parametrize("name", PAGES)
def test_every_relative_link_resolves(name: str) -> None:
    relative = [target for target in links(name) if _relative(target)]
    for target in relative:
        path, fragment = _resolve(name, target)
        assert (ROOT / path).exists(), f"{name}: {target} ({path} does not exist)"
        if fragment:
            assert path.endswith(".md"), f"{name}: {target} names a heading of a file that has none"
            assert fragment in anchors(path), f"{name}: {target} (no heading #{fragment} in {path})"


def test_the_link_checker_finds_a_broken_link_and_a_missing_heading() -> None:
    """The two ways a link breaks are seen (not a check that can never fail)."""
    assert not (ROOT / _resolve("docs/ledger.md", "no-such-page.md")[0]).exists()
    path, fragment = _resolve("docs/ledger.md", "../README.md#no-such-heading")
    assert path == README and fragment not in anchors(path)
    assert _resolve("docs/ledger.md", "#states") == ("docs/ledger.md", "states")
    assert "states" in anchors("docs/ledger.md")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "Results: DynamoDB `CancelResultsTable` (the ledger)",
            "results-dynamodb-cancelresultstable-the-ledger",
        ),
        (
            "CancelFunctionErrorsAlarm / CancelFunctionThrottlesAlarm",
            "cancelfunctionerrorsalarm--cancelfunctionthrottlesalarm",
        ),
        ("Duplicates: drop them by `event_id`", "duplicates-drop-them-by-event_id"),
        ("One event: `make invoke`", "one-event-make-invoke"),
    ],
)
def test_anchors_are_githubs(title: str, expected: str) -> None:
    assert anchor(title) == expected


def test_the_readme_is_short() -> None:
    lines = page(README).count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: move detail to a page under docs/"


def _contents() -> list[tuple[str, str]]:
    """(text, anchor) of each entry of the README's table of contents."""
    text = page(README).split("\n## Contents\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- \[([^\]]+)\]\(#([^)]+)\)$", text, re.M)


def test_the_readme_has_a_table_of_contents_of_its_sections() -> None:
    entries = _contents()
    sections = [title for level, title in headings(README) if level == 2 and title != "Contents"]
    assert [text for text, _ in entries] == sections
    for text, target in entries:
        assert target == anchor(text) and target in anchors(README), target
    assert page(README).index("## Contents") < page(README).index(f"## {sections[0]}")


def test_the_docs_index_lists_every_page() -> None:
    listed = {target for target in links("docs/README.md") if _relative(target) and "/" not in target}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert pages <= listed, pages - listed
    assert "[docs/README.md](docs/README.md)" in page(README)


@pytest.mark.parametrize("name", PAGES)
def test_no_page_points_outside_the_repository(name: str) -> None:
    text = page(name)
    for outside in ("../shared", "/work/"):
        assert outside not in text, f"{name} mentions {outside}"
