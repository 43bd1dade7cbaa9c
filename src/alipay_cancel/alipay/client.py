"""alipay.trade.cancel over OpenAPI v3: sign, send, verify, decrypt, parse. One function per step."""

from __future__ import annotations

import http.client
import json
import math
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from alipay_cancel.alipay import transport
from alipay_cancel.alipay.endpoint import validate_endpoint
from alipay_cancel.alipay.response_parsing import ResponseParser
from alipay_cancel.alipay.responses import AlipayFailure, CancelOutcome, FailureKind
from alipay_cancel.alipay.signing_material import SigningMaterial
from alipay_cancel.alipay.transport import MAX_RESPONSE_BYTES, TransportRefusal, bounded_post
from alipay_cancel.alipay.v3_signing import RequestSigner, ResponseVerifier
from alipay_cancel.shared.trade import CancelRequest

if TYPE_CHECKING:
    from alipay_cancel.alipay.body_encryption import BodyCipher

CANCEL_PATH = "/v3/alipay/trade/cancel"
DEFAULT_POOL_SIZE = 32  # connections kept alive to the gateway; >= the handler's MAX_CONCURRENCY
DEFAULT_RESPONSE_MAX_AGE_SECONDS = 300.0  # how far alipay-timestamp may be from our clock


def _body_cipher(key: bytes) -> BodyCipher:
    # Imported here: only an app with an AES key needs it (cryptography's cipher modules: cold start).
    from alipay_cancel.alipay.body_encryption import BodyCipher

    return BodyCipher(key)


def _check_timeout(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of seconds")
    return float(value)


def new_session(pool_size: int = DEFAULT_POOL_SIZE) -> requests.Session:
    return transport.new_session(pool_size)


def request_body(request: CancelRequest) -> str:
    fields = {}
    if request.out_trade_no:
        fields["out_trade_no"] = request.out_trade_no
    if request.trade_no:
        fields["trade_no"] = request.trade_no
    if not fields:
        raise ValueError("a cancel request needs out_trade_no or trade_no")
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def _check_app_auth_token(token: str) -> None:
    # It goes into an HTTP header and the signed string: refuse anything that could split a header.
    if not (token.isascii() and token.isprintable()) or token != token.strip():
        raise ValueError("app_auth_token must be printable ASCII without surrounding whitespace")


class AlipayClient:
    """One instance per warm container: reuses one ``requests.Session`` (keep-alive).

    Raises ``ValueError`` at construction for an endpoint that is plain http:// to a non-loopback
    host. ``cancel`` never raises for Alipay/network problems: it returns an ``AlipayFailure``.
    Everything that depends only on the keys (signer, verifier, AES cipher, header template) is built
    here once, so a call costs one RSA signature, one verification and the HTTP round trip.
    TLS certificates are always verified; there is deliberately no option to turn that off.
    The configured timeouts bound the whole call (``transport``): ``connect_timeout + read_timeout``
    is the most one ``cancel`` takes, slow bodies included.
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
        self._url = self._endpoint + CANCEL_PATH
        self._signed_path = urlsplit(self._url).path
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
        if self._cipher is not None:
            # As the official SDKs send it: both names of the AES header.
            base["Content-Type"] = "text/plain;charset=UTF-8"
            base["alipay-encrypt-type"] = "AES"
            base["alipay-encryption-algm"] = "AES"
        else:
            base["Content-Type"] = "application/json;charset=UTF-8"
        if material.alipay_root_cert_sn:
            base["alipay-root-cert-sn"] = material.alipay_root_cert_sn
        self._base_headers = base

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

    def cancel(self, request: CancelRequest) -> CancelOutcome:
        """``ValueError`` only for a request that can never be sent (no id, a token that would
        break the header); every Alipay or network problem is an ``AlipayFailure``."""
        plain = request_body(request)
        token = request.app_auth_token or None
        if token is not None:
            _check_app_auth_token(token)
        body = self._cipher.encrypt(plain.encode()) if self._cipher is not None else plain
        request_id = uuid.uuid4().hex
        headers = dict(self._base_headers)
        headers["alipay-request-id"] = request_id
        if token is not None:
            headers["alipay-app-auth-token"] = token
        headers["Authorization"] = self._signer.authorization("POST", self._signed_path, body, token)
        return self._send(headers, body.encode(), request, request_id)

    def _send(
        self, headers: dict[str, str], body: bytes, request: CancelRequest, request_id: str
    ) -> CancelOutcome:
        try:
            answer = bounded_post(
                self._session,
                self._url,
                body=body,
                headers=headers,
                connect_timeout=self._timeout[0],
                read_timeout=self._timeout[1],
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
            # Class name only: exception text can contain URLs and headers.
            return _network_failure(
                FailureKind.CONNECTION, f"could not talk to Alipay ({type(exc).__name__})", request_id
            )
        return self._parser.parse(
            answer.status,
            answer.headers,
            answer.body,
            request_id=request_id,
            sent_trade_no=request.trade_no or None,
            sent_out_trade_no=request.out_trade_no or None,
        )


def _network_failure(kind: FailureKind, message: str, request_id: str) -> AlipayFailure:
    return AlipayFailure(kind=kind, message=message, request_id=request_id)
