"""The emulator's query, close, refund and refund-query APIs and the app-auth-token query, driven over
loopback HTTP with this suite's own signing code (``tests.test_gateway_emulator.call``): Alipay's trade
states, refund idempotency, the merchant's balance, a buyer who pays mid-settle, per-operation faults
and counts, token status, and each app's answers (errors too) signed with that app's own key."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from local.keygen import KeyMaterial, RsaKeyPair

from tests.fixtures.gateway import MERCHANT_TOKENS, GatewayHandle
from tests.fixtures.keys import SECOND_APP_ID
from tests.test_gateway_emulator import call, ok_body, response_verifies

QUERY = "/v3/alipay/trade/query"
CLOSE = "/v3/alipay/trade/close"
REFUND = "/v3/alipay/trade/refund"
REFUND_QUERY = "/v3/alipay/trade/fastpay/refund/query"
CANCEL = "/v3/alipay/trade/cancel"
TOKEN_QUERY = "/v3/alipay/open/auth/token/app/query"
PATHS = {"query": QUERY, "close": CLOSE, "refund": REFUND, "refund_query": REFUND_QUERY, "cancel": CANCEL}
(TOKEN_A, MERCHANT_A), (TOKEN_B, MERCHANT_B) = MERCHANT_TOKENS.items()


def answer(gw: GatewayHandle, operation: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The signed answer's body (signature checked), with ``_status`` the HTTP status."""
    resp = call(gw, payload, path=PATHS[operation], **kwargs)
    return {**ok_body(gw, resp), "_status": resp.status_code}


def code(body: dict[str, Any]) -> str:
    """The business code in either error shape, or "10000" for a success."""
    return str(body.get("sub_code") or body["code"])


def refund(gw: GatewayHandle, trade: str, amount: str, number: str | None = None) -> dict[str, Any]:
    payload = {"out_trade_no": trade, "refund_amount": amount}
    if number is not None:
        payload["out_request_no"] = number
    return answer(gw, "refund", payload)


def token_query(gw: GatewayHandle, token: str, **kwargs: Any) -> Any:
    return call(gw, path=f"{TOKEN_QUERY}?app_auth_token={quote(token, safe='')}", method="GET", **kwargs)


# ---- the state table ------------------------------------------------------------------------------
PAID_IN_PART = {"state": "paid", "refunds": [{"out_request_no": "R-0", "refund_amount": "8.88"}]}
TABLE: list[tuple[str, dict[str, Any] | None, dict[str, str]]] = [
    # (name, seed (None: unknown to Alipay), {operation: answer}); "10000" = success
    (
        "unknown",
        None,
        {"query": "ACQ.TRADE_NOT_EXIST", "close": "ACQ.TRADE_NOT_EXIST", "refund": "ACQ.TRADE_NOT_EXIST"},
    ),
    ("unpaid", {"state": "unpaid"}, {"query": "10000", "close": "10000", "refund": "ACQ.TRADE_STATUS_ERROR"}),
    ("paid", {"state": "paid"}, {"query": "10000", "close": "ACQ.TRADE_STATUS_ERROR", "refund": "10000"}),
    (
        "paid, refunded in part",
        PAID_IN_PART,
        {"query": "10000", "close": "ACQ.TRADE_STATUS_ERROR", "cancel": "ACQ.REASON_TRADE_REFUND_FEE_ERR"},
    ),
    (
        "finished",
        {"state": "finished"},
        {
            "close": "ACQ.TRADE_STATUS_ERROR",
            "refund": "ACQ.TRADE_HAS_FINISHED",
            "cancel": "ACQ.TRADE_HAS_FINISHED",
        },
    ),
    (
        "closed unpaid",
        {"state": "closed"},
        {"close": "ACQ.TRADE_STATUS_ERROR", "refund": "ACQ.TRADE_HAS_CLOSE", "cancel": "10000"},
    ),
    (
        "fully refunded",
        {"state": "refunded"},
        {
            "close": "ACQ.TRADE_STATUS_ERROR",
            "refund": "ACQ.TRADE_HAS_CLOSE",
            "cancel": "ACQ.REASON_TRADE_REFUND_FEE_ERR",
        },
    ),
    (
        "frozen",
        {"state": "frozen"},
        {
            "close": "ACQ.TRADE_STATUS_ERROR",
            "refund": "ACQ.REASON_TRADE_BEEN_FREEZEN",
            "cancel": "ACQ.REASON_TRADE_BEEN_FREEZEN",
        },
    ),
    (
        "paid, outside the cancel window",
        {"state": "paid", "outside_cancel_window": True},
        {"cancel": "ACQ.TRADE_CANCEL_TIME_OUT", "refund": "10000"},
    ),
]
CASES = [(name, seed, op, expected) for name, seed, answers in TABLE for op, expected in answers.items()]


