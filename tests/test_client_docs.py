"""docs/client.md: its example runs (against the in-process emulator), and its operation table is the
client's."""

from __future__ import annotations

import re
from pathlib import Path

import alipay_cancel.alipay as alipay
from alipay_cancel.alipay import OPERATIONS, AlipayClient

DOC = Path(__file__).resolve().parent.parent / "docs" / "client.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_example_runs() -> None:
    (example,) = _python_blocks(DOC.read_text(encoding="utf-8"))
    exec(compile(example, str(DOC), "exec"), {})  # noqa: S102 - our own documentation


def test_the_operation_table_is_the_clients() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)\([^`]*\)` \| `(GET|POST) ([^ ?`]+)", text, re.M)
    assert {(method, path) for _, method, path in rows} == {(op.method, op.path) for op in OPERATIONS}
    for name, _, _ in rows:
        assert callable(getattr(AlipayClient, name))


def test_the_public_names_the_page_uses_exist() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in ("AlipayError", "InvalidRequest", "InvalidSetting", "SigningMaterialError", "TradeRef"):
        assert name in text and name in alipay.__all__
