"""The one ``CivkitService`` a ComfyUI process uses, built on first use (never at import).

Nothing at this module's level may fail outside ComfyUI: on Forge this folder is importable as
top-level ``nodes``. So only the standard library is imported here; civkit's core and ComfyUI's
modules are imported inside the functions that need them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Optional

log = logging.getLogger(__name__)

DOWNLOAD_EVENT = "civkit.download"
SCAN_EVENT = "civkit.scan"
# A few progress events per second per task are enough for a progress bar (HOSTS.md §1.4).
MIN_EVENT_INTERVAL = 0.25

_lock = threading.Lock()
_service = None


def prompt_server_send(event: str, data) -> None:
    """Broadcast to every browser through ComfyUI's thread-safe ``send_sync``."""
    from server import PromptServer

    instance = getattr(PromptServer, "instance", None)
    if instance is not None:
        instance.send_sync(event, data)


class EventForwarder:
    """Service events -> websocket events, throttled per task; state changes always pass."""

    def __init__(self, send: Callable[[str, object], None], min_interval: float = MIN_EVENT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self._send = send
        self._min_interval = min_interval
        self._clock = clock
        self._last: dict[object, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def __call__(self, event: str, data) -> None:
        if event == DOWNLOAD_EVENT and isinstance(data, dict):
            task = data.get("id")
            state = data.get("state")
            now = self._clock()
            with self._lock:
                last = self._last.get(task)
                finished = data.get("total") and data.get("bytes") == data.get("total")
                if last is not None and last[1] == state and not finished and now - last[0] < self._min_interval:
                    return
                self._last[task] = (now, state)
        try:
            self._send(event, data)
        except Exception as exc:  # a browser that went away must not break a download
            log.debug("could not send %s: %s", event, exc)


def connect_events(service, send: Optional[Callable[[str, object], None]] = None) -> EventForwarder:
    forwarder = EventForwarder(send or prompt_server_send)
    service.subscribe(forwarder)
    return forwarder


def build_service(host=None, config=None):
    """A service for this ComfyUI process: folders from ``folder_paths``, events to the browser."""
    from ..civkit.config import load_config
    from ..civkit.hosts.comfyui import ComfyUIHost
    from ..civkit.service import CivkitService

    service = CivkitService(config or load_config(), host or ComfyUIHost())
    connect_events(service)
    return service


def get_service():
    """The process-wide service, built on the first request or node run."""
    global _service
    with _lock:
        if _service is None:
            _service = build_service()
        return _service


def set_service(service) -> None:
    """Install an already built service (tests, or a host that builds its own)."""
    global _service
    with _lock:
        _service = service
