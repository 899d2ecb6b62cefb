"""Long work for gradio handlers: a worker thread does it and records progress, the handler polls.

gradio cannot be updated from a worker thread (``gr.Progress`` there is ignored on some
versions), so handlers are generators: they start the work with ``BackgroundJob``, then loop
``while job.wait(POLL)`` yielding an update with ``job.snapshot()`` until the work is over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25


class BackgroundJob:
    """Run ``fn(progress=...)`` in a daemon thread; ``progress`` records the latest call."""

    def __init__(self, fn: Callable[..., Any], *, name: str = "civkit-ui-job") -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._progress: tuple = ()
        self._progress_kw: dict = {}
        self.updated = 0.0
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def _record(self, *args, **kwargs) -> None:
        with self._lock:
            self._progress = args
            self._progress_kw = kwargs
            self.updated = time.monotonic()

    def _run(self) -> None:
        try:
            self.result = self._fn(progress=self._record)
        except Exception as exc:  # handed to the polling handler, which shows it to the person
            log.debug("background job failed", exc_info=True)
            self.error = exc

    def wait(self, timeout: float = POLL_SECONDS) -> bool:
        """Wait up to ``timeout``; True while the work is still running."""
        self._thread.join(timeout)
        return self._thread.is_alive()

    def snapshot(self) -> tuple[tuple, dict]:
        with self._lock:
            return self._progress, dict(self._progress_kw)


def describe_progress(args: tuple, kwargs: dict) -> str:
    """Words for whatever a progress callback was last called with.

    Accepts the shapes civkit's callbacks use: ``(done, total)``, ``(done, total, path)``,
    a dict with ``done``/``total``/``path``/``stage`` keys, or a plain message.
    """
    info: dict = {}
    if args and isinstance(args[0], dict):
        info.update(args[0])
    elif args and isinstance(args[0], str) and len(args) == 1:
        return args[0]
    else:
        for key, value in zip(("done", "total", "path"), args, strict=False):
            info[key] = value
    info.update(kwargs)
    done, total = info.get("done"), info.get("total")
    stage = info.get("stage") or info.get("phase") or ""
    text = f"{stage}: " if stage else ""
    if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total:
        text += f"{int(done)} of {int(total)}"
    elif isinstance(done, (int, float)):
        text += f"{int(done)} done"
    path = info.get("path") or info.get("current") or info.get("name")
    if path:
        text += f" — {path}"
    return text.strip() or "working…"
