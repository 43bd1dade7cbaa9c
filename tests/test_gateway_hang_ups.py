"""A caller that hangs up mid-request (a Lambda environment killed while it waits) is not an emulator
error: no traceback on the emulator's stderr (it would read as a bug in a test or demo log), and the
emulator goes on serving."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from tests.fixtures.gateway import GatewayHandle
from tests.waiting import wait_for


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a killed process's socket does, rather than an orderly FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_reset_while_the_emulator_reads_the_body_prints_nothing(
    gateway_factory: Callable[..., GatewayHandle], capfd: pytest.CaptureFixture[str]
) -> None:
    gateway = gateway_factory()  # its own: no other test's kept-alive connection is counted open
    url = urlsplit(gateway.base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    # Expect: 100-continue makes the emulator say when it has read the headers; what it reads next is
    # the body, which never comes: the reset reaches it inside the request's handling.
    sock.sendall(
        b"POST /v3/alipay/trade/cancel HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"
    )
    interim = b""
    while b"\r\n\r\n" not in interim:  # the interim answer, however the bytes arrive
        chunk = sock.recv(64)
        assert chunk, "the emulator closed the connection instead of answering 100 Continue"
        interim += chunk
    assert interim.startswith(b"HTTP/1.1 100")
    _reset(sock)
    wait_for(lambda: gateway.server.open_connections == 0, "the emulator to end the reset connection")

    assert "Traceback" not in capfd.readouterr().err
    counts = gateway.admin.counts()  # still serving: the admin API is HTTP on the same server
    assert counts["cancel_calls"] == 0  # a request whose body never came cancelled nothing
