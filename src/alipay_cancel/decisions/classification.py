"""Pure classification of an Alipay outcome into what the pipeline does next (README "Outcomes").

Rules, in order of precedence:

* A verified success is SUCCEEDED unless ``retry_flag`` asks for a retry (any value but N/absent).
* Network trouble, HTTP 5xx/408/425/429, gateway 20000, ``*.SYSTEM_ERROR``, unreadable bodies: RETRY.
* A missing or bad response signature: RETRY with ``refresh_secret`` (keys rotate); never success.
* Our own deployment is wrong (Alipay rejects our signature, app id, permissions, the endpoint path):
  CONFIG_ERROR, retried with the SLOW delay so that a person has time to fix it before the queue's
  redrive policy gives up; never a reason to dead-letter good messages in bulk.
* Business codes documented for ``alipay.trade.cancel``: per-code rule with Alipay's documented
  remedy (TERMINAL, or RETRY SLOW for the merchant's balance). A business code we do not know, in a
  business error shape (seed ``40004`` or v3 HTTP 400 ``XXX.YYY``), is TERMINAL (README outcomes).
* Anything else we do not recognise (unknown gateway codes, odd HTTP statuses) is RETRY: retrying a
  cancel is harmless (Alipay's cancel is idempotent) and bounded by the redrive policy, while giving
  up on an error we do not understand could strand a payment the buyer has made.
* An error whose signature was not verified (``AlipayFailure.verified`` False) is never TERMINAL:
  such a body may come from a proxy or an attacker, and would otherwise dead-letter a good payment.
  It is retried with a reason that says so, keeping the code and remedy in case it is genuine.

Reasons and remedies are built from codes only, never from Alipay's free text (which may echo the
signed request, including the app_auth_token); codes are sanitised because unverified bodies are
attacker-controlled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from alipay_cancel.alipay.responses import AlipayFailure, CancelOutcome, CancelSuccess, FailureKind
from alipay_cancel.decisions.endings import Ending

# The classifier answers with four of the pipeline's endings (decisions.endings): SUCCEEDED, RETRY,
# TERMINAL, CONFIG_ERROR; a slow retry is RETRY with the SLOW delay.
OutcomeClass = Ending


class RetryDelay(StrEnum):
    NORMAL = "normal"
    SLOW = "slow"  # e.g. merchant balance: the merchant must act first


@dataclass(frozen=True)
class Decision:
    outcome: OutcomeClass
    reason: str  # one readable sentence: what happened
    remedy: str | None = None  # what a person should do (terminal and config errors always have one)
    delay: RetryDelay | None = None  # set for RETRY and CONFIG_ERROR
    refresh_secret: bool = False  # bad response signature / Alipay says our signature is invalid
    code: str | None = None
    sub_code: str | None = None


_R = OutcomeClass.RETRY
_T = OutcomeClass.TERMINAL
_C = OutcomeClass.CONFIG_ERROR


@dataclass(frozen=True)
class _Rule:
    outcome: OutcomeClass
    what: str  # what happened, readable
    remedy: str | None = None
    slow: bool = False
    refresh_secret: bool = False


_RETRY_SAME = "Nothing to do: the cancel is retried automatically with the same parameters."
_REDRIVE = "then redrive the dead letter (python -m ops.cli redrive --trade-key <trade_key>)"

# alipay.trade.cancel business codes (v3 error table / seed sub_code), with Alipay's documented
# solution turned into steps an on-call engineer can take.
BUSINESS_RULES: dict[str, _Rule] = {
    "ACQ.SYSTEM_ERROR": _Rule(_R, "Alipay had a system error", _RETRY_SAME),
    "AQC.SYSTEM_ERROR": _Rule(_R, "Alipay had a system error", _RETRY_SAME),
    "ACQ.SELLER_BALANCE_NOT_ENOUGH": _Rule(
        _R,
        "the merchant's Alipay balance is too low to refund this paid trade",
        "The merchant must top up the Alipay account that received the payment; the cancel is retried "
        "automatically with long delays. If it was dead-lettered meanwhile, top up first, " + _REDRIVE + ".",
        slow=True,
    ),
    "ACQ.TRADE_CANCEL_TIME_OUT": _Rule(
        _T,
        "the trade is outside Alipay's cancel window and can no longer be cancelled",
        "Cancel only works shortly after payment. Check the trade with alipay.trade.query: if the buyer "
        "paid, give the money back with alipay.trade.refund (full amount, the same out_trade_no/trade_no); "
        "if it is unpaid, close it with alipay.trade.close. Redriving this message cannot succeed.",
    ),
    "ACQ.TRADE_HAS_FINISHED": _Rule(
        _T,
        "the trade is already finished (TRADE_FINISHED), so Alipay allows neither cancel nor refund",
        "Confirm the status with alipay.trade.query and mark the order accordingly in the payment "
        "service; any money owed to the buyer must be returned outside Alipay (customer support). "
        "Redriving this message cannot succeed.",
    ),
    "ACQ.CANCEL_NOT_ALLOWED": _Rule(
        _T,
        "Alipay does not allow this trade to be cancelled",
        "Check the trade with alipay.trade.query: a paid trade that must be reversed is refunded with "
        "alipay.trade.refund, an unpaid one closed with alipay.trade.close. Redriving this message "
        "cannot succeed.",
    ),
    "ACQ.REASON_TRADE_BEEN_FREEZEN": _Rule(
        _T,
        "the trade is frozen by Alipay, so it cannot be cancelled now",
        "Contact Alipay support (Alipay's documented remedy) with the trade number and the Alipay trace "
        "id to learn why it is frozen; once Alipay has released it, " + _REDRIVE + ".",
    ),
    "ACQ.REASON_TRADE_REFUND_FEE_ERR": _Rule(
        _T,
        "the refund amount is invalid: the trade has already been (partly) refunded, and a refunded "
        "trade cannot be cancelled",
        "Check the existing refunds with alipay.trade.fastpay.refund.query or alipay.trade.query, then "
        "refund any remaining amount with alipay.trade.refund. Redriving this message cannot succeed.",
    ),
    "ACQ.TRADE_HAS_SUCCESS": _Rule(
        _T,
        "Alipay reports the trade as already paid and will not cancel it",
        "Confirm with alipay.trade.query. If the payment must be reversed, refund it with "
        "alipay.trade.refund; otherwise mark the order as paid in the payment service.",
    ),
    "ACQ.INVALID_PARAMETER": _Rule(
        _T,
        "Alipay rejected the request parameters (out_trade_no / trade_no)",
        "Compare the ids in the dead-letter body with the payment record (typos, wrong merchant, "
        "missing or wrong app_auth_token for ISV calls) and fix the producer; send a corrected message "
        "rather than redriving this one.",
    ),
}

_TOKEN_RULE = _Rule(
    _T,
    "Alipay rejected the message's app_auth_token (invalid, expired, revoked, not for this app, or "
    "not authorised for alipay.trade.cancel)",
    "Have the merchant re-authorise the ISV app (or refresh the token with its refresh_token) and send "
    "a new message with the new app_auth_token; redriving this body reuses the bad token.",
)
_BAD_OUR_SIGNATURE = _Rule(
    _C,
    "Alipay says our request signature is invalid",
    "The private_key in the signing secret does not match the app public key (or app certificate) "
    "registered for app_id in Alipay's console. Upload the matching public key or put the matching "
    "private key in the secret; the secret is re-read automatically.",
    refresh_secret=True,
)
_BAD_APP_ID = _Rule(
    _C,
    "Alipay does not know our app_id",
    "Check app_id in the signing secret and ALIPAY_ENDPOINT (a sandbox app id only works against the "
    "sandbox gateway, and the app must be online).",
)
_CLIENT_BROKEN = _Rule(
    _C,
    "Alipay says our request lacks a required authentication part",
    "Our client or a proxy in between produced an incomplete request (e.g. a proxy stripping the "
    "Authorization header): check recent deployments and egress proxies, and escalate to the owners of "
    "this service.",
)
_NO_PERMISSION = _Rule(
    _C,
    "Alipay says our app may not call alipay.trade.cancel",
    "Add the product/feature package that includes alipay.trade.cancel to the app in Alipay's console "
    "and make sure the contract is active (for ISV calls, the merchant must have signed it too).",
)
_BAD_ENDPOINT = _Rule(
    _C,
    "the Alipay endpoint does not serve /v3/alipay/trade/cancel",
    "ALIPAY_ENDPOINT points at the wrong host or path: it must be the bare gateway origin, e.g. "
    "https://openapi.alipay.com (not .../gateway.do).",
)
_CLOCK_SKEW = _Rule(
    _R,
    "Alipay rejected our request timestamp (clock skew)",
    "Retried automatically with a fresh timestamp; if it persists, check the clock of the host.",
)
_NONCE_REUSED = _Rule(_R, "Alipay saw our request nonce before", "Retried automatically with a fresh nonce.")
_RATE_LIMITED = _Rule(
    _R, "Alipay rate-limited us", "Retried automatically later; lower MAX_CONCURRENCY if frequent."
)

# v3 error codes (HTTP >= 400 bodies) and seed gateway sub_codes (40001/40002/40006/20001).
GATEWAY_RULES: dict[str, _Rule] = {
    "invalid-signature": _BAD_OUR_SIGNATURE,
    "isv.invalid-signature": _BAD_OUR_SIGNATURE,
    "invalid-app-id": _BAD_APP_ID,
    "isv.invalid-app-id": _BAD_APP_ID,
    "invalid-timestamp": _CLOCK_SKEW,
    "isv.invalid-timestamp": _CLOCK_SKEW,
    "nonce-reused": _NONCE_REUSED,
    "insufficient-permissions": _NO_PERMISSION,
    "isv.insufficient-isv-permissions": _NO_PERMISSION,
    "isv.insufficient-user-permissions": _NO_PERMISSION,
    "invalid-app-auth-token": _TOKEN_RULE,
    "rate-limited": _RATE_LIMITED,
}

_BUSINESS_SHAPE = re.compile(r"^[A-Z]{2,}\.[A-Z0-9_]+$")  # e.g. ACQ.SOMETHING_NEW
_SAFE_CODE = re.compile(r"[^A-Za-z0-9._:-]")


def classify(outcome: CancelOutcome) -> Decision:
    """Decide what happens next. Pure, total (never raises), and never SUCCEEDED for a failure."""
    if isinstance(outcome, CancelSuccess):
        return _classify_success(outcome)
    decision = _classify_failure(outcome)
    if decision.outcome is OutcomeClass.TERMINAL and not outcome.verified:
        return replace(
            decision,
            outcome=OutcomeClass.RETRY,
            delay=RetryDelay.NORMAL,
            reason=(
                f"the error response looked like: {decision.reason}; but it was not signed by Alipay "
                "(or the signature was not verified), so it is not trusted enough to give up on the "
                "payment: retrying"
            ),
            remedy=(
                "Usually none: a proxy or network problem may have produced this response. If it "
                "repeats until the message is dead-lettered, check connectivity to Alipay, and act on "
                "Alipay's code if it is genuine: " + (decision.remedy or "")
            ),
        )
    return decision


def _classify_success(outcome: CancelSuccess) -> Decision:
    flag = (outcome.retry_flag or "").strip().upper()
    if flag not in ("", "N"):
        what = "Alipay accepted the cancel but asked for it to be repeated (retry_flag=Y)"
        if flag != "Y":
            what = "Alipay answered with an unexpected retry_flag; the cancel is repeated to be safe"
        return Decision(OutcomeClass.RETRY, what, _RETRY_SAME, RetryDelay.NORMAL)
    action = (outcome.action or "").strip().lower()
    if action == "close":
        reason = "Alipay closed the unpaid trade (action close, no refund)"
    elif action == "refund":
        reason = "Alipay cancelled the paid trade and refunded the buyer (action refund)"
    elif not action:
        reason = "Alipay found no such trade: nothing to cancel (no action)"
    else:
        reason = "Alipay cancelled the trade (unrecognised action)"
    return Decision(OutcomeClass.SUCCEEDED, reason)


def _classify_failure(f: AlipayFailure) -> Decision:
    kind = f.kind
    status = f.http_status
    if kind is FailureKind.TIMEOUT:
        return _retry(f, "the call to Alipay timed out; whether the cancel happened is unknown")
    if kind is FailureKind.CONNECTION:
        return _retry(f, "could not connect to Alipay (refused, reset, DNS or TLS failure)")
    if kind is FailureKind.MALFORMED:
        return _retry(f, "Alipay's response body could not be read (not JSON, truncated or unexpected)")
    if kind is FailureKind.BAD_SIGNATURE:
        return _decide(
            f,
            _Rule(
                _R,
                "Alipay's response signature was missing or invalid, so the response is not trusted",
                "The signing secret is re-read automatically (keys rotate). If it persists, check that "
                "alipay_public_key (or alipay_cert / alipay_root_cert) in the secret is Alipay's current "
                "key for this app and that no proxy rewrites responses.",
                refresh_secret=True,
            ),
        )
    if kind is FailureKind.SERVICE_UNAVAILABLE:
        return _seed_gateway(f)
    if kind is FailureKind.BUSINESS:
        return _seed_business(f)
    # V3_ERROR or HTTP_ERROR: status first (5xx / 429 mean "later", whatever the body says)
    if status is not None and (status >= 500 or status in (408, 425, 429)):
        return _retry(f, f"Alipay answered HTTP {status}, a temporary failure")
    if kind is FailureKind.V3_ERROR and f.code:
        code = _normalise(f.code)
        rule = BUSINESS_RULES.get(code) or GATEWAY_RULES.get(f.code.strip())
        if rule is None and f.code.strip().startswith("missing-"):
            rule = _CLIENT_BROKEN
        if rule is None and status == 400 and _BUSINESS_SHAPE.match(code):
            rule = _unknown_business(code)
        if rule is not None:
            return _decide(f, rule)
    return _by_status(f)


def _seed_business(f: AlipayFailure) -> Decision:
    code = (f.code or "").strip()
    if code in ("20000", "20001"):
        return _seed_gateway(f)
    sub = _normalise(f.sub_code or "")
    if code == "40004":
        if sub in BUSINESS_RULES:
            return _decide(f, BUSINESS_RULES[sub])
        if sub in GATEWAY_RULES:
            return _decide(f, GATEWAY_RULES[sub])
        if not sub:
            return _retry(f, "Alipay reported a business failure (40004) without saying which")
        if _looks_like_system_error(sub):
            return _retry(f, "Alipay reported an internal error")
        return _decide(f, _unknown_business(sub))
    if code in ("40001", "40002", "40006"):
        rule = GATEWAY_RULES.get(sub)
        if rule is None:
            rule = {"40001": _CLIENT_BROKEN, "40006": _NO_PERMISSION}.get(code)
        if rule is None:  # 40002 invalid arguments: our request (not the message) is malformed
            rule = _Rule(
                _C,
                "Alipay rejected an argument of our request (not the trade ids)",
                "Our client built a request Alipay does not accept (format, charset, encryption, "
                "version or similar): look up the sub_code in Alipay's public error codes and check the "
                "signing secret and recent deployments.",
            )
        return _decide(f, rule)
    return _retry(f, "Alipay answered with an error code this service does not know")


def _seed_gateway(f: AlipayFailure) -> Decision:
    code = (f.code or "").strip()
    sub = (f.sub_code or "").strip()
    if code == "20001":
        if "app-auth-token" in sub:
            return _decide(f, _TOKEN_RULE)
        return _decide(
            f,
            _Rule(
                _C,
                "Alipay says the authorisation behind our call is insufficient (20001)",
                "Check the app's authorisation in Alipay's console (for ISV calls: that the merchant "
                "authorised this app for alipay.trade.cancel and signed the product).",
            ),
        )
    return _retry(f, "Alipay's service was unavailable")


def _by_status(f: AlipayFailure) -> Decision:
    status = f.http_status
    if status in (401, 403):
        return _decide(
            f,
            _Rule(
                _C,
                f"Alipay refused our credentials (HTTP {status})",
                "Check app_id, the keys in the signing secret, the app's permissions in Alipay's "
                "console and, for ISV calls, the message's app_auth_token; an unsigned 401/403 can also "
                "come from a proxy or WAF between us and Alipay.",
            ),
        )
    if status in (404, 405):
        return _decide(f, _BAD_ENDPOINT)
    if status is not None and 300 <= status < 400:
        return _decide(
            f,
            _Rule(
                _C,
                f"the Alipay endpoint redirected us (HTTP {status})",
                "ALIPAY_ENDPOINT must be the final https:// gateway origin, e.g. https://openapi.alipay.com.",
            ),
        )
    if status is None:
        return _retry(f, "Alipay's answer was not understood")
    return _retry(f, f"Alipay answered HTTP {status} with an error this service does not know")


def _unknown_business(code: str) -> _Rule:
    return _Rule(
        _T,
        "Alipay rejected the cancel with a business code this service does not know",
        f"Look up {code} in Alipay's alipay.trade.cancel error codes, resolve it for this trade, "
        + _REDRIVE
        + ".",
    )


def _looks_like_system_error(code: str) -> bool:
    upper = code.upper()
    return "SYSTEM_ERROR" in upper or upper.startswith(("ISP.", "AOP.UNKNOW"))


def _normalise(code: str) -> str:
    """Business codes are sometimes prefixed ``aop.`` (``aop.ACQ.SYSTEM_ERROR``)."""
    code = code.strip()
    return code[4:] if code.startswith("aop.ACQ.") else code


def _safe(code: str | None) -> str | None:
    if code is None:
        return None
    cleaned = _SAFE_CODE.sub("?", code.strip())[:64]
    return cleaned or None


def _label(f: AlipayFailure) -> str:
    parts = []
    if f.http_status is not None:
        parts.append(f"HTTP {f.http_status}")
    if f.code:
        parts.append(f"code {_safe(f.code)}")
    if f.sub_code:
        parts.append(f"sub_code {_safe(f.sub_code)}")
    parts.append(f.kind.value)
    return ", ".join(parts)


def _retry(f: AlipayFailure, what: str) -> Decision:
    return _decide(f, _Rule(_R, what))


def _decide(f: AlipayFailure, rule: _Rule) -> Decision:
    delay: RetryDelay | None = None
    if rule.outcome is OutcomeClass.RETRY:
        delay = RetryDelay.SLOW if rule.slow else RetryDelay.NORMAL
    elif rule.outcome is OutcomeClass.CONFIG_ERROR:
        delay = RetryDelay.SLOW  # a person must act; do not burn the receive count meanwhile
    return Decision(
        outcome=rule.outcome,
        reason=f"{rule.what} ({_label(f)})",
        remedy=rule.remedy,
        delay=delay,
        refresh_secret=rule.refresh_secret,
        code=_safe(f.code),
        sub_code=_safe(f.sub_code),
    )
