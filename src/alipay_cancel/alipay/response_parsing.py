"""Turn one HTTP answer (status, headers, raw body) into an operation's typed success or an
``AlipayFailure``: verify, check freshness, decrypt, read the error shapes, then hand a success payload
to the operation's reader (``trade_answers``, ``token_answer``), which binds it to the request.

Trust policy (fail closed; what a payments engineer can defend after an incident):

1. **Signature first.** Nothing in the body is read before ``alipay-signature`` has been checked
   (and, in certificate mode, ``alipay-sn``). AES bodies are verified as ciphertext, then decrypted.
2. **Forged or partial signature -> BAD_SIGNATURE**, whatever the status: a signed-but-forged error
   is not trusted as that error either (it might be a forged "trade finished" meant to make us give
   up a payment). The pipeline retries and refreshes the secret once (keys rotate).
3. **Unsigned 2xx -> BAD_SIGNATURE.** An unsigned success is never a result.
4. **Unsigned errors** (a load balancer's 502 page, a WAF's 403, a v3 gateway error without
   signature headers) are useful only to pick a *retry* path, never a terminal one. From them we
   keep the HTTP status and, for 4xx, a v3 ``code`` only if it is one of the gateway codes in
   ``UNSIGNED_TRUSTED_V3_CODES`` - codes whose handling is "retry" or "our configuration is broken,
   alarm and retry", so believing a forged one costs at most a retry and an alarm. Business codes
   (``ACQ.*``), seed envelopes and anything that would end a payment are ignored in an unsigned
   body, which then becomes ``HTTP_ERROR`` with no code. ``verified`` stays ``False`` on all of
   these, and classification never makes an unverified failure terminal.
5. **Signed errors** are trusted fully: seed envelope (``code``/``msg``/``sub_code``/``sub_msg``) or
   v3 (``code``/``message``/``links``), with ``verified=True``.
6. **A signed answer must be fresh**, and **a signed success must answer our request and carry sane
   fields** (``success_checks`` and the operation's reader): ``alipay-timestamp`` within the
   freshness window, our id named and no other id of ours contradicted, bounded printable fields,
   valid amounts. Otherwise NOT_OUR_ANSWER or MALFORMED, both retried; never a success.
7. **Cert mode, ``alipay-sn`` names another certificate -> UNEXPECTED_SIGNER**: never verified with
   a key we were not given; retried after a secret refresh, then a configuration error.

Bodies that are HTML, empty, truncated or otherwise unreadable become MALFORMED when signed and
2xx, else HTTP_ERROR. JSON numbers are decoded as ``Decimal`` (amounts never pass through a float).
The parser never raises for any status, header set or body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from alipay_cancel.alipay.responses import AlipayFailure, CancelOutcome, FailureKind
from alipay_cancel.alipay.success_checks import AnswerMeta, AnswerReader, Problem, freshness_problem
from alipay_cancel.alipay.trade_answers import CancelReader, SentIds
from alipay_cancel.alipay.v3_signing import TIMESTAMP_HEADER, ResponseVerifier, Verdict

if TYPE_CHECKING:
    from alipay_cancel.alipay.body_encryption import BodyCipher

S = TypeVar("S")
TRACE_ID_HEADER = "alipay-trace-id"

# v3 gateway codes that may be believed without a signature (see the module docstring, rule 4).
# Deliberately absent: "invalid-app-auth-token" (terminal for the message) and every business code.
UNSIGNED_TRUSTED_V3_CODES = frozenset(
    {
        "invalid-signature",
        "missing-signature",
        "missing-timestamp",
        "missing-nonce",
        "missing-app-id",
        "invalid-app-id",
        "invalid-timestamp",
        "nonce-reused",
        "insufficient-permissions",
        "rate-limited",
        "app-call-limited",
        "method-call-limited",
        "app-auth-invoke-limit",
        "exceed-api-balance",
    }
)

_ERROR_ENVELOPE = "error_response"  # v2-style wrapper of an error; successes use the operation's own
_SUCCESS_CODE = "10000"
_UNAVAILABLE_CODES = frozenset({"20000", "20001"})
_MAX_TEXT = 300  # Alipay's messages are short; cap whatever a peer sends before it reaches records
_MAX_TRACE_ID = 128


def _clean_text(value: Any, limit: int = _MAX_TEXT) -> str | None:
    """A printable, bounded string from a JSON value, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isprintable())[:limit]
    return text or None


