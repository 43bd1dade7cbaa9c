"""Money amounts as Alipay writes them: yuan with at most two decimals, kept as strings like
``"88.88"``, never floats.

Alipay's SDK models type amounts as strings; its v3 doc examples show some as JSON numbers
(``"total_amount": 88.88``). Both are read here: answers are decoded with ``Decimal`` for JSON
numbers (``response_parsing``), so a number is never rounded through a float. Every amount read or
sent is normalised to two decimals (``"100"`` -> ``"100.00"``), so two amounts compare as strings.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Alipay: a trade is at most 100,000,000.00 yuan; the cap also keeps a hostile exponent from turning
# into a huge string.
MAX_AMOUNT = Decimal("100000000.00")
_CENT = Decimal("0.01")
_TEXT = re.compile(r"\d{1,9}(\.\d{1,2})?")


def read_amount(value: object) -> tuple[str | None, str | None]:
    """(amount, problem): a JSON string or number as a two-decimal string, or why it is not one.
    The problem never quotes the value."""
    if isinstance(value, bool):
        return None, "is not an amount (a boolean)"
    if isinstance(value, str):
        if not _TEXT.fullmatch(value):
            return None, "is not an amount like 88.88 (digits, at most two decimals)"
        number = Decimal(value)
    elif isinstance(value, int | Decimal):
        number = Decimal(value)
    else:
        return None, f"is not an amount (a JSON {type(value).__name__})"
    if not number.is_finite() or number < 0 or number > MAX_AMOUNT:
        return None, f"is not an amount between 0 and {MAX_AMOUNT}"
    try:
        exact = number.quantize(_CENT)
    except InvalidOperation:
        return None, "is not an amount with at most two decimals"
    if exact != number:
        return None, "has more than two decimals"
    return f"{exact:.2f}", None


def amount_as_cents(amount: str) -> int:
    """A two-decimal amount string (from ``read_amount``) in cents, for sums and comparisons."""
    return int(Decimal(amount) * 100)
