"""Routing when an ISV message's merchant could not be confirmed (pure): as the identity decision says,
and never a write or a trade key, on any receive (docs/identity.md)."""

from __future__ import annotations

import pytest

from alipay_cancel.decisions.alipay_codes import TOKEN_RULE, RetryDelay
from alipay_cancel.decisions.decision import Decision
from alipay_cancel.decisions.identity_check import DeclaredApps, undeclared_app
from alipay_cancel.decisions.plans import IdentityUnconfirmed, SetupBroken
from alipay_cancel.decisions.routing import route
from alipay_cancel.shared.endings import ENDINGS, REQUEUED_METRIC, Ending
from alipay_cancel.shared.trade import CancelRequest
from tests.test_routing import delivery

ISV = CancelRequest(out_trade_no="T-1", trade_no=None, app_auth_token="tok", merchant_id="2088B")
TOKEN_ENDING = Decision(Ending.TERMINAL, "token dead", TOKEN_RULE.remedy, code="invalid-app-auth-token")
RETRY = Decision(
    Ending.RETRY, "Alipay answered HTTP 503", delay=RetryDelay.NORMAL, code="service-unavailable"
)
SLOW = Decision(Ending.RETRY, "limited", "lower concurrency", RetryDelay.SLOW, code="app-call-limited")
CONFIG = Decision(
    Ending.CONFIG_ERROR, "our signature", "fix the key", RetryDelay.SLOW, code="invalid-signature"
)


def test_the_token_ending_is_a_dead_letter_without_a_record_or_a_trade_key() -> None:
    plan = route(delivery(), ISV, IdentityUnconfirmed(TOKEN_ENDING, "trace-7"))
    assert (plan.ending, plan.acknowledge, plan.write) == (Ending.TERMINAL, True, None)
    assert plan.dead_letter is not None
    letter = plan.dead_letter
    assert letter.reason == f"token dead. {TOKEN_RULE.remedy}"
    assert (letter.trade_key, letter.error_code, letter.alipay_trace_id) == (
        None,
        "invalid-app-auth-token",
        "trace-7",
    )
    assert (letter.outcome_class, letter.attempts, letter.body) == (Ending.TERMINAL, 2, delivery().body)
    assert plan.metrics == ENDINGS[Ending.TERMINAL].metrics


@pytest.mark.parametrize(("decision", "ending"), [(RETRY, Ending.RETRY), (SLOW, Ending.SLOW_RETRY)])
def test_a_retry_leaves_the_message_without_a_write(decision: Decision, ending: Ending) -> None:
    plan = route(delivery(), ISV, IdentityUnconfirmed(decision))
    assert (plan.ending, plan.acknowledge, plan.write, plan.dead_letter) == (ending, False, None, None)
    assert plan.visibility_seconds is not None and plan.visibility_seconds > 0


@pytest.mark.parametrize("decision", [RETRY, SLOW])
def test_a_retry_past_the_horizon_or_on_the_last_receive_is_exhausted_without_a_record(
    decision: Decision,
) -> None:
    for where in (delivery(last=True), delivery(sent_hours=25)):
        plan = route(where, ISV, IdentityUnconfirmed(decision, "trace-8"))
        assert (plan.ending, plan.acknowledge, plan.write, plan.unrecorded) == (
            Ending.EXHAUSTED,
            True,
            None,
            None,
        )
        assert plan.dead_letter is not None
        assert plan.dead_letter.trade_key is None and plan.dead_letter.error_code == decision.code
        assert plan.dead_letter.alipay_trace_id == "trace-8"
        assert decision.reason in plan.dead_letter.reason


def test_our_configuration_is_kept_without_a_write_and_re_enqueued_on_the_last_receive() -> None:
    plan = route(delivery(), ISV, IdentityUnconfirmed(CONFIG))
    assert (plan.ending, plan.acknowledge, plan.write) == (Ending.CONFIG_ERROR, False, None)
    last = route(delivery(last=True), ISV, IdentityUnconfirmed(CONFIG))
    assert (last.ending, last.acknowledge, last.write, last.dead_letter) == (
        Ending.CONFIG_ERROR,
        True,
        None,
        None,
    )
    assert last.requeue_seconds is not None and REQUEUED_METRIC in last.metrics
    # Kept no longer than the queue keeps a message: then exhausted, still without a record.
    old = route(delivery(last=True, age_days=13.99), ISV, IdentityUnconfirmed(CONFIG))
    assert (old.ending, old.write) == (Ending.EXHAUSTED, None)
    assert old.dead_letter is not None and old.dead_letter.trade_key is None


def test_an_app_that_cannot_sign_writes_nothing_for_an_isv_message_but_notes_its_own_trades() -> None:
    broken = SetupBroken("secret 'x' could not be read", "fix the secret")
    isv = route(delivery(), ISV, broken)
    assert (isv.ending, isv.write) == (Ending.CONFIG_ERROR, None)
    assert isv.detail["reason"] == "secret 'x' could not be read" and isv.detail["remedy"] == "fix the secret"
    own = route(delivery(), CancelRequest(out_trade_no="T-1", trade_no=None), broken)
    assert own.ending is Ending.CONFIG_ERROR and own.write is not None and own.write.trade_key == "T-1"


APPS = DeclaredApps("2021000000000001", ("2021000000000002", "2021000000000003"), "alipay-cancel/apps/")


@pytest.mark.parametrize("app_id", [None, "2021000000000001", "2021000000000002", "2021000000000003"])
def test_the_declared_apps_are_accepted(app_id: str | None) -> None:
    assert undeclared_app(app_id, APPS) is None


def test_an_undeclared_app_is_named_with_the_declared_ones_and_how_to_add_it() -> None:
    assert undeclared_app("2021000000000004", APPS) == (
        "app_id 2021000000000004 is not one of this deployment's Alipay apps (2021000000000001, "
        "2021000000000002, 2021000000000003). If it is one of yours: create its signing secret "
        "alipay-cancel/apps/2021000000000004, add 2021000000000004 to the FurtherAppIds parameter and "
        "deploy, then redrive this message; otherwise the producer named the wrong app"
    )
    only_default = DeclaredApps("2021000000000001")
    reason = undeclared_app("2021000000000002", only_default)
    assert reason is not None and "(2021000000000001)." in reason
    assert "create its signing secret <AppSecretPrefix>2021000000000002" in reason
