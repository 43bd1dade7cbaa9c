"""pipeline.token_owners: whose an app_auth_token is, asked of the emulator over loopback HTTP with the
function's own client, and cached per container by the token's digest for a bounded time; with
decisions.identity_check, the verdict a mislabelled message gets."""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any

import pytest
from local.keygen import KeyMaterial

from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import AlipayFailure, FailureKind, TokenInfo, TokenStatus
from alipay_cancel.alipay.signing_material import load_signing_material
from alipay_cancel.decisions.identity_check import (
    MerchantConfirmed,
    MerchantMismatch,
    TokenUnconfirmed,
    check_identity,
)
from alipay_cancel.pipeline.token_owners import TokenAnswer, TokenOwners
from alipay_cancel.shared.endings import Ending
from alipay_cancel.signing.secret import SecretUnavailable
from tests.fixtures.gateway import MERCHANT_TOKENS, GatewayHandle
from tests.fixtures.keys import SECOND_APP_ID

(TOKEN_A, MERCHANT_A), (TOKEN_B, MERCHANT_B) = MERCHANT_TOKENS.items()
BUDGET_MS = 5000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Refresher:
    """SigningRegistry.refresh's part: hands out ``fresh`` (or None, or raises), counting the calls."""

    def __init__(self, fresh: AlipayClient | None = None, problem: str | None = None) -> None:
        self.fresh = fresh
        self.problem = problem
        self.calls: list[tuple[str | None, AlipayClient]] = []  # (app id, the client that saw the problem)

    def __call__(self, app_id: str | None, seen: AlipayClient) -> AlipayClient | None:
        self.calls.append((app_id, seen))
        if self.problem is not None:
            raise SecretUnavailable(self.problem)
        return self.fresh


def _client(gateway: GatewayHandle, secret: dict[str, str] | None = None) -> AlipayClient:
    material = load_signing_material(secret or gateway.secret)
    return AlipayClient(gateway.endpoint, material, connect_timeout=2, read_timeout=5)


def _owners(clock: Clock | None = None, refresh: Refresher | None = None, **kw: Any) -> TokenOwners:
    return TokenOwners(
        refresh or Refresher(),
        max_age_seconds=kw.pop("max_age_seconds", 600),
        call_budget_ms=BUDGET_MS,
        clock=clock or Clock(),
        **kw,
    )


def _logged(caplog: pytest.LogCaptureFixture) -> dict[str, logging.LogRecord]:
    """The function's log records, by message."""
    return {record.getMessage(): record for record in caplog.records if record.name == "alipay-cancel"}


def _sent(gateway: GatewayHandle) -> int:
    return int(gateway.admin.counts()["total_requests"])


def _plenty() -> int:
    return 60_000


def test_alipays_answer_names_the_merchant_and_is_asked_once_per_token(
    multi_app_gateway: GatewayHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="alipay-cancel")
    owners, client = _owners(), _client(multi_app_gateway)
    first = owners.ask(None, client, TOKEN_A, _plenty)
    assert isinstance(first.outcome, TokenInfo) and first.calls == 1
    assert (first.outcome.status, first.outcome.user_id) == (TokenStatus.VALID, MERCHANT_A)
    again = owners.ask(None, client, TOKEN_A, _plenty)
    assert again == TokenAnswer(first.outcome, calls=0)
    from_cache = _logged(caplog)["app_auth_token owner from the cache"]  # debug: says whose, never the token
    assert getattr(from_cache, "merchant_id", None) == MERCHANT_A
    other = owners.ask(None, client, TOKEN_B, _plenty)
    assert isinstance(other.outcome, TokenInfo) and other.outcome.user_id == MERCHANT_B
    assert _sent(multi_app_gateway) == 2


def test_the_cache_never_holds_the_token(multi_app_gateway: GatewayHandle) -> None:
    owners = _owners()
    owners.ask(None, _client(multi_app_gateway), TOKEN_A, _plenty)
    dump = pickle.dumps({k: v for k, v in vars(owners).items() if k not in ("_refresh", "_lock", "_clock")})
    assert TOKEN_A.encode() not in dump and TOKEN_A.encode().hex().encode() not in dump
    # Keyed by a digest under a key made per container: another container's digest differs.
    (key_one,) = vars(owners)["_entries"]
    other = _owners()
    other.ask(None, _client(multi_app_gateway), TOKEN_A, _plenty)
    (key_two,) = vars(other)["_entries"]
    assert key_one[1] != key_two[1] and len(key_one[1]) == 32


