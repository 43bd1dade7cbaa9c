"""No output of the operator tools shows an app_auth_token, whatever the body's shape.

The token in these tests is the only source of the letters in ``TOKEN_LETTERS`` (the key spellings,
the surrounding text and the escapes never use them), so "no token letter in the output" means no
part of the token was shown; and the text after the value must still be there, so masking everything
would fail too."""

from __future__ import annotations

import hashlib
import json
import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alipay_cancel_ops.masking import (
    MASK,
    ShownBody,
    _word,
    is_token_key,
    mask_document,
    mask_text,
    mask_token,
    shown_body,
)

TOKEN_LETTERS = "GILQRVWXYZ"
# Visible ASCII a token may hold (the contract: 1-256 visible characters), quotes and backslashes too.
TOKEN_CHARS = TOKEN_LETTERS + "0123456789" + "\"'\\:=,;{}[]()<>!#$%&*+-./?@^_`|~"
AROUND_TEXT = st.text(alphabet="abcdfgvwxyz{}[],;:= \n", max_size=20)
TAIL = " tail-survives"

tokens = st.builds(
    lambda head, middle, end: head + middle + end,
    st.sampled_from(TOKEN_LETTERS),
    st.text(alphabet=TOKEN_CHARS, max_size=40),
    st.sampled_from(TOKEN_LETTERS),
)


@st.composite
def key_spellings(draw: st.DrawFn) -> str:
    """app_auth_token as a hostile producer might spell it: any case, escaped letters, other separators."""
    words = []
    for word in ("app", "auth", "token"):
        letters = []
        for c in word:
            form = draw(st.sampled_from(["lower", "upper", "json", "json-nested", "url"]))
            code = f"{ord(c):04x}"
            code = code.upper() if draw(st.booleans()) else code
            letters.append(
                {
                    "lower": c,
                    "upper": c.upper(),
                    "json": "\\u" + code,
                    "json-nested": "\\\\u" + code,
                    "url": "%" + code[2:],
                }[form]
            )
        words.append("".join(letters))
    between = draw(st.sampled_from(["_", "-", ".", " ", "", "\\u005f", "%5F"]))
    return between.join(words)


BLANKS = st.lists(st.sampled_from([" ", "\n", "\t", "\r", "\\n", "\\t"]), max_size=4).map("".join)
SEPARATORS = st.sampled_from([":", "=", "\\u003a", "\\u003D", "%3A", "%3d"])


def _quoted(token: str, style: str) -> str:
    if style == "none":
        return token
    if style == '"':
        return json.dumps(token)
    if style == '\\"':  # JSON held as text inside JSON (an SNS Message)
        return json.dumps(json.dumps(token))[1:-1]
    if style == "'":
        return "'" + token.replace("\\", "\\\\").replace("'", "\\'") + "'"
    assert style == "\\u0022"
    return "\\u0022" + token.replace("\\", "\\\\") + "\\u0022"


@given(
    before=AROUND_TEXT,
    key=key_spellings(),
    key_quote=st.sampled_from(["", '"', '\\"', "'"]),
    blank_before=BLANKS,
    separator=SEPARATORS,
    blank_after=BLANKS,
    value_quote=st.sampled_from(["none", '"', '\\"', "'", "\\u0022"]),
    token=tokens,
)
def test_no_spelling_of_the_key_shows_its_value(
    before: str,
    key: str,
    key_quote: str,
    blank_before: str,
    separator: str,
    blank_after: str,
    value_quote: str,
    token: str,
) -> None:
    value = _quoted(token, value_quote)
    text = f"{before}{key_quote}{key}{key_quote}{blank_before}{separator}{blank_after}{value}"
    shown = mask_text(text + TAIL)
    assert not set(shown) & set(TOKEN_LETTERS), (text, shown)
    assert shown.endswith(TAIL) and MASK in shown


