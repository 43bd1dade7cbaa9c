"""Pure classification of an Alipay outcome into what the pipeline does next (docs/contracts.md "Outcomes").

Rules, in order of precedence:

* A verified success is SUCCEEDED unless ``retry_flag`` asks for a retry (any value but N/absent).
* Network trouble, HTTP 5xx/408/425/429, gateway 20000, ``*.SYSTEM_ERROR``, unreadable bodies: RETRY.
* A missing or bad response signature: RETRY with ``refresh_secret`` (keys rotate); never success.
  An ``alipay-sn`` naming another certificate: the same, then CONFIG_ERROR when it persists after
  the refresh (``after_secret_refresh``): Alipay's certificate changed (``trust_rules``).
* A signed answer that is stale, names none of our ids or another trade's (NOT_OUR_ANSWER), a
  stored field that is not sane (MALFORMED), a body refused unread (REFUSED_BODY): RETRY.
* Gateway codes: the table in ``alipay_codes`` (the whole v3 common vocabulary, ``isv.`` twins).
* Our own deployment is wrong (Alipay rejects our signature, app id, permissions, the endpoint path):
  CONFIG_ERROR, retried with the SLOW delay so that a person has time to fix it before the queue's
  redrive policy gives up; never a reason to dead-letter good messages in bulk.
* Business codes documented for ``alipay.trade.cancel``: per-code rule with Alipay's documented
  remedy (TERMINAL, or RETRY SLOW for the merchant's balance). A business code we do not know, in a
  business error shape (seed ``40004`` or v3 HTTP 400 ``XXX.YYY``), is TERMINAL (docs/contracts.md
  "Outcomes").
* Anything else we do not recognise (unknown gateway codes, odd HTTP statuses) is RETRY: retrying a
  cancel is harmless (Alipay's cancel is idempotent) and bounded by the redrive policy, while giving
  up on an error we do not understand could strand a payment the buyer has made.
* An error whose signature was not verified (``AlipayFailure.verified`` False) is never TERMINAL:
  such a body may come from a proxy or an attacker, and would otherwise dead-letter a good payment.
  It is retried with a reason that says so, keeping the code and remedy in case it is genuine.

Reasons and remedies are built from codes only, never from Alipay's free text (which may echo the
signed request, including the app_auth_token); codes are sanitised because unverified bodies are
attacker-controlled (``decision``).
"""

from __future__ import annotations

import re

from alipay_cancel.alipay.operations import CANCEL, CLOSE, QUERY, REFUND, REFUND_QUERY
from alipay_cancel.alipay.responses import AlipayFailure, CancelSuccess, FailureKind, TradeOutcome
from alipay_cancel.decisions.alipay_codes import BUSINESS_RULES as BUSINESS_RULES
from alipay_cancel.decisions.alipay_codes import (
    CLIENT_BROKEN,
    NO_PERMISSION,
    RATE_LIMITED,
    REDRIVE,
    RETRY_SAME,
    TOKEN_RULE,
    Rule,
)
from alipay_cancel.decisions.alipay_codes import GATEWAY_RULES as GATEWAY_RULES
from alipay_cancel.decisions.alipay_codes import RetryDelay as RetryDelay
from alipay_cancel.decisions.decision import Decision, decide, retry
from alipay_cancel.decisions.operation_codes import OPERATION_RULES
from alipay_cancel.decisions.trust_rules import (
    BAD_RESPONSE_SIGNATURE,
    UNEXPECTED_SIGNER,
    UNEXPECTED_SIGNER_PERSISTS,
)
from alipay_cancel.shared.endings import Ending
from alipay_cancel.shared.ledger_item import Op

_T = Ending.TERMINAL
_C = Ending.CONFIG_ERROR

_BAD_ENDPOINT = Rule(
    _C,
    "the Alipay endpoint does not serve /v3/alipay/trade/cancel",
    "ALIPAY_ENDPOINT points at the wrong host or path: it must be the bare gateway origin, e.g. "
    "https://openapi.alipay.com (not .../gateway.do).",
)
_BUSINESS_SHAPE = re.compile(r"^[A-Z]{2,}\.[A-Z0-9_]+$")  # e.g. ACQ.SOMETHING_NEW
# Alipay's name of each operation, for the remedy of a business code this service does not know.
_METHODS = {
    Op.CANCEL: CANCEL.name,
    Op.QUERY: QUERY.name,
    Op.CLOSE: CLOSE.name,
    Op.REFUND: REFUND.name,
    Op.REFUND_QUERY: REFUND_QUERY.name,
}


