"""The producer's word on identity, checked (pure): is the message's app one the deployment declares,
and is its ``merchant_id`` the merchant its ``app_auth_token`` speaks for.

An app the deployment does not declare is the producer's mistake: a bad message whose reason names
the app and how to add an app (``undeclared_app``). A declared app's missing or broken secret is ours
(a configuration error, found when its secret is read).

The producer's word on the merchant is not trusted either: before the trade is keyed, recorded or called,
Alipay's app-auth-token query (asked by the app that will make the calls) says whose authorisation
the token is. The rules (docs/identity.md):

* A verified answer with ``status`` valid names the merchant (``user_id``): equal to the message's
  ``merchant_id``, the identity is confirmed; different, the message is a bad message that names both
  merchants (a producer mislabelled it: no call, nothing recorded under either trade).
* ``status`` invalid (expired, refreshed away or withdrawn by the merchant): the token ending, as
  when a cancel meets a dead token (dead letter: the merchant must re-authorise).
* The query failed: what ``classify`` makes of the failure (Alipay unreachable or its answer not
  trusted: retry; our configuration: kept as a configuration error; a verified token code: the token
  ending), except that a terminal answer about anything but the token is retried, since no code of a
  trade API can settle who owns a token.
* ``auth_app_id`` is the *merchant's* authorised app, never one of ours: it is not compared. Which of
  our apps the token belongs to is settled by asking as the message's app (Alipay answers a token
  only to the app it was issued to).
"""

from __future__ import annotations

from typing import NamedTuple

from alipay_cancel.alipay.responses import AlipayFailure, TokenQueryOutcome, TokenStatus
from alipay_cancel.decisions.alipay_codes import TOKEN_RULE, RetryDelay
from alipay_cancel.decisions.classification import classify, gateway_rule
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.shared.endings import Ending

CHECKING = "checking which merchant the app_auth_token belongs to (app-auth-token query)"
AUTHORISATION_ENDED = (
    "Alipay says the message's app_auth_token is no longer valid (status invalid: expired, refreshed "
    "or withdrawn by the merchant)"
)


class DeclaredApps(NamedTuple):
    """The apps this deployment serves: the default app, the further ones and their secrets' folder."""

    default_app_id: str
    further_app_ids: tuple[str, ...] = ()
    secret_prefix: str = ""


def undeclared_app(app_id: str | None, apps: DeclaredApps) -> str | None:
    """Why a message naming ``app_id`` (None: the default app) is a bad message, or None."""
    if app_id is None or app_id == apps.default_app_id or app_id in apps.further_app_ids:
        return None
    declared = ", ".join((apps.default_app_id, *apps.further_app_ids))
    folder = apps.secret_prefix or "<AppSecretPrefix>"
    return (
        f"app_id {app_id} is not one of this deployment's Alipay apps ({declared}). If it is one of "
        f"yours: create its signing secret {folder}{app_id}, add {app_id} to the FurtherAppIds "
        "parameter and deploy, then redrive this message; otherwise the producer named the wrong app"
    )


class MerchantConfirmed(NamedTuple):
    """Alipay says the token is the message's merchant's: the identity may be used."""

    merchant_id: str


class MerchantMismatch(NamedTuple):
    """Alipay says the token belongs to another merchant than the message names: a bad message."""

    claimed: str  # the message's merchant_id
    actual: str  # the merchant Alipay says the token belongs to

    @property
    def reason(self) -> str:
        return (
            f"merchant_id {self.claimed} is not the merchant the app_auth_token belongs to: Alipay says "
            f"the token is merchant {self.actual}'s. The message is mislabelled (nothing was cancelled "
            f"or recorded for either merchant); send a new message whose merchant_id and "
            f"app_auth_token are the same merchant's"
        )


class TokenUnconfirmed(NamedTuple):
    """No confirmed owner: ``decision`` says what happens (retry, configuration error, token ending)."""

    decision: Decision


IdentityVerdict = MerchantConfirmed | MerchantMismatch | TokenUnconfirmed


def check_identity(
    claimed_merchant_id: str, answer: TokenQueryOutcome, *, after_secret_refresh: bool = False
) -> IdentityVerdict:
    """Judge the message's ``merchant_id`` against Alipay's answer about its token.

    ``after_secret_refresh``: the answer came from a query signed with just re-read signing material
    (as for ``classify``)."""
    if isinstance(answer, AlipayFailure):
        return TokenUnconfirmed(_failed(answer, after_secret_refresh))
    if answer.status is TokenStatus.INVALID:
        return TokenUnconfirmed(Decision(Ending.TERMINAL, AUTHORISATION_ENDED, TOKEN_RULE.remedy))
    assert answer.user_id is not None  # the client refuses a valid answer without one (MALFORMED)
    if answer.user_id != claimed_merchant_id:
        return MerchantMismatch(claimed=claimed_merchant_id, actual=answer.user_id)
    return MerchantConfirmed(answer.user_id)


def _failed(failure: AlipayFailure, after_secret_refresh: bool) -> Decision:
    decision = classify(failure, after_secret_refresh=after_secret_refresh)
    reason = f"{CHECKING}: {decision.reason}"
    if decision.outcome is Ending.TERMINAL and not _about_the_token(failure):
        return decision._replace(
            outcome=Ending.RETRY,
            reason=f"{reason}; a code that says nothing about the token cannot end the message: retrying",
            delay=RetryDelay.NORMAL,
        )
    return decision._replace(reason=reason)


def _about_the_token(failure: AlipayFailure) -> bool:
    """The failure's code (v3 ``code`` or the envelope's ``sub_code``) is one of the token codes."""
    return TOKEN_RULE in (gateway_rule(failure.code), gateway_rule(failure.sub_code))
