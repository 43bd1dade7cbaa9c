"""The trades the local tools seed in the Alipay emulator: those the ``events/*.json`` files name (so
``make invoke`` and ``sam local invoke`` show each outcome events/README.md promises) and the local
stack's examples (``local.showcase.EXAMPLES``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.alipay_gateway.admin_client import GatewayAdmin
from local.aws.template_settings import REPO_ROOT
from local.showcase import EXAMPLES

EVENTS_DIR = REPO_ROOT / "events"


def event_trades(events_dir: Path = EVENTS_DIR) -> list[dict[str, Any]]:
    """One seed per trade the events name. The state comes from the id's middle word
    (DEMO-UNPAID-0001, DEMO-PAID-.., DEMO-FINISHED-.., DEMO-FROZEN-.., DEMO-WINDOW-..: outside the
    cancel window); ids without one are seeded unpaid."""
    specs: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for path in sorted(events_dir.glob("*.json")):
        try:
            records = json.loads(path.read_text(encoding="utf-8")).get("Records", [])
        except (ValueError, AttributeError):
            continue
        for record in records:
            ids = _ids_in_body(str(record.get("body", "")))
            if ids is None:
                continue
            out_trade_no, trade_no = ids
            word = (out_trade_no or "").split("-")[1:2]
            state = {"PAID": "paid", "FINISHED": "finished", "FROZEN": "frozen"}.get(
                word[0] if word else "", "unpaid"
            )
            spec: dict[str, Any] = {"out_trade_no": out_trade_no, "trade_no": trade_no, "state": state}
            if word == ["WINDOW"]:
                spec["outside_cancel_window"] = True
            specs[(out_trade_no, trade_no)] = spec
    return list(specs.values())


def seed(gateway_url: str, *, examples: bool = True) -> list[dict[str, Any]]:
    """Seed the events' trades, and the examples unless told not to; returns what the emulator holds."""
    specs = event_trades() + ([example.seed for example in EXAMPLES] if examples else [])
    if not specs:
        return []
    admin = GatewayAdmin(gateway_url)
    try:
        return admin.seed_trades(specs)
    finally:
        admin.close()


def _ids_in_body(body: str) -> tuple[str | None, str | None] | None:
    """(out_trade_no, trade_no) from a message body, unwrapping one SNS envelope; None if unusable."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification":
            data = json.loads(data.get("Message", ""))
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    out_trade_no, trade_no = data.get("out_trade_no"), data.get("trade_no")
    out_ok = isinstance(out_trade_no, str) and out_trade_no
    no_ok = isinstance(trade_no, str) and trade_no
    if not (out_ok or no_ok):
        return None
    return (out_trade_no if out_ok else None, trade_no if no_ok else None)