def classify(outcome: TradeOutcome, op: Op = Op.CANCEL, *, after_secret_refresh: bool = False) -> Decision:
    """Decide what ``outcome`` of ``op`` means. Pure, total (never raises), and never SUCCEEDED for a
    failure. Business codes are read from the operation's own table (cancel's ``BUSINESS_RULES``, the
    others' in ``operation_codes``); everything else means the same for every operation.

    ``after_secret_refresh``: this outcome came from a call made with signing material that was just
    re-read because of a signature problem; a problem that persists then is a configuration error
    where that is the only explanation left (Alipay signing with a certificate we were not given)."""
    if isinstance(outcome, CancelSuccess):
        return _classify_success(outcome)
    if not isinstance(outcome, AlipayFailure):  # a verified answer of the settle flow's operations
        return Decision(Ending.SUCCEEDED, f"Alipay answered the {op.value} (verified)")
    if outcome.kind is FailureKind.UNEXPECTED_SIGNER:
        return decide(outcome, UNEXPECTED_SIGNER_PERSISTS if after_secret_refresh else UNEXPECTED_SIGNER)
    decision = _classify_failure(outcome, op)
    if decision.outcome is Ending.TERMINAL and not outcome.verified:
        return decision._replace(
            outcome=Ending.RETRY,
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
        return Decision(Ending.RETRY, what, RETRY_SAME, RetryDelay.NORMAL)
    action = (outcome.action or "").strip().lower()
    if action == "close":
        reason = "Alipay closed the unpaid trade (action close, no refund)"
    elif action == "refund":
        reason = "Alipay cancelled the paid trade and refunded the buyer (action refund)"
    elif not action:
        reason = "Alipay found no such trade: nothing to cancel (no action)"
    else:
        reason = "Alipay cancelled the trade (unrecognised action)"
    return Decision(Ending.SUCCEEDED, reason)


def _classify_failure(f: AlipayFailure, op: Op) -> Decision:
    rules = OPERATION_RULES.get(op, BUSINESS_RULES)
    kind = f.kind
    status = f.http_status
    if kind is FailureKind.TIMEOUT:
        return retry(f, "the call to Alipay timed out; whether the cancel happened is unknown")
    if kind is FailureKind.CONNECTION:
        return retry(f, "could not connect to Alipay (refused, reset, DNS or TLS failure)")
    # For these three the client's message says exactly what was wrong; it is built by our parser
    # and transport from field names, sizes and code points, never from Alipay's text.
    if kind is FailureKind.MALFORMED:
        return retry(f, f"Alipay's response could not be used ({_detail(f)})")
    if kind is FailureKind.NOT_OUR_ANSWER:
        return retry(f, f"Alipay's signed answer does not answer this request ({_detail(f)})")
    if kind is FailureKind.REFUSED_BODY:
        return retry(f, f"Alipay's answer was refused unread ({_detail(f)})")
    if kind is FailureKind.BAD_SIGNATURE:
        return decide(f, BAD_RESPONSE_SIGNATURE)
    if kind is FailureKind.SERVICE_UNAVAILABLE:
        return _seed_gateway(f)
    if kind is FailureKind.BUSINESS:
        return _seed_business(f, op, rules)
    # V3_ERROR or HTTP_ERROR: status first (5xx / 429 mean "later", whatever the body says); a rate
    # or quota limit (a 429, or a limit code under any status) waits longer.
    if status == 429 or gateway_rule(f.code) is RATE_LIMITED:
        return decide(f, RATE_LIMITED)
    if status is not None and (status >= 500 or status in (408, 425)):
        return retry(f, f"Alipay answered HTTP {status}, a temporary failure")
    if kind is FailureKind.V3_ERROR and f.code:
        code = _normalise(f.code)
        rule = rules.get(code) or gateway_rule(f.code)
        if rule is None and f.code.strip().startswith("missing-"):
            rule = CLIENT_BROKEN  # a "missing-" code Alipay may add later: we always send every part
        if rule is None and status == 400 and _BUSINESS_SHAPE.match(code):
            return _unknown_business(f, code, op)
        if rule is not None:
            return decide(f, rule)
    return _by_status(f)


def _seed_business(f: AlipayFailure, op: Op, rules: dict[str, Rule]) -> Decision:
    code = (f.code or "").strip()
    if code in ("20000", "20001"):
        return _seed_gateway(f)
    sub = _normalise(f.sub_code or "")
    if code == "40004":
        if sub in rules:
            return decide(f, rules[sub])
        common = gateway_rule(sub)
        if common is not None:
            return decide(f, common)
        if not sub:
            return retry(f, "Alipay reported a business failure (40004) without saying which")
        return _unknown_business(f, sub, op)
    if code in ("40001", "40002", "40006"):
        rule = gateway_rule(sub)
        if rule is None:
            rule = {"40001": CLIENT_BROKEN, "40006": NO_PERMISSION}.get(code)
        if rule is None:  # 40002 invalid arguments: our request (not the message) is malformed
            rule = Rule(
                _C,
                "Alipay rejected an argument of our request (not the trade ids)",
                "Our client built a request Alipay does not accept (format, charset, encryption, "
                "version or similar): look up the sub_code in Alipay's public error codes and check the "
                "signing secret and recent deployments.",
            )
        return decide(f, rule)
    return retry(f, "Alipay answered with an error code this service does not know")


def _seed_gateway(f: AlipayFailure) -> Decision:
    code = (f.code or "").strip()
    sub = (f.sub_code or "").strip()
    if code == "20001":
        rule = gateway_rule(sub)
        if rule is not None:
            return decide(f, rule)
        if "app-auth-token" in sub:
            return decide(f, TOKEN_RULE)
        return decide(
            f,
            Rule(
                _C,
                "Alipay says the authorisation behind our call is insufficient (20001)",
                "Check the app's authorisation in Alipay's console (for ISV calls: that the merchant "
                "authorised this app for alipay.trade.cancel and signed the product).",
            ),
        )
    return retry(f, "Alipay's service was unavailable")


def gateway_rule(code: str | None) -> Rule | None:
    """The rule for a v3 common code, as sent (``app-call-limited``) or as the seed envelope and the
    sandbox spell it (``isv.app-call-limited``, ``aop.app-call-limited``)."""
    if not code:
        return None
    code = code.strip()
    if code.startswith("aop."):
        code = code[4:]
    return GATEWAY_RULES.get(code)


def _by_status(f: AlipayFailure) -> Decision:
    status = f.http_status
    if status in (401, 403):
        return decide(
            f,
            Rule(
                _C,
                f"Alipay refused our credentials (HTTP {status})",
                "Check app_id, the keys in the signing secret, the app's permissions in Alipay's "
                "console and, for ISV calls, the message's app_auth_token; an unsigned 401/403 can also "
                "come from a proxy or WAF between us and Alipay.",
            ),
        )
    if status in (404, 405):
        return decide(f, _BAD_ENDPOINT)
    if status is not None and 300 <= status < 400:
        return decide(
            f,
            Rule(
                _C,
                f"the Alipay endpoint redirected us (HTTP {status})",
                "ALIPAY_ENDPOINT must be the final https:// gateway origin, e.g. https://openapi.alipay.com.",
            ),
        )
    if status is None:
        return retry(f, "Alipay's answer was not understood")
    return retry(f, f"Alipay answered HTTP {status} with an error this service does not know")


def _unknown_business(f: AlipayFailure, code: str, op: Op) -> Decision:
    """A business code ``op``'s table does not list, in either error shape: Alipay's internal error
    (temporary), else TERMINAL with how to look it up."""
    if _looks_like_system_error(code):
        return retry(f, "Alipay reported an internal error")
    rule = Rule(
        _T,
        f"Alipay rejected the {op.value} with a business code this service does not know",
        f"Look up {code} in Alipay's {_METHODS[op]} error codes, resolve it for this trade, " + REDRIVE + ".",
    )
    return decide(f, rule)


def business_code(failure: AlipayFailure) -> str | None:
    """The business code an error answer carries: the seed envelope's ``40004`` sub_code, or a v3
    error's code (without the sandbox's ``aop.`` prefix); None for any other failure."""
    if failure.kind is FailureKind.BUSINESS and (failure.code or "").strip() == "40004":
        code = failure.sub_code
    elif failure.kind is FailureKind.V3_ERROR:
        code = failure.code
    else:
        return None
    return _normalise(code or "") or None


def _looks_like_system_error(code: str) -> bool:
    upper = code.upper()
    return "SYSTEM_ERROR" in upper or upper.startswith(("ISP.", "AOP.UNKNOW"))


def _normalise(code: str) -> str:
    """Business codes are sometimes prefixed ``aop.`` (``aop.ACQ.SYSTEM_ERROR``)."""
    code = code.strip()
    return code[4:] if code.startswith("aop.ACQ.") else code


def _detail(f: AlipayFailure) -> str:
    text = "".join(ch for ch in f.message if ch.isascii() and ch.isprintable())[:300]
    return text.removeprefix(f"HTTP {f.http_status}: ") if f.http_status is not None else text
