"""What classification decided (``Decision``), and how a rule of the code tables becomes one.

A rule says what happened in words, the outcome and the remedy; the decision adds the delay its
outcome needs and labels the reason with the answer's HTTP status, codes and kind. Codes are
sanitised here because an unverified body is attacker-controlled.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from alipay_cancel.alipay.responses import AlipayFailure
from alipay_cancel.decisions.alipay_codes import RetryDelay, Rule
from alipay_cancel.shared.endings import Ending

_SAFE_CODE = re.compile(r"[^A-Za-z0-9._:-]")


class Decision(NamedTuple):
    """The classification of one Alipay answer (or failure to get one)."""

    outcome: Ending
    reason: str  # one readable sentence: what happened
    remedy: str | None = None  # what a person should do (terminal and config errors always have one)
    delay: RetryDelay | None = None  # set for RETRY and CONFIG_ERROR
    refresh_secret: bool = False  # bad response signature / Alipay says our signature is invalid
    code: str | None = None
    sub_code: str | None = None


def decide(f: AlipayFailure, rule: Rule) -> Decision:
    """The decision ``rule`` makes for this failure."""
    delay: RetryDelay | None = None
    if rule.outcome is Ending.RETRY:
        delay = RetryDelay.SLOW if rule.slow else RetryDelay.NORMAL
    elif rule.outcome is Ending.CONFIG_ERROR:
        delay = RetryDelay.SLOW  # a person must act; do not burn the receive count meanwhile
    return Decision(
        outcome=rule.outcome,
        reason=f"{rule.what} ({_label(f)})",
        remedy=rule.remedy,
        delay=delay,
        refresh_secret=rule.refresh_secret,
        code=_safe(f.code),
        sub_code=_safe(f.sub_code),
    )


def retry(f: AlipayFailure, what: str) -> Decision:
    """A plain retry (normal delay, no remedy) saying ``what`` happened."""
    return decide(f, Rule(Ending.RETRY, what))


def _safe(code: str | None) -> str | None:
    if code is None:
        return None
    cleaned = _SAFE_CODE.sub("?", code.strip())[:64]
    return cleaned or None


def _label(f: AlipayFailure) -> str:
    parts = []
    if f.http_status is not None:
        parts.append(f"HTTP {f.http_status}")
    if f.code:
        parts.append(f"code {_safe(f.code)}")
    if f.sub_code:
        parts.append(f"sub_code {_safe(f.sub_code)}")
    parts.append(f.kind.value)
    return ", ".join(parts)
