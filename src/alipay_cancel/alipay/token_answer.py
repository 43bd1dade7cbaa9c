"""How alipay.open.auth.token.app.query's verified, fresh success becomes a ``TokenInfo``.

The answer names nothing of the request (Alipay does not echo the token), so it cannot be bound to
it by an id as trade answers are: what ties it to our call is Alipay's signature over the body, the
freshness of ``alipay-timestamp`` and the connection it came back on. What it says must be complete
enough to act on: a ``status`` of ``valid`` or ``invalid``, and for a valid token the authorising
merchant's ``user_id``. Field caps as for trade answers; ``expires_in`` may be a JSON number or a
digit string (the Java model types it Integer, older SDKs String).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alipay_cancel.alipay.responses import FailureKind, TokenInfo, TokenStatus
from alipay_cancel.alipay.success_checks import ID, TIME, AnswerMeta, Problem, TextField, text_problem

TOKEN_TEXT = {"user_id": TextField(32), "auth_app_id": TextField(32), "status": TextField(16)}
TOKEN_TIMES = {"auth_start": TIME, "auth_end": TIME}
MAX_AUTH_METHODS = 500  # Alipay lists the API names granted; far fewer in practice
_MAX_EXPIRES_DIGITS = 10


def _malformed(meta: AnswerMeta, problem: str) -> Problem:
    return Problem(FailureKind.MALFORMED, f"HTTP {meta.http_status}: {problem}")


def _expires_in(value: Any) -> tuple[int | None, str | None]:
    if value is None or value == "":
        return None, None
    if isinstance(value, bool):
        return None, "success field expires_in is not a number of seconds"
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _MAX_EXPIRES_DIGITS:
        return int(value), None
    if isinstance(value, int) and 0 <= value < 10**_MAX_EXPIRES_DIGITS:
        return value, None
    return None, "success field expires_in is not a number of seconds"


def _auth_methods(value: Any) -> tuple[tuple[str, ...], str | None]:
    if value is None:
        return (), None
    if not isinstance(value, list) or len(value) > MAX_AUTH_METHODS:
        return (), f"success field auth_methods is not a list of at most {MAX_AUTH_METHODS} API names"
    names: list[str] = []
    for position, item in enumerate(value, start=1):
        problem, checked = text_problem({"auth_methods": item}, {"auth_methods": ID})
        if problem is not None or checked["auth_methods"] is None:
            return (), f"success field auth_methods has an unreadable API name at position {position}"
        names.append(str(checked["auth_methods"]))
    return tuple(names), None


@dataclass(frozen=True)
class TokenReader:
    envelope_key: str = "alipay_open_auth_token_app_query_response"

    def read(self, payload: Mapping[str, Any], meta: AnswerMeta) -> TokenInfo | Problem:
        problem, values = text_problem(payload, {**TOKEN_TEXT, **TOKEN_TIMES})
        if problem is not None:
            return _malformed(meta, problem)
        status = values["status"]
        if status not in {s.value for s in TokenStatus}:
            return _malformed(meta, "success field status is neither valid nor invalid")
        if status == TokenStatus.VALID and values["user_id"] is None:
            return _malformed(meta, "a valid token's answer does not name the merchant (user_id)")
        expires_in, problem = _expires_in(payload.get("expires_in"))
        if problem is not None:
            return _malformed(meta, problem)
        methods, problem = _auth_methods(payload.get("auth_methods"))
        if problem is not None:
            return _malformed(meta, problem)
        by_app_auth = payload.get("is_by_app_auth")
        if by_app_auth is not None and not isinstance(by_app_auth, bool):
            return _malformed(meta, "success field is_by_app_auth is not true or false")
        return TokenInfo(
            status=TokenStatus(status),
            user_id=values["user_id"],
            auth_app_id=values["auth_app_id"],
            expires_in=expires_in,
            auth_start=values["auth_start"],
            auth_end=values["auth_end"],
            auth_methods=methods,
            is_by_app_auth=by_app_auth,
            trace_id=meta.trace_id,
            http_status=meta.http_status,
            request_id=meta.request_id,
        )
