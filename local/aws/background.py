"""Runs a local component's ``round()`` every ``interval`` seconds on a daemon thread until stopped,
as a context manager too. A round that raises is logged and the next one runs (the AWS stand-in
restarting, a transient error): the component's own state decides what the next round retries."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)


class Background:
    def __init__(self, name: str, round_: Callable[[], object]) -> None:
        self._name = name
        self._round = round_
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, interval: float) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self._round()
                except Exception:  # retried next round
                    log.exception("%s: a round failed", self._name)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


class RunsInBackground:
    """Mixin: ``start(interval)`` / ``stop()`` / ``with`` around the subclass's ``round()``."""

    _background: Background | None = None

    @property
    def running(self) -> bool:
        return self._background is not None

    def round(self) -> object:
        raise NotImplementedError

    def start(self, interval: float = 0.2) -> Self:
        self._background = Background(type(self).__name__, self.round)
        self._background.start(interval)
        return self

    def stop(self) -> None:
        if self._background is not None:
            self._background.stop()
            self._background = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
