"""What a person reads when the token's authorisation ended: the reason the dead letter and the log
carry is a sentence about the token, never an empty or missing text."""

from __future__ import annotations

from alipay_cancel.alipay.responses import TokenInfo, TokenStatus
from alipay_cancel.decisions.alipay_codes import TOKEN_RULE
from alipay_cancel.decisions.identity_check import TokenUnconfirmed, check_identity
from alipay_cancel.shared.endings import Ending


def test_an_ended_authorisation_says_so_in_words() -> None:
    ended = TokenInfo(
        status=TokenStatus.INVALID, user_id=None, auth_app_id=None, expires_in=None, auth_start=None,
        auth_end=None, auth_methods=(), is_by_app_auth=False, trace_id="trace-1",
    )  # fmt: skip
    verdict = check_identity("2088000000000001", ended)
    assert isinstance(verdict, TokenUnconfirmed)
    assert verdict.decision.outcome is Ending.TERMINAL and verdict.decision.remedy == TOKEN_RULE.remedy
    assert verdict.decision.reason == (
        "Alipay says the message's app_auth_token is no longer valid (status invalid: expired, refreshed "
        "or withdrawn by the merchant)"
    )
