"""The steps' start from the claimed item, an interrupted delivery, what a refused claim means and the
history entries. No moto, no HTTP. Which call comes next and how a delivery ends:
tests/test_settle_flow.py."""

from __future__ import annotations

import pytest

from alipay_cancel.alipay.responses import AlipayFailure, CancelOutcome, CancelSuccess, FailureKind
from alipay_cancel.decisions.classification import classify
from alipay_cancel.decisions.history import answered, extended, unanswered
from alipay_cancel.decisions.refund_request import RefundRequest, request_number
from alipay_cancel.decisions.steps import (
    Answer,
    Call,
    Finish,
    Prior,
    Refusal,
    Start,
    interrupted,
    next_step,
    refused,
    start,
)
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import (
    HISTORY_LIMIT,
    CallResult,
    HistoryEntry,
    LedgerItem,
    Op,
    Pending,
    Status,
)
from alipay_cancel.shared.trade import PaidTradePolicy

NOW = 1_000_000
KEY = "T-1"
OURS = RefundRequest(request_number(KEY), "88.88")


def _success(action: str | None, retry_flag: str = "N") -> CancelSuccess:
    return CancelSuccess(action, None, "T-1", None, retry_flag, "2088", "trace-1")


def _answer(outcome: CancelOutcome, fresh_keys: bool = False) -> Answer:
    decision = classify(outcome, Op.CANCEL, after_secret_refresh=fresh_keys)
    return Answer(Call(Op.CANCEL, fresh_keys=fresh_keys), outcome, decision, "t")


BAD_SIGNATURE = AlipayFailure(FailureKind.BAD_SIGNATURE, "no signature", 200)
FINISHED = AlipayFailure(FailureKind.V3_ERROR, "x", 400, "ACQ.TRADE_HAS_FINISHED", verified=True)


@pytest.mark.parametrize(
    ("prior", "policy", "expected"),
    [
        (Prior(), PaidTradePolicy.REFUND, Start(KEY, PaidTradePolicy.REFUND)),
        (Prior(LedgerItem("FAILED")), PaidTradePolicy.KEEP, Start(KEY, PaidTradePolicy.KEEP)),
        # a dead holder's cancel: resumed (as a query)
        (
            Prior(LedgerItem("RETRYING"), Pending("cancel", "t", "m0")),
            PaidTradePolicy.REFUND,
            Start(KEY, PaidTradePolicy.REFUND, Op.CANCEL),
        ),
        # an operation of a later release: read as a cancel (the query says what it did)
        (
            Prior(LedgerItem("RETRYING"), Pending("void", "t", "m0")),
            PaidTradePolicy.REFUND,
            Start(KEY, PaidTradePolicy.REFUND, Op.CANCEL),
        ),
        # a dead holder's refund carries our request
        (
            Prior(LedgerItem("RETRYING"), Pending("refund", "t", "m0", OURS.out_request_no, "88.88")),
            PaidTradePolicy.KEEP,
            Start(KEY, PaidTradePolicy.KEEP, Op.REFUND, OURS),
        ),
        # an earlier delivery's refund, not confirmed: on the item
        (
            Prior(LedgerItem("FAILED", out_request_no=OURS.out_request_no, refund_request_amount="88.88")),
            PaidTradePolicy.REFUND,
            Start(KEY, PaidTradePolicy.REFUND, None, OURS),
        ),
        # half a request is no request (an item written by hand)
        (
            Prior(LedgerItem("FAILED", out_request_no=OURS.out_request_no)),
            PaidTradePolicy.REFUND,
            Start(KEY, PaidTradePolicy.REFUND),
        ),
    ],
)
def test_the_steps_start_from_the_claimed_item(
    prior: Prior, policy: PaidTradePolicy, expected: Start
) -> None:
    assert start(prior, KEY, policy) == expected


def test_an_interrupted_delivery_is_left_for_soon_and_a_refund_is_confirmed_no_sooner_than_10_s() -> None:
    done = interrupted((_answer(_success("close", retry_flag="Y")),), Call(Op.QUERY))
    assert (done.status, done.soon, done.wait_seconds, done.decision.outcome) == (
        Status.RETRYING,
        True,
        0,
        Ending.RETRY,
    )
    assert "next call (query)" in done.decision.reason
    refund = Answer(Call(Op.REFUND, OURS), FINISHED, classify(FINISHED, Op.REFUND), "t")
    assert interrupted((refund,), Call(Op.QUERY)).wait_seconds == 10


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
    assert (ok.op, ok.result, ok.code, ok.trace_id, ok.delivery) == (
        "cancel",
        CallResult.OK,
        None,
        "trace-1",
        "m1",
    )
    again = answered(_answer(_success("close", retry_flag="Y")), "m1")  # Alipay asks for it again
    assert (again.result, again.code) == (CallResult.ERROR, None)
    error = answered(_answer(FINISHED), "m1")
    assert (error.result, error.code) == (CallResult.ERROR, "ACQ.TRADE_HAS_FINISHED")
    refund = answered(Answer(Call(Op.REFUND, OURS), FINISHED, classify(FINISHED, Op.REFUND), "t"), "m1")
    assert (refund.op, refund.result, refund.code) == ("refund", CallResult.ERROR, "ACQ.TRADE_HAS_FINISHED")
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


@pytest.mark.parametrize("policy", list(PaidTradePolicy))
def test_the_first_call_uses_the_keys_as_they_are(policy: PaidTradePolicy) -> None:
    """The secret is re-read only after a signature problem (each re-read costs a Secrets Manager call)."""
    step = next_step(Start(KEY, policy), ())
    assert isinstance(step, Call) and step.fresh_keys is False


def test_a_call_not_said_to_use_fresh_keys_earns_the_one_retry_with_the_secret_re_read() -> None:
    """A signature problem in an answer to a plain call is repeated once, the same call, keys re-read."""
    plain = Answer(Call(Op.CANCEL), BAD_SIGNATURE, classify(BAD_SIGNATURE, Op.CANCEL), "t")
    step = next_step(Start(KEY, PaidTradePolicy.REFUND), (plain,))
    assert step == Call(Op.CANCEL, fresh_keys=True)


def test_a_cancel_answer_naming_an_action_we_do_not_know_never_settles_the_trade() -> None:
    """The reader refuses such an answer as malformed (tests/test_answer_trust.py); the steps then never
    record the trade closed, refunded or not found on its word."""
    refused = AlipayFailure(
        FailureKind.MALFORMED, "success field action is neither close nor refund", 200, verified=True
    )
    answer = Answer(Call(Op.CANCEL), refused, classify(refused, Op.CANCEL), "t")
    step = next_step(Start(KEY, PaidTradePolicy.REFUND), (answer,))
    assert isinstance(step, Finish) and step.status is Status.RETRYING
