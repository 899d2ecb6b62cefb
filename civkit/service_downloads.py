"""The download part of ``CivkitService``: from a pasted reference to a verified, indexed file.

``start_download`` checks what it can at once (the reference parses, the folder key is one the
host offers, the choices are known) and queues the rest, which runs in a queue worker:
resolve the version, choose the file, pick the folder from the host, ``download_file``, then the
after-download steps (index entry, sidecars, preview, ``host.after_download``), each guarded so
a failing step never fails a verified download. A checkpoint's VAE and config, when asked for,
follow in the same task (``service_companions.py``). Where a file goes is ``service_placement.py``,
what happens after it is verified ``service_hooks.py``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .service_companions import Companions, wanted_companions
from .service_errors import ServiceError, error_message, key_error
from .service_hooks import AfterDownload, is_companion
from .service_placement import Placement

log = logging.getLogger(__name__)

EVENT_DOWNLOAD = "civkit.download"
DOWNLOAD_CHOICES = ("format", "size", "fp", "allow_unsafe", "include_training_data", "on_conflict")
# A queue has nobody to ask, so "ask" means: fail with a message that says how to keep both.
DEFAULT_ON_CONFLICT = "ask"


@dataclass
class DownloadRequest:
    """What a queued download was asked for (no paths from the caller, only a folder key)."""

    ref: str
    file_id: Optional[int] = None
    folder_key: Optional[str] = None
    choices: dict = field(default_factory=dict)
    companions: tuple = ()  # "vae", "config": downloaded after the main file, in the same task
    folder: Optional[Path] = None  # the folder of a library file (``beside=``), checked to be inside the roots


class Downloads:
    """Queued downloads for one host.

    ``client()``, ``index()``, ``config()`` return the service's current parts; ``events`` is its
    ``EventBus``; ``versions`` (a ``VersionResolver``) turns references into versions; ``library``
    (a ``Library``) says which versions are on disk and is told when files change. The download
    queue and its ``workers`` threads are started on first use.
    """

    def __init__(self, client: Callable, index: Callable, host, config: Callable, events, versions, library,
                 *, workers: int = 2):
        self._client = client
        self._index = index
        self.host = host
        self._config = config
        self._events = events
        self._versions = versions
        self._library = library
        self._workers = max(1, int(workers))
        self._queue = None
        self._lock = threading.Lock()
        self.placement = Placement(host, config, index)
        self.after = AfterDownload(client, index, host, config)
        self.companions = Companions(client, index, config, self.placement, self.after)

    @property
    def queue(self):
        with self._lock:
            if self._queue is None:
                from .queue import DownloadQueue

                self._queue = DownloadQueue(self._run_download, max_workers=self._workers)
                self._queue.subscribe(self._on_queue_event)
            return self._queue

    def close(self) -> None:
        """Stop the workers; running downloads are cancelled (their .part is kept)."""
        with self._lock:
            queue, self._queue = self._queue, None
        if queue is not None:
            queue.shutdown(cancel=True, timeout=10)

    def _error_message(self, exc: BaseException) -> str:
        return error_message(exc, self._config().api_key, getattr(self.host, "key_hint", None))

    # ------------------------------------------------------------------ public API
    def start_download(self, ref: str, *, file_id=None, folder_key: Optional[str] = None, with_vae=False,
                       with_config=False, beside: Optional[str] = None, **choices) -> str:
        """Queue a download; returns the task id. Bad input raises ServiceError / RefError at once.

        ``beside``: a model file inside the host's roots (as the library resolves it); the download
        goes into that file's folder (an update lands next to the version it updates).
        ``with_vae`` / ``with_config``: also download the version's VAE / Config file in the same
        task, after the main file (see ``service_companions.py``); the snapshot's ``companions``
        lists them once the task has finished."""
        unknown = sorted(set(choices) - set(DOWNLOAD_CHOICES))
        if unknown:
            raise ServiceError(f"Unknown download option(s): {', '.join(unknown)}. "
                               f"Known: file_id, folder_key, with_vae, with_config, {', '.join(DOWNLOAD_CHOICES)}.")
        parsed = self._versions.parse_ref(ref)
        if file_id in ("", None):
            file_id = parsed.file_id
        if file_id is not None:
            try:
                file_id = int(file_id)
            except (TypeError, ValueError):
                raise ServiceError(f"file_id must be a number, not {file_id!r}.") from None
        if folder_key:
            self.placement.folder_for_key(folder_key)  # refuse an unknown key now, not in the worker
        on_conflict = choices.get("on_conflict") or DEFAULT_ON_CONFLICT
        if on_conflict not in ("ask", "skip", "suffix", "replace"):
            raise ServiceError("on_conflict must be one of ask, skip, suffix, replace.")
        clean = {k: v for k, v in choices.items() if v not in (None, "")}
        clean["on_conflict"] = on_conflict
        if parsed.format and "format" not in clean:
            clean["format"] = parsed.format
        folder = Path(self._library.resolve_model_path(beside)).parent if beside else None
        request = DownloadRequest(ref=str(ref).strip(), file_id=file_id, folder_key=folder_key or None,
                                  choices=clean, companions=wanted_companions(with_vae, with_config), folder=folder)
        return self.queue.submit(request, ref=request.ref)

    def downloads(self) -> list:
        """Every task of this session, oldest first, as JSON-safe snapshots."""
        return [self._snapshot(t) for t in self.queue.list()]

    def download(self, task_id) -> dict:
        """One task's snapshot; ServiceError (404) for an unknown id."""
        snapshot = self.queue.get(str(task_id))
        if snapshot is None:
            raise ServiceError(f"No download with id {task_id}.", http_status=404)
        return self._snapshot(snapshot)

    def cancel_download(self, task_id) -> bool:
        """Cancel a queued or running download (its .part is kept for a resume)."""
        return bool(self.queue.cancel(str(task_id)))

    def failure(self, task_id) -> Optional[BaseException]:
        """The exception that failed a task (None unless it ended "failed"): batches retry 429s."""
        return self.queue.exception(str(task_id))

    def retry_download(self, task_id) -> bool:
        """Queue a failed or cancelled download again; a cancelled one resumes from its .part."""
        return bool(self.queue.retry(str(task_id)))

    def clear_download(self, task_id) -> bool:
        """Forget a finished download in the list."""
        return bool(self.queue.remove(str(task_id)))

    def wait_download(self, task_id, timeout: Optional[float] = None) -> dict:
        """Block until the task has finished (or ``timeout`` passed); returns its snapshot."""
        snapshot = self.queue.wait(str(task_id), timeout)
        if snapshot is None:
            raise ServiceError(f"No download with id {task_id}.", http_status=404)
        return self._snapshot(snapshot)

    def fetch(self, ref: str, *, folder_key: Optional[str] = None, timeout: Optional[float] = None,
              **choices) -> dict:
        """Make sure the file ``ref`` names is on disk, for nodes that need it now: the library's
        copy (inside ``folder_key``'s folders when given), else a download through the queue,
        waited for. Returns ``{"path", "model_id", "version_id", "trained_words", "downloaded"}``;
        raises ServiceError (or the download's error) with a message for people."""
        from .download.errors import DownloadError

        version, parsed = self._versions.version(ref)
        wanted_roots = None
        if folder_key:
            wanted_roots = [os.path.abspath(str(p)) for p in self.host.folder_keys().get(folder_key) or ()]
            if not wanted_roots:
                self.placement.folder_for_key(folder_key)  # raises the "not a model folder" error
        companions = {f.sha256.upper() for f in version.files or () if is_companion(f) and f.sha256}
        for path in self._library.versions_on_disk().get(version.id, []):
            if not os.path.isfile(path):
                continue
            if companions:  # a checkpoint's VAE is indexed under the checkpoint's version too
                entry = self._index().get(path)
                if entry is not None and (entry.sha256 or "").upper() in companions:
                    continue
            if wanted_roots and not any(path == r or path.startswith(r.rstrip(os.sep) + os.sep)
                                        for r in wanted_roots + [os.path.realpath(r) for r in wanted_roots]):
                continue
            return {"path": path, "model_id": version.model_id, "version_id": version.id,
                    "trained_words": list(version.trained_words or ()), "downloaded": False}
        ref_text = f"{version.model_id}@{version.id}" if version.model_id else str(ref)
        if parsed.file_id and "file_id" not in choices:
            choices["file_id"] = parsed.file_id
        file_id = choices.pop("file_id", None)
        snapshot = self.wait_download(
            self.start_download(ref_text, file_id=file_id, folder_key=folder_key, **choices), timeout)
        if snapshot["state"] not in ("done", "skipped"):
            if snapshot["state"] in ("failed", "cancelled"):
                raise DownloadError(snapshot["message"] or f"The download {snapshot['state']}.")
            raise ServiceError(f"The download of {ref} is still running; it continues in the queue.",
                               http_status=504)
        return {"path": snapshot["path"], "model_id": snapshot["model_id"], "version_id": snapshot["version_id"],
                "trained_words": list(snapshot["trained_words"] or ()), "downloaded": True}

    def _on_queue_event(self, event: str, snapshot: dict) -> None:
        """Queue events go out to the service's subscribers, scrubbed like every snapshot."""
        self._events.emit(EVENT_DOWNLOAD, self._snapshot(snapshot))

    # ------------------------------------------------------------------ the worker side
    def _run_download(self, request: DownloadRequest, control, cancel=None):
        """Runs in a queue worker. ``control`` is the queue's TaskControl (callable as the
        ``download_file`` progress callback, ``.update(...)`` for names), ``cancel`` its Event.
        Returns the DownloadResult; raises an error whose ``.message`` the task shows."""
        from .download.errors import DownloadError

        try:
            return self._download_now(request, control, cancel or control.cancel_event)
        except Exception as exc:
            if key_error(exc) is not None:  # say where the key goes in this host's UI (issue 13 item 16)
                raise DownloadError(self._error_message(exc), cause=exc) from exc
            if isinstance(getattr(exc, "message", None), str):
                raise
            log.warning("download of %s failed unexpectedly", request.ref, exc_info=True)
            raise DownloadError(self._error_message(exc), cause=exc) from exc

    def _download_now(self, request: DownloadRequest, control, cancel):
        from .download import download_file
        from .download.choice import choose_file

        progress = control if callable(control) else control.progress
        version, _ = self._versions.version(request.ref)
        control.update(model_id=version.model_id, version_id=version.id, model_name=version.model_name,
                       version_name=version.name, trained_words=list(version.trained_words or ()))
        choices = dict(request.choices)
        on_conflict = choices.pop("on_conflict", DEFAULT_ON_CONFLICT)
        file = choose_file(version, file_id=request.file_id, **choices)
        dest, name = self.placement.place(request, version, file)
        control.update(total=int(file.size_bytes) or None)
        try:
            result = download_file(self._client(), version, file, dest, progress=progress, cancel=cancel,
                                   on_conflict=on_conflict, index=self._index,
                                   hooks=self.after.hooks_for(file), name=name,
                                   connections=self._config().connections)
            if request.companions:
                control.update(path=str(result.path))
                self.companions.download(request, version, file, result, control, cancel, on_conflict)
        finally:
            self._library.forget_cache()
        return result

    # ------------------------------------------------------------------ snapshots
    def _snapshot(self, snapshot: dict) -> dict:
        """A task as a JSON-safe dict; civkit messages only, the key scrubbed from every string."""
        data = dict(snapshot)
        out = {}
        for key, value in data.items():
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, str):
                value = self._scrub(value)
            elif isinstance(value, (list, tuple)):
                value = [self._scrub(v) if isinstance(v, str) else v for v in value]
            elif value is not None and not isinstance(value, (bool, int, float, dict)):
                value = str(value)
            out[str(key)] = value
        # the VAE/config that came with this task's file (HOSTS.md §3), once it has finished
        result = self.queue.result(str(out.get("id"))) if out.get("state") in ("done", "skipped") else None
        out["companions"] = [dict(c) for c in getattr(result, "companions", None) or ()]
        return out

    def _scrub(self, text: str) -> str:
        from .config import redact

        return redact(text, self._config().api_key)
