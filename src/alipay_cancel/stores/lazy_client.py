"""A boto3 client built on first use, once, thread-safely.

Building a client costs 25-40 ms of a cold start (endpoint resolution, service model loading); the SQS
client is only needed for dead letters and retry delays, which many invocations never send. The proxy
forwards every attribute to the real client, so code holding it calls ``send_message`` as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LazyClient:
    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:  # concurrent first uses build one client, not one each
                if self._client is None:
                    self._client = self._build()
                client = self._client
        return client

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class does not define: the client's API.
        return getattr(self._get(), name)