@pytest.mark.parametrize("max_age", [300, 1])  # 1: the shortest age that still keeps an answer
def test_an_answer_is_kept_for_the_max_age_then_asked_again(
    multi_app_gateway: GatewayHandle, max_age: int
) -> None:
    clock = Clock()
    owners, client = _owners(clock, max_age_seconds=max_age), _client(multi_app_gateway)
    owners.ask(None, client, TOKEN_A, _plenty)
    clock.now += max_age - 0.1
    assert owners.ask(None, client, TOKEN_A, _plenty).calls == 0
    clock.now += 0.1
    assert owners.ask(None, client, TOKEN_A, _plenty).calls == 1
    assert _sent(multi_app_gateway) == 2


def test_max_age_zero_asks_every_time(multi_app_gateway: GatewayHandle) -> None:
    owners, client = _owners(max_age_seconds=0), _client(multi_app_gateway)
    assert [owners.ask(None, client, TOKEN_A, _plenty).calls for _ in range(3)] == [1, 1, 1]
    assert not vars(owners)["_entries"]  # nothing is kept, not even for an instant


def test_a_valid_token_is_not_kept_past_alipays_expires_in(multi_app_gateway: GatewayHandle) -> None:
    answer = {"code": "10000", "msg": "Success", "user_id": MERCHANT_A, "status": "valid", "expires_in": 20}
    multi_app_gateway.admin.set_fault(
        "signed_body", times=1, operation="token_query", raw_body=json.dumps(answer)
    )
    clock = Clock()
    owners, client = _owners(clock, max_age_seconds=300), _client(multi_app_gateway)
    assert owners.ask(None, client, TOKEN_A, _plenty).calls == 1
    clock.now += 19
    assert owners.ask(None, client, TOKEN_A, _plenty).calls == 0
    clock.now += 1
    assert owners.ask(None, client, TOKEN_A, _plenty).calls == 1


def test_a_failure_is_never_kept(multi_app_gateway: GatewayHandle) -> None:
    multi_app_gateway.admin.set_fault("http_5xx", times=1, operation="token_query")
    client = _client(multi_app_gateway)
    refresh = Refresher(fresh=client)
    owners = _owners(refresh=refresh)
    failed = owners.ask(None, client, TOKEN_A, _plenty)
    assert isinstance(failed.outcome, AlipayFailure) and failed.calls == 1
    # Not a signature problem: the secret is not re-read, the answer is not "with fresh keys".
    assert (refresh.calls, failed.after_secret_refresh) == ([], False)
    assert isinstance(owners.ask(None, client, TOKEN_A, _plenty).outcome, TokenInfo)
    assert _sent(multi_app_gateway) == 2


def test_an_invalid_token_is_kept_as_alipay_said(multi_app_gateway: GatewayHandle) -> None:
    multi_app_gateway.admin.set_token(TOKEN_A, status="revoked")
    owners, client = _owners(), _client(multi_app_gateway)
    first = owners.ask(None, client, TOKEN_A, _plenty)
    assert isinstance(first.outcome, TokenInfo) and first.outcome.status is TokenStatus.INVALID
    assert owners.ask(None, client, TOKEN_A, _plenty).calls == 0


def test_the_least_recently_used_token_is_forgotten_first(multi_app_gateway: GatewayHandle) -> None:
    third = "202601BBmerchantCtoken0000000000000003"
    multi_app_gateway.admin.set_token(third, user_id="2088000000000003")
    owners, client = _owners(max_entries=2), _client(multi_app_gateway)
    for token in (TOKEN_A, TOKEN_B, TOKEN_A, third):  # B is now the least recently used
        owners.ask(None, client, token, _plenty)
    assert owners.ask(None, client, TOKEN_A, _plenty).calls == 0
    assert owners.ask(None, client, TOKEN_B, _plenty).calls == 1


def test_each_app_asks_for_itself(
    multi_app_gateway: GatewayHandle, second_app_key_material: KeyMaterial
) -> None:
    """A token is our app's only if Alipay answers that app: issued to the second app, the default app
    is told it is not valid (and nothing is kept), and the second app's answer is its own entry."""
    multi_app_gateway.admin.set_token(TOKEN_A, app_id=SECOND_APP_ID)
    owners = _owners()
    default_client = _client(multi_app_gateway)
    second_client = _client(multi_app_gateway, second_app_key_material.secret())
    refused = owners.ask(None, default_client, TOKEN_A, _plenty)
    assert isinstance(refused.outcome, AlipayFailure) and refused.outcome.code == "invalid-app-auth-token"
    assert refused.outcome.verified
    verdict = check_identity(MERCHANT_A, refused.outcome)
    assert isinstance(verdict, TokenUnconfirmed) and verdict.decision.outcome is Ending.TERMINAL
    mine = owners.ask(SECOND_APP_ID, second_client, TOKEN_A, _plenty)
    assert isinstance(mine.outcome, TokenInfo) and mine.outcome.user_id == MERCHANT_A
    assert owners.ask(SECOND_APP_ID, second_client, TOKEN_A, _plenty).calls == 0
    assert owners.ask(None, default_client, TOKEN_A, _plenty).calls == 1


