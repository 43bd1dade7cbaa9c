"""The steps a delivery takes, as pure rules: which call comes next, which state an answer leaves the
trade in, and what a refused claim means. No moto, no HTTP."""

from __future__ import annotations

import pytest

from alipay_cancel.alipay.responses import AlipayFailure, CancelOutcome, CancelSuccess, FailureKind
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.history import answered, extended, unanswered
from alipay_cancel.decisions.steps import Answer, Call, Finish, Prior, Refusal, finish, next_step, refused
from alipay_cancel.shared.ledger_item import (
    HISTORY_LIMIT,
    CallResult,
    HistoryEntry,
    LedgerItem,
    Op,
    Pending,
    Status,
)

NOW = 1_000_000


def _success(action: str | None, retry_flag: str = "N") -> CancelSuccess:
    return CancelSuccess(action, None, "T-1", None, retry_flag, "2088", "trace-1")


def _answer(outcome: CancelOutcome, fresh_keys: bool = False) -> Answer:
    return Answer(Op.CANCEL, outcome, classify(outcome, after_secret_refresh=fresh_keys), "t", fresh_keys)


BAD_SIGNATURE = AlipayFailure(FailureKind.BAD_SIGNATURE, "unsigned")
FINISHED = AlipayFailure(FailureKind.V3_ERROR, "x", 400, "ACQ.TRADE_HAS_FINISHED", verified=True)
UNVERIFIED_FINISHED = AlipayFailure(FailureKind.V3_ERROR, "x", 400, "ACQ.TRADE_HAS_FINISHED")
TIMEOUT = AlipayFailure(FailureKind.TIMEOUT, "slow")


@pytest.mark.parametrize("prior", [Prior(), Prior(LedgerItem("FAILED"), Pending("cancel", "t", "m0"))])
def test_the_first_step_is_a_cancel_also_when_resuming_an_unknown_call(prior: Prior) -> None:
    assert next_step(prior, ()) == Call(Op.CANCEL)


def test_a_signature_problem_is_retried_once_with_fresh_keys() -> None:
    first = _answer(BAD_SIGNATURE)
    assert next_step(Prior(), (first,)) == Call(Op.CANCEL, fresh_keys=True)
    again = _answer(BAD_SIGNATURE, fresh_keys=True)
    assert next_step(Prior(), (first, again)) == Finish(Status.RETRYING, again)
    # an answer that came from fresh keys is not retried for its signature again
    assert next_step(Prior(), (again,)) == Finish(Status.RETRYING, again)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (_success("close"), Status.CLOSED),
        (_success("refund"), Status.REFUNDED),
        (_success(None), Status.NOT_FOUND),
        (_success("close", retry_flag="Y"), Status.RETRYING),  # Alipay asks for the cancel again
        (FINISHED, Status.FAILED),
        (UNVERIFIED_FINISHED, Status.RETRYING),  # never given up on an unsigned word
        (TIMEOUT, Status.RETRYING),
    ],
)
def test_the_last_answer_decides_the_state(outcome: CancelOutcome, status: Status) -> None:
    answer = _answer(outcome)
    assert finish(answer) == Finish(status, answer)
    assert next_step(Prior(), (answer,)) == Finish(status, answer)


