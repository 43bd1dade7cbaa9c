"""Signing material from Secrets Manager through Powertools parameters, cached per warm container.

- ``current()`` returns the parsed material; the raw secret is cached by Powertools for ``max_age``
  seconds and the parsed ``SigningMaterial`` is reused for as long as Powertools hands back the same
  cached value, so keys are parsed once per fetch, not per message.
- ``refresh(seen)`` force-fetches once per invocation when keys may have rotated (bad response
  signature, or Alipay says our signature is invalid). Concurrent records share that single refresh:
  a lock serialises it and later callers get the already-refreshed material.
- An unreadable or malformed secret raises ``SecretUnavailable`` whose message names the problem and
  never contains key material; so does a secret whose ``app_id`` is not the app it is used for.
- A failed load is reused by ``current()`` for ``FAILED_LOAD_REUSE_SECONDS``: a broken secret costs one
  read per that many seconds per container, not one per record, and a fixed one is picked up that
  soon. ``refresh`` never answers from it: a rotation is always read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from alipay_cancel.alipay.signing_material import SigningMaterial, SigningMaterialError, load_signing_material

# How long a failed load is reused before Secrets Manager is asked again (docs/contracts.md, "Signing
# material").
FAILED_LOAD_REUSE_SECONDS = 10.0

Clock = Callable[[], float]


class SecretUnavailable(Exception):
    """The signing secret cannot be used: a deployment problem, never the message's fault."""


class SigningSecret:
    def __init__(
        self,
        client: Any,
        secret_id: str,
        max_age_seconds: int,
        *,
        expected_app_id: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._secret_id = secret_id
        self._expected_app_id = expected_app_id
        self._max_age = max_age_seconds
        self._lock = threading.Lock()
        self._raw: object | None = None
        self._material: SigningMaterial | None = None
        self._refreshed_this_invocation = False
        self._clock: Clock = clock or time.monotonic
        # The last load's failure (when, what), reused by ``current`` for FAILED_LOAD_REUSE_SECONDS;
        # the next load after it bypasses Powertools' cache, so a fixed secret is not max_age away.
        self._failed: tuple[float, str] | None = None

    @property
    def secret_id(self) -> str:
        return self._secret_id

    def begin_invocation(self) -> None:
        with self._lock:
            self._refreshed_this_invocation = False

    def current(self) -> SigningMaterial:
        with self._lock:
            if self._failed is not None:
                failed_at, problem = self._failed
                if self._now() - failed_at < FAILED_LOAD_REUSE_SECONDS:
                    raise SecretUnavailable(problem)
            return self._load(force_fetch=self._failed is not None)

    def refresh(self, seen: SigningMaterial) -> SigningMaterial | None:
        """Fresh material after a signature problem, or None when a refresh already happened in this
        invocation and gave nothing newer than ``seen`` (no point retrying with the same keys)."""
        with self._lock:
            if self._material is not None and self._material is not seen:
                return self._material  # another record already refreshed: use its result
            if self._refreshed_this_invocation:
                return None
            self._refreshed_this_invocation = True
            return self._load(force_fetch=True)

    def _load(self, *, force_fetch: bool) -> SigningMaterial:
        try:
            material = self._fetch_and_parse(force_fetch=force_fetch)
        except SecretUnavailable as problem:
            self._failed = (self._now(), str(problem))
            raise
        self._failed = None
        return material

    def _now(self) -> float:
        return self._clock()

    def _fetch_and_parse(self, *, force_fetch: bool) -> SigningMaterial:
        try:
            raw = self._provider.get(
                self._secret_id, max_age=self._max_age, transform="json", force_fetch=force_fetch
            )
        except TransformParameterError:
            raise SecretUnavailable(
                f"secret {self._secret_id!r}: SecretString is not a JSON object"
            ) from None
        except GetParameterError as error:
            # botocore's message names the API, error code and secret id only.
            raise SecretUnavailable(f"secret {self._secret_id!r} could not be read: {error}") from None
        if raw is self._raw and self._material is not None:
            return self._material
        if not isinstance(raw, dict):
            raise SecretUnavailable(f"secret {self._secret_id!r}: SecretString is not a JSON object")
        try:
            material = load_signing_material(raw)
        except SigningMaterialError as error:
            raise SecretUnavailable(f"secret {self._secret_id!r}: {error}") from None
        if self._expected_app_id is not None and material.app_id != self._expected_app_id:
            # Signing app B's calls with app A's keys would fail at Alipay or, worse, act as app A.
            raise SecretUnavailable(
                f"secret {self._secret_id!r} holds app_id {material.app_id!r} but is the secret of app "
                f"{self._expected_app_id!r}; put that app's own signing material in it"
            )
        self._raw, self._material = raw, material
        return material