def test_a_bad_signature_re_reads_the_secret_and_asks_again(
    multi_app_gateway: GatewayHandle, caplog: pytest.LogCaptureFixture
) -> None:
    multi_app_gateway.admin.set_fault("bad_signature", times=1, operation="token_query")
    seen, fresh = _client(multi_app_gateway), _client(multi_app_gateway)
    refresh = Refresher(fresh=fresh)
    answer = _owners(refresh=refresh).ask(None, seen, TOKEN_A, _plenty)
    assert isinstance(answer.outcome, TokenInfo) and answer.outcome.user_id == MERCHANT_A
    assert (answer.after_secret_refresh, answer.calls, refresh.calls) == (True, 2, [(None, seen)])
    assert "signing secret refreshed after a signature problem; asking about the token again" in _logged(
        caplog
    )


def test_the_secret_re_read_is_the_asking_apps(
    multi_app_gateway: GatewayHandle, second_app_key_material: KeyMaterial
) -> None:
    multi_app_gateway.admin.set_token(TOKEN_A, app_id=SECOND_APP_ID)
    multi_app_gateway.admin.set_fault("bad_signature", times=1, operation="token_query")
    second = _client(multi_app_gateway, second_app_key_material.secret())
    refresh = Refresher(fresh=second)
    answer = _owners(refresh=refresh).ask(SECOND_APP_ID, second, TOKEN_A, _plenty)
    assert isinstance(answer.outcome, TokenInfo) and answer.outcome.user_id == MERCHANT_A
    assert refresh.calls == [(SECOND_APP_ID, second)]


def test_exactly_the_call_budget_left_is_enough_to_ask_again(multi_app_gateway: GatewayHandle) -> None:
    multi_app_gateway.admin.set_fault("bad_signature", times=1, operation="token_query")
    client = _client(multi_app_gateway)
    answer = _owners(refresh=Refresher(fresh=client)).ask(None, client, TOKEN_A, lambda: BUDGET_MS)
    assert isinstance(answer.outcome, TokenInfo) and answer.calls == 2


def test_a_secret_already_re_read_is_judged_as_fresh(multi_app_gateway: GatewayHandle) -> None:
    multi_app_gateway.admin.set_fault("bad_signature", times=1, operation="token_query")
    answer = _owners(refresh=Refresher(fresh=None)).ask(
        SECOND_APP_ID, _client(multi_app_gateway), TOKEN_A, _plenty
    )
    assert isinstance(answer.outcome, AlipayFailure) and answer.outcome.kind is FailureKind.BAD_SIGNATURE
    assert (answer.after_secret_refresh, answer.calls) == (True, 1)


def test_no_second_question_without_a_readable_secret_or_the_time(
    multi_app_gateway: GatewayHandle, caplog: pytest.LogCaptureFixture
) -> None:
    client = _client(multi_app_gateway)
    multi_app_gateway.admin.set_fault("bad_signature", times=2, operation="token_query")
    unreadable = _owners(refresh=Refresher(problem="secret 'x' could not be read")).ask(
        None, client, TOKEN_A, _plenty
    )
    late = _owners(refresh=Refresher(fresh=client)).ask(None, client, TOKEN_A, lambda: BUDGET_MS - 1)
    logged = _logged(caplog)
    failed = logged["signing secret refresh failed"]
    assert (failed.levelno, getattr(failed, "problem", None)) == (
        logging.ERROR,
        "secret 'x' could not be read",
    )
    assert "signing secret refreshed; too little time left to ask about the token again now" in logged
    for answer in (unreadable, late):
        assert isinstance(answer.outcome, AlipayFailure) and (answer.after_secret_refresh, answer.calls) == (
            False,
            1,
        )
    assert _sent(multi_app_gateway) == 2


@pytest.mark.parametrize(
    ("message_merchant", "expected"),
    [(MERCHANT_A, MerchantConfirmed(MERCHANT_A)), (MERCHANT_B, MerchantMismatch(MERCHANT_B, MERCHANT_A))],
)
def test_a_swapped_label_is_found_out_before_any_trade_call(
    multi_app_gateway: GatewayHandle, message_merchant: str, expected: object
) -> None:
    """Merchant A's token in a message labelled merchant B: Alipay's answer names A."""
    multi_app_gateway.admin.seed_trade("ORDER-1001", state="unpaid", merchant_id=MERCHANT_A)
    answer = _owners().ask(None, _client(multi_app_gateway), TOKEN_A, _plenty)
    assert check_identity(message_merchant, answer.outcome) == expected
    assert multi_app_gateway.admin.counts()["cancel_calls"] == 0
    assert multi_app_gateway.admin.trade("ORDER-1001", merchant_id=MERCHANT_A)["state"] == "unpaid"
