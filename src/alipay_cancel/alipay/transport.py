"""One bounded HTTP exchange with Alipay: a single deadline for the whole call, no compression, and a
body size cap, so that a slow, huge or compressed answer can neither outlive the invocation's time
budget nor exhaust the function's memory.

* **Deadline.** ``connect_timeout + read_timeout`` from the start of the call bounds everything: the
  connection, waiting for the status line and headers, and reading the body. The body is read one
  socket read at a time and before each read the socket's timeout is cut to the time that is left,
  so a body dripped one byte at a time ends at the deadline, not after ``read_timeout`` per byte.
  Status line and headers are read by ``http.client`` in one go: on sessions from
  ``new_session`` a watchdog shuts the socket down at the deadline while they are read (a peer
  dripping its headers would otherwise hold the call for ``read_timeout`` per byte). One watchdog
  thread serves every call of the process: a thread started per call (``threading.Timer``) cost
  ~0.25 ms of CPU per call with ten calls in flight; the shared thread costs nothing measurable.
* **No compression.** We ask for ``Accept-Encoding: identity`` and never decode: a response with any
  other ``Content-Encoding`` is refused unread (the signature covers the bytes as sent, and a small
  gzip body can inflate to hundreds of MB).
* **Size cap.** A ``Content-Length`` over the cap is refused before reading; otherwise reading stops
  as soon as the cap is passed.
* **The environment, read once.** A ``requests`` session that trusts the environment reads it again on
  every call (proxy variables, NO_PROXY, the CA bundle variables, ~/.netrc): ~0.25 ms of CPU a call,
  before the request is sent, and with a batch's records on one GIL that delays the last record's call
  (bench/latency_model.py). Sessions from ``new_session`` do not; ``environment_settings`` reads the same
  proxy and CA bundle settings once for an origin, as ``requests`` would, and every call passes them.
  (.netrc is not read at all: its Basic credentials would have replaced our signed Authorization.)

Every refusal is a ``TransportRefusal`` with a readable reason; the client turns it into a retryable
``AlipayFailure``. Network errors are left to the caller, as ``requests`` raises them.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from alipay_cancel.alipay.responses import FailureKind

# A real answer is well under 2 KiB (a query with its fund bill list, encrypted: under 4 KiB): 64 KiB
# is far above it.
MAX_RESPONSE_BYTES = 64 * 1024
_CHUNK = 8 * 1024
# The monotonic deadline of the call this thread is making (set by bounded_post).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("alipay_call_deadline", default=None)


def _shutdown(sock: socket.socket | None) -> None:
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Watchdog:
    """Shuts a socket down when its deadline passes, unless disarmed first; one daemon thread for all.

    Sockets are shut down under the lock that ``disarm`` takes, so once ``disarm`` has returned the
    socket is never touched (its connection goes back to the pool and may serve the next call)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, socket.socket | None]] = []  # heap: (deadline, ticket, sock)
        self._armed: set[int] = set()
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, sock: socket.socket | None) -> int:
        with self._cond:
            ticket = next(self._tickets)
            heapq.heappush(self._due, (deadline, ticket, sock))
            self._armed.add(ticket)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="alipay-call-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0][1] == ticket:
                self._cond.notify()  # a new earliest deadline: wake up sooner
            return ticket

    def disarm(self, ticket: int) -> None:
        with self._cond:
            self._armed.discard(ticket)

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._due and self._due[0][1] not in self._armed:
                    heapq.heappop(self._due)  # disarmed: its call got its headers in time
                if not self._due:
                    self._cond.wait()
                    continue
                deadline, ticket, sock = self._due[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._due)
                self._armed.discard(ticket)
                _shutdown(sock)


_watchdog = _Watchdog()


class _HeaderDeadline:
    """Mixin for urllib3 connections: the status line and headers must arrive by the call's deadline."""

    sock: socket.socket | None

    def getresponse(self) -> Any:
        deadline = _deadline.get()
        if deadline is None:
            return super().getresponse()  # type: ignore[misc]
        ticket = _watchdog.arm(deadline, self.sock)
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            _watchdog.disarm(ticket)


class _HTTPConnection(_HeaderDeadline, HTTPConnection):
    pass


