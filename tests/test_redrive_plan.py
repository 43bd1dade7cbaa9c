"""Which dead letters a redrive leaves behind, decided from the reasons the function really writes."""

from __future__ import annotations

import pytest

from alipay_cancel.decisions.alipay_codes import FINISHED_REMEDY, TOKEN_RULE
from alipay_cancel.decisions.classification import BUSINESS_RULES
from alipay_cancel.decisions.operation_codes import SETTLE_CODES
from alipay_cancel.decisions.remedies import REMEDIES, Remedy
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import Op
from alipay_cancel_ops.queues import UNCLASSIFIED, DeadLetterView
from alipay_cancel_ops.redrive_plan import plan_redrive, redrive_blocker, render_plan


def letter(
    outcome_class: str | None, reason: str = "", message_id: str = "m", trade_key: str = "k"
) -> DeadLetterView:
    attributes = {"trade_key": trade_key, "reason": reason}
    if outcome_class:
        attributes["outcome_class"] = outcome_class
    return DeadLetterView(message_id, "rh", '{"out_trade_no": "k"}', attributes, {})


# Every terminal business rule, with the reason text the function writes (what happened + remedy).
TERMINAL_RULES = {code: rule for code, rule in BUSINESS_RULES.items() if rule.outcome is Ending.TERMINAL}


@pytest.mark.parametrize("code", sorted(TERMINAL_RULES))
def test_terminal_dead_letters_are_redrivable_only_when_their_remedy_says_so(code: str) -> None:
    rule = TERMINAL_RULES[code]
    blocker = redrive_blocker(letter("terminal", f"{rule.what}. {rule.remedy}"))
    expected_redrivable = code == "ACQ.REASON_TRADE_BEEN_FREEZEN"  # once Alipay releases the trade
    assert (blocker is None) is expected_redrivable, (code, blocker)


@pytest.mark.parametrize(
    ("outcome_class", "reason", "redrivable"),
    [
        ("bad_message", f"body is not valid JSON. {REMEDIES[Remedy.BAD_MESSAGE]}", False),
        ("bad_message", "anything at all", False),
        ("exhausted", "Gave up after 60 deliveries. Last error: Alipay had a system error", True),
        ("exhausted", f"Gave up. {REMEDIES[Remedy.BAD_MESSAGE]}", False),  # its reason says it cannot
        (None, "", True),  # moved by the queue's own redrive (the function crashed): try again
        ("terminal", "", False),
    ],
)
def test_redrive_blocker(outcome_class: str | None, reason: str, redrivable: bool) -> None:
    assert (redrive_blocker(letter(outcome_class, reason)) is None) is redrivable


@pytest.mark.parametrize("remedy", [r for r in Remedy if r is not Remedy.BAD_MESSAGE])
def test_dead_letters_of_the_pipelines_own_situations_are_redrivable_once_fixed(remedy: Remedy) -> None:
    """AWS failing, too little time, a duplicate in flight, configuration broken too long: the
    remedy says to fix the cause and redrive."""
    assert redrive_blocker(letter("exhausted", f"Gave up. {REMEDIES[remedy]}")) is None


def test_plan_selects_filters_and_explicit_classes() -> None:
    letters = [
        letter("exhausted", "Gave up", "m1", "a"),
        letter("terminal", "final", "m2", "b"),
        letter("bad_message", "bad", "m3", "c"),
        letter(None, "", "m4", "d"),
    ]
    plan = plan_redrive(letters)
    assert [x.message_id for x in plan.selected] == ["m1", "m4"]
    assert [x.message_id for x, _ in plan.unredrivable] == ["m2", "m3"]
    explicit = plan_redrive(letters, outcome_classes=frozenset({"terminal"}))
    assert [x.message_id for x in explicit.selected] == ["m2"] and explicit.not_matching == 3
    by_key = plan_redrive(letters, trade_keys=frozenset({"b", "a"}))
    assert [x.message_id for x in by_key.selected] == ["m1"] and len(by_key.unredrivable) == 1
    everything = plan_redrive(letters, include_unredrivable=True)
    assert everything.selected_ids == {"m1", "m2", "m3", "m4"}
    lines = render_plan(plan, "dlq-url")
    assert any(line.split()[:4] == ["total", "4", "2", "2"] for line in lines)
    assert any(line.split()[:1] == [UNCLASSIFIED] for line in lines)  # moved by the queue: no class


@pytest.mark.parametrize("code", sorted(SETTLE_CODES[Op.CANCEL]))
@pytest.mark.parametrize("attribute", ["error_code", "error_sub_code"])
def test_an_earlier_releases_letter_for_a_code_the_settle_flow_settles_is_redrivable(
    code: str, attribute: str
) -> None:
    # Earlier releases dead-lettered these with a remedy sending a person to Alipay's APIs by hand.
    old = letter(
        "terminal",
        "the trade is outside Alipay's cancel window and can no longer be cancelled. Check the trade with "
        "alipay.trade.query: if the buyer paid, give the money back with alipay.trade.refund. Redriving "
        "this message cannot succeed.",  # an earlier release's words
    )
    old.attributes[attribute] = code
    assert redrive_blocker(old) is None
    [selected] = plan_redrive([old]).selected
    assert selected is old


