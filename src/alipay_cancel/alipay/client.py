"""Alipay OpenAPI v3 calls: cancel, query, close, refund, refund query and the app-auth-token query.

Every operation goes through the same steps, one function each (as the official Node SDK's v3
request function does them): build the body -> (AES-encrypt it) -> sign -> send, bounded -> verify
-> (decrypt) -> parse -> bind to the request and check freshness -> typed success. The last three
are ``response_parsing`` with the operation's reader (``trade_answers``, ``token_answer``).
"""

from __future__ import annotations

import http.client
import json
import math
import uuid
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3.exceptions

from alipay_cancel.alipay import transport
from alipay_cancel.alipay.endpoint import validate_endpoint
from alipay_cancel.alipay.errors import InvalidSetting
from alipay_cancel.alipay.operations import CANCEL, CLOSE, QUERY, REFUND, REFUND_QUERY, TOKEN_QUERY, Operation
from alipay_cancel.alipay.response_parsing import ResponseParser
from alipay_cancel.alipay.responses import (
    AlipayFailure,
    CancelOutcome,
    CloseOutcome,
    FailureKind,
    QueryOutcome,
    RefundOutcome,
    RefundQueryOutcome,
    TokenQueryOutcome,
)
from alipay_cancel.alipay.signing_material import SigningMaterial
from alipay_cancel.alipay.success_checks import AnswerReader
from alipay_cancel.alipay.token_answer import TokenReader
from alipay_cancel.alipay.trade_answers import (
    CancelReader,
    CloseReader,
    QueryReader,
    RefundQueryReader,
    RefundReader,
    SentIds,
)
from alipay_cancel.alipay.trade_ref import (
    TradeRef,
    check_app_auth_token,
    refund_fields,
    refund_query_fields,
    trade_fields,
)
from alipay_cancel.alipay.transport import (
    MAX_RESPONSE_BYTES,
    RawAnswer,
    TransportRefusal,
    bounded_call,
    environment_settings,
)
from alipay_cancel.alipay.v3_signing import RequestSigner, ResponseVerifier

if TYPE_CHECKING:
    from alipay_cancel.alipay.body_encryption import BodyCipher

S = TypeVar("S")
DEFAULT_POOL_SIZE = 32  # connections kept alive to the gateway; >= the handler's MAX_CONCURRENCY
DEFAULT_RESPONSE_MAX_AGE_SECONDS = 300.0  # how far alipay-timestamp may be from our clock


def _body_cipher(key: bytes) -> BodyCipher:
    # Imported here: only an app with an AES key needs it (cryptography's cipher modules: cold start).
    from alipay_cancel.alipay.body_encryption import BodyCipher

    return BodyCipher(key)


