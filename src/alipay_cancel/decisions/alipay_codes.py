"""Alipay's error vocabulary as data: every code we know, what it means for a queue-fed cancel, and
what a person should do (README "Outcomes" lists the groups).

``BUSINESS_RULES``: the business codes of ``alipay.trade.cancel``. ``GATEWAY_RULES``: the whole v3
common vocabulary (the gateway's ``CommonErrorType`` codes) and each one's ``isv.`` twin, which the
seed envelope carries as ``sub_code``. The grouping decides the class:

* rate and quota limits: retry, slowly;
* the merchant's authorisation (ISV ``app_auth_token``): terminal, the merchant must re-authorise;
* our app, keys, certificates, app state, permissions, IP allow-list, encryption: configuration
  error naming what to fix (messages are kept and retried slowly; an alarm fires);
* our request is malformed: configuration error, "our client or a proxy is broken: escalate";
* time: retried with a fresh timestamp (a clock remedy if it persists); a *missing* timestamp is a
  broken request, since we always send one;
* Alipay's side: retry;
* codes of other APIs (file upload, batch calls, cards): a cancel can only get one if something
  between us and Alipay is broken, so configuration error, escalate (retrying alone cannot help).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from alipay_cancel.shared.endings import Ending

# A rule answers with one of four endings (shared.endings): SUCCEEDED, RETRY, TERMINAL, CONFIG_ERROR;
# a slow retry is RETRY with the SLOW delay.


class RetryDelay(StrEnum):
    NORMAL = "normal"
    SLOW = "slow"  # e.g. merchant balance: the merchant must act first


class Rule(NamedTuple):
    """What one Alipay code means for a cancel, and what a person should do."""

    outcome: Ending
    what: str  # what happened, readable
    remedy: str | None = None
    slow: bool = False
    refresh_secret: bool = False


_R = Ending.RETRY
_T = Ending.TERMINAL
_C = Ending.CONFIG_ERROR

RETRY_SAME = "Nothing to do: the cancel is retried automatically with the same parameters."
REDRIVE = "then redrive the dead letter (alipay-cancel redrive --trade-key <trade_key>)"
_FIXED = "; the secret is re-read automatically, and kept messages then succeed."
# A code the settle flow acts on when Alipay signed it: only an unsigned one is ever left (retried).
SETTLED_BY_QUERY = "Nothing to do when genuine: the trade is queried and settled by what Alipay reports."
# A finished trade: no API call can return the money (cancel, the settle flow's query).
FINISHED_REMEDY = (
    "No API call can return this payment: the trade's refund period is over. Return the money to the "
    "buyer outside Alipay's refund API (the merchant's customer service), or fulfil the order. "
    "Redriving this message cannot succeed."
)
_CONSOLE = "the app in Alipay's open platform console"

# alipay.trade.cancel business codes (v3 error table / seed sub_code), with Alipay's documented
# solution turned into steps an on-call engineer can take.
BUSINESS_RULES: dict[str, Rule] = {
    "ACQ.SYSTEM_ERROR": Rule(_R, "Alipay had a system error", RETRY_SAME),
    "AQC.SYSTEM_ERROR": Rule(_R, "Alipay had a system error", RETRY_SAME),
    "ACQ.SELLER_BALANCE_NOT_ENOUGH": Rule(
        _R,
        "the merchant's Alipay balance is too low to refund this paid trade",
        "The merchant must top up the Alipay account that received the payment; the cancel is retried "
        "automatically with long delays. If it was dead-lettered meanwhile, top up first, " + REDRIVE + ".",
        slow=True,
    ),
    # Cancel cannot settle these four; a verified one makes the settle flow query the trade and settle it
    # (decisions.steps). The rule is what an answer that did not verify reads as (it is retried).
    "ACQ.TRADE_CANCEL_TIME_OUT": Rule(
        _T, "the trade is outside Alipay's cancel window and can no longer be cancelled", SETTLED_BY_QUERY
    ),
    "ACQ.TRADE_HAS_FINISHED": Rule(
        _T,
        "the trade is already finished (TRADE_FINISHED), so Alipay allows neither cancel nor refund",
        FINISHED_REMEDY,
    ),
    "ACQ.CANCEL_NOT_ALLOWED": Rule(_T, "Alipay does not allow this trade to be cancelled", SETTLED_BY_QUERY),
    "ACQ.REASON_TRADE_BEEN_FREEZEN": Rule(
        _T,
        "the trade is frozen by Alipay, so it cannot be cancelled now",
        "Contact Alipay support (Alipay's documented remedy) with the trade number and the Alipay trace "
        "id to learn why it is frozen; once Alipay has released it, " + REDRIVE + ".",
    ),
    "ACQ.REASON_TRADE_REFUND_FEE_ERR": Rule(
        _T,
        "the trade has already been (partly) refunded, and a refunded trade cannot be cancelled",
        SETTLED_BY_QUERY,
    ),
    "ACQ.TRADE_HAS_SUCCESS": Rule(
        _T, "Alipay reports the trade as already paid and will not cancel it", SETTLED_BY_QUERY
    ),
    "ACQ.INVALID_PARAMETER": Rule(
        _T,
        "Alipay rejected the request parameters (out_trade_no / trade_no)",
        "Compare the ids in the dead-letter body with the payment record (typos, wrong merchant, "
        "missing or wrong app_auth_token for ISV calls) and fix the producer; send a corrected message "
        "rather than redriving this one.",
    ),
}

RATE_LIMITED = Rule(
    _R,
    "Alipay rate-limited us or our API quota is used up",
    "Retried automatically with long delays. If frequent, lower MAX_CONCURRENCY; for exceed-api-balance "
    "or app-auth-invoke-limit, raise the app's call quota in Alipay's console.",
    slow=True,
)
TOKEN_RULE = Rule(
    _T,
    "Alipay rejected the message's app_auth_token (invalid, expired, revoked, not for this app, or "
    "not authorised for alipay.trade.cancel)",
    "Have the merchant re-authorise the ISV app (or refresh the token with its refresh_token) and send "
    "a new message with the new app_auth_token; redriving this body reuses the bad token.",
)
BAD_OUR_SIGNATURE = Rule(
    _C,
    "Alipay says our request signature is invalid",
    "The private_key in the signing secret does not match the app public key (or app certificate) "
    "registered for app_id in Alipay's console. Upload the matching public key or put the matching "
    "private key in the secret" + _FIXED,
    refresh_secret=True,
)
_SIGNATURE_SETUP = Rule(
    _C,
    "Alipay cannot check our signature with the app's signing setup",
    f"In {_CONSOLE}, set the interface signing method to RSA2 (public key or public-key certificate) "
    "and upload the app's public key or certificate matching private_key in the signing secret" + _FIXED,
)
_APP_KEY_RETIRED = Rule(
    _C,
    "Alipay no longer accepts the app's signing key (expired or flagged as a security risk)",
    "Generate a new RSA2 key pair (python -m local.keygen), upload its public key or certificate in "
    "Alipay's console and put the private key (and app_cert) in the signing secret (README 'Rotating "
    "the app key')" + _FIXED,
)
_APP_CERT = Rule(
    _C,
    "Alipay does not accept our app certificate (expired, unknown, or its SN missing)",
    "Download the app's current public-key certificate from Alipay's console and put it in app_cert, "
    "with the matching private_key, in the signing secret" + _FIXED,
)
_ALIPAY_CERT = Rule(
    _C,
    "Alipay does not know the Alipay certificate our configuration names",
    "Download Alipay's current public-key certificate (alipayCertPublicKey_RSA2.crt) for the app and "
    "put it in alipay_cert in the signing secret" + _FIXED,
)
_ROOT_CERT = Rule(
    _C,
    "Alipay does not accept our Alipay root certificate SN",
    "Download Alipay's current root certificate (alipayRootCert.crt) and put the whole file in "
    "alipay_root_cert in the signing secret" + _FIXED,
)
_BAD_APP_ID = Rule(
    _C,
    "Alipay does not know our app_id",
    "Check app_id in the signing secret and ALIPAY_ENDPOINT (a sandbox app id only works against the "
    "sandbox gateway, and the app must be online).",
)
_APP_STATE = Rule(
    _C,
    "Alipay says our app is not in a state that may call APIs (offline, suspended or punished)",
    f"Check the app's status in {_CONSOLE}: put it online, or resolve the suspension with Alipay.",
)
_IP_ALLOW_LIST = Rule(
    _C,
    "Alipay refused the IP address our call came from (app IP allow-list)",
    "Add the function's egress IPs (the VPC's NAT gateway addresses) to the app's IP allow-list in "
    "Alipay's console, or remove the allow-list.",
)
NO_PERMISSION = Rule(
    _C,
    "Alipay says our app may not call alipay.trade.cancel",
    "Add the product/feature package that includes alipay.trade.cancel to the app in Alipay's console "
    "and make sure the contract is active (for ISV calls, the merchant must have signed it too).",
)
_ENCRYPTION = Rule(
    _C,
    "Alipay could not decrypt our request or expects different encryption",
    "Make encrypt_key in the signing secret equal the app's AES key in Alipay's console (base64), or "
    "remove encrypt_key when content encryption is off for the app (and turn it on in the console when "
    "encrypt_key is set)" + _FIXED,
)
CLIENT_BROKEN = Rule(
    _C,
    "Alipay says our request is malformed or lacks a required part",
    "Our client or a proxy is broken: a request this service built was changed or cut on the way (e.g. "
    "a proxy stripping headers or re-encoding the body) or a recent deployment broke it. Check egress "
    "proxies and recent deployments and escalate to the owners of this service.",
)
CLOCK_SKEW = Rule(
    _R,
    "Alipay rejected our request timestamp (clock skew or a delayed request)",
    "Retried automatically with a fresh timestamp; if it persists, check the clock of the host.",
)
_NONCE_REUSED = Rule(_R, "Alipay saw our request nonce before", "Retried automatically with a fresh nonce.")
_ALIPAY_SIDE = Rule(_R, "Alipay had an internal problem answering our request", RETRY_SAME)
_NOT_CANCEL = Rule(
    _C,
    "Alipay answered with an error of another API (file upload, batch call or card)",
    "A cancel cannot cause this error: something between us and Alipay (ALIPAY_ENDPOINT, a proxy) routes "
    "or rewrites our request. Check ALIPAY_ENDPOINT and egress proxies and escalate to the owners of "
    "this service.",
)

# The v3 common vocabulary, grouped as in Alipay's CommonErrorType (README "Outcomes").
_V3_COMMON: dict[Rule, tuple[str, ...]] = {
    RATE_LIMITED: ("rate-limited", "app-call-limited", "method-call-limited", "app-auth-invoke-limit",
                   "exceed-api-balance"),
    TOKEN_RULE: ("invalid-app-auth-token", "invalid-app-auth-token-no-api", "app-auth-token-time-out",
                 "not-support-app-auth", "invalid-auth-relations", "invalid-app-auth-relations",
                 "invalid-auth-token", "auth-token-time-out", "self-invoke-forbidden"),
    BAD_OUR_SIGNATURE: ("invalid-signature",),
    _SIGNATURE_SETUP: ("missing-signature", "missing-signature-type", "missing-default-signature-type",
                       "missing-signature-key", "invalid-signature-type",
                       "invalid-signature-type-said-interface", "missing-signature-config"),
    _APP_KEY_RETIRED: ("unsupported-expired-app-key-sign", "app-key-security-risk"),
    _APP_CERT: ("app-cert-expired", "app-cert-not-exist", "missing-app-cert-sn"),
    _ALIPAY_CERT: ("alipay-cert-not-exist", "missing-alipay-cert-sn"),
    _ROOT_CERT: ("missing-alipay-root-cert-sn", "invalid-alipay-root-cert-sn"),
    _BAD_APP_ID: ("missing-app-id", "invalid-app-id"),
    _APP_STATE: ("invalid-app-state", "app-api-punished"),
    _IP_ALLOW_LIST: ("illegal-client-ip",),
    NO_PERMISSION: ("insufficient-permissions", "insufficient-isv-permissions",
                    "insufficient-user-permissions", "forbidden-api", "sevice-not-been-subscribed-to",
                    "invalid-subscribe-relations", "invalid-product", "no-product-reg-by-partner",
                    "invalid-partnerid", "app-unbind-partner", "app-invalid-oid", "inner-app-no-access",
                    "invalid-inner-invoke-scene", "invalid-app-api-field-config", "invalid-app-method"),
    _ENCRYPTION: ("missing-encrypt-type", "missing-encrypt-key", "invalid-encrypt-type", "invalid-encrypt",
                  "decryption-error", "decryption-error-missing-encrypt-type",
                  "decryption-error-not-valid-encrypt-type", "decryption-error-not-valid-encrypt-key",
                  "decryption-error-unknown"),
    CLOCK_SKEW: ("invalid-timestamp", "illegal-timestamp", "access-data-time-out"),
    _NONCE_REUSED: ("nonce-reused",),
    CLIENT_BROKEN: ("missing-timestamp", "missing-nonce", "invalid-parameter", "invalid-format",
                    "illegal-json", "invalid-request-data", "invalid-encoding", "invalid-charset",
                    "invalid-digest-type", "invalid-digest", "missing-method", "invalid-method",
                    "missing-platform", "invalid-platform", "missing-version", "invalid-version",
                    "unsupported-version", "missing-session", "missing-app-access-token",
                    "missing-app-uid", "unsupport-operation"),
    _ALIPAY_SIDE: ("unknow-error", "invalid-response-data", "unknown-sub-code", "suspected-attack"),
    _NOT_CANCEL: ("upload-fail", "invalid-file-extension", "invalid-file-size", "file-check-fail",
                  "method-forbidden-batch-invoke", "exist-blank-sub-request-id",
                  "exist-repeated-sub-request-id", "illegal-card-no", "openid-error"),
}  # fmt: skip

# Every code, and its "isv." twin (the seed envelope's sub_code spelling).
GATEWAY_RULES: dict[str, Rule] = {
    name: rule for rule, codes in _V3_COMMON.items() for code in codes for name in (code, "isv." + code)
}
