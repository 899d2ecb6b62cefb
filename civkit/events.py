"""The service's event bus: UIs subscribe, the parts emit ``(event, data)`` from worker threads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Subscriber = Callable[[str, dict], Any]

# Named here, not in service_batches.py, so the facade can export it without importing the batch part.
EVENT_BATCH = "civkit.batch"


class EventBus:
    """Calls every subscriber with ``(event, copy of data)``; a failing subscriber is logged, never raised."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; returns a function that removes it again."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            self.unsubscribe(callback)

        return unsubscribe

    def unsubscribe(self, callback: Subscriber) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def emit(self, event: str, data: dict) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event, dict(data))
            except Exception:  # noqa: BLE001 - a broken subscriber must never break a download
                log.warning("a civkit %s subscriber failed", event, exc_info=True)
