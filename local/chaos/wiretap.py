"""A recording proxy between the function's Alipay client and the gateway emulator (chaos runs only).

The function's ``ALIPAY_ENDPOINT`` points here (plain http to loopback, which the client allows);
every request is forwarded unchanged to the emulator and every answer back unchanged. On the way it
writes down, per exchange, what a payments auditor would want as evidence:

- when the request arrived and when (if ever) the answer came back, which trade it named;
- which app key signed the request (checked against the app public keys it is told about), so the
  key rotation can be shown to work: requests signed with the retired key are refused after the grace;
- whether the answer's ``alipay-signature`` really verifies with Alipay's public key, checked here
  independently of both the function's code and the emulator's code (``cryptography`` directly);
- which operation the request was (its path), the answer's status, ``alipay-trace-id``, business code,
  ``retry_flag``, ``action`` and the settle flow's facts (``trade_status``, ``fund_change``,
  ``refund_status``).

The chaos checks then hold every settled ledger item to an exchange that was answered with a correctly
signed success for that very trade (by its trace id), compare the time of the settling write with
the times of later requests for the same trade, and the calls' times with each other (one lease at a
time). Nothing here ever stores a header value that could be
a token or a signature.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from local.alipay_gateway.apis import APIS

AUTH_SCHEME = "ALIPAY-SHA256withRSA "
NOT_SENT = "not sent"  # Exchange.failure prefix: the emulator never got the request
# Hop-by-hop headers are not forwarded (RFC 9110 7.6.1); everything else goes through unchanged.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def _verify(key: rsa.RSAPublicKey, content: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, content, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def response_signature_verdict(alipay_public_key: rsa.RSAPublicKey, headers: Any, body: bytes) -> str:
    """'valid', 'invalid' or 'missing' for ``<alipay-timestamp>\\n<alipay-nonce>\\n<body>\\n``."""
    timestamp = headers.get("alipay-timestamp")
    nonce = headers.get("alipay-nonce")
    signature = headers.get("alipay-signature")
    if not (timestamp and nonce and signature):
        return "missing"
    content = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    return "valid" if _verify(alipay_public_key, content, signature) else "invalid"


def request_signer(
    app_keys: Iterable[tuple[str, rsa.RSAPublicKey]], method: str, path: str, headers: Any, body: bytes
) -> str:
    """The name of the app key whose signature the request carries, '' if none verifies."""
    value = headers.get("authorization") or ""
    if not value.startswith(AUTH_SCHEME):
        return ""
    items = value[len(AUTH_SCHEME) :].strip().split(",")
    sign = ""
    unsigned: list[str] = []
    for item in items:
        name, _, val = item.partition("=")
        if name.strip() == "sign" and not sign:
            sign = val.strip()
        elif name.strip() != "sign":
            unsigned.append(item)
    token = headers.get("alipay-app-auth-token") or ""
    content = f"{','.join(unsigned)}\n{method}\n{path}\n".encode() + body + b"\n"
    if token:
        content += f"{token}\n".encode()
    for name, key in app_keys:
        if _verify(key, content, sign):
            return name
    return ""


@dataclass
class Exchange:
    """One request the function sent to "Alipay" and what came back."""

    seq: int
    received_at: float  # epoch seconds: the request reached the proxy
    out_trade_no: str | None
    trade_no: str | None
    signer: str  # app key name ('' = no known key verifies the request signature)
    op: str = ""  # the emulator's operation name the path names (cancel, query, close, refund, ...)
    answered_at: float | None = None  # epoch seconds: the emulator's full answer came back
    status: int | None = None  # None: no answer (hung, connection dropped)
    failure: str | None = None  # why there was no answer
    trace_id: str | None = None
    signature: str = "missing"  # valid | invalid | missing (the answer's alipay-signature)
    code: str | None = None  # envelope code / v3 code
    sub_code: str | None = None
    retry_flag: str | None = None
    action: str | None = None
    trade_status: str | None = None  # query
    fund_change: str | None = None  # refund
    refund_status: str | None = None  # refund query
    answer_out_trade_no: str | None = None
    answer_trade_no: str | None = None
    delivered: bool = False  # the answer was written back to the function

    @property
    def trade_ids(self) -> set[str]:
        return {i for i in (self.out_trade_no, self.trade_no) if i}

    @property
    def signed_success(self) -> bool:
        """A correctly signed 2xx ``code 10000`` answer that is not ``retry_flag=Y``."""
        return (
            self.signature == "valid"
            and self.status is not None
            and 200 <= self.status < 300
            and self.code == "10000"
            and self.retry_flag != "Y"
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _operation(path: str) -> str:
    api = APIS.get(urlsplit(path).path)
    return api.operation if api is not None else ""


def _ids(body: bytes) -> tuple[str | None, str | None]:
    try:
        payload = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    out_trade_no, trade_no = payload.get("out_trade_no"), payload.get("trade_no")
    return (
        out_trade_no if isinstance(out_trade_no, str) and out_trade_no else None,
        trade_no if isinstance(trade_no, str) and trade_no else None,
    )


def _answer_fields(exchange: Exchange, body: bytes) -> None:
    try:
        payload = json.loads(body)
    except ValueError:
        return
    if not isinstance(payload, dict):
        return

    def text(name: str) -> str | None:
        value = payload.get(name)
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None

    exchange.code = text("code")
    exchange.sub_code = text("sub_code")
    exchange.retry_flag = text("retry_flag")
    exchange.action = text("action")
    exchange.trade_status = text("trade_status")
    exchange.fund_change = text("fund_change")
    exchange.refund_status = text("refund_status")
    exchange.answer_out_trade_no = text("out_trade_no")
    exchange.answer_trade_no = text("trade_no")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tap: WireTap

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A caller killed mid-request (crash faults) drops its connection: expected here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 20.0  # idle keep-alive connections end after this (before the emulator's 30 s)
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.server.tap.forward(self)

    def finish(self) -> None:
        # This thread's upstream connection ends with the function's connection: never left idle
        # until the emulator closes it under us.
        self.server.tap._drop_connection()
        super().finish()

    do_GET = do_POST


class WireTap:
    """``start()`` returns the proxy's base URL; ``exchanges()`` the record so far."""

    def __init__(
        self,
        upstream: str,
        alipay_public_key_pem: str,
        app_public_keys: dict[str, str],
        *,
        upstream_timeout: float,
    ) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname and parts.port, "upstream must be http://host:port"
        self._upstream = (parts.hostname, parts.port)
        self._alipay_key = load_public_key(alipay_public_key_pem)
        self._app_keys = [(name, load_public_key(pem)) for name, pem in app_public_keys.items()]
        self._timeout = upstream_timeout
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._local = threading.local()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.tap = self
        self._thread: threading.Thread | None = None
        # Crash faults: called with ("before", exchange) before forwarding and ("after", exchange)
        # once the emulator answered; True means the caller was killed (nothing forwarded/answered).
        self.crash_hook: Callable[[str, Exchange], bool] | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="wiretap", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def add_app_key(self, name: str, public_pem: str) -> None:
        with self._lock:
            self._app_keys = [*self._app_keys, (name, load_public_key(public_pem))]

    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    # --- one request ------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(*self._upstream, timeout=self._timeout)
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def forward(self, handler: _Handler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        cut_short = len(body) < length  # the caller died mid-request (a killed environment)
        with self._lock:
            keys = list(self._app_keys)
            seq = len(self._exchanges)
        out_trade_no, trade_no = _ids(body)
        exchange = Exchange(
            seq=seq,
            received_at=time.time(),
            out_trade_no=out_trade_no,
            trade_no=trade_no,
            signer=request_signer(keys, handler.command, handler.path, handler.headers, body),
            op=_operation(handler.path),
        )
        with self._lock:
            self._exchanges.append(exchange)
        if cut_short:  # never forwarded, as a server would not process half a request
            exchange.failure = f"{NOT_SENT}: the request was cut short ({len(body)} of {length} bytes)"
            handler.close_connection = True
            return
        if self.crash_hook is not None and self.crash_hook("before", exchange):
            exchange.failure = f"{NOT_SENT}: the caller was killed before the call"
            handler.close_connection = True
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            conn = self._connection()
            conn.request(handler.command, handler.path, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            self._drop_connection()
            exchange.failure = f"{NOT_SENT}: {type(exc).__name__}"
            handler.close_connection = True  # no answer to give: the function sees a dropped call
            return
        try:
            response = conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop_connection()
            exchange.failure = type(exc).__name__  # e.g. TimeoutError: the emulator held the call
            handler.close_connection = True
            return
        exchange.answered_at = time.time()
        exchange.status = response.status
        exchange.trace_id = response.headers.get("alipay-trace-id")
        exchange.signature = response_signature_verdict(self._alipay_key, response.headers, answer)
        _answer_fields(exchange, answer)
        if response.will_close:
            self._drop_connection()
        if self.crash_hook is not None and self.crash_hook("after", exchange):
            exchange.failure = "the caller was killed after Alipay answered"
            handler.close_connection = True
            return
        try:
            handler.send_response_only(response.status, response.reason)
            for name, value in response.headers.items():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(answer)))
            handler.end_headers()
            handler.wfile.write(answer)
            exchange.delivered = True
        except OSError:
            handler.close_connection = True  # the function gave up waiting (its read timeout)
