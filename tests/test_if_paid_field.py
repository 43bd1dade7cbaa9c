"""A message's ``if_paid``: the paid-trade policy for this trade, or why the message is a bad one."""

from __future__ import annotations

import pytest

from alipay_cancel.pipeline.message_fields import JsonObject, check_if_paid
from alipay_cancel.shared.trade import PaidTradePolicy

WRONG = (
    "if_paid must be refund or keep (what to do if the buyer paid), or left out for the deployment's "
    "PaidTradePolicy"
)


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (JsonObject(), (None, None)),  # the deployment's policy
        (JsonObject(if_paid=None), (None, None)),
        (JsonObject(if_paid="keep"), (None, PaidTradePolicy.KEEP)),
        (JsonObject(if_paid="refund"), (None, PaidTradePolicy.REFUND)),
        (JsonObject(if_paid="Keep"), (WRONG, None)),
        (JsonObject(if_paid="never"), (WRONG, None)),
        (JsonObject(if_paid=5), ("if_paid must be a string, got a number", None)),
    ],
)
def test_if_paid_is_refund_keep_or_left_out(message: JsonObject, said: tuple[object, object]) -> None:
    assert check_if_paid(message) == said
