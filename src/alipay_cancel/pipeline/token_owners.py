"""Which merchant an ISV ``app_auth_token`` speaks for: Alipay's answer, cached per container.

The question is asked as the message's own app (the app that will make the trade's calls), with its
client; after a signature problem that app's secret is re-read once and the question asked again
(keys rotate), as for every other call. What the decision makes of the answer is
``decisions.identity_check``'s.

The cache (docs/identity.md):

* keyed by (app, HMAC-SHA256 of the token under a random key made per container): the token itself
  is never kept, and the key cannot be guessed back from a dump of the cache;
* only Alipay's verified answers are kept (a failure never is), each at most ``max_age_seconds`` (a
  setting; 0: ask every time), and a valid token's no longer than Alipay's ``expires_in``;
* at most ``max_entries`` tokens, the least recently used forgotten first.

Concurrent records with the same token not yet cached may each ask once; the answer is the same.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from alipay_cancel import observability as obs
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import AlipayFailure, TokenInfo, TokenQueryOutcome, TokenStatus
from alipay_cancel.decisions.classification import classify
from alipay_cancel.signing.secret import SecretUnavailable

logger = obs.logger

# (app id or None, the client seen) -> a client with the app's secret re-read, or None when it was
# already re-read in this invocation (SigningRegistry.refresh).
Refresh = Callable[[str | None, AlipayClient], AlipayClient | None]
RemainingMs = Callable[[], int | None]
DEFAULT_MAX_ENTRIES = 1024


class TokenAnswer(NamedTuple):
    """Alipay's answer about a token, and how it was had."""

    outcome: TokenQueryOutcome
    after_secret_refresh: bool = False  # asked with just re-read signing material
    calls: int = 0  # Alipay calls made for it (0: from the cache)


class _Entry(NamedTuple):
    info: TokenInfo
    until: float  # clock time after which it is asked again


class TokenOwners:
    def __init__(
        self,
        refresh: Refresh,
        *,
        max_age_seconds: int,
        call_budget_ms: int,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refresh = refresh
        self._max_age = max_age_seconds
        self._call_budget_ms = call_budget_ms
        self._max_entries = max_entries
        self._clock = clock
        self._digest_key = os.urandom(32)
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str | None, bytes], _Entry] = OrderedDict()

    def ask(
        self, app_id: str | None, client: AlipayClient, token: str, remaining_ms: RemainingMs
    ) -> TokenAnswer:
        """Alipay's answer about ``token`` for app ``app_id`` (None: the default app), from the cache or
        asked with ``client`` (that app's)."""
        key = (app_id, hmac.new(self._digest_key, token.encode(), hashlib.sha256).digest())
        cached = self._cached(key)
        if cached is not None:
            logger.debug("app_auth_token owner from the cache", extra={"merchant_id": cached.user_id})
            return TokenAnswer(cached)
        answer = self._query(app_id, client, token, remaining_ms)
        if isinstance(answer.outcome, TokenInfo):
            self._keep(key, answer.outcome)
        return answer

    def _query(
        self, app_id: str | None, client: AlipayClient, token: str, remaining_ms: RemainingMs
    ) -> TokenAnswer:
        outcome = _timed_query(client, token)
        if not isinstance(outcome, AlipayFailure) or not classify(outcome).refresh_secret:
            return TokenAnswer(outcome, calls=1)
        try:
            fresh = self._refresh(app_id, client)
        except SecretUnavailable as problem:
            logger.error("signing secret refresh failed", extra={"problem": str(problem)})
            return TokenAnswer(outcome, calls=1)
        if fresh is None:  # already re-read in this invocation: these keys are the fresh ones
            return TokenAnswer(outcome, after_secret_refresh=True, calls=1)
        left = remaining_ms()
        if left is not None and left < self._call_budget_ms:
            logger.info("signing secret refreshed; too little time left to ask about the token again now")
            return TokenAnswer(outcome, calls=1)
        logger.info("signing secret refreshed after a signature problem; asking about the token again")
        return TokenAnswer(_timed_query(fresh, token), after_secret_refresh=True, calls=2)

    def _cached(self, key: tuple[str | None, bytes]) -> TokenInfo | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() >= entry.until:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.info

    def _keep(self, key: tuple[str | None, bytes], info: TokenInfo) -> None:
        lifetime = self._max_age
        if info.status is TokenStatus.VALID and info.expires_in is not None:
            lifetime = min(lifetime, info.expires_in)
        if lifetime <= 0:
            return
        with self._lock:
            self._entries[key] = _Entry(info, self._clock() + lifetime)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)


def _timed_query(client: AlipayClient, token: str) -> TokenQueryOutcome:
    with obs.timed_alipay_call():
        return client.app_auth_token_query(token)
