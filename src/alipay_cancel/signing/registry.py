"""Signing material and Alipay clients per app (README "Signing material").

The default app's secret is ``ALIPAY_SECRET_ID``; a declared further app ``X``'s
(``ALIPAY_FURTHER_APP_IDS``) is the secret named ``ALIPAY_APP_SECRET_PREFIX + X``, and no other
secret is ever read (IAM grants those alone; a message naming another app is a bad message before it
gets here). Each app has its own ``SigningSecret`` (its own cache, its own
once-per-invocation refresh, its own lock) and its own ``AlipayClient``: one app's rotation or broken
secret never touches another app, and concurrent records of different apps never share a client or a
key. Each secret's ``app_id`` must be the app it is found for.

Every problem is a ``SecretUnavailable`` whose message names the secret (or the missing prefix) and
never holds key material: the caller treats it as a configuration error (alarm, message kept). A
failed load is reused for ``FAILED_LOAD_REUSE_SECONDS`` by the app's ``SigningSecret``, so records of a
misconfigured app do not each ask Secrets Manager again; an app that never loaded is kept apart (not
refreshed) until a load succeeds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.signing_material import SigningMaterial
from alipay_cancel.signing.secret import Clock, SecretUnavailable, SigningSecret

ClientFactory = Callable[[SigningMaterial], AlipayClient]


class AppSigning:
    """One app's secret and client."""

    def __init__(self, app_id: str, secret: SigningSecret, client_factory: ClientFactory) -> None:
        self.app_id = app_id
        self.secret = secret
        self._client_factory = client_factory
        self._client: AlipayClient | None = None
        self._lock = threading.Lock()

    @property
    def secret_id(self) -> str:
        return self.secret.secret_id

    @property
    def ever_loaded(self) -> bool:
        with self._lock:
            return self._client is not None

    def client(self) -> AlipayClient:
        """The client for the current material (cached; re-read after ``max_age``)."""
        return self._client_for(self.secret.current())

    def refresh(self, seen: AlipayClient) -> AlipayClient | None:
        """A client with freshly read material after a signature problem, or None when this app's
        secret was already refreshed in this invocation and nothing newer came of it."""
        fresh = self.secret.refresh(seen.material)
        return None if fresh is None else self._client_for(fresh)

    def _client_for(self, material: SigningMaterial) -> AlipayClient:
        # One client (one HTTP session) per app; a new instance only when the keys change.
        with self._lock:
            if self._client is None:
                self._client = self._client_factory(material)
            elif self._client.material is not material:
                self._client = self._client.with_material(material)
            return self._client


class SigningRegistry:
    def __init__(
        self,
        secrets_client: Any,
        *,
        default_app_id: str,
        default_secret_id: str,
        further_app_ids: tuple[str, ...],
        app_secret_prefix: str,
        max_age_seconds: int,
        client_factory: ClientFactory,
        clock: Clock | None = None,
    ) -> None:
        self._secrets_client = secrets_client
        self._clock = clock
        self._default_app_id = default_app_id
        self._further = further_app_ids
        self._prefix = app_secret_prefix
        self._max_age = max_age_seconds
        self._client_factory = client_factory
        self._lock = threading.Lock()
        self._apps: dict[str, AppSigning] = {}
        # Apps that never loaded: their SigningSecret reuses the failure; not in _apps (not refreshed)
        # until a load succeeds.
        self._failed: dict[str, AppSigning] = {}
        self._default = self._new(default_app_id, default_secret_id)

    @property
    def default_app_id(self) -> str:
        return self._default_app_id

    def secret_id_for(self, app_id: str | None) -> str | None:
        """The secret app ``app_id`` (None: the default app) is signed with; None for an app the
        deployment does not declare."""
        if app_id is None or app_id == self._default_app_id:
            return self._default.secret_id
        return self._prefix + app_id if app_id in self._further else None

    def remedy_for(self, app_id: str | None) -> str:
        """What an operator does when that app's signing setup is unusable (no key material)."""
        secret_id = self.secret_id_for(app_id)
        if app_id is None or app_id == self._default_app_id:
            where = f"the default app's secret {secret_id!r} (ALIPAY_SECRET_ID)"
        elif secret_id is None:
            return (
                f"App {app_id!r} is not declared: add it to the FurtherAppIds parameter "
                f"(ALIPAY_FURTHER_APP_IDS) and create its secret <AppSecretPrefix>{app_id}, or fix the "
                "producer."
            )
        else:
            where = f"app {app_id}'s secret {secret_id!r} (AppSecretPrefix + app id)"
        return (
            f"Fix {where}: it must exist, be readable by the function and hold the JSON fields app_id "
            "(that app's id), private_key and alipay_public_key (or the three certificates). "
            "Messages are kept and retried."
        )

    def begin_invocation(self) -> None:
        """Every app may refresh its secret once again (keys rotate)."""
        for app in self._all():
            app.secret.begin_invocation()

    def app(self, app_id: str | None) -> AppSigning:
        """The app's signing setup; ``SecretUnavailable`` when no secret can exist for it."""
        if app_id is None or app_id == self._default_app_id:
            return self._default
        with self._lock:
            found = self._apps.get(app_id) or self._failed.get(app_id)
            if found is not None:
                return found
            secret_id = self.secret_id_for(app_id)
            if secret_id is None:
                raise SecretUnavailable(
                    f"no signing secret for app {app_id!r}: it is not one of the deployment's apps "
                    f"(ALIPAY_DEFAULT_APP_ID, ALIPAY_FURTHER_APP_IDS)"
                )
            return self._new(app_id, secret_id)

    def client(self, app_id: str | None) -> AlipayClient:
        """The app's client, its material loaded; ``SecretUnavailable`` names the secret otherwise."""
        app = self.app(app_id)
        try:
            client = app.client()
        except SecretUnavailable:
            if app is not self._default and not app.ever_loaded:
                with self._lock:
                    if self._apps.get(app.app_id) is app:
                        del self._apps[app.app_id]
                    self._failed[app.app_id] = app
            raise
        if app.app_id in self._failed:
            with self._lock:  # fixed: an app like any other from now on
                if self._failed.get(app.app_id) is app:
                    del self._failed[app.app_id]
                    self._apps[app.app_id] = app
        return client

    def refresh(self, app_id: str | None, seen: AlipayClient) -> AlipayClient | None:
        return self.app(app_id).refresh(seen)

    def _new(self, app_id: str, secret_id: str) -> AppSigning:
        secret = SigningSecret(
            self._secrets_client, secret_id, self._max_age, expected_app_id=app_id, clock=self._clock
        )
        app = AppSigning(app_id, secret, self._client_factory)
        self._apps[app_id] = app
        return app

    def _all(self) -> list[AppSigning]:
        with self._lock:
            return list(self._apps.values())
