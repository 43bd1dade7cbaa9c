"""What the operator tools show of a message body: never an ``app_auth_token``.

- A body that parses as JSON is shown re-serialised, with the value of every key that spells the
  token's name replaced by ``***`` (any case; ``_``, ``-``, ``.``, a space or nothing between the
  words; the parser has already resolved escapes such as ``"app_auth_\\u0074oken"``), at any depth,
  and inside every string value too (an SNS envelope's ``Message`` holds JSON as text).
- A body that does not parse is not shown: ``shown_body`` gives its size and SHA-256 instead. Only
  when the operator asks (``--show-unparseable-bodies``) is its text shown, through ``mask_text``,
  which masks the value after every spelling of the key it can find in raw text: JSON ``\\uXXXX`` and
  URL ``%XX`` escapes of any letter, quotes and whitespace (also escaped, at any depth) around a ``:``
  or ``=``, or no separator at all. A quoted value is masked up to its closing quote (an escaped
  quote inside it does not end it), an unquoted one up to the next whitespace; one that opens an
  object or a list (``{`` or ``[``, also escaped) to the end of the text, since the token may sit
  inside it past whitespace and broken text has no reliable end to it; with no end in sight, to the
  end of the text. Masking too much is the safe error.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, NamedTuple

MASK = "***"


def _char(c: str) -> str:
    """One letter of the key: itself in either case, a JSON \\uXXXX escape (behind any number of
    backslashes: JSON inside JSON) or a URL %XX escape."""
    codes = {f"{ord(c):04x}", f"{ord(c.upper()):04x}"}
    escapes = "|".join(rf"(?<!\\)\\++u{code}" for code in sorted(codes))
    urls = "|".join(rf"%{code[2:]}" for code in sorted(codes))
    return rf"(?:[{c}{c.upper()}]|{escapes}|{urls})"


def _word(word: str) -> str:
    return "".join(_char(c) for c in word)


_BETWEEN = r"(?:[_\-. ]|\\++u00(?:5f|2d|2e|20)|%(?:5f|2d|2e|20))?"
# "app" is optional: ``auth_token`` is masked too.
_KEY = re.compile(
    rf"(?:{_word('app')}{_BETWEEN})?{_word('auth')}{_BETWEEN}{_word('token')}",
    re.IGNORECASE,
)
# What may stand between the key and its value: quotes, whitespace, backslashes, and their escapes.
_QUOTE = r"(?:[\"']|\\++u00(?:22|27)|%(?:22|27))"
_SPACE = r"(?:\s|\\++[nrt]|\\++u00(?:20|09|0a|0d)|%(?:20|09|0a|0d)|\\++(?!u[0-9a-f]{4}))"
_SEPARATOR = r"(?:[:=]|\\++u003[ad]|%3[ad])"
_AROUND = re.compile(
    rf"(?P<before>(?:{_QUOTE}|{_SPACE})*+)(?P<sep>{_SEPARATOR})?(?P<after>(?:{_QUOTE}|{_SPACE})*+)",
    re.IGNORECASE,
)
_LAST_QUOTE = re.compile(r"(?P<slashes>\\*)(?P<quote>[\"']|(?<=\\)u00(?:22|27)|%(?:22|27))", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s")
_OPENS_CONTAINER = re.compile(r"[{\[]|\\++u00(?:7b|5b)|%(?:7b|5b)", re.IGNORECASE)


def mask_text(text: str) -> str:
    """``text`` with the value after every spelling of the token's key replaced by ``***``."""
    out: list[str] = []
    position = 0
    while (key := _KEY.search(text, position)) is not None:
        around = _AROUND.match(text, key.end())
        assert around is not None  # every part is optional: it always matches
        start = around.end()
        end = _value_end(text, start, around.group("after") if around.group("sep") else around.group(0))
        out.append(text[position:start])
        if end > start:
            out.append(MASK)
        position = max(end, start)
        if position == key.start():  # pragma: no cover - the key is never empty
            position += 1
    out.append(text[position:])
    return "".join(out)


