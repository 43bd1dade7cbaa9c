"""What each operation keeps of a verified, fresh success, word for word: the typed success it becomes,
the caps of its fields, the amounts as two-decimal strings, and, when it is not one, the problem (a
MALFORMED or NOT_OUR_ANSWER failure, retried, never a success) that the record and the log show.
Readers are called directly with the payload (signing is covered by test_answer_trust and
test_properties_operations): pure and fast."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from alipay_cancel.alipay.amounts import MAX_AMOUNT, amount_as_cents, read_amount
from alipay_cancel.alipay.responses import (
    CancelSuccess,
    CloseSuccess,
    FailureKind,
    QuerySuccess,
    RefundQuerySuccess,
    RefundStatus,
    RefundSuccess,
    TokenInfo,
    TokenStatus,
    TradeStatus,
)
from alipay_cancel.alipay.success_checks import AnswerMeta, Problem
from alipay_cancel.alipay.token_answer import MAX_AUTH_METHODS, TokenReader
from alipay_cancel.alipay.trade_answers import (
    CancelReader,
    CloseReader,
    QueryReader,
    RefundQueryReader,
    RefundReader,
    SentIds,
)
from alipay_cancel.alipay.trade_ref import TradeRef

META = AnswerMeta("tr-9", 201, "rid-1")
OUT, TRADE, REQUEST_NO = "T-1", "2088", "R-1"
BOTH = SentIds(TRADE, OUT)
MALFORMED, NOT_OURS = FailureKind.MALFORMED, FailureKind.NOT_OUR_ANSWER


NOT_LIKE = "is not an amount like 88.88 (digits, at most two decimals)"
OUT_OF_RANGE = "is not an amount between 0 and 100000000.00"
DIFFERENT = "signed success names a different"
THAN_QUERIED = "than the one queried (another trade's answer?)"
NOTHING_MOVED = "success says money moved (fund_change Y) but refund_fee is 0.00"
UNREADABLE_NAME = "success field auth_methods has an unreadable API name at position"


def malformed(problem: str) -> Problem:
    return Problem(MALFORMED, f"HTTP 201: {problem}")


def not_ours(problem: str) -> Problem:
    return Problem(NOT_OURS, f"HTTP 201: {problem}")


# ------------------------------------------------------------------ amounts


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        ("88.88", "88.88"),
        ("100", "100.00"),
        ("0", "0.00"),
        ("0.5", "0.50"),
        ("123456789.99", None),  # nine digits, but above the cap
        ("100000000.00", "100000000.00"),
        ("100000000.01", None),
        (100000000, "100000000.00"),
        (100000001, None),
        (0, "0.00"),
        (7, "7.00"),
        (Decimal("88.8"), "88.80"),
        (Decimal("88.88"), "88.88"),
        (Decimal("1E+2"), "100.00"),
        (Decimal("0.00"), "0.00"),
    ],
)
def test_an_amount_is_kept_with_two_decimals(value: object, amount: str | None) -> None:
    assert read_amount(value)[0] == amount


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (True, "is not an amount (a boolean)"),
        (False, "is not an amount (a boolean)"),
        ("", "is not an amount like 88.88 (digits, at most two decimals)"),
        ("1.234", "is not an amount like 88.88 (digits, at most two decimals)"),
        ("-1", "is not an amount like 88.88 (digits, at most two decimals)"),
        ("1e3", "is not an amount like 88.88 (digits, at most two decimals)"),
        ("1.", "is not an amount like 88.88 (digits, at most two decimals)"),
        (".5", "is not an amount like 88.88 (digits, at most two decimals)"),
        (" 1", "is not an amount like 88.88 (digits, at most two decimals)"),
        ("1234567890", "is not an amount like 88.88 (digits, at most two decimals)"),
        (1.5, "is not an amount (a JSON float)"),
        ([1], "is not an amount (a JSON list)"),
        ({"a": 1}, "is not an amount (a JSON dict)"),
        (None, "is not an amount (a JSON NoneType)"),
        (-1, "is not an amount between 0 and 100000000.00"),
        (Decimal("-0.01"), "is not an amount between 0 and 100000000.00"),
        (Decimal("100000000.01"), "is not an amount between 0 and 100000000.00"),
        (Decimal("Infinity"), "is not an amount between 0 and 100000000.00"),
        (Decimal("NaN"), "is not an amount between 0 and 100000000.00"),
        (Decimal("1.234"), "has more than two decimals"),
        (Decimal("0.001"), "has more than two decimals"),
    ],
)
def test_anything_else_is_not_an_amount_and_says_why_without_quoting_it(value: object, problem: str) -> None:
    assert read_amount(value) == (None, problem)


def test_the_largest_amount_is_alipays_largest_trade() -> None:
    assert Decimal("100000000.00") == MAX_AMOUNT


@pytest.mark.parametrize(("amount", "cents"), [("88.88", 8888), ("0.00", 0), ("0.01", 1), ("100.00", 10000)])
def test_amounts_compare_in_cents(amount: str, cents: int) -> None:
    assert amount_as_cents(amount) == cents


# ------------------------------------------------------------------ cancel


def test_a_cancel_success_keeps_alipays_fields_and_the_calls_meta() -> None:
    payload = {"action": "close", "out_trade_no": OUT, "trade_no": TRADE, "retry_flag": "N",
               "gmt_refund_pay": "2016-11-27 15:45:57", "refund_settlement_id": "S-1"}  # fmt: skip
    assert CancelReader(BOTH).read(payload, META) == CancelSuccess(
        action="close", gmt_refund_pay="2016-11-27 15:45:57", out_trade_no=OUT, refund_settlement_id="S-1",
        retry_flag="N", trade_no=TRADE, trace_id="tr-9", http_status=201, request_id="rid-1",
    )  # fmt: skip


def test_a_cancel_answer_for_another_trade_is_not_ours() -> None:
    assert CancelReader(BOTH).read({"out_trade_no": "T-2"}, META) == not_ours(
        "signed success names a different out_trade_no than the one cancelled (another trade's answer?)"
    )
    assert CancelReader(SentIds(None, OUT)).read({"trade_no": TRADE}, META) == not_ours(
        "signed success does not name the out_trade_no we cancelled, so it cannot be this trade's answer"
    )


# ------------------------------------------------------------------ query


def test_a_query_success_keeps_its_state_and_amounts() -> None:
    payload = {"out_trade_no": OUT, "trade_no": TRADE, "trade_status": "TRADE_SUCCESS",
               "total_amount": "88.8", "buyer_pay_amount": Decimal("88.80"), "receipt_amount": 88,
               "send_pay_date": "2026-01-01 10:00:00"}  # fmt: skip
    assert QueryReader(BOTH).read(payload, META) == QuerySuccess(
        trade_status=TradeStatus.TRADE_SUCCESS, out_trade_no=OUT, trade_no=TRADE, total_amount="88.80",
        buyer_pay_amount="88.80", receipt_amount="88.00", send_pay_date="2026-01-01 10:00:00",
        trace_id="tr-9", http_status=201, request_id="rid-1",
    )  # fmt: skip


@pytest.mark.parametrize("status", list(TradeStatus))
def test_each_of_alipays_four_trade_states_is_read(status: TradeStatus) -> None:
    read = QueryReader(SentIds(None, OUT)).read({"out_trade_no": OUT, "trade_status": status.value}, META)
    assert isinstance(read, QuerySuccess) and read.trade_status is status
    assert (read.total_amount, read.buyer_pay_amount, read.receipt_amount) == (None, None, None)


@pytest.mark.parametrize("status", [None, "", "trade_success", "TRADE_PENDING", "WAIT_BUYER_PAY_"])
def test_a_query_without_a_documented_state_is_malformed(status: str | None) -> None:
    payload: dict[str, Any] = {"out_trade_no": OUT, "trade_status": status}
    assert QueryReader(BOTH).read(payload, META) == malformed(
        "success field trade_status is not one of Alipay's four trade states"
    )


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"trade_status": "T" * 33}, "success field trade_status is 33 characters; at most 32"),
        ({"send_pay_date": "2" * 33}, "success field send_pay_date is 33 characters; at most 32"),
        ({"total_amount": "1.234"},
         "success field total_amount is not an amount like 88.88 (digits, at most two decimals)"),
        ({"buyer_pay_amount": -1}, f"success field buyer_pay_amount {OUT_OF_RANGE}"),
        ({"receipt_amount": True}, "success field receipt_amount is not an amount (a boolean)"),
        ({"trade_no": 2088}, "success field trade_no is not a string"),
        # a text field's problem is named before an amount's
        ({"total_amount": "x", "send_pay_date": "\n"},
         "success field send_pay_date has U+000A at character 1; only printable ASCII is accepted"),
    ],
)  # fmt: skip
def test_a_query_field_that_is_not_sane_is_named(payload: dict[str, Any], problem: str) -> None:
    whole = {"out_trade_no": OUT, "trade_status": "TRADE_SUCCESS", **payload}
    assert QueryReader(BOTH).read(whole, META) == malformed(problem)


def test_a_query_field_at_its_cap_is_kept() -> None:
    payload = {"out_trade_no": OUT, "trade_status": "TRADE_CLOSED", "send_pay_date": "2" * 32}
    read = QueryReader(BOTH).read(payload, META)
    assert isinstance(read, QuerySuccess) and read.send_pay_date == "2" * 32


def test_a_query_answer_must_name_our_trade() -> None:
    assert QueryReader(BOTH).read({"trade_status": "TRADE_CLOSED"}, META) == not_ours(
        "signed success does not name the trade_no or out_trade_no we queried, so it cannot be this "
        "trade's answer"
    )
    assert QueryReader(BOTH).read({"trade_no": "2089", "trade_status": "TRADE_CLOSED"}, META) == not_ours(
        "signed success names a different trade_no than the one queried (another trade's answer?)"
    )


# ------------------------------------------------------------------ close


def test_a_close_success_names_our_trade() -> None:
    assert CloseReader(BOTH).read({"trade_no": TRADE}, META) == CloseSuccess(
        out_trade_no=None, trade_no=TRADE, trace_id="tr-9", http_status=201, request_id="rid-1"
    )
    # both ids echoed: both kept (the ledger item and the outcome event carry them)
    assert CloseReader(BOTH).read({"out_trade_no": OUT, "trade_no": TRADE}, META) == CloseSuccess(
        out_trade_no=OUT, trade_no=TRADE, trace_id="tr-9", http_status=201, request_id="rid-1"
    )
    assert CloseReader(BOTH).read({}, META) == not_ours(
        "signed success does not name the trade_no or out_trade_no we closed, so it cannot be this "
        "trade's answer"
    )
    assert CloseReader(BOTH).read({"out_trade_no": OUT, "trade_no": "9" * 65}, META) == malformed(
        "success field trade_no is 65 characters; at most 64"
    )


# ------------------------------------------------------------------ refund


def test_a_refund_success_keeps_what_alipay_says_moved() -> None:
    payload = {"out_trade_no": OUT, "trade_no": TRADE, "fund_change": "Y", "refund_fee": "88.8",
               "gmt_refund_pay": "2026-01-01 10:00:00", "send_back_fee": 88}  # fmt: skip
    read = RefundReader(BOTH).read(payload, META)
    assert read == RefundSuccess(
        fund_change="Y", refund_fee="88.80", out_trade_no=OUT, trade_no=TRADE,
        gmt_refund_pay="2026-01-01 10:00:00", send_back_fee="88.00", trace_id="tr-9", http_status=201,
        request_id="rid-1",
    )  # fmt: skip
    assert isinstance(read, RefundSuccess) and read.money_moved


@pytest.mark.parametrize(
    ("fund_change", "fee", "moved"),
    [("N", "0.00", False), (None, "0", False), ("N", "5", False), ("Y", "0.01", True)],
)  # fmt: skip
def test_a_refund_that_moved_nothing_is_still_an_answer(
    fund_change: str | None, fee: str, moved: bool
) -> None:
    read = RefundReader(BOTH).read({"out_trade_no": OUT, "fund_change": fund_change, "refund_fee": fee}, META)
    assert isinstance(read, RefundSuccess) and read.money_moved is moved
    assert read.fund_change == fund_change and read.send_back_fee is None


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"fund_change": "y", "refund_fee": "1"}, "success field fund_change is neither Y nor N"),
        ({"fund_change": "YES", "refund_fee": "1"}, "success field fund_change is neither Y nor N"),
        ({"fund_change": "N"}, "success field refund_fee (refunded so far) is missing"),
        ({"fund_change": "Y", "refund_fee": ""}, "success field refund_fee (refunded so far) is missing"),
        ({"fund_change": "Y", "refund_fee": "0.00"}, NOTHING_MOVED),
        ({"fund_change": "Y", "refund_fee": 0}, NOTHING_MOVED),
        ({"fund_change": "Y", "refund_fee": "1", "send_back_fee": "x"},
         "success field send_back_fee is not an amount like 88.88 (digits, at most two decimals)"),
        ({"fund_change": "Y" * 9, "refund_fee": "1"}, "success field fund_change is 9 characters; at most 8"),
    ],
)  # fmt: skip
def test_a_refund_answer_that_does_not_add_up_is_malformed(payload: dict[str, Any], problem: str) -> None:
    assert RefundReader(BOTH).read({"out_trade_no": OUT, **payload}, META) == malformed(problem)


def test_a_refund_answer_for_another_trade_is_not_ours() -> None:
    assert RefundReader(BOTH).read({"out_trade_no": "T-2", "refund_fee": "1"}, META) == not_ours(
        "signed success names a different out_trade_no than the one refunded (another trade's answer?)"
    )


# ------------------------------------------------------------------ refund query

QUERIED = RefundQueryReader(BOTH, REQUEST_NO)


def test_a_done_refund_names_our_request_and_its_amount() -> None:
    payload = {"trade_no": TRADE, "out_request_no": REQUEST_NO, "refund_status": "REFUND_SUCCESS",
               "refund_amount": 10, "total_amount": "88.8",
               "gmt_refund_pay": "2026-01-01 10:00:00"}  # fmt: skip
    assert QUERIED.read(payload, META) == RefundQuerySuccess(
        refund_status=RefundStatus.REFUND_SUCCESS, out_request_no=REQUEST_NO, refund_amount="10.00",
        total_amount="88.80", out_trade_no=None, trade_no=TRADE, gmt_refund_pay="2026-01-01 10:00:00",
        trace_id="tr-9", http_status=201, request_id="rid-1",
    )  # fmt: skip
    echoed = QUERIED.read({**payload, "out_trade_no": OUT}, META)
    assert isinstance(echoed, RefundQuerySuccess) and (echoed.out_trade_no, echoed.trade_no) == (OUT, TRADE)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"refund_status": "REFUND_PROCESSING", "refund_amount": "1", "out_request_no": REQUEST_NO},
         malformed("success field refund_status is not REFUND_SUCCESS (nor absent)")),
        ({"refund_status": "refund_success", "refund_amount": "1", "out_request_no": REQUEST_NO},
         malformed("success field refund_status is not REFUND_SUCCESS (nor absent)")),
        ({"refund_status": "REFUND_SUCCESS", "out_request_no": REQUEST_NO},
         malformed("signed REFUND_SUCCESS has no refund_amount")),
        ({"refund_status": "REFUND_SUCCESS", "refund_amount": "1"},
         not_ours("signed REFUND_SUCCESS does not name the out_request_no we queried")),
        ({"refund_status": "REFUND_SUCCESS", "refund_amount": "1", "out_request_no": "R-2"},
         not_ours("signed REFUND_SUCCESS does not name the out_request_no we queried")),
        ({"refund_status": "REFUND_SUCCESS", "refund_amount": "1", "out_request_no": REQUEST_NO,
          "out_trade_no": "T-2"},
         not_ours(f"{DIFFERENT} out_trade_no {THAN_QUERIED}")),
        ({"refund_status": "S" * 33, "refund_amount": "1"},
         malformed("success field refund_status is 33 characters; at most 32")),
    ],
)  # fmt: skip
def test_a_done_refund_that_is_not_ours_or_not_whole_is_refused(
    payload: dict[str, Any], problem: Problem
) -> None:
    assert QUERIED.read({"trade_no": TRADE, **payload}, META) == problem


def test_a_done_refund_must_name_our_trade() -> None:
    payload = {"out_request_no": REQUEST_NO, "refund_status": "REFUND_SUCCESS", "refund_amount": "1"}
    assert QUERIED.read(payload, META) == not_ours(
        "signed success does not name the trade_no or out_trade_no we queried, so it cannot be this "
        "trade's answer"
    )


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"refund_status": ""},
        {"refund_status": None, "out_request_no": REQUEST_NO, "trade_no": TRADE},
        {"out_trade_no": OUT, "total_amount": "88.80"},
    ],
)
def test_an_answer_without_a_refund_status_is_not_refunded(payload: dict[str, Any]) -> None:
    read = QUERIED.read(payload, META)
    assert isinstance(read, RefundQuerySuccess) and read.refund_status is RefundStatus.NOT_REFUNDED
    assert read.out_request_no == payload.get("out_request_no") and read.refund_amount is None
    assert (read.trace_id, read.http_status, read.request_id) == ("tr-9", 201, "rid-1")
    assert read.total_amount == payload.get("total_amount")


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"out_request_no": "R-2"},
         not_ours("signed answer names a different out_request_no than the one queried")),
        ({"trade_no": "2089"},
         not_ours(f"{DIFFERENT} trade_no {THAN_QUERIED}")),
        ({"out_trade_no": "T-2"},
         not_ours(f"{DIFFERENT} out_trade_no {THAN_QUERIED}")),
        ({"total_amount": "x"},
         malformed(f"success field total_amount {NOT_LIKE}")),
        ({"out_request_no": "R" * 65},
         malformed("success field out_request_no is 65 characters; at most 64")),
    ],
)  # fmt: skip
def test_not_refunded_is_believed_only_when_nothing_contradicts_our_request(
    payload: dict[str, Any], problem: Problem
) -> None:
    assert QUERIED.read(payload, META) == problem


# ------------------------------------------------------------------ which envelope each answer comes in


def test_each_operation_reads_its_own_envelope() -> None:
    assert [r.envelope_key for r in (CancelReader(BOTH), QueryReader(BOTH), CloseReader(BOTH),
                                     RefundReader(BOTH), QUERIED, TokenReader())] == [
        "alipay_trade_cancel_response", "alipay_trade_query_response", "alipay_trade_close_response",
        "alipay_trade_refund_response", "alipay_trade_fastpay_refund_query_response",
        "alipay_open_auth_token_app_query_response",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("ref", "sent"),
    [
        (TradeRef(OUT, TRADE), SentIds(TRADE, OUT)),
        (TradeRef(OUT, None), SentIds(None, OUT)),
        (TradeRef("", TRADE), SentIds(TRADE, None)),
        (TradeRef(OUT, ""), SentIds(None, OUT)),
    ],
)
def test_the_ids_an_answer_is_bound_to_are_the_ones_sent(ref: TradeRef, sent: SentIds) -> None:
    """An empty id is not sent (trade_ref), so an answer cannot be bound to it."""
    assert SentIds.of(ref) == sent


# ------------------------------------------------------------------ the token query

VALID = {"status": "valid", "user_id": "2088000000000001"}


def test_a_valid_token_names_its_merchant_and_everything_alipay_said() -> None:
    payload = {**VALID, "auth_app_id": "2021000000000009", "expires_in": 31536000,
               "auth_start": "2026-01-01 10:00:00", "auth_end": "2027-01-01 10:00:00",
               "auth_methods": ["alipay.trade.cancel", "alipay.trade.query"],
               "is_by_app_auth": True}  # fmt: skip
    assert TokenReader().read(payload, META) == TokenInfo(
        status=TokenStatus.VALID, user_id="2088000000000001", auth_app_id="2021000000000009",
        expires_in=31536000, auth_start="2026-01-01 10:00:00", auth_end="2027-01-01 10:00:00",
        auth_methods=("alipay.trade.cancel", "alipay.trade.query"), is_by_app_auth=True, trace_id="tr-9",
        http_status=201, request_id="rid-1",
    )  # fmt: skip


def test_an_invalid_token_needs_no_merchant() -> None:
    assert TokenReader().read({"status": "invalid"}, META) == TokenInfo(
        status=TokenStatus.INVALID, user_id=None, auth_app_id=None, expires_in=None, auth_start=None,
        auth_end=None, auth_methods=(), is_by_app_auth=None, trace_id="tr-9", http_status=201,
        request_id="rid-1",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("0", 0), ("9999999999", 9999999999), (0, 0), (9999999999, 9999999999),
     (7200, 7200)],
)  # fmt: skip
def test_expires_in_is_seconds_as_a_number_or_digits(value: object, seconds: int | None) -> None:
    read = TokenReader().read({**VALID, "expires_in": value}, META)
    assert isinstance(read, TokenInfo) and read.expires_in == seconds


@pytest.mark.parametrize(
    "value", [True, False, "10000000000", 10**10, -1, "-1", "1.5", Decimal("1.5"), "\uff17", [1], "1 "]
)
def test_anything_else_in_expires_in_is_malformed(value: object) -> None:
    assert TokenReader().read({**VALID, "expires_in": value}, META) == malformed(
        "success field expires_in is not a number of seconds"
    )


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"status": "VALID", "user_id": "2088"}, "success field status is neither valid nor invalid"),
        ({"user_id": "2088"}, "success field status is neither valid nor invalid"),
        ({"status": "valid"}, "a valid token's answer does not name the merchant (user_id)"),
        ({"status": "valid", "user_id": ""}, "a valid token's answer does not name the merchant (user_id)"),
        ({**VALID, "user_id": "2" * 33}, "success field user_id is 33 characters; at most 32"),
        ({**VALID, "auth_app_id": "2" * 33}, "success field auth_app_id is 33 characters; at most 32"),
        ({"status": "v" * 17}, "success field status is 17 characters; at most 16"),
        ({**VALID, "auth_end": "2" * 33}, "success field auth_end is 33 characters; at most 32"),
        ({**VALID, "is_by_app_auth": "true"}, "success field is_by_app_auth is not true or false"),
        ({**VALID, "is_by_app_auth": 1}, "success field is_by_app_auth is not true or false"),
        ({**VALID, "auth_methods": "alipay.trade.cancel"},
         "success field auth_methods is not a list of at most 500 API names"),
        ({**VALID, "auth_methods": ["a"] * (MAX_AUTH_METHODS + 1)},
         "success field auth_methods is not a list of at most 500 API names"),
        ({**VALID, "auth_methods": ["a", ""]}, f"{UNREADABLE_NAME} 2"),
        ({**VALID, "auth_methods": [None]}, f"{UNREADABLE_NAME} 1"),
        ({**VALID, "auth_methods": ["a", "b", 3]},
         f"{UNREADABLE_NAME} 3"),
        ({**VALID, "auth_methods": ["a" * 65]}, f"{UNREADABLE_NAME} 1"),
        ({**VALID, "auth_methods": ["a b"]}, f"{UNREADABLE_NAME} 1"),
    ],
)  # fmt: skip
def test_a_token_answer_that_cannot_be_acted_on_is_malformed(payload: dict[str, Any], problem: str) -> None:
    assert TokenReader().read(payload, META) == malformed(problem)


def test_the_token_answers_caps_are_kept_at_their_bounds() -> None:
    payload = {"status": "valid", "user_id": "2" * 32, "auth_app_id": "3" * 32, "auth_start": "4" * 32,
               "auth_methods": ["m" * 64] * MAX_AUTH_METHODS, "is_by_app_auth": False}  # fmt: skip
    read = TokenReader().read(payload, META)
    assert isinstance(read, TokenInfo)
    assert (read.user_id, read.auth_app_id, read.auth_start) == ("2" * 32, "3" * 32, "4" * 32)
    assert len(read.auth_methods) == MAX_AUTH_METHODS == 500 and read.is_by_app_auth is False
