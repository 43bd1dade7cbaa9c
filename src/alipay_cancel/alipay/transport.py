"""One bounded HTTP exchange with Alipay: a single deadline for the whole call, no compression, and a
body size cap, so that a slow, huge or compressed answer can neither outlive the invocation's time
budget nor exhaust the function's memory.

* **Deadline.** ``connect_timeout + read_timeout`` from the start of the call bounds everything: the
  connection, waiting for the status line, and reading the body. The body is read in chunks and
  before each read the socket's timeout is cut to the time that is left, so a body dripped one byte
  at a time ends at the deadline, not after ``read_timeout`` per byte.
* **No compression.** We ask for ``Accept-Encoding: identity`` and never decode: a response with any
  other ``Content-Encoding`` is refused unread (the signature covers the bytes as sent, and a small
  gzip body can inflate to hundreds of MB).
* **Size cap.** A ``Content-Length`` over the cap is refused before reading; otherwise reading stops
  as soon as the cap is passed.

Every refusal is a ``TransportRefusal`` with a readable reason; the client turns it into a retryable
``AlipayFailure``. Network errors are left to the caller, as ``requests`` raises them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

from alipay_cancel.alipay.responses import FailureKind

# A real cancel answer is well under 1 KiB (encrypted: under 2 KiB): 64 KiB is far above it.
MAX_RESPONSE_BYTES = 64 * 1024
_CHUNK = 8 * 1024


@dataclass(frozen=True)
class RawAnswer:
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


def bounded_post(
    session: requests.Session,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    connect_timeout: float,
    read_timeout: float,
    max_body_bytes: int = MAX_RESPONSE_BYTES,
) -> RawAnswer:
    """POST and read the answer within ``connect_timeout + read_timeout`` seconds in all."""
    deadline = time.monotonic() + connect_timeout + read_timeout
    response = session.post(
        url,
        data=body,
        headers=headers,
        timeout=(connect_timeout, read_timeout),
        allow_redirects=False,  # a redirect is an error, and must not carry our signature
        verify=True,
        stream=True,  # the body is read below, under the deadline and the cap
    )
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
            chunk = raw.read1(_CHUNK, decode_content=False)
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
    return f"HTTP {status} answer is larger than {cap} bytes (a cancel answer is under 2 KiB): refused"


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isprintable())[:32]