def _check_timeout(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise InvalidSetting(f"{name} must be a positive number of seconds")
    return float(value)


def new_session(pool_size: int = DEFAULT_POOL_SIZE) -> requests.Session:
    return transport.new_session(pool_size)


def request_body(fields: dict[str, Any] | None) -> str:
    """Step 1, build the body: compact JSON as the official SDKs send it (empty for a GET)."""
    if fields is None:
        return ""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def signed_target(base_path: str, operation: Operation, query: dict[str, str] | None) -> str:
    """The path (and query string) exactly as sent: the signature covers it byte for byte."""
    target = base_path + operation.path
    if query:
        target += "?" + urlencode(query, quote_via=quote)
    return target


class AlipayClient:
    """One instance per warm container: reuses one ``requests.Session`` (keep-alive).

    Raises ``InvalidSetting`` at construction for an endpoint that is plain http:// to a non-loopback
    host. No operation raises for Alipay/network problems: each returns an ``AlipayFailure``; only a
    request that can never be sent raises ``InvalidRequest``. Everything that depends only on the
    keys (signer, verifier, AES cipher, header template) is built here once, so a call costs one RSA
    signature, one verification and the HTTP round trip. TLS certificates are always verified;
    there is deliberately no option to turn that off. The configured timeouts bound the whole call
    (``transport``): ``connect_timeout + read_timeout`` is the most one call takes, slow bodies
    included.
    """

    def __init__(
        self,
        endpoint: str,
        material: SigningMaterial,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        session: requests.Session | None = None,
        response_max_age_seconds: float = DEFAULT_RESPONSE_MAX_AGE_SECONDS,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._endpoint = validate_endpoint(endpoint)
        parts = urlsplit(self._endpoint)
        self._origin, self._base_path = f"{parts.scheme}://{parts.netloc}", parts.path
        self._environment = environment_settings(self._origin)  # proxies, CA bundle: read once
        self._timeout = (
            _check_timeout("connect_timeout", connect_timeout),
            _check_timeout("read_timeout", read_timeout),
        )
        self._session = session if session is not None else new_session()
        self._max_age = _check_timeout("response_max_age_seconds", response_max_age_seconds)
        self._max_body = int(_check_timeout("max_response_bytes", max_response_bytes))
        self._material = material
        self._signer = RequestSigner(material.app_id, material.private_key, material.app_cert_sn)
        self._cipher = _body_cipher(material.encrypt_key) if material.encrypt_key is not None else None
        self._parser = ResponseParser(
            ResponseVerifier(material.alipay_public_key, material.alipay_cert_sn),
            self._cipher,
            max_age_seconds=self._max_age,
        )
        # Never compressed: the signature covers the bytes as sent, and a small gzip body can
        # inflate past the function's memory (the transport refuses any Content-Encoding anyway).
        base = {
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": "alipay-cancel/0.1",
        }
        if material.alipay_root_cert_sn:
            base["alipay-root-cert-sn"] = material.alipay_root_cert_sn
        self._get_headers = dict(base)  # a GET has no body: no content type, nothing to encrypt
        if self._cipher is not None:
            # As the official SDKs send it: both names of the AES header.
            base["Content-Type"] = "text/plain;charset=UTF-8"
            base["alipay-encrypt-type"] = "AES"
            base["alipay-encryption-algm"] = "AES"
        else:
            base["Content-Type"] = "application/json;charset=UTF-8"
        self._post_headers = base

    @property
    def material(self) -> SigningMaterial:
        return self._material

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def session(self) -> requests.Session:
        return self._session

    def with_material(self, material: SigningMaterial) -> AlipayClient:
        """Same endpoint, timeouts and session; new keys (after a secret refresh)."""
        return AlipayClient(
            self._endpoint,
            material,
            connect_timeout=self._timeout[0],
            read_timeout=self._timeout[1],
            session=self._session,
            response_max_age_seconds=self._max_age,
            max_response_bytes=self._max_body,
        )

    # ---- the operations ----------------------------------------------------------------------------
    def cancel(self, request: TradeRef) -> CancelOutcome:
        """alipay.trade.cancel: closes an unpaid trade, refunds a paid one (inside the cancel window)."""
        reader = CancelReader(SentIds.of(request))
        return self._call(CANCEL, reader, fields=trade_fields(request), token=request.app_auth_token)

    def query(self, ref: TradeRef) -> QueryOutcome:
        """alipay.trade.query: the trade's status and amounts. Read-only."""
        reader = QueryReader(SentIds.of(ref))
        return self._call(QUERY, reader, fields=trade_fields(ref), token=ref.app_auth_token)

    def close(self, ref: TradeRef) -> CloseOutcome:
        """alipay.trade.close: closes a trade that is waiting for payment; never moves money."""
        reader = CloseReader(SentIds.of(ref))
        return self._call(CLOSE, reader, fields=trade_fields(ref), token=ref.app_auth_token)

    def refund(self, ref: TradeRef, refund_amount: str, out_request_no: str) -> RefundOutcome:
        """alipay.trade.refund of ``refund_amount`` ("88.88") under ``out_request_no``: the same number
        and amount refund at most once, however often they are sent."""
        fields = refund_fields(ref, refund_amount, out_request_no)
        reader = RefundReader(SentIds.of(ref))
        return self._call(REFUND, reader, fields=fields, token=ref.app_auth_token)

    def refund_query(self, ref: TradeRef, out_request_no: str) -> RefundQueryOutcome:
        """alipay.trade.fastpay.refund.query: whether the refund ``out_request_no`` was carried out."""
        fields = refund_query_fields(ref, out_request_no)
        reader = RefundQueryReader(SentIds.of(ref), fields["out_request_no"])
        return self._call(REFUND_QUERY, reader, fields=fields, token=ref.app_auth_token)

    def app_auth_token_query(self, token: str) -> TokenQueryOutcome:
        """alipay.open.auth.token.app.query: which merchant (and app) ``token`` speaks for, and whether
        it is still valid. Asked by our own app, so the token is a parameter, not the ISV header."""
        check_app_auth_token(token)
        return self._call(TOKEN_QUERY, TokenReader(), query={"app_auth_token": token})

    # ---- the steps ---------------------------------------------------------------------------------
    def _call(
        self,
        operation: Operation,
        reader: AnswerReader[S],
        *,
        fields: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
        token: str | None = None,
    ) -> S | AlipayFailure:
        token = token or None
        if token is not None:
            check_app_auth_token(token)
        target = signed_target(self._base_path, operation, query)
        body = self._encrypt(request_body(fields)) if fields is not None else ""
        request_id = uuid.uuid4().hex
        headers = self._sign(operation.method, target, body, token, request_id)
        sent = body.encode() if operation.method != "GET" else None
        answer = self._send(operation.method, target, sent, headers, request_id)
        if isinstance(answer, AlipayFailure):
            return answer
        return self._parser.read(answer.status, answer.headers, answer.body, reader, request_id=request_id)

    def _encrypt(self, plain: str) -> str:
        """Step 2: AES bodies (the signature then covers the ciphertext as sent)."""
        return self._cipher.encrypt(plain.encode()) if self._cipher is not None else plain

    def _sign(
        self, method: str, target: str, body: str, token: str | None, request_id: str
    ) -> dict[str, str]:
        """Step 3: the Authorization header over method, path?query, body and the ISV token."""
        headers = dict(self._get_headers if method == "GET" else self._post_headers)
        headers["alipay-request-id"] = request_id
        if token is not None:
            headers["alipay-app-auth-token"] = token
        headers["Authorization"] = self._signer.authorization(method, target, body, token)
        return headers

    def _send(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str], request_id: str
    ) -> RawAnswer | AlipayFailure:
        """Step 4: one bounded exchange; every network problem becomes a retryable failure."""
        url = self._origin + target
        try:
            return bounded_call(
                self._session,
                method,
                url,
                body=body,
                headers=headers,
                connect_timeout=self._timeout[0],
                read_timeout=self._timeout[1],
                environment=self._environment,
                max_body_bytes=self._max_body,
            )
        except TransportRefusal as refusal:
            return AlipayFailure(
                kind=refusal.kind, message=refusal.reason, http_status=refusal.status, request_id=request_id
            )
        except requests.Timeout:
            return _network_failure(FailureKind.TIMEOUT, "timed out waiting for Alipay", request_id)
        except requests.ConnectionError as exc:
            # requests reports a read timeout *while reading the body* as ConnectionError.
            if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
                return _network_failure(FailureKind.TIMEOUT, "timed out reading Alipay's answer", request_id)
            return _network_failure(
                FailureKind.CONNECTION, f"could not talk to Alipay ({type(exc).__name__})", request_id
            )
        except TimeoutError:  # a bare socket timeout that escaped requests' wrapping
            return _network_failure(FailureKind.TIMEOUT, "timed out talking to Alipay", request_id)
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            OSError,
        ) as exc:
            # Class name only: exception text can contain URLs (the token query's holds the token)
            # and headers.
            return _network_failure(
                FailureKind.CONNECTION, f"could not talk to Alipay ({type(exc).__name__})", request_id
            )


def _network_failure(kind: FailureKind, message: str, request_id: str) -> AlipayFailure:
    return AlipayFailure(kind=kind, message=message, request_id=request_id)