def test_the_settle_flows_own_letter_naming_such_a_code_stays() -> None:
    # Today's flow queried the trade (its facts are on the letter): a redrive meets the same answer.
    today = letter("terminal", "Alipay refused to refund: refunded in part, not by us. A person must decide.")
    today.attributes.update(
        error_code="40004", error_sub_code="ACQ.REASON_TRADE_REFUND_FEE_ERR", alipay_facts="trade_status=X"
    )
    assert redrive_blocker(today) == "Alipay's answer is final for this trade (terminal)"


def test_a_terminal_letter_for_a_code_no_call_settles_stays() -> None:
    finished = letter("terminal", "Alipay says the trade is finished; a refund is not possible.")
    finished.attributes["error_sub_code"] = "ACQ.TRADE_HAS_FINISHED"
    assert redrive_blocker(finished) == "Alipay's answer is final for this trade (terminal)"


# What each of the function's "a redrive cannot succeed" remedies says, in its own words.
CANNOT_REASONS = {
    "finished trade": f"Alipay says the trade is finished. {FINISHED_REMEDY}",
    "wrong ids": (
        f"{BUSINESS_RULES['ACQ.INVALID_PARAMETER'].what}. {BUSINESS_RULES['ACQ.INVALID_PARAMETER'].remedy}"
    ),
    "bad token": f"{TOKEN_RULE.what}. {TOKEN_RULE.remedy}",
    "bad message": f"body is not valid JSON. {REMEDIES[Remedy.BAD_MESSAGE]}",
}


@pytest.mark.parametrize("outcome_class", ["exhausted", "terminal", None])
@pytest.mark.parametrize("reason", sorted(CANNOT_REASONS))
def test_a_letter_whose_reason_says_a_redrive_cannot_succeed_stays_and_says_so(
    reason: str, outcome_class: str | None
) -> None:
    stays = letter(outcome_class, CANNOT_REASONS[reason].upper().replace(" ", "  "))  # case, spacing
    assert redrive_blocker(stays) == "its reason says a redrive cannot succeed"
    assert plan_redrive([stays]).unredrivable == [(stays, "its reason says a redrive cannot succeed")]


def test_filters_count_every_letter_looked_at_and_go_on_after_one_outside_them() -> None:
    letters = [
        letter("exhausted", "Gave up", "m1", "a"),
        letter("terminal", "final", "m2", "b"),
        letter("exhausted", "Gave up", "m3", "c"),
        letter("terminal", "final", "m4", "a"),
        letter("exhausted", "Gave up", "m5", "a"),
    ]
    by_key = plan_redrive(letters, trade_keys=frozenset({"a"}))
    assert (by_key.looked_at, by_key.not_matching) == (5, 2)
    assert [x.message_id for x in by_key.selected] == ["m1", "m5"]
    assert [(x.message_id, why) for x, why in by_key.unredrivable] == [
        ("m4", "Alipay's answer is final for this trade (terminal)")
    ]
    by_class = plan_redrive(letters, outcome_classes=frozenset({"exhausted"}))
    assert (by_class.looked_at, by_class.not_matching) == (5, 2)
    assert [x.message_id for x in by_class.selected] == ["m1", "m3", "m5"]
    assert plan_redrive([]).looked_at == 0


def test_the_plan_as_shown_counts_by_class_and_lists_what_stays_and_why() -> None:
    letters = [
        letter("exhausted", "Gave up", "m1", "a"),
        letter("terminal", "final", "m2", "b"),
        letter("bad_message", "bad", "m3", "c"),
        letter("exhausted", "Gave up", "m4", "d"),
        letter("exhausted", "Gave up", "m5", "x"),
    ]
    plan = plan_redrive(letters, trade_keys=frozenset("abcd"))
    assert render_plan(plan, "dlq-url") == [
        "Dead letters in dlq-url: looked at 5, 1 outside the filters",
        "  outcome_class  matching  redrive  leave (cannot succeed)",
        "  bad_message    1         0        1",
        "  exhausted      2         2        0",
        "  terminal       1         0        1",
        "  total          4         2        2",
        "Left in the dead-letter queue (2): a redrive cannot succeed. To redrive them anyway: "
        "--include-unredrivable, or --outcome-class naming their class.",
        "  - m2 trade_key=b terminal: Alipay's answer is final for this trade (terminal)",
        "  - m3 trade_key=c bad_message: a bad message: the same body fails the same way",
    ]
    dry_run = render_plan(plan_redrive(letters[:1]), "q", verb="would redrive")
    assert dry_run[1:] == [
        "  outcome_class  matching  would redrive  leave (cannot succeed)",
        "  exhausted      1         1              0",
        "  total          1         1              0",
    ]


def test_a_letter_whose_body_names_no_trade_is_listed_with_a_dash() -> None:
    unnamed = DeadLetterView("m9", "rh", "not json", {"outcome_class": "bad_message", "reason": "bad"}, {})
    assert unnamed.trade_key is None
    assert render_plan(plan_redrive([unnamed]), "q")[-1] == (
        "  - m9 trade_key=- bad_message: a bad message: the same body fails the same way"
    )