@given(key=key_spellings(), blank=st.text(alphabet=" \n\t", min_size=1, max_size=4), token=tokens)
def test_a_value_after_the_key_without_a_separator_is_masked_too(key: str, blank: str, token: str) -> None:
    shown = mask_text(f"{key}{blank}{token}{TAIL}")
    assert not set(shown) & set(TOKEN_LETTERS) and shown.endswith(TAIL)


@given(
    before=AROUND_TEXT,
    key=key_spellings(),
    separator=SEPARATORS,
    blank=BLANKS,
    opening=st.sampled_from(["{", "[", "\\u007b", "\\u005B", "%7B", "%5b"]),
    inner_blank=st.text(alphabet=" \n\t", min_size=1, max_size=3),
    value_quote=st.sampled_from(["none", '"', '\\"', "'"]),
    token=tokens,
)
def test_a_value_that_opens_an_object_or_a_list_is_masked_to_the_end(
    before: str,
    key: str,
    separator: str,
    blank: str,
    opening: str,
    inner_blank: str,
    value_quote: str,
    token: str,
) -> None:
    # Broken text gives no reliable end to a container, and the token may sit inside it past whitespace:
    # everything from the value on is masked (the text before the key is still shown).
    text = f'{before}"{key}"{blank}{separator}{blank}{opening}"v":{inner_blank}{_quoted(token, value_quote)}'
    shown = mask_text(text + "}, broken" + TAIL)
    assert not set(shown) & set(TOKEN_LETTERS), (text, shown)
    assert shown.startswith(before) and shown.endswith(MASK)


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ('{"app_auth_token": {"v": "GILQ"}, broken', '{"app_auth_token": ***'),
        ('{"app_auth_token": [ "GILQ" ], "trade_no": "t-1", broken', '{"app_auth_token": ***'),
        (
            '{"app_auth_token": "GILQ", "trade_no": {"t": 1}, broken',
            '{"app_auth_token": "***", "trade_no": {"t": 1}, broken',
        ),
    ],
)
def test_an_unparseable_body_never_shows_a_token_held_in_an_object_or_a_list(body: str, shown: str) -> None:
    assert shown_body(body, show_unparseable=True).text == shown


def _json_key(name: str, escape: bool) -> str:
    """The key as raw JSON text, its letters \\u-escaped when asked (the parser resolves them)."""
    if not escape:
        return json.dumps(name)
    return '"' + "".join(f"\\u{ord(c):04x}" if c.isalpha() else c for c in name) + '"'


@given(
    name=st.sampled_from(
        ["app_auth_token", "APP_AUTH_TOKEN", "appAuthToken", "app-auth-token", "auth_token"]
    ),
    escape=st.booleans(),
    depth=st.integers(0, 3),
    wrap=st.sampled_from(["plain", "sns", "list"]),
    token=tokens,
    value_type=st.sampled_from(["string", "list", "object"]),
)
def test_a_json_body_never_shows_the_token_under_any_spelling_of_its_key(
    name: str, escape: bool, depth: int, wrap: str, token: str, value_type: str
) -> None:
    value = {"string": json.dumps(token), "list": json.dumps([token]), "object": json.dumps({"v": token})}[
        value_type
    ]
    text = "{" + _json_key(name, escape) + ": " + value + ', "trade_no": "t-1"}'
    for _ in range(depth):
        text = '{"nested": ' + text + "}"
    if wrap == "sns":
        text = json.dumps({"Type": "Notification", "Message": text})
    elif wrap == "list":
        text = "[" + text + "]"
    shown = shown_body(text)
    assert shown.parsed and shown.text is not None
    assert not set(shown.text) & set(TOKEN_LETTERS), shown.text
    assert "t-1" in shown.text  # the rest of the body is still there