def _trace_id(headers: Mapping[str, str]) -> str | None:
    value = headers.get(TRACE_ID_HEADER)
    if value is None or not value.isascii():
        return None
    return _clean_text(value, _MAX_TRACE_ID)


def _load_json(body: bytes) -> Any:
    """The decoded JSON value, or None when the body is not JSON (HTML, empty, truncated, ...)."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError, ArithmeticError):
        return None


def _code_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return _clean_text(value, 64)


class ResponseParser:
    """Built once per client (holds the verifier and the AES cipher); ``parse`` is per response."""

    __slots__ = ("_cipher", "_clock_ms", "_max_age", "_verifier")

    def __init__(
        self,
        verifier: ResponseVerifier,
        cipher: BodyCipher | None = None,
        *,
        max_age_seconds: float = 300.0,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._verifier = verifier
        self._cipher = cipher
        self._max_age = max_age_seconds
        self._clock_ms = clock_ms

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        request_id: str | None = None,
        sent_trade_no: str | None = None,
        sent_out_trade_no: str | None = None,
    ) -> CancelOutcome:
        """A cancel answer (the ids we sent bind it)."""
        reader = CancelReader(SentIds(sent_trade_no, sent_out_trade_no))
        return self.read(status, headers, body, reader, request_id=request_id)

    def read(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        reader: AnswerReader[S],
        *,
        request_id: str | None = None,
    ) -> S | AlipayFailure:
        """Any operation's answer: ``reader`` reads its success payload."""
        lower = {str(name).lower(): str(value) for name, value in headers.items()}
        ctx = _Context(status, _trace_id(lower), request_id)
        verification = self._verifier.check(lower, body)
        if verification.verdict is Verdict.INVALID:
            return ctx.failure(FailureKind.BAD_SIGNATURE, f"HTTP {status}: {verification.reason}")
        if verification.verdict is Verdict.UNEXPECTED_SIGNER:
            return ctx.failure(FailureKind.UNEXPECTED_SIGNER, f"HTTP {status}: {verification.reason}")
        if verification.verdict is Verdict.UNSIGNED:
            return _unsigned(ctx, body)
        stale = freshness_problem(lower.get(TIMESTAMP_HEADER), self._clock_ms(), self._max_age)
        if stale is not None:
            # A replayed signed error could end a payment as surely as a replayed success could
            # record one: neither is believed.
            return ctx.failure(FailureKind.NOT_OUR_ANSWER, f"HTTP {status}: {stale}", verified=True)
        return self._signed(ctx, body, reader)

    def _signed(self, ctx: _Context, body: bytes, reader: AnswerReader[S]) -> S | AlipayFailure:
        status = ctx.status
        plain = body
        if self._cipher is not None and body.strip()[:1] not in (b"{", b""):
            # AES mode: bodies come back as base64 ciphertext (errors may be plain JSON). Imported
            # here, as the cipher was: only AES mode needs it.
            from alipay_cancel.alipay.body_encryption import BodyDecryptionError

            try:
                plain = self._cipher.decrypt(body)
            except BodyDecryptionError as exc:
                if 200 <= status < 300:
                    return ctx.failure(FailureKind.MALFORMED, f"HTTP {status}: {exc}", verified=True)
                # An error page (HTML, ...) is not ciphertext: read it as it is below.
        document = _load_json(plain)
        if status >= 400:
            return _signed_error(ctx, document, reader.envelope_key)
        if not 200 <= status < 300:
            return ctx.failure(FailureKind.HTTP_ERROR, f"unexpected HTTP {status}", verified=True)
        if not isinstance(document, dict):
            return ctx.failure(
                FailureKind.MALFORMED, f"HTTP {status}: signed body is not a JSON object", verified=True
            )
        payload = _unwrap(document, reader.envelope_key)
        code = payload.get("code")
        code_text = _code_text(code)
        if code is not None and code_text != _SUCCESS_CODE:
            return _envelope_failure(ctx, payload, code_text)
        answer = reader.read(payload, AnswerMeta(ctx.trace_id, status, ctx.request_id))
        if isinstance(answer, Problem):
            return ctx.failure(answer.kind, answer.message, verified=True)
        return answer