def _value_end(text: str, start: int, lead: str) -> int:
    """Where the value that starts at ``start`` ends: its closing quote, or the next whitespace when
    unquoted. A quote behind ``s`` backslashes opens it; inside, each level of escaping doubles the
    backslashes, so a quote closes it when the backslashes before it are ``s`` plus a whole number of
    escaped backslashes (an odd count at plain JSON's level: ``\\"`` is an escaped quote)."""
    quotes = list(_LAST_QUOTE.finditer(lead))
    if not quotes:
        if _OPENS_CONTAINER.match(text, start):
            return len(text)
        blank = _WHITESPACE.search(text, start)
        return blank.start() if blank else len(text)
    opening = quotes[-1]
    quote = opening.group("quote")
    escapes = len(opening.group("slashes"))
    u_form = quote[:1] in ("u", "U")  # \u0022: its own backslash counts, not a level of escaping
    period = 2 * escapes if u_form else 2 * (escapes + 1)
    candidates = re.compile(r"(?<!\\)(?P<slashes>\\*)" + re.escape(quote), re.IGNORECASE)
    for found in candidates.finditer(text, start):
        extra = len(found.group("slashes")) - escapes
        if extra >= 0 and extra % period == 0:
            return found.start() + extra
    return len(text)


def is_token_key(name: str) -> bool:
    """A JSON key that names the token, however it is spelt (case, separators)."""
    return "authtoken" in re.sub(r"[^a-z0-9]", "", name.casefold())


def mask_document(value: Any) -> Any:
    """A parsed JSON value with every token masked (keys that name it, and text inside strings)."""
    if isinstance(value, dict):
        return {
            key: MASK if is_token_key(str(key)) and inner is not None else mask_document(inner)
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [mask_document(inner) for inner in value]
    if isinstance(value, str):
        return _mask_string(value)
    return value


def _mask_string(text: str) -> str:
    if text.lstrip()[:1] in ("{", "["):  # JSON held as text (an SNS Message): masked as a document
        try:
            return json.dumps(mask_document(json.loads(text)), ensure_ascii=False)
        except (ValueError, RecursionError):
            pass
    return mask_text(text)


def _printable(text: str) -> str:
    """Text any terminal or UTF-8 file can take: a lone surrogate (JSON allows ``"\\ud800"``)
    becomes its escape instead of failing the whole listing."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


class ShownBody(NamedTuple):
    """A body as the tools show it: ``text`` is None when it was not shown (not JSON, not asked)."""

    text: str | None
    parsed: bool  # it parsed as JSON (its text is the masked document)
    size: int  # bytes, UTF-8
    sha256: str

    def describe(self, *, hint: bool = True) -> str:
        """The text, or what stands for it; ``hint``: say how the CLI shows it (else a short digest)."""
        if self.text is not None:
            return self.text
        if not hint:
            return f"(not JSON, not shown: {self.size} bytes, sha256 {self.sha256[:16]}…)"
        return (
            f"(not JSON, not shown: {self.size} bytes, sha256 {self.sha256}; "
            "--show-unparseable-bodies shows it with tokens masked)"
        )


def shown_body(body: str, *, show_unparseable: bool = False) -> ShownBody:
    raw = body.encode("utf-8", errors="surrogatepass")
    size, digest = len(raw), hashlib.sha256(raw).hexdigest()
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return ShownBody(_printable(mask_text(body)) if show_unparseable else None, False, size, digest)
    try:
        text = json.dumps(mask_document(document), ensure_ascii=False)
    except RecursionError:  # parsed, but too deep to walk: treated as unparseable
        return ShownBody(_printable(mask_text(body)) if show_unparseable else None, False, size, digest)
    return ShownBody(_printable(text), True, size, digest)


def mask_token(body: str) -> str:
    """The body as text with every token masked, whether it parses or not (for bodies this tool
    built itself, and for free text such as a log line)."""
    shown = shown_body(body, show_unparseable=True)
    assert shown.text is not None
    return shown.text