@given(token=tokens, key=key_spellings())
def test_a_body_that_is_not_json_is_not_shown_unless_asked(token: str, key: str) -> None:
    body = f"not json, {key}={token}"
    hidden = shown_body(body)
    assert hidden.text is None and not hidden.parsed
    assert hidden.size == len(body.encode()) and len(hidden.sha256) == 64
    assert not set(hidden.describe()) & set(TOKEN_LETTERS)
    asked = shown_body(body, show_unparseable=True)
    assert asked.text is not None and "not json" in asked.text
    assert not set(asked.text) & set(TOKEN_LETTERS)


@pytest.mark.parametrize(
    ("name", "token_key"),
    [
        ("app_auth_token", True),
        ("App-Auth.Token", True),
        ("appauthtoken", True),
        ("auth_token", True),
        ("trade_no", False),
        ("app_id", False),
        ("token_type", False),
    ],
)
def test_which_keys_name_the_token(name: str, token_key: bool) -> None:
    assert is_token_key(name) is token_key


def test_masking_stays_linear_on_hostile_input() -> None:
    """Runs of backslashes and keys cannot make the masking quadratic (a 256 KiB body)."""
    import time

    started = time.process_time()
    for text in ("\\" * 262144, ("app_auth_token=x " * 16000), ("\\u0061" * 40000) + "uth_token"):
        mask_text(text)
    # Generous: linear work here takes well under a second even on a busy machine; quadratic takes minutes.
    assert time.process_time() - started < 20


# Exact output, where the rule is easy to get almost right: a quoted value is masked up to its own
# closing quote (the text after it stays as it was), however the quotes are escaped.
@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('{"auth_token": "SECRET", "trade_no": "t-1"}', '{"auth_token": "***", "trade_no": "t-1"}'),
        ('auth_token "SECRET" tail', 'auth_token "***" tail'),  # no separator: the quote still counts
        ('{"auth_token": "SE\\\\", "n": 1}', '{"auth_token": "***", "n": 1}'),  # ends in a backslash
        (
            "{\\u0022auth_token\\u0022: \\u0022SE\\\\\\u0022, \\u0022n\\u0022: 1}",
            "{\\u0022auth_token\\u0022: \\u0022***\\u0022, \\u0022n\\u0022: 1}",
        ),
        (  # JSON in JSON: \\\\u0022 is an escaped \u0022 inside the value, not its end
            '{"Message": "{\\\\u0022auth_token\\\\u0022: '
            '\\\\u0022SE\\\\\\\\u0022CRET\\\\u0022, \\\\u0022n\\\\u0022: 1}"}',
            '{"Message": "{\\\\u0022auth_token\\\\u0022: \\\\u0022***\\\\u0022, \\\\u0022n\\\\u0022: 1}"}',
        ),
        (
            "x \\U0022app_auth_token\\U0022: \\U0022SECRET\\U0022,\\U0022n\\U0022: 1",
            "x \\U0022app_auth_token\\U0022: \\U0022***\\U0022,\\U0022n\\U0022: 1",
        ),
        ("auth_token=\\U0022SE\\\\\\U0022, n", "auth_token=\\U0022***\\U0022, n"),
        ("auth_token=\\U0022SECRET\\u0022 tail", "auth_token=\\U0022***\\u0022 tail"),
        ("auth_token:", "auth_token:"),  # nothing after the key: nothing hidden, no mask
    ],
)
def test_a_quoted_value_is_masked_up_to_its_own_closing_quote(text: str, shown: str) -> None:
    assert mask_text(text) == shown
    assert mask_token(text) == shown  # not JSON: the same masking


@pytest.mark.parametrize(
    "spelling",
    [
        "token",
        "TOKEN",
        "\\u0074oken",
        "\\u0054OKEN",
        "\\\\u0074\\u006F\\u006b\\u0045\\u006e",
        "%74%4F%6b%45%6E",
    ],
)
def test_every_spelling_of_each_letter_of_the_key_is_that_letter(spelling: str) -> None:
    # The key's pattern is built from _word when the module is imported; checked here directly.
    assert re.fullmatch(_word("token"), spelling, re.IGNORECASE), spelling
    assert not re.fullmatch(_word("token"), "tokem", re.IGNORECASE)