class _Context:
    __slots__ = ("request_id", "status", "trace_id")

    def __init__(self, status: int, trace_id: str | None, request_id: str | None) -> None:
        self.status = status
        self.trace_id = trace_id
        self.request_id = request_id

    def failure(
        self,
        kind: FailureKind,
        message: str,
        *,
        verified: bool = False,
        code: str | None = None,
        sub_code: str | None = None,
        sub_msg: str | None = None,
    ) -> AlipayFailure:
        return AlipayFailure(
            kind=kind,
            message=message,
            http_status=self.status,
            code=code,
            sub_code=sub_code,
            sub_msg=sub_msg,
            trace_id=self.trace_id,
            verified=verified,
            request_id=self.request_id,
        )


def _unwrap(document: dict[str, Any], envelope_key: str) -> dict[str, Any]:
    for key in (envelope_key, _ERROR_ENVELOPE):
        inner = document.get(key)
        if isinstance(inner, dict):
            return inner
    return document


def _unsigned(ctx: _Context, body: bytes) -> AlipayFailure:
    status = ctx.status
    if 200 <= status < 300:
        return ctx.failure(
            FailureKind.BAD_SIGNATURE,
            f"HTTP {status} without alipay-signature: an unsigned answer is never trusted as a result",
        )
    if 400 <= status < 500:
        document = _load_json(body)
        if isinstance(document, dict):
            code = _code_text(document.get("code"))
            if code in UNSIGNED_TRUSTED_V3_CODES:
                return ctx.failure(
                    FailureKind.V3_ERROR,
                    f"HTTP {status} {code} (unsigned gateway error)",
                    code=code,
                    sub_msg=_clean_text(document.get("message")),
                )
    return ctx.failure(
        FailureKind.HTTP_ERROR,
        f"HTTP {status} without a valid Alipay signature ({len(body)} body bytes, content not trusted)",
    )


def _signed_error(ctx: _Context, document: Any, envelope_key: str) -> AlipayFailure:
    status = ctx.status
    if not isinstance(document, dict):
        return ctx.failure(FailureKind.HTTP_ERROR, f"HTTP {status} with an unreadable body", verified=True)
    payload = _unwrap(document, envelope_key)
    code = _code_text(payload.get("code"))
    if "sub_code" in payload or (code is not None and code.isdigit()):
        return _envelope_failure(ctx, payload, code)
    if code is None:
        return ctx.failure(FailureKind.HTTP_ERROR, f"HTTP {status} error without a code", verified=True)
    message = _clean_text(payload.get("message"))
    return ctx.failure(
        FailureKind.V3_ERROR,
        f"HTTP {status} {code}" + (f": {message}" if message else ""),
        verified=True,
        code=code,
        sub_msg=message,
    )


def _envelope_failure(ctx: _Context, payload: dict[str, Any], code: str | None) -> AlipayFailure:
    sub_code = _code_text(payload.get("sub_code"))
    sub_msg = _clean_text(payload.get("sub_msg")) or _clean_text(payload.get("msg"))
    kind = FailureKind.SERVICE_UNAVAILABLE if code in _UNAVAILABLE_CODES else FailureKind.BUSINESS
    if code is None:
        return ctx.failure(
            FailureKind.MALFORMED, f"HTTP {ctx.status}: envelope code unreadable", verified=True
        )
    described = " ".join(part for part in (code, sub_code, sub_msg) if part)
    return ctx.failure(
        kind, f"Alipay answered {described}", verified=True, code=code, sub_code=sub_code, sub_msg=sub_msg
    )
