"""Property: whatever a peer answers over HTTP - any status, any headers, any body, signed or not -
``AlipayClient.cancel`` never raises and never returns a success unless the answer carries a valid
``alipay-signature`` by Alipay's key over exactly the bytes received.

tests/test_response_parsing.py has hypothesis tests on ``ResponseParser`` alone; this one goes
through the whole client over real loopback HTTP (requests, urllib3, header handling, body reading)
against a scripted server, with signatures made here independently of the client's code.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from local.keygen import KeyMaterial, RsaKeyPair

from alipay_cancel.alipay import TradeRef
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import CancelSuccess
from alipay_cancel.alipay.signing_material import load_signing_material

TRADE = "PROPCLIENT0001"


@dataclass
class Scripted:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    next_reply: Scripted


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        reply = self.server.next_reply
        self.send_response_only(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.close_connection = True


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _sign(key: rsa.RSAPrivateKey, timestamp: str, nonce: str, body: bytes) -> str:
    content = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    return base64.b64encode(key.sign(content, padding.PKCS1v15(), hashes.SHA256())).decode()


# --- strategies -----------------------------------------------------------------------------------

statuses = st.one_of(
    st.sampled_from(
        [200, 201, 202, 203, 206, 299, 301, 302, 307, 400, 401, 403, 404, 429, 500, 502, 503, 504]
    ),
    st.integers(200, 599),
)
header_names = st.one_of(
    st.sampled_from(
        [
            "alipay-trace-id",
            "alipay-sn",
            "content-type",
            "alipay-signature",
            "alipay-timestamp",
            "alipay-nonce",
            "content-encoding",
        ]
    ),
    st.text("abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=20),
)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
success_docs = st.fixed_dictionaries(
    {"code": st.sampled_from(["10000", 10000, "40004", "20000"]), "msg": st.sampled_from(["Success", "x"])},
    optional={
        "out_trade_no": st.sampled_from([TRADE, "OTHER", ""]) | json_scalars,
        "trade_no": st.sampled_from(["2026000001"]) | json_scalars,
        "action": st.sampled_from(["close", "refund"]) | json_scalars,
        "retry_flag": st.sampled_from(["N", "Y"]) | json_scalars,
        "sub_code": st.sampled_from(["ACQ.TRADE_HAS_FINISHED", "ACQ.SYSTEM_ERROR"]),
        "alipay_trade_cancel_response": st.dictionaries(st.text(max_size=8), json_scalars, max_size=3),
    },
)
good_success = st.fixed_dictionaries(
    {"code": st.just("10000"), "msg": st.just("Success"), "out_trade_no": st.just(TRADE)},
    optional={"action": st.sampled_from(["close", "refund"]), "retry_flag": st.sampled_from(["N", "Y"])},
)
bodies = st.one_of(
    good_success.map(lambda d: json.dumps(d).encode()),
    success_docs.map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.just(b""),
    st.just(b"<html><body>502 Bad Gateway</body></html>"),
)
# How the answer is signed: not at all, only some headers, garbage, another key, over other bytes, right.
signings = st.sampled_from(["valid", "none", "partial", "garbage", "wrong_key", "other_body"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    status=statuses,
    extra=st.lists(st.tuples(header_names, header_values), max_size=6),
    body=bodies,
    signing=signings,
)
def test_no_success_without_a_valid_signature_over_the_received_bytes(
    scripted_server: _Server,
    key_material: KeyMaterial,
    other_rsa_key_pair: RsaKeyPair,
    status: int,
    extra: list[tuple[str, str]],
    body: bytes,
    signing: str,
) -> None:
    timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
    alipay_key = key_material.alipay.private_key
    signature_headers: list[tuple[str, str]] = []
    if signing == "partial":
        signature_headers = [("alipay-signature", _sign(alipay_key, timestamp, nonce, body))]
    elif signing == "garbage":
        signature_headers = [
            ("alipay-timestamp", timestamp),
            ("alipay-nonce", nonce),
            ("alipay-signature", "AAAA"),
        ]
    elif signing != "none":
        key = other_rsa_key_pair.private_key if signing == "wrong_key" else alipay_key
        signed_body = body + b" " if signing == "other_body" else body
        signature_headers = [
            ("alipay-timestamp", timestamp),
            ("alipay-nonce", nonce),
            ("alipay-signature", _sign(key, timestamp, nonce, signed_body)),
        ]
    # Arbitrary extra headers must not smuggle in signature headers on the "valid" path, or a
    # duplicate header would make the test's own expectation ambiguous.
    names = {n for n, _ in signature_headers}
    headers = signature_headers + [(n, v) for n, v in extra if n.lower() not in names]
    scripted_server.next_reply = Scripted(status, headers, body)
    host, port = scripted_server.server_address[:2]
    client = AlipayClient(
        f"http://{host!s}:{port}",
        load_signing_material(key_material.secret()),
        connect_timeout=1,
        read_timeout=2,
    )
    try:
        outcome = client.cancel(TradeRef(out_trade_no=TRADE, trade_no=None))
    finally:
        client.session.close()

    event(f"{type(outcome).__name__} ({signing})")
    if isinstance(outcome, CancelSuccess):
        assert signing == "valid", f"success from a {signing!r} answer"
        assert 200 <= status < 300
        document = json.loads(body)
        assert document["code"] in ("10000", 10000)
        # a success answers this request: it names our id, its action is one Alipay defines
        assert document.get("out_trade_no") == TRADE == outcome.out_trade_no
        assert outcome.action in (None, "close", "refund")
        assert all(v is None or (v.isascii() and v.isprintable()) for v in vars(outcome).values()
                   if isinstance(v, str | None))  # fmt: skip


def _valid_success(key_material: KeyMaterial, body: bytes) -> Scripted:
    timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
    return Scripted(
        200,
        [
            ("alipay-timestamp", timestamp),
            ("alipay-nonce", nonce),
            ("alipay-signature", _sign(key_material.alipay.private_key, timestamp, nonce, body)),
        ],
        body,
    )


@pytest.mark.parametrize("action", ["close", "refund", None])
def test_control_a_correctly_signed_success_is_a_success(
    scripted_server: _Server, key_material: KeyMaterial, action: str | None
) -> None:
    """The positive control for the property above: the scripted server can produce a success."""
    doc: dict[str, Any] = {"code": "10000", "msg": "Success", "out_trade_no": TRADE, "retry_flag": "N"}
    if action:
        doc["action"] = action
    scripted_server.next_reply = _valid_success(key_material, json.dumps(doc).encode())
    host, port = scripted_server.server_address[:2]
    client = AlipayClient(f"http://{host!s}:{port}", load_signing_material(key_material.secret()))
    try:
        outcome = client.cancel(TradeRef(out_trade_no=TRADE, trade_no=None))
    finally:
        client.session.close()
    assert isinstance(outcome, CancelSuccess)
    assert outcome.action == action
