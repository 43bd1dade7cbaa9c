"""The real client against the emulator over loopback HTTP when the answer is hostile or odd: slow,
huge, compressed, stale, for another trade, signed by another certificate, or any listed error code.
Each is retryable with a reason, never a success; nothing here waits past the call's deadline."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alipay_cancel.alipay import TradeRef
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import FailureKind
from alipay_cancel.decisions.classification import classify
from alipay_cancel.shared.endings import Ending
from tests.fixtures.gateway import GatewayHandle
from tests.test_alipay_codes import EXCEPTIONS, EXPECTED, spec_groups
from tests.test_client_against_gateway import any_gateway, failed, make_client, ok

__all__ = ["any_gateway", "make_client"]  # fixtures shared with test_client_against_gateway

ClientFactory = Callable[..., AlipayClient]


def _cancel(client: AlipayClient, out_trade_no: str) -> Any:
    return client.cancel(TradeRef(out_trade_no, None))


def test_cert_mode_answer_without_alipay_sn_is_verified_with_the_configured_cert(
    cert_gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    cert_gateway.admin.seed_trade("T-NOSN", state="unpaid")
    cert_gateway.admin.set_fault("no_alipay_sn", trade="T-NOSN", times=1)
    assert ok(_cancel(make_client(cert_gateway), "T-NOSN")).action == "close"


def test_cert_mode_answer_naming_another_certificate_is_never_trusted(
    cert_gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    cert_gateway.admin.seed_trade("T-SN2", state="unpaid")
    cert_gateway.admin.set_fault("other_alipay_sn", trade="T-SN2", times=1, code="f" * 32)
    failure = failed(_cancel(make_client(cert_gateway), "T-SN2"))
    assert failure.kind is FailureKind.UNEXPECTED_SIGNER
    assert classify(failure, after_secret_refresh=True).outcome is Ending.CONFIG_ERROR


def test_a_dripped_body_ends_at_the_calls_deadline(
    gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    gateway.admin.seed_trade("T-DRIP", state="unpaid")
    gateway.admin.set_fault("drip", trade="T-DRIP", times=1, latency_ms=300)  # ~100 bytes: ~30 s in all
    client = make_client(gateway, connect_timeout=1.0, read_timeout=1.0)
    started = time.monotonic()
    failure = failed(_cancel(client, "T-DRIP"))
    elapsed = time.monotonic() - started
    assert failure.kind is FailureKind.TIMEOUT and "deadline" in failure.message
    # Ends near the 2 s deadline, far from the ~30 s the drip lasts (each byte arrives within the 1 s
    # read timeout, so only the deadline can end it); the margin absorbs a busy machine.
    assert elapsed < 12.0, elapsed
    assert classify(failure).outcome is Ending.RETRY
    assert ok(_cancel(client, "T-DRIP")).action == "close"  # the session is still usable


def test_a_gzip_answer_is_refused_unread(gateway: GatewayHandle, make_client: ClientFactory) -> None:
    gateway.admin.seed_trade("T-GZ", state="unpaid")
    gateway.admin.set_fault("gzip", trade="T-GZ", times=1, size=400_000)
    failure = failed(_cancel(make_client(gateway), "T-GZ"))
    assert failure.kind is FailureKind.REFUSED_BODY and "compressed (gzip)" in failure.message
    assert classify(failure).outcome is Ending.RETRY


@pytest.mark.parametrize("size", [64 * 1024 + 1, 20 * 1024 * 1024])
def test_an_oversized_answer_is_refused(
    gateway: GatewayHandle, make_client: ClientFactory, size: int
) -> None:
    gateway.admin.seed_trade("T-BIG", state="unpaid")
    gateway.admin.set_fault("oversize", trade="T-BIG", times=1, size=size)
    failure = failed(_cancel(make_client(gateway), "T-BIG"))
    assert failure.kind is FailureKind.REFUSED_BODY and "larger than 65536 bytes" in failure.message


def test_a_body_just_under_the_cap_is_read(gateway: GatewayHandle, make_client: ClientFactory) -> None:
    gateway.admin.seed_trade("T-CAP", state="unpaid")
    gateway.admin.set_fault("oversize", trade="T-CAP", times=1, size=64 * 1024)
    assert ok(_cancel(make_client(gateway), "T-CAP")).action == "close"


@pytest.mark.parametrize("age_seconds", [None, 3600, -3600])  # None: a 2017 timestamp
def test_a_stale_signed_answer_is_not_believed(
    gateway: GatewayHandle, make_client: ClientFactory, age_seconds: float | None
) -> None:
    gateway.admin.seed_trade("T-OLD", state="unpaid")
    params = {} if age_seconds is None else {"age_seconds": age_seconds}
    gateway.admin.set_fault("stale", trade="T-OLD", times=1, **params)
    failure = failed(_cancel(make_client(gateway), "T-OLD"))
    assert failure.kind is FailureKind.NOT_OUR_ANSWER and "freshness window" in failure.message
    assert classify(failure).outcome is Ending.RETRY


def test_a_window_set_wider_accepts_an_older_answer(
    gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    gateway.admin.seed_trade("T-WIDE", state="unpaid")
    gateway.admin.set_fault("stale", trade="T-WIDE", times=1, age_seconds=600)
    assert ok(_cancel(make_client(gateway, response_max_age_seconds=900), "T-WIDE")).action == "close"


def test_a_signed_success_for_another_trade_is_not_ours(
    any_gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    any_gateway.admin.seed_trade("T-MINE", state="paid")
    any_gateway.admin.set_fault("other_trade", trade="T-MINE", times=1)
    failure = failed(_cancel(make_client(any_gateway), "T-MINE"))
    assert failure.kind is FailureKind.NOT_OUR_ANSWER and failure.verified
    assert any_gateway.admin.trade("T-MINE")["state"] == "paid"  # our trade was never cancelled


@pytest.mark.parametrize("raw_body", ["{}", '{"":"","":{}}', '{"retry_flag":"N"}', '{"action":"refund"}'])
def test_a_signed_success_naming_no_id_is_never_a_success(
    gateway: GatewayHandle, make_client: ClientFactory, raw_body: str
) -> None:
    gateway.admin.set_fault("signed_body", trade="T-NOID", times=1, raw_body=raw_body)
    failure = failed(_cancel(make_client(gateway), "T-NOID"))
    assert failure.kind is FailureKind.NOT_OUR_ANSWER and "does not name the out_trade_no" in failure.message


def test_stored_fields_are_validated_end_to_end(gateway: GatewayHandle, make_client: ClientFactory) -> None:
    raw = '{"code":"10000","out_trade_no":"T-F","action":"close\\u0000\\u202e\\n","retry_flag":"N"}'
    gateway.admin.set_fault("signed_body", trade="T-F", times=1, raw_body=raw)
    failure = failed(_cancel(make_client(gateway), "T-F"))
    assert failure.kind is FailureKind.MALFORMED and "U+0000" in failure.message


def test_the_emulator_answers_every_listed_code_and_the_client_classifies_it(
    gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    client = make_client(gateway)
    for group, codes in spec_groups().items():
        for code in codes:
            gateway.admin.set_fault("gateway_error", trade="T-CODE", times=1, code=code, http_status=400)
            failure = failed(_cancel(client, "T-CODE"))
            assert (failure.kind, failure.code, failure.verified) == (FailureKind.V3_ERROR, code, True)
            outcome, delay, _ = EXCEPTIONS.get(code, EXPECTED[group])
            decision = classify(failure)
            assert (decision.outcome, decision.delay) == (outcome, delay), code


# --- what the transport refuses without the emulator's help: a body with no Content-Length --------


def _raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                try:
                    answer(conn)
                except OSError:
                    pass  # the client hung up (its cap or its deadline): expected

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=10)
    listener.close()


@pytest.fixture
def endless_server() -> Iterator[str]:
    """Answers 200 with no Content-Length and streams 1 MiB, then closes (HTTP/1.0 style)."""

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n")
        for _ in range(128):
            conn.sendall(b" " * 8192)

    yield from _raw_server(answer)


@pytest.fixture
def header_drip_server() -> Iterator[str]:
    """Sends its status line and headers one byte every 0.3 s (about 25 s in all)."""

    def answer(conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"z" * 20 + b"\r\n\r\n"
        for index in range(len(head)):
            conn.sendall(head[index : index + 1])
            time.sleep(0.3)

    yield from _raw_server(answer)


def test_dripped_headers_end_at_the_calls_deadline(header_drip_server: str, gateway: GatewayHandle) -> None:
    from alipay_cancel.alipay.signing_material import load_signing_material

    client = AlipayClient(
        header_drip_server, load_signing_material(gateway.secret), connect_timeout=1.0, read_timeout=1.0
    )
    started = time.monotonic()
    failure = failed(_cancel(client, "T-HDRIP"))
    assert failure.kind is FailureKind.TIMEOUT and "deadline" in failure.message
    elapsed = time.monotonic() - started
    assert elapsed < 12.0, (
        elapsed
    )  # near the 2 s deadline; the dripped head lasts ~25 s (busy-machine margin)
    client.session.close()


def test_a_body_without_length_stops_at_the_cap(endless_server: str, gateway: GatewayHandle) -> None:
    from alipay_cancel.alipay.signing_material import load_signing_material

    client = AlipayClient(endless_server, load_signing_material(gateway.secret), read_timeout=5.0)
    failure = failed(_cancel(client, "T-ENDLESS"))
    assert failure.kind is FailureKind.REFUSED_BODY and "larger than 65536 bytes" in failure.message
    client.session.close()


def test_the_spec_copy_parses_with_alipays_own_spellings() -> None:
    # guards the parser the table tests rely on
    codes = {code for codes in spec_groups().values() for code in codes}
    assert {"sevice-not-been-subscribed-to", "unknow-error", "app-key-security-risk"} <= codes
    assert not any(re.search(r"[\s`,]", code) for code in codes)
    assert Path(__file__).with_name("data").joinpath("v3-common-error-codes.md").is_file()


def test_bounded_reading_keeps_the_connection_alive(
    gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    client = make_client(gateway)
    gateway.admin.seed_trades([{"out_trade_no": f"T-KA{i}", "state": "unpaid"} for i in range(5)])
    before = gateway.server.connections_accepted
    for i in range(5):
        assert ok(_cancel(client, f"T-KA{i}")).action == "close"
    assert gateway.server.connections_accepted == before + 1  # one TCP connection for all five


def test_an_answer_in_time_keeps_its_connection_after_the_deadline(
    gateway: GatewayHandle, make_client: ClientFactory
) -> None:
    # The header watchdog is disarmed when the headers arrive: once the call's deadline has passed, the
    # pooled connection must still be whole (a late shutdown would cost the next call a reconnect).
    client = make_client(gateway, connect_timeout=1.0, read_timeout=2.0)
    gateway.admin.seed_trades([{"out_trade_no": f"T-LATE{i}", "state": "unpaid"} for i in range(2)])
    before = gateway.server.connections_accepted
    started = time.monotonic()
    assert ok(_cancel(client, "T-LATE0")).action == "close"
    time.sleep(max(0.0, started + 3.0 + 0.5 - time.monotonic()))  # past the first call's deadline
    assert ok(_cancel(client, "T-LATE1")).action == "close"
    assert gateway.server.connections_accepted == before + 1


def test_the_header_watchdog_honours_a_later_call_with_an_earlier_deadline() -> None:
    from alipay_cancel.alipay.transport import _Watchdog

    watchdog = _Watchdog()
    first_ours, first_peer = socket.socketpair()
    late_ours, late_peer = socket.socketpair()
    soon_ours, soon_peer = socket.socketpair()
    with first_ours, first_peer, late_ours, late_peer, soon_ours, soon_peer:
        for peer in (first_peer, soon_peer):
            peer.settimeout(10.0)  # a generous bound, not the expected time
        watchdog.arm(time.monotonic(), first_ours)
        assert first_peer.recv(1) == b""  # the watchdog's thread is up, and now waits for work
        late = watchdog.arm(time.monotonic() + 60.0, late_ours)
        watchdog.arm(time.monotonic() + 0.2, soon_ours)
        assert soon_peer.recv(1) == b""  # shut down at its deadline, not after the 60 s one's
        watchdog.disarm(late)
        late_ours.sendall(b"x")  # the disarmed socket was left alone
        assert late_peer.recv(1) == b"x"
