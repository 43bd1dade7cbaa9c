"""The one error type for unusable signing material (its own module so key readers can raise it)."""

from __future__ import annotations

from alipay_cancel.alipay.errors import AlipayError


class SigningMaterialError(AlipayError, ValueError):
    """Names the field and what is wrong with it; never contains key material."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"secret field '{field_name}': {problem}")
        self.field_name = field_name
        self.problem = problem
