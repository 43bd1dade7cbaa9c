"""The cancel client against the gateway emulator over real loopback HTTP, in public-key, AES and
certificate modes. The emulator is an independent implementation: it checks our request signatures
(and rejects what Alipay would), signs its answers, and injects faults."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from local.keygen import KeyMaterial, RsaKeyPair, generate_cert_material

from alipay_cancel.alipay import TradeRef
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.alipay.signing_material import load_signing_material
from tests.fixtures.gateway import GatewayHandle

MODES = ["public_key", "aes", "cert"]


@pytest.fixture(params=MODES)
def any_gateway(request: pytest.FixtureRequest) -> GatewayHandle:
    fixture = {"public_key": "gateway", "aes": "aes_gateway", "cert": "cert_gateway"}[request.param]
    handle: GatewayHandle = request.getfixturevalue(fixture)
    return handle


class Sent:
    """The requests as they left the client (a response hook on the real session)."""

    def __init__(self, session: requests.Session) -> None:
        self.requests: list[requests.PreparedRequest] = []
        session.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests.append(response.request)


@pytest.fixture
def make_client() -> Iterator[Callable[..., AlipayClient]]:
    sessions: list[requests.Session] = []

    def make(handle: GatewayHandle, secret: dict[str, str] | None = None, **kwargs: Any) -> AlipayClient:
        material = load_signing_material(secret if secret is not None else handle.secret)
        kwargs.setdefault("connect_timeout", 2.0)
        kwargs.setdefault("read_timeout", 5.0)
        client = AlipayClient(handle.endpoint, material, **kwargs)
        sessions.append(client.session)
        return client

    yield make
    for session in sessions:
        session.close()


def ok(outcome: object) -> CancelSuccess:
    assert isinstance(outcome, CancelSuccess), outcome
    return outcome


def failed(outcome: object) -> AlipayFailure:
    assert isinstance(outcome, AlipayFailure), outcome
    return outcome


def business_code(failure: AlipayFailure) -> str | None:
    """The ACQ.* code in either error shape."""
    return failure.sub_code if failure.kind is FailureKind.BUSINESS else failure.code


# --- trade outcomes, every mode ---------------------------------------------------------------


def test_unpaid_trade_is_closed(any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient]) -> None:
    any_gateway.admin.seed_trade("T-UNPAID", "2088000000000000000000000001", "unpaid")
    result = ok(make_client(any_gateway).cancel(TradeRef("T-UNPAID", None)))
    assert result.action == "close" and result.out_trade_no == "T-UNPAID"
    assert result.trade_no == "2088000000000000000000000001"
    assert result.retry_flag in (None, "N") and result.gmt_refund_pay is None
    assert result.trace_id and result.request_id and result.http_status == 200
    assert any_gateway.admin.trade("T-UNPAID")["state"] == "closed"
    assert any_gateway.admin.cancel_calls("T-UNPAID") == 1


def test_paid_trade_is_refunded_with_refund_fields(
    any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient]
) -> None:
    trade = any_gateway.admin.seed_trade("T-PAID", None, "paid")
    client = make_client(any_gateway)
    first = ok(client.cancel(TradeRef(None, trade["trade_no"])))
    assert first.action == "refund" and first.gmt_refund_pay and first.refund_settlement_id
    assert first.trade_no == trade["trade_no"] and first.out_trade_no == "T-PAID"
    # Cancelling a fully refunded trade again: "no cancel once refunded" (the notes' emulate pick).
    again = failed(client.cancel(TradeRef("T-PAID", trade["trade_no"])))
    assert business_code(again) == "ACQ.REASON_TRADE_REFUND_FEE_ERR" and again.verified
    assert any_gateway.admin.cancel_calls("T-PAID") == 2


def test_unknown_trade_is_success_without_action(
    any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient]
) -> None:
    result = ok(make_client(any_gateway).cancel(TradeRef("T-NEVER-SEEN", None)))
    assert result.action is None


@pytest.mark.parametrize(
    ("seed", "code"),
    [
        ({"state": "finished"}, "ACQ.TRADE_HAS_FINISHED"),
        ({"state": "frozen"}, "ACQ.REASON_TRADE_BEEN_FREEZEN"),
        ({"state": "paid", "outside_cancel_window": True}, "ACQ.TRADE_CANCEL_TIME_OUT"),
        ({"state": "unpaid", "error_code": "ACQ.SELLER_BALANCE_NOT_ENOUGH"}, "ACQ.SELLER_BALANCE_NOT_ENOUGH"),
        ({"state": "paid", "error_code": "ACQ.TRADE_HAS_SUCCESS"}, "ACQ.TRADE_HAS_SUCCESS"),
        ({"state": "paid", "error_code": "ACQ.CANCEL_NOT_ALLOWED"}, "ACQ.CANCEL_NOT_ALLOWED"),
    ],
)
@pytest.mark.parametrize("shape", ["envelope", "v3"])
def test_business_errors_in_both_shapes(
    any_gateway: GatewayHandle,
    make_client: Callable[..., AlipayClient],
    seed: dict[str, Any],
    code: str,
    shape: str,
) -> None:
    any_gateway.admin.settings(error_shape=shape)
    any_gateway.admin.seed_trade("T-ERR", **seed)
    failure = failed(make_client(any_gateway).cancel(TradeRef("T-ERR", None)))
    assert business_code(failure) == code
    assert failure.verified, "the emulator signs error answers: they must be verified"
    if shape == "envelope":
        assert (failure.kind, failure.code, failure.http_status) == (FailureKind.BUSINESS, "40004", 200)
    else:
        assert (failure.kind, failure.http_status) == (FailureKind.V3_ERROR, 400)
    assert failure.trace_id and failure.request_id


# --- faults -----------------------------------------------------------------------------------


def test_latency_within_timeout_still_succeeds(
    any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient]
) -> None:
    any_gateway.admin.seed_trade("T-SLOW", state="unpaid")
    any_gateway.admin.set_fault("latency", trade="T-SLOW", latency_ms=150)
    assert ok(make_client(any_gateway).cancel(TradeRef("T-SLOW", None))).action == "close"


@pytest.mark.parametrize("kind", ["timeout", "timeout_after_cancel"])
def test_timeout_then_retry(
    any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient], kind: str
) -> None:
    any_gateway.admin.seed_trade("T-HANG", state="paid")
    any_gateway.admin.set_fault(kind, trade="T-HANG", times=1)
    client = make_client(any_gateway, read_timeout=0.4)
    failure = failed(client.cancel(TradeRef("T-HANG", None)))
    assert failure.kind is FailureKind.TIMEOUT and failure.request_id
    # The retry (same client, same session) gets the one true answer: the refund when the first call
    # never reached the trade; when it did, the trade is refunded and cannot be cancelled again.
    retry = client.cancel(TradeRef("T-HANG", None))
    if kind == "timeout":
        assert ok(retry).action == "refund"
    else:
        assert business_code(failed(retry)) == "ACQ.REASON_TRADE_REFUND_FEE_ERR"


@pytest.mark.parametrize(
    ("kind", "params", "expect"),
    [
        ("http_5xx", {}, (FailureKind.V3_ERROR, 503)),
        ("http_5xx", {"http_status": 502}, (FailureKind.V3_ERROR, 502)),
        ("rate_limited", {}, (FailureKind.V3_ERROR, 429)),
        ("service_unavailable", {}, (FailureKind.SERVICE_UNAVAILABLE, 200)),
        ("system_error", {}, (FailureKind.BUSINESS, 200)),
    ],
)
def test_retryable_server_faults(
    any_gateway: GatewayHandle,
    make_client: Callable[..., AlipayClient],
    kind: str,
    params: dict[str, Any],
    expect: tuple[FailureKind, int],
) -> None:
    any_gateway.admin.seed_trade("T-FAULT", state="unpaid")
    any_gateway.admin.set_fault(kind, trade="T-FAULT", times=1, **params)
    client = make_client(any_gateway)
    failure = failed(client.cancel(TradeRef("T-FAULT", None)))
    assert (failure.kind, failure.http_status) == expect
    if kind == "system_error":
        assert failure.sub_code == "ACQ.SYSTEM_ERROR"
    if kind == "service_unavailable":
        assert failure.code == "20000"
    if kind == "rate_limited":
        assert failure.code == "rate-limited"
    assert ok(client.cancel(TradeRef("T-FAULT", None))).action == "close"


def test_retry_flag_y(any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient]) -> None:
    any_gateway.admin.seed_trade("T-RETRY", state="unpaid")
    any_gateway.admin.set_fault("retry_flag", trade="T-RETRY", times=1)
    result = ok(make_client(any_gateway).cancel(TradeRef("T-RETRY", None)))
    assert result.retry_flag == "Y"


@pytest.mark.parametrize("kind", ["bad_signature", "no_signature"])
@pytest.mark.parametrize("state", ["unpaid", "finished"])
def test_forged_or_unsigned_answers_are_never_results(
    any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient], kind: str, state: str
) -> None:
    any_gateway.admin.seed_trade("T-SIG", state=state)
    any_gateway.admin.settings(error_shape="v3")  # "finished" answers HTTP 400 ACQ.TRADE_HAS_FINISHED
    any_gateway.admin.set_fault(kind, trade="T-SIG")
    failure = failed(make_client(any_gateway).cancel(TradeRef("T-SIG", None)))
    if kind == "bad_signature" or state == "unpaid":
        assert failure.kind is FailureKind.BAD_SIGNATURE
    else:  # an unsigned 400: the business code inside is not believed
        assert failure.kind is FailureKind.HTTP_ERROR and failure.http_status == 400
    assert failure.code is None and failure.sub_code is None and not failure.verified


@pytest.mark.parametrize(
    ("kind", "params", "expect"),
    [
        ("garbage_html", {}, FailureKind.MALFORMED),
        ("garbage_empty", {}, FailureKind.MALFORMED),
        ("garbage_truncated", {}, FailureKind.MALFORMED),
        ("garbage_html", {"http_status": 502, "signed": False}, FailureKind.HTTP_ERROR),
        ("garbage_html", {"http_status": 500}, FailureKind.HTTP_ERROR),
        ("garbage_empty", {"http_status": 504, "signed": False}, FailureKind.HTTP_ERROR),
        ("garbage_truncated", {"signed": False}, FailureKind.BAD_SIGNATURE),
    ],
)
def test_garbage_bodies(
    any_gateway: GatewayHandle,
    make_client: Callable[..., AlipayClient],
    kind: str,
    params: dict[str, Any],
    expect: FailureKind,
) -> None:
    any_gateway.admin.seed_trade("T-GARBAGE", state="unpaid")
    any_gateway.admin.set_fault(kind, trade="T-GARBAGE", times=1, **params)
    failure = failed(make_client(any_gateway).cancel(TradeRef("T-GARBAGE", None)))
    assert failure.kind is expect
    assert failure.http_status == params.get("http_status", 200)


def test_connection_refused(key_material: KeyMaterial, public_key_secret: dict[str, str]) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AlipayClient(
        f"http://127.0.0.1:{port}", load_signing_material(public_key_secret), connect_timeout=1
    )
    failure = failed(client.cancel(TradeRef("T-1", None)))
    assert failure.kind is FailureKind.CONNECTION and failure.request_id
    client.session.close()


def test_connect_timeout_is_a_timeout(key_material: KeyMaterial, public_key_secret: dict[str, str]) -> None:
    # A listening socket whose accept queue is full: the TCP handshake never completes.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            client = AlipayClient(
                f"http://127.0.0.1:{port}",
                load_signing_material(public_key_secret),
                connect_timeout=0.3,
                read_timeout=0.3,
            )
            failure = failed(client.cancel(TradeRef("T-1", None)))
            # Linux may complete the handshake anyway and then never answer: a read timeout.
            assert failure.kind is FailureKind.TIMEOUT
            client.session.close()
        finally:
            for filler in fillers:
                filler.close()


class RawServer:
    """A one-shot TCP server that answers with fixed bytes, then stalls or hangs up (for transfer faults
    no HTTP framework will produce)."""

    def __init__(self, reply: bytes, *, stall_seconds: float = 0.0) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._reply, self._stall = reply, stall_seconds
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(self._reply)
            time.sleep(self._stall)

    def close(self) -> None:
        self._thread.join(timeout=5)
        self._sock.close()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"


@pytest.mark.parametrize(
    ("stall", "expect"),
    [(0.0, FailureKind.CONNECTION), (1.0, FailureKind.TIMEOUT)],
    ids=["hang-up-mid-body", "stall-mid-body"],
)
def test_body_cut_off_in_transfer(
    public_key_secret: dict[str, str], stall: float, expect: FailureKind
) -> None:
    server = RawServer(HEAD + b'{"action":"clo', stall_seconds=stall)
    client = AlipayClient(server.url, load_signing_material(public_key_secret), read_timeout=0.3)
    try:
        failure = failed(client.cancel(TradeRef("T-1", None)))
        assert failure.kind is expect
    finally:
        client.session.close()
        server.close()


# --- our own configuration is wrong -----------------------------------------------------------


def test_wrong_app_private_key_is_reported_by_the_gateway(
    gateway: GatewayHandle, make_client: Callable[..., AlipayClient], other_rsa_key_pair: RsaKeyPair
) -> None:
    secret = {**gateway.secret, "private_key": other_rsa_key_pair.private_pem}
    failure = failed(make_client(gateway, secret).cancel(TradeRef("T-1", None)))
    assert (failure.kind, failure.code, failure.http_status) == (
        FailureKind.V3_ERROR,
        "invalid-signature",
        401,
    )
    assert gateway.admin.counts()["cancel_calls"] == 0


def test_wrong_app_id_is_reported(gateway: GatewayHandle, make_client: Callable[..., AlipayClient]) -> None:
    secret = {**gateway.secret, "app_id": "2021999999999999"}
    failure = failed(make_client(gateway, secret).cancel(TradeRef("T-1", None)))
    assert (failure.kind, failure.code) == (FailureKind.V3_ERROR, "invalid-app-id")


def test_wrong_alipay_public_key_fails_closed(
    gateway: GatewayHandle, make_client: Callable[..., AlipayClient], other_rsa_key_pair: RsaKeyPair
) -> None:
    gateway.admin.seed_trade("T-KEY", state="unpaid")
    secret = {**gateway.secret, "alipay_public_key": other_rsa_key_pair.public_pem}
    failure = failed(make_client(gateway, secret).cancel(TradeRef("T-KEY", None)))
    assert failure.kind is FailureKind.BAD_SIGNATURE
    assert gateway.admin.trade("T-KEY")["state"] == "closed"  # it happened; we just can't trust the answer


def test_missing_permission_and_aes_mismatch(
    gateway: GatewayHandle, aes_gateway: GatewayHandle, make_client: Callable[..., AlipayClient]
) -> None:
    gateway.admin.settings(api_permission=False)
    failure = failed(make_client(gateway).cancel(TradeRef("T-1", None)))
    assert (failure.kind, failure.code, failure.http_status) == (
        FailureKind.V3_ERROR,
        "insufficient-permissions",
        403,
    )
    # The app needs AES but our secret has no encrypt_key.
    plain_secret = {k: v for k, v in aes_gateway.secret.items() if k != "encrypt_key"}
    failure = failed(make_client(aes_gateway, plain_secret).cancel(TradeRef("T-1", None)))
    assert failure.code == "insufficient-permissions"


def test_clock_skew_is_reported(gateway: GatewayHandle, make_client: Callable[..., AlipayClient]) -> None:
    gateway.admin.settings(max_skew_seconds=-1)  # every timestamp is "too far" from the gateway's clock
    failure = failed(make_client(gateway).cancel(TradeRef("T-1", None)))
    assert (failure.kind, failure.code) == (FailureKind.V3_ERROR, "invalid-timestamp")


def test_alipay_key_rotation_fails_closed_until_the_secret_is_refreshed(
    any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient], other_rsa_key_pair: RsaKeyPair
) -> None:
    any_gateway.admin.seed_trade("T-ROT", state="unpaid")
    client = make_client(any_gateway)
    new_secret = dict(any_gateway.secret)
    if any_gateway.cert_mode:
        keys = any_gateway.keys
        certs = generate_cert_material(keys.app, other_rsa_key_pair, keys.app_id)
        any_gateway.admin.rotate_alipay_key(other_rsa_key_pair.private_pem, alipay_cert=certs.alipay_cert_pem)
        new_secret["alipay_cert"] = certs.alipay_cert_pem
    else:
        any_gateway.admin.rotate_alipay_key(other_rsa_key_pair.private_pem)
        new_secret["alipay_public_key"] = other_rsa_key_pair.public_pem
    failure = failed(client.cancel(TradeRef("T-ROT", None)))
    # cert mode: alipay-sn names the new certificate, never trusted with a key we were not given
    expected = FailureKind.UNEXPECTED_SIGNER if any_gateway.cert_mode else FailureKind.BAD_SIGNATURE
    assert failure.kind is expected
    refreshed = client.with_material(load_signing_material(new_secret))
    assert refreshed.session is client.session
    assert ok(refreshed.cancel(TradeRef("T-ROT", None))).action == "close"


def test_cert_mode_alipay_sn_mismatch_with_the_same_key(
    cert_gateway: GatewayHandle, make_client: Callable[..., AlipayClient]
) -> None:
    keys = cert_gateway.keys
    # Alipay re-issues its certificate for the same key: signatures verify but alipay-sn changes.
    reissued = generate_cert_material(keys.app, keys.alipay, keys.app_id)
    cert_gateway.admin.rotate_alipay_key(keys.alipay.private_pem, alipay_cert=reissued.alipay_cert_pem)
    failure = failed(make_client(cert_gateway).cancel(TradeRef("T-SN", None)))
    assert failure.kind is FailureKind.UNEXPECTED_SIGNER and "alipay-sn" in failure.message


# --- app_auth_token (ISV calls) ---------------------------------------------------------------


def test_app_auth_token_is_sent_and_signed(
    any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient]
) -> None:
    any_gateway.admin.settings(app_auth_tokens=["202101BB-merchant-token"])
    any_gateway.admin.seed_trade("T-ISV", state="unpaid")
    client = make_client(any_gateway)
    assert ok(client.cancel(TradeRef("T-ISV", None, "202101BB-merchant-token"))).action == "close"
    failure = failed(client.cancel(TradeRef("T-ISV", None, "202101BB-revoked")))
    assert (failure.kind, failure.code, failure.http_status) == (
        FailureKind.V3_ERROR,
        "invalid-app-auth-token",
        401,
    )
    assert failure.verified


# --- what goes over the wire ------------------------------------------------------------------


def _verify_request_signature(prepared: requests.PreparedRequest, keys: KeyMaterial) -> str:
    header = prepared.headers["Authorization"]
    scheme, _, params = header.partition(" ")
    assert scheme == "ALIPAY-SHA256withRSA"
    auth, _, signature = params.rpartition(",sign=")
    body = prepared.body.decode() if isinstance(prepared.body, bytes) else str(prepared.body)
    token = prepared.headers.get("alipay-app-auth-token")
    content = f"{auth}\nPOST\n{prepared.path_url}\n{body}\n" + (f"{token}\n" if token else "")
    keys.app.private_key.public_key().verify(
        base64.b64decode(signature), content.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return auth


def test_request_headers_and_body_on_the_wire(
    any_gateway: GatewayHandle, make_client: Callable[..., AlipayClient]
) -> None:
    client = make_client(any_gateway)
    sent = Sent(client.session)
    client.cancel(TradeRef("T-WIRE", "2088000000000000000000000009", "tok-1"))
    client.cancel(TradeRef("T-WIRE", None))
    first, second = sent.requests
    assert first.path_url == "/v3/alipay/trade/cancel" and first.method == "POST"
    assert first.headers["alipay-request-id"] != second.headers["alipay-request-id"]
    assert first.headers["Accept-Encoding"] == "identity"  # never compressed answers
    assert first.headers["alipay-app-auth-token"] == "tok-1" and "alipay-app-auth-token" not in second.headers
    auths = [_verify_request_signature(p, any_gateway.keys) for p in (first, second)]
    fields = [dict(kv.split("=", 1) for kv in a.split(",")) for a in auths]
    assert fields[0]["nonce"] != fields[1]["nonce"] and fields[0]["app_id"] == any_gateway.keys.app_id
    body = first.body if isinstance(first.body, bytes) else str(first.body).encode()
    expected_plain = {"out_trade_no": "T-WIRE", "trade_no": "2088000000000000000000000009"}
    if any_gateway.aes:
        assert first.headers["alipay-encrypt-type"] == "AES"
        assert first.headers["alipay-encryption-algm"] == "AES"  # both, as the official SDKs send
        assert first.headers["Content-Type"].startswith("text/plain")
        assert b"T-WIRE" not in body
    else:
        assert "alipay-encrypt-type" not in first.headers and "alipay-encryption-algm" not in first.headers
        assert first.headers["Content-Type"].startswith("application/json")
        assert json.loads(body) == expected_plain
    if any_gateway.cert_mode:
        settings = any_gateway.admin.settings()
        assert fields[0]["app_cert_sn"]
        assert first.headers["alipay-root-cert-sn"].count("_") == 1
        assert json.dumps(settings).count(fields[0]["app_cert_sn"]) >= 1
    else:
        assert "app_cert_sn" not in fields[0] and "alipay-root-cert-sn" not in first.headers


def test_one_kept_alive_connection_for_many_calls(
    gateway: GatewayHandle, make_client: Callable[..., AlipayClient]
) -> None:
    client = make_client(gateway)
    for i in range(6):
        ok(client.cancel(TradeRef(f"T-KA-{i}", None)))
    pools = client.session.get_adapter(gateway.endpoint).poolmanager.pools
    opened = [pools[key].num_connections for key in pools.keys()]
    assert opened == [1], "every call after the first must reuse the kept-alive connection"


# --- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://openapi.alipay.com",
        "http://10.0.0.5:8080",
        "ftp://127.0.0.1",
        "openapi.alipay.com",
        "https://u:p@h.com",
    ],
)
def test_refuses_unsafe_endpoints(public_key_secret: dict[str, str], endpoint: str) -> None:
    with pytest.raises(ValueError):
        AlipayClient(endpoint, load_signing_material(public_key_secret))


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://openapi.alipay.com",
        "http://127.0.0.1:8089",
        "http://127.9.9.9",
        "http://localhost:1",
        "http://[::1]:80/",
    ],
)
def test_accepts_https_and_loopback_http(public_key_secret: dict[str, str], endpoint: str) -> None:
    client = AlipayClient(endpoint, load_signing_material(public_key_secret))
    assert not client.endpoint.endswith("/")
    client.session.close()


@pytest.mark.parametrize(
    "timeouts", [{"connect_timeout": 0}, {"read_timeout": -1}, {"read_timeout": float("inf")}]
)
def test_refuses_bad_timeouts(public_key_secret: dict[str, str], timeouts: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AlipayClient("https://openapi.alipay.com", load_signing_material(public_key_secret), **timeouts)