@pytest.mark.parametrize(
    ("name", "seed", "operation", "expected"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES]
)
@pytest.mark.parametrize("shape", ["envelope", "v3"])
def test_each_operation_answers_each_trade_state_as_the_table_says(
    gateway: GatewayHandle, name: str, seed: dict[str, Any] | None, operation: str, expected: str, shape: str
) -> None:
    gateway.admin.settings(error_shape=shape)
    if seed is not None:
        gateway.admin.seed_trades([{"out_trade_no": "T-s", **seed}])
    before = gateway.admin.trade("T-s") if seed is not None else None
    payload = {"out_trade_no": "T-s"}
    if operation == "refund":
        payload.update(refund_amount="80.00", out_request_no="R-1")
    body = answer(gateway, operation, payload)
    assert code(body) == expected, body
    if expected != "10000":
        assert body["_status"] == (400 if shape == "v3" else 200)
        if before is not None:  # refused: the trade is as it was
            after = gateway.admin.trade("T-s")
            assert (after["state"], after["refund_fee"]) == (before["state"], before["refund_fee"])


def test_query_shows_status_and_amounts_and_changes_nothing(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-q", state="unpaid", total_amount="120.50")
    unpaid = answer(gateway, "query", {"out_trade_no": "T-q"})
    assert (unpaid["trade_status"], unpaid["total_amount"]) == ("WAIT_BUYER_PAY", "120.50")
    assert "send_pay_date" not in unpaid and "buyer_pay_amount" not in unpaid
    trade = gateway.admin.trade_event("T-q", "buyer_pays")
    paid = answer(gateway, "query", {"trade_no": trade["trade_no"]})
    assert paid["trade_status"] == "TRADE_SUCCESS" and paid["out_trade_no"] == "T-q"
    assert paid["buyer_pay_amount"] == paid["receipt_amount"] == "120.50" and len(paid["send_pay_date"]) == 19
    assert gateway.admin.calls("T-q", "query") == 2 and gateway.admin.trade("T-q")["state"] == "paid"


def test_close_ends_an_unpaid_trade(gateway: GatewayHandle) -> None:
    trade = gateway.admin.seed_trade("T-c", state="unpaid")
    closed = answer(gateway, "close", {"out_trade_no": "T-c"})
    assert (code(closed), closed["trade_no"], closed["out_trade_no"]) == ("10000", trade["trade_no"], "T-c")
    assert answer(gateway, "query", {"out_trade_no": "T-c"})["trade_status"] == "TRADE_CLOSED"
    assert code(answer(gateway, "close", {"out_trade_no": "T-c"})) == "ACQ.TRADE_STATUS_ERROR"  # pick
    assert gateway.admin.count("T-c") == {
        "requests": 3,
        "cancel_calls": 0,
        "close_calls": 2,
        "query_calls": 1,
    }


# ---- refunds ----------------------------------------------------------------------------------------
def test_partial_refunds_add_up_and_each_request_number_refunds_once(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-r", state="paid", total_amount="100.00")
    first = refund(gateway, "T-r", "30", "R-1")
    assert (first["fund_change"], first["refund_fee"]) == ("Y", "30.00") and first["gmt_refund_pay"]
    again = refund(gateway, "T-r", "30.00", "R-1")  # a repeat: moves nothing, and says so
    assert (again["fund_change"], again["refund_fee"], again["gmt_refund_pay"]) == (
        "N",
        "30.00",
        first["gmt_refund_pay"],
    )
    assert code(refund(gateway, "T-r", "31.00", "R-1")) == "ACQ.DISCORDANT_REPEAT_REQUEST"
    assert code(refund(gateway, "T-r", "70.01", "R-2")) == "ACQ.REASON_TRADE_REFUND_FEE_ERR"
    assert answer(gateway, "query", {"out_trade_no": "T-r"})["trade_status"] == "TRADE_SUCCESS"
    rest = refund(gateway, "T-r", "70.00", "R-2")
    assert (rest["fund_change"], rest["refund_fee"]) == ("Y", "100.00")
    assert answer(gateway, "query", {"out_trade_no": "T-r"})["trade_status"] == "TRADE_CLOSED"
    # After the total: a done number still answers idempotently, a new one is refused.
    assert refund(gateway, "T-r", "70.00", "R-2")["fund_change"] == "N"
    assert code(refund(gateway, "T-r", "1.00", "R-3")) == "ACQ.TRADE_HAS_CLOSE"
    trade = gateway.admin.trade("T-r")
    assert (trade["state"], trade["refund_fee"], trade["refunds"]) == (
        "refunded",
        "100.00",
        {"R-1": "30.00", "R-2": "70.00"},
    )
    assert gateway.admin.calls("T-r", "refund") == 7


def test_a_refund_without_request_number_must_be_the_total_and_is_keyed_by_out_trade_no(
    gateway: GatewayHandle,
) -> None:
    gateway.admin.seed_trade("T-full", state="paid", total_amount="50.00")
    assert code(refund(gateway, "T-full", "10.00")) == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    assert refund(gateway, "T-full", "50.00")["fund_change"] == "Y"
    assert refund(gateway, "T-full", "50.00")["fund_change"] == "N"
    found = answer(gateway, "refund_query", {"out_trade_no": "T-full", "out_request_no": "T-full"})
    assert (found["refund_status"], found["refund_amount"]) == ("REFUND_SUCCESS", "50.00")


@pytest.mark.parametrize(
    "payload", [{"refund_amount": "-1"}, {"refund_amount": "1.001"}, {}, {"refund_amount": "x"}]
)
def test_an_unreadable_refund_amount_is_an_invalid_parameter(
    gateway: GatewayHandle, payload: dict[str, Any]
) -> None:
    gateway.admin.seed_trade("T-bad", state="paid")
    body = answer(gateway, "refund", {"out_trade_no": "T-bad", "out_request_no": "R", **payload})
    assert code(body) == "ACQ.INVALID_PARAMETER"
    assert gateway.admin.trade("T-bad")["refund_fee"] == "0.00"


def test_balance_too_low_refuses_and_the_same_number_is_carried_out_after_a_top_up(
    gateway: GatewayHandle,
) -> None:
    gateway.admin.seed_trade("T-bal", state="paid", total_amount="20.00")
    gateway.admin.seed_trade("T-cbal", state="paid", total_amount="20.00")
    gateway.admin.set_balance("10.00")
    assert code(refund(gateway, "T-bal", "20.00", "R-1")) == "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    assert code(answer(gateway, "cancel", {"out_trade_no": "T-cbal"})) == "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    assert (
        answer(gateway, "refund_query", {"out_trade_no": "T-bal", "out_request_no": "R-1"}).get(
            "refund_status"
        )
        is None
    )
    gateway.admin.set_balance("25.00")
    assert refund(gateway, "T-bal", "20.00", "R-1")["fund_change"] == "Y"  # the refund that did not happen
    assert (
        code(answer(gateway, "cancel", {"out_trade_no": "T-cbal"})) == "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    )  # 5 left
    gateway.admin.set_balance(None)
    assert answer(gateway, "cancel", {"out_trade_no": "T-cbal"})["action"] == "refund"


def test_refund_query_says_done_or_not_and_gives_the_refund_time_only_when_asked(
    gateway: GatewayHandle,
) -> None:
    trade = gateway.admin.seed_trade("T-rq", state="paid")
    refund(gateway, "T-rq", "8.00", "R-1")
    plain = answer(gateway, "refund_query", {"trade_no": trade["trade_no"], "out_request_no": "R-1"})
    assert (plain["refund_status"], plain["refund_amount"], plain["total_amount"]) == (
        "REFUND_SUCCESS",
        "8.00",
        "88.88",
    )
    assert "gmt_refund_pay" not in plain
    asked = {"out_trade_no": "T-rq", "out_request_no": "R-1", "query_options": ["gmt_refund_pay"]}
    assert len(answer(gateway, "refund_query", asked)["gmt_refund_pay"]) == 19
    missing = answer(gateway, "refund_query", {"out_trade_no": "T-rq", "out_request_no": "R-9"})
    assert (
        "refund_status" not in missing
        and missing["out_request_no"] == "R-9"
        and missing["out_trade_no"] == "T-rq"
    )
    assert (
        code(answer(gateway, "refund_query", {"out_trade_no": "T-nope", "out_request_no": "R-1"}))
        == "TRADE_NOT_EXIST"
    )
    assert code(answer(gateway, "refund_query", {"out_trade_no": "T-rq"})) == "ACQ.INVALID_PARAMETER"


def test_a_refund_applied_but_never_answered_is_a_done_refund_for_its_retry(gateway: GatewayHandle) -> None:
    import requests

    gateway.admin.seed_trade("T-lost", state="paid")
    gateway.admin.set_fault("timeout_after_cancel", trade="T-lost", times=1, operation="refund")
    with pytest.raises(requests.ReadTimeout):
        call(
            gateway,
            {"out_trade_no": "T-lost", "refund_amount": "88.88", "out_request_no": "R-1"},
            path=REFUND,
            timeout=0.3,
        )
    assert gateway.admin.trade("T-lost")["state"] == "refunded"
    assert refund(gateway, "T-lost", "88.88", "R-1")["fund_change"] == "N"


# ---- the buyer, the trade's life ------------------------------------------------------------------
def test_a_buyer_who_pays_right_after_the_query_makes_the_close_fail(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-late", state="unpaid")
    gateway.admin.trade_event("T-late", "buyer_pays_after_next_query")
    assert answer(gateway, "query", {"out_trade_no": "T-late"})["trade_status"] == "WAIT_BUYER_PAY"
    assert code(answer(gateway, "close", {"out_trade_no": "T-late"})) == "ACQ.TRADE_STATUS_ERROR"
    assert answer(gateway, "query", {"out_trade_no": "T-late"})["trade_status"] == "TRADE_SUCCESS"


def test_a_buyer_who_pays_just_before_the_close(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-late2", state="unpaid")
    gateway.admin.trade_event("T-late2", "buyer_pays_before_next_close")
    assert answer(gateway, "query", {"out_trade_no": "T-late2"})["trade_status"] == "WAIT_BUYER_PAY"
    assert code(answer(gateway, "close", {"out_trade_no": "T-late2"})) == "ACQ.TRADE_STATUS_ERROR"
    assert gateway.admin.trade("T-late2")["state"] == "paid"


def test_freeze_release_and_the_refund_window_ending(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-life", state="paid")
    gateway.admin.trade_event("T-life", "freeze")
    assert answer(gateway, "query", {"out_trade_no": "T-life"})["trade_status"] == "TRADE_SUCCESS"  # pick
    assert code(refund(gateway, "T-life", "1.00", "R-1")) == "ACQ.REASON_TRADE_BEEN_FREEZEN"
    gateway.admin.trade_event("T-life", "unfreeze")
    assert refund(gateway, "T-life", "1.00", "R-1")["fund_change"] == "Y"
    gateway.admin.trade_event("T-life", "refund_window_ends")
    assert answer(gateway, "query", {"out_trade_no": "T-life"})["trade_status"] == "TRADE_FINISHED"
    assert code(refund(gateway, "T-life", "1.00", "R-2")) == "ACQ.TRADE_HAS_FINISHED"


def test_admin_refuses_impossible_events(gateway: GatewayHandle) -> None:
    from local.alipay_gateway import GatewayAdminError

    gateway.admin.seed_trade("T-ev", state="paid")
    for event in ("buyer_pays", "no-such-event"):
        with pytest.raises(GatewayAdminError):
            gateway.admin.trade_event("T-ev", event)
    with pytest.raises(GatewayAdminError):
        gateway.admin.set_fault("retry_flag", trade="T-ev", operation="query")  # a cancel answer only
    with pytest.raises(GatewayAdminError):
        gateway.admin.set_fault("http_5xx", operation="pay")


# ---- faults and counts per operation --------------------------------------------------------------
def test_a_fault_can_target_one_operation(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-f", state="unpaid")
    gateway.admin.set_fault("http_5xx", trade="T-f", times=1, operation="close")
    assert answer(gateway, "query", {"out_trade_no": "T-f"})["_status"] == 200  # not this one
    assert answer(gateway, "close", {"out_trade_no": "T-f"})["_status"] == 503
    assert code(answer(gateway, "close", {"out_trade_no": "T-f"})) == "10000"
    counts = gateway.admin.counts()
    assert (counts["query_calls"], counts["close_calls"], counts["cancel_calls"]) == (1, 1, 0)
    assert counts["per_trade"]["T-f"] == {
        "requests": 3,
        "cancel_calls": 0,
        "query_calls": 1,
        "close_calls": 1,
    }


def test_retry_flag_faults_only_ever_answer_cancels(gateway: GatewayHandle) -> None:
    gateway.admin.seed_trade("T-rf", state="unpaid")
    gateway.admin.set_fault("retry_flag", times=1)
    assert answer(gateway, "query", {"out_trade_no": "T-rf"})["trade_status"] == "WAIT_BUYER_PAY"
    assert answer(gateway, "cancel", {"out_trade_no": "T-rf"})["retry_flag"] == "Y"


@pytest.mark.parametrize("operation", ["query", "close", "refund", "refund_query"])
def test_another_trades_signed_success_per_operation(gateway: GatewayHandle, operation: str) -> None:
    gateway.admin.seed_trade("T-o", state="paid")
    gateway.admin.set_fault("other_trade", trade="T-o", times=1, operation=operation)
    body = answer(
        gateway, operation, {"out_trade_no": "T-o", "refund_amount": "1.00", "out_request_no": "R-1"}
    )
    assert body["out_trade_no"] == "OTHER-TRADE" and code(body) == "10000"
    assert gateway.admin.trade("T-o")["refund_fee"] == "0.00"  # answered before anything happened


# ---- the app-auth-token query ---------------------------------------------------------------------
def test_the_token_query_names_the_merchant_and_the_app(multi_app_gateway: GatewayHandle) -> None:
    resp = token_query(multi_app_gateway, TOKEN_A)
    body = ok_body(multi_app_gateway, resp)
    assert resp.status_code == 200 and body["code"] == "10000"
    assert (body["user_id"], body["status"]) == (MERCHANT_A, "valid")
    assert body["auth_app_id"].startswith("2021") and body["expires_in"] > 0
    assert "alipay.trade.refund" in body["auth_methods"] and body["auth_start"] < body["auth_end"]
    assert TOKEN_A not in resp.text
    assert multi_app_gateway.admin.counts()["token_query_calls"] == 1


@pytest.mark.parametrize(
    ("status", "header_code"), [("expired", "app-auth-token-time-out"), ("revoked", "invalid-app-auth-token")]
)
def test_an_ended_token_is_invalid_in_the_query_and_refused_in_trade_calls(
    multi_app_gateway: GatewayHandle, status: str, header_code: str
) -> None:
    admin = multi_app_gateway.admin
    admin.seed_trade("T-isv", state="unpaid", merchant_id=MERCHANT_B)
    admin.set_token(TOKEN_B, status=status)
    body = ok_body(multi_app_gateway, token_query(multi_app_gateway, TOKEN_B))
    assert (body["status"], body["user_id"], body["expires_in"]) == ("invalid", MERCHANT_B, 0)
    refused = call(multi_app_gateway, {"out_trade_no": "T-isv"}, token=TOKEN_B)
    assert (refused.status_code, ok_body(multi_app_gateway, refused)["code"]) == (401, header_code)
    assert admin.trade("T-isv", merchant_id=MERCHANT_B)["state"] == "unpaid"
    admin.set_token(TOKEN_B, status="valid")
    assert call(multi_app_gateway, {"out_trade_no": "T-isv"}, token=TOKEN_B).json()["action"] == "close"


def test_a_token_is_for_the_app_it_was_issued_to(
    multi_app_gateway: GatewayHandle, second_app_key_material: KeyMaterial
) -> None:
    admin = multi_app_gateway.admin
    admin.set_token("tok-second-only", user_id="2088000000000555", app_id=SECOND_APP_ID)
    listed = admin.tokens()
    assert {
        "user_id": "2088000000000555",
        "auth_app_id": "2021000000000555",
        "app_id": SECOND_APP_ID,
        "status": "valid",
    } in listed
    assert "tok-second-only" not in str(listed)
    # The default app asking, or calling with it: not its token.
    wrong_app = token_query(multi_app_gateway, "tok-second-only")
    assert (wrong_app.status_code, ok_body(multi_app_gateway, wrong_app)["code"]) == (
        401,
        "invalid-app-auth-token",
    )
    assert call(multi_app_gateway, token="tok-second-only").json()["code"] == "invalid-app-auth-token"
    second = token_query(
        multi_app_gateway,
        "tok-second-only",
        app_id=SECOND_APP_ID,
        private_pem=second_app_key_material.app.private_pem,
    )
    assert response_verifies(second, second_app_key_material.alipay.public_pem)
    assert second.json()["user_id"] == "2088000000000555"
    unknown = token_query(multi_app_gateway, "tok-never-issued")
    assert (unknown.status_code, unknown.json()["code"]) == (401, "invalid-app-auth-token")
    assert call(multi_app_gateway, path=TOKEN_QUERY).status_code == 404  # GET only


# ---- each app is judged by its own keys -----------------------------------------------------------
@pytest.mark.parametrize("path", [CANCEL, QUERY, REFUND])
def test_a_refusal_is_signed_with_the_calling_apps_own_alipay_key(
    multi_app_gateway: GatewayHandle,
    second_app_key_material: KeyMaterial,
    other_rsa_key_pair: RsaKeyPair,
    path: str,
) -> None:
    resp = call(
        multi_app_gateway,
        {"out_trade_no": "T-1"},
        path=path,
        app_id=SECOND_APP_ID,
        private_pem=other_rsa_key_pair.private_pem,
    )
    assert (resp.status_code, resp.json()["code"]) == (401, "invalid-signature")
    assert response_verifies(resp, second_app_key_material.alipay.public_pem)
    assert not response_verifies(resp, multi_app_gateway.keys.alipay.public_pem)
    # A call the gateway cannot attribute to an app (unknown app id) is answered with the default key.
    stranger = call(multi_app_gateway, path=path, app_id="2021000000000099")
    assert stranger.json()["code"] == "invalid-app-id"
    assert response_verifies(stranger, multi_app_gateway.keys.alipay.public_pem)