@pytest.mark.parametrize(
    "message",
    [
        '[{"auth_token": {"v": "SECRET"}}, "n"]',  # JSON held as text, a list
        '\n {"auth_token": {"v": "SECRET"}, "n": 1}',  # an object behind whitespace
    ],
)
def test_json_held_as_text_is_masked_as_a_document(message: str) -> None:
    shown = shown_body(json.dumps({"Type": "Notification", "Message": message}))
    assert shown.parsed and shown.text is not None
    assert "SECRET" not in shown.text
    assert json.loads(json.loads(shown.text)["Message"]) == mask_document(json.loads(message))


def test_a_body_is_shown_as_written_its_size_and_digest_those_of_its_bytes() -> None:
    body = '{"subject": "订单", "Message": "{\\"subject\\": \\"订单\\", \\"app_auth_token\\": \\"SECRET\\"}"}'
    shown = shown_body(body)
    assert shown == ShownBody(
        '{"subject": "订单", "Message": "{\\"subject\\": \\"订单\\", \\"app_auth_token\\": \\"***\\"}"}',
        True,
        len(body.encode()),
        hashlib.sha256(body.encode()).hexdigest(),
    )
    assert shown.describe() == shown.text


def test_a_body_that_is_not_json_is_described_by_its_size_and_digest() -> None:
    body = "not json: app_auth_token=SECRET"
    digest = hashlib.sha256(body.encode()).hexdigest()
    hidden = shown_body(body)
    assert hidden == ShownBody(None, False, 31, digest)
    assert hidden.describe() == (
        f"(not JSON, not shown: 31 bytes, sha256 {digest}; "
        "--show-unparseable-bodies shows it with tokens masked)"
    )
    assert hidden.describe(hint=False) == f"(not JSON, not shown: 31 bytes, sha256 {digest[:16]}…)"
    assert shown_body(body, show_unparseable=True) == ShownBody(
        "not json: app_auth_token=***", False, 31, digest
    )


def test_a_lone_surrogate_is_shown_as_its_escape_and_counted_as_its_bytes() -> None:
    parsed = shown_body('{"note": "\\ud800"}')  # JSON allows it
    assert parsed.text == '{"note": "\\ud800"}' and parsed.parsed  # the escape, not an error
    raw = "x \ud800 app_auth_token=SECRET"
    unparsed = shown_body(raw, show_unparseable=True)
    encoded = raw.encode("utf-8", errors="surrogatepass")
    assert unparsed == ShownBody(
        "x \\ud800 app_auth_token=***", False, len(encoded), hashlib.sha256(encoded).hexdigest()
    )


def test_a_document_too_deep_to_walk_is_treated_as_unparseable() -> None:
    # Deep enough that walking it to mask exceeds the recursion limit, shallow enough for the parser:
    # before 3.12 json's C parser counts against that limit and a list comprehension is a frame of its
    # own (two a level); from 3.12 comprehensions are inlined and C code has a limit of its own.
    limit = sys.getrecursionlimit()
    depth = limit * 7 // 10 if sys.version_info < (3, 12) else limit + 100
    body = "[" * depth + "]" * depth
    assert json.loads(body) is not None
    digest = hashlib.sha256(body.encode()).hexdigest()
    assert shown_body(body) == ShownBody(None, False, 2 * depth, digest)
    assert shown_body(body, show_unparseable=True) == ShownBody(body, False, 2 * depth, digest)


def test_mask_token_masks_a_body_whether_it_parses_or_not() -> None:
    assert mask_token('{"app_auth_token": "SECRET", "n": 1}') == '{"app_auth_token": "***", "n": 1}'
    assert mask_token("app_auth_token=SECRET tail") == "app_auth_token=*** tail"
