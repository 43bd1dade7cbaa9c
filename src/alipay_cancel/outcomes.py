"""Pure classification of an Alipay outcome into what the pipeline does next (DESIGN.md "Outcomes")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from alipay_cancel.alipay_responses import CancelOutcome


class OutcomeClass(str, Enum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    TERMINAL = "terminal"
    CONFIG_ERROR = "config_error"  # our deployment is wrong; retried, never bulk dead-lettered; alarms


class RetryDelay(str, Enum):
    NORMAL = "normal"
    SLOW = "slow"  # e.g. merchant balance: the merchant must act first


@dataclass(frozen=True)
class Decision:
    outcome: OutcomeClass
    reason: str  # one readable sentence: what happened
    remedy: str | None = None  # what a person should do (terminal and config errors always have one)
    delay: RetryDelay | None = None  # set for RETRY and CONFIG_ERROR
    refresh_secret: bool = False  # bad response signature / Alipay says our signature is invalid
    code: str | None = None
    sub_code: str | None = None


def classify(outcome: CancelOutcome) -> Decision:
    raise NotImplementedError
