"""Reading the documentation as a test reads it: a page, the text under one of its headings, the first
table in a text, the headings' anchors (as GitHub makes them) and the links a page holds."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = "README.md"
# Every Markdown page of the documentation: the README, docs/, and the READMEs beside code.
PAGES = (README, *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")), "events/README.md")


@cache
def page(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def section(name: str, title: str) -> str:
    """The text of page ``name`` under the heading ``title``, up to the next heading of the same or a
    higher level (headings inside code blocks are not headings)."""
    text = _without_code(page(name))
    match = re.search(rf"^(#+) {re.escape(title)}\n", text, re.M)
    assert match, f"{name} has no heading {title!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, match.end())
    return page(name)[match.end() : end.start() if end else None]


def flat(text: str) -> str:
    """For phrases a page wraps across lines."""
    return " ".join(text.split())


def table(text: str) -> list[list[str]]:
    """Body rows of the first Markdown table in ``text`` (header and separator dropped)."""
    block: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            block.append(line)
        elif block:
            break
    assert len(block) > 2, "no table found"
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block[2:]]


def _without_code(text: str) -> str:
    """``text`` with every fenced code block's lines blanked (same length, so offsets still hold)."""
    out, fenced = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
            out.append(" " * (len(line) - 1) + "\n")
        elif fenced:
            out.append(" " * (len(line.rstrip("\n"))) + ("\n" if line.endswith("\n") else ""))
        else:
            out.append(line)
    return "".join(out)


def headings(name: str) -> list[tuple[int, str]]:
    """(level, title) of every heading of page ``name``, in order."""
    return [
        (len(m.group(1)), m.group(2).strip())
        for m in re.finditer(r"^(#{1,6}) (.+)$", _without_code(page(name)), re.M)
    ]


def anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (hyphens and underscores kept),
    each space a hyphen."""
    text = re.sub(r"[`*]", "", title).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(name: str) -> set[str]:
    """Every anchor page ``name`` offers; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, title in headings(name):
        base = anchor(title)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(name: str) -> list[str]:
    """The targets of the Markdown links of page ``name`` outside code blocks (images included)."""
    text = _without_code(page(name))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return re.findall(r"\]\(([^)\s]+)\)", text)