@pytest.mark.parametrize(
    ("item", "holder", "refusal"),
    [
        (LedgerItem("CLOSED"), "me", Refusal.SETTLED),
        (LedgerItem("SUCCEEDED"), "me", Refusal.SETTLED),  # an earlier release's success
        (LedgerItem("SOMETHING_NEW"), "me", Refusal.SETTLED),  # a later release's state: never touched
        (LedgerItem("RETRYING", "other", NOW + 1, Pending("cancel", "t", "m")), "me", Refusal.HELD),
        # the lease runs to its holder's deadline, that millisecond included
        (LedgerItem("RETRYING", "other", NOW, Pending("cancel", "t", "m")), "me", Refusal.HELD),
        (LedgerItem("FAILED", "other", NOW), "me", Refusal.HELD),
        (LedgerItem("RETRYING", "other", None, Pending("cancel", "t", "m")), "me", Refusal.UNANSWERED),
        (LedgerItem("RETRYING", None, NOW + 1, Pending("cancel", "t", "m")), "me", Refusal.UNANSWERED),
        (LedgerItem("RETRYING", "me", NOW + 1, Pending("cancel", "t", "m")), "me", Refusal.OURS),
        (LedgerItem("RETRYING", "other", NOW - 1, Pending("cancel", "t", "m")), "me", Refusal.UNANSWERED),
        (LedgerItem("FAILED", None, None, Pending("cancel", "t", "m")), "me", Refusal.UNANSWERED),
        (LedgerItem(None), "me", Refusal.HELD),  # gone between the condition and the answer: look later
    ],
)
def test_a_refused_claim_says_why(item: LedgerItem, holder: str, refusal: Refusal) -> None:
    assert refused(item, holder, NOW) is refusal


def test_history_entries_say_what_each_call_came_back_with() -> None:
    ok = answered(_answer(_success("close")), "m1")
    assert (ok.result, ok.code, ok.trace_id, ok.delivery) == (CallResult.OK, None, "trace-1", "m1")
    error = answered(_answer(FINISHED), "m1")
    assert (error.result, error.code) == (CallResult.ERROR, "ACQ.TRADE_HAS_FINISHED")
    lost = unanswered(Pending("cancel", "t0", "m0"))
    assert lost == HistoryEntry("cancel", "t0", "m0", CallResult.UNKNOWN)
    # as stored: no code, no trace id (nothing came back), the result "unknown"
    assert lost._asdict() == {
        "op": "cancel", "at": "t0", "delivery": "m0", "result": "unknown", "code": None, "sub_code": None,
        "trace_id": None,
    }  # fmt: skip


def test_the_history_is_bounded_and_says_how_many_fell_off() -> None:
    entries = tuple(HistoryEntry("cancel", f"t{n}", "m", CallResult.ERROR) for n in range(HISTORY_LIMIT + 3))
    kept, dropped = extended(entries[: HISTORY_LIMIT - 1], entries[HISTORY_LIMIT - 1 :])
    assert len(kept) == HISTORY_LIMIT and dropped == 3 and kept[-1] == entries[-1]
    assert extended((), entries[:2]) == (entries[:2], 0)


def test_the_first_call_uses_the_keys_as_they_are() -> None:
    """The secret is re-read only after a signature problem (each re-read costs a Secrets Manager call)."""
    step = next_step(Prior(), ())
    assert isinstance(step, Call) and (step.op, step.fresh_keys) == (Op.CANCEL, False)


def test_an_answer_recorded_without_saying_so_was_not_sent_with_fresh_keys() -> None:
    """So a signature problem in it still earns the one retry with the secret re-read."""
    plain = Answer(Op.CANCEL, BAD_SIGNATURE, classify(BAD_SIGNATURE), "t")
    step = next_step(Prior(), (plain,))
    assert isinstance(step, Call) and (step.op, step.fresh_keys) == (Op.CANCEL, True)


@pytest.mark.parametrize("action", ["void", "closed", "refund;close", "none"])
def test_a_success_naming_an_action_we_do_not_know_never_settles_the_trade(action: str) -> None:
    """The reader already refuses such an answer (MALFORMED); should one get through, the trade is left
    for a later delivery, never recorded as closed, refunded or not found."""
    answer = _answer(_success(action))
    assert finish(answer) == Finish(Status.RETRYING, answer)


@pytest.mark.parametrize(
    ("action", "status"), [(" close ", Status.CLOSED), ("Refund", Status.REFUNDED), ("", Status.NOT_FOUND)]
)
def test_cancels_action_is_read_whatever_its_case_and_spaces(action: str, status: Status) -> None:
    answer = _answer(_success(action))
    assert finish(answer) == Finish(status, answer)
