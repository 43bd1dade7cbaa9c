"""What the Alipay client takes from the process environment: the proxy variables (NO_PROXY
included) and the CA bundle variables, read once when the client is built, as ``requests`` reads
them; never ~/.netrc, whose Basic credentials would replace the signed Authorization header.
(The CA bundle variables: tests/test_security.py.)"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from alipay_cancel.alipay import TradeRef
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind
from alipay_cancel.alipay.signing_material import load_signing_material
from tests.fixtures.gateway import GatewayHandle

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in (*PROXY_VARIABLES, "NETRC", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: a proxy there refuses every connection."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _cancel(client: AlipayClient) -> CancelSuccess | AlipayFailure:
    try:
        return client.cancel(TradeRef(out_trade_no="ENV-1", trade_no=None))
    finally:
        client.session.close()


def _client(gateway: GatewayHandle) -> AlipayClient:
    material = load_signing_material(gateway.secret)
    return AlipayClient(gateway.endpoint, material, connect_timeout=2.0, read_timeout=5.0)


def test_a_proxy_named_by_the_environment_carries_the_call(
    gateway: GatewayHandle, no_proxy_environment: pytest.MonkeyPatch, closed_port: int
) -> None:
    no_proxy_environment.setenv("http_proxy", f"http://127.0.0.1:{closed_port}")
    outcome = _cancel(_client(gateway))
    assert isinstance(outcome, AlipayFailure) and outcome.kind is FailureKind.CONNECTION
    assert list(gateway.state.recent) == []  # the call never reached Alipay directly


def test_no_proxy_covering_the_endpoint_goes_direct(
    gateway: GatewayHandle, no_proxy_environment: pytest.MonkeyPatch, closed_port: int
) -> None:
    no_proxy_environment.setenv("http_proxy", f"http://127.0.0.1:{closed_port}")
    no_proxy_environment.setenv("no_proxy", "127.0.0.1,localhost")
    assert isinstance(_cancel(_client(gateway)), CancelSuccess)
    assert len(gateway.state.recent) == 1


def test_the_environment_is_read_when_the_client_is_built_not_per_call(
    gateway: GatewayHandle, no_proxy_environment: pytest.MonkeyPatch, closed_port: int
) -> None:
    client = _client(gateway)
    no_proxy_environment.setenv("http_proxy", f"http://127.0.0.1:{closed_port}")
    assert isinstance(_cancel(client), CancelSuccess)


def test_netrc_credentials_never_replace_the_signature(
    gateway: GatewayHandle, no_proxy_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password something\n")
    netrc.chmod(0o600)
    no_proxy_environment.setenv("NETRC", str(netrc))
    assert isinstance(_cancel(_client(gateway)), CancelSuccess)