class _HTTPSConnection(_HeaderDeadline, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def new_session(pool_size: int) -> requests.Session:
    """A session whose connections keep the call's deadline while headers are read."""
    session = requests.Session()
    session.trust_env = False  # read once instead: environment_settings (module docstring)
    # No retries here: the queue owns retry policy, and a blind resend would double the latency.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    adapter.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class EnvironmentSettings(NamedTuple):
    """What a session trusting the environment would read from it on every call to one origin."""

    proxies: dict[str, str]  # none when NO_PROXY covers the origin
    verify: bool | str  # a CA bundle file from REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else True: never off


def environment_settings(origin: str) -> EnvironmentSettings:
    """``origin``'s proxies and CA bundle from the environment, read as ``requests`` reads them."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return EnvironmentSettings(get_environ_proxies(origin), bundle or True)


class RawAnswer(NamedTuple):
    """An HTTP answer read to its end within the size bound."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportRefusal(Exception):
    """The answer was not read to its end: ``kind`` is TIMEOUT (deadline) or REFUSED_BODY."""

    def __init__(self, kind: FailureKind, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status


def bounded_call(
    session: requests.Session,
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: Mapping[str, str],
    connect_timeout: float,
    read_timeout: float,
    environment: EnvironmentSettings,
    max_body_bytes: int = MAX_RESPONSE_BYTES,
) -> RawAnswer:
    """Send (POST with a body, GET without) and read the answer within ``connect_timeout +
    read_timeout`` seconds in all, through ``environment``'s proxies and CA bundle."""
    deadline = time.monotonic() + connect_timeout + read_timeout
    token = _deadline.set(deadline)
    try:
        response = session.request(
            method,
            url,
            data=body,
            headers=headers,
            timeout=(connect_timeout, read_timeout),
            allow_redirects=False,  # a redirect is an error, and must not carry our signature
            proxies=dict(environment.proxies),  # requests may add to the dict it is given
            verify=environment.verify,  # TLS is always verified: True, or the environment's CA bundle
            stream=True,  # the body is read below, under the deadline and the cap
        )
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        if time.monotonic() >= deadline:  # the watchdog cut the headers off
            raise TransportRefusal(FailureKind.TIMEOUT, "no answer headers by the call's deadline") from None
        raise
    finally:
        _deadline.reset(token)
    try:
        body_read = _read_body(response, deadline, max_body_bytes)
        return RawAnswer(response.status_code, response.headers, body_read)
    finally:
        response.close()


def _read_body(response: requests.Response, deadline: float, cap: int) -> bytes:
    status = response.status_code
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise TransportRefusal(
            FailureKind.REFUSED_BODY,
            f"HTTP {status} answer is compressed ({_printable(encoding)}) although we asked for identity: "
            "refused unread",
            status,
        )
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > cap:
        raise TransportRefusal(FailureKind.REFUSED_BODY, _too_large(status, cap), status)
    raw: Any = response.raw
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransportRefusal(
                FailureKind.TIMEOUT, f"HTTP {status} answer not complete by the call's deadline", status
            )
        _limit_socket_wait(raw, remaining)
        try:
            # read1: at most one socket read, so the deadline is checked between the bytes of a drip
            # (read() would block until a whole chunk or the end arrived).
            read = getattr(raw, "read1", None) or raw.read  # read1: urllib3 >= 2
            chunk = read(_CHUNK, decode_content=False)
        except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
            raise TransportRefusal(
                FailureKind.TIMEOUT, f"HTTP {status} answer not complete by the call's deadline", status
            ) from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > cap:
            raise TransportRefusal(FailureKind.REFUSED_BODY, _too_large(status, cap), status)
        chunks.append(chunk)


def _limit_socket_wait(raw: Any, remaining: float) -> None:
    """Cut the socket's per-read timeout to what is left of the deadline (urllib3 keeps the
    connection on the response while a body is streamed; without it, reads still stop at the
    deadline, one read timeout late at most)."""
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is not None:
        try:
            current = sock.gettimeout()
            sock.settimeout(remaining if current is None else min(current, remaining))
        except OSError:
            pass


def _too_large(status: int, cap: int) -> str:
    return f"HTTP {status} answer is larger than {cap} bytes (Alipay's answers are a few KiB): refused"


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isprintable())[:32]
