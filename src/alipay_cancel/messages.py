"""Parse one SQS message body into a cancel request (DESIGN.md "Input")."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CancelRequest:
    out_trade_no: str | None
    trade_no: str | None
    app_auth_token: str | None = field(default=None, repr=False)  # secret-ish: never printed

    @property
    def trade_key(self) -> str:
        """Partition key of the results table: out_trade_no when given, else trade_no."""
        key = self.out_trade_no or self.trade_no
        assert key is not None
        return key


class BadMessage(ValueError):
    """The body can never become a cancel: dead-letter it on first receipt.

    ``reason`` is readable by a person; ``trade_key`` is set when a usable id could still be read
    (so the bad message can be recorded too).
    """

    def __init__(self, reason: str, trade_key: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.trade_key = trade_key


def parse_message(body: str) -> CancelRequest:
    """Raise ``BadMessage`` for anything DESIGN.md calls a bad message."""
    raise NotImplementedError
