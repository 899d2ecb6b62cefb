"""Long work for gradio handlers: a worker thread does it and records progress, the handler polls.

gradio cannot be updated from a worker thread (``gr.Progress`` there is ignored on some
versions), so handlers are generators: they start the work with ``BackgroundJob``, then loop
``while job.wait(POLL)`` yielding an update with ``job.snapshot()`` until the work is over.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

from .cards import human_size

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


_PHASE_WORDS = {
    "walk": "looking for model files",
    "hash": "hashing",
    "lookup": "asking Civitai",
    "link": "asking Civitai",
    "sidecars": "writing sidecar files",
    "done": "finishing",
}


def describe_progress(args: tuple, kwargs: dict) -> str:
    """Words for whatever a progress callback was last called with.

    Accepts the shapes civkit's callbacks use: a ``ScanProgress``-like object or a dict with
    ``phase``/``done``/``total``/``path``/``bytes_done``/``bytes_total``, ``(done, total[, path])``,
    or a plain message.
    """
    info: dict = {}
    first = args[0] if args else None
    if isinstance(first, dict):
        info.update(first)
    elif isinstance(first, str) and len(args) == 1:
        return first
    elif first is not None and hasattr(first, "__dict__"):
        info.update(vars(first))
    else:
        for key, value in zip(("done", "total", "path"), args, strict=False):
            info[key] = value
    info.update(kwargs)
    phase = str(info.get("phase") or info.get("stage") or "")
    text = _PHASE_WORDS.get(phase, phase)
    done, total = info.get("done"), info.get("total")
    if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total:
        text += f" {int(done)} of {int(total)}"
    elif isinstance(done, (int, float)) and done:
        text += f" {int(done)}"
    bytes_done, bytes_total = info.get("bytes_done"), info.get("bytes_total")
    if isinstance(bytes_total, (int, float)) and bytes_total:
        text += f" ({human_size(bytes_done or 0)} of {human_size(bytes_total)})"
    path = info.get("path") or info.get("current") or info.get("name")
    if path:
        text += f" — {os.path.basename(str(path)) or path}"
    return text.strip() or "working…"
