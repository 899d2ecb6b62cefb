"""The library part of ``CivkitService``: scan, entries, trigger words, updates, duplicates.

Only files inside ``host.model_roots()`` are ever read or listed here; a path from a caller is
checked against those roots before anything touches it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Optional

from .paths import under_any
from .service_errors import ServiceError, error_message
from .summaries import entry_dict

log = logging.getLogger(__name__)

EVENT_SCAN = "civkit.scan"
_LIBRARY_CACHE_SECONDS = 30.0


class Library:
    """The files under one host's model roots, as the index knows them.

    ``client()``, ``index()`` and ``config()`` return the service's current parts (a new key or
    API base replaces the client); ``events`` is the service's ``EventBus``.
    """

    def __init__(self, client: Callable, index: Callable, host, config: Callable, events):
        self._client = client
        self._index = index
        self.host = host
        self._config = config
        self._events = events
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self._versions_cache: Optional[tuple[float, dict]] = None  # (built_at, version_id -> [paths])
        self._updates: dict[str, dict] = {}  # path -> update info, from the last updates() call
        self._lookup_client_for: Optional[tuple] = None  # (config, quick client) for trigger words

    # ------------------------------------------------------------------ roots
    def root_forms(self) -> list:
        """Every root as written and as resolved (the index keys real paths)."""
        forms: list[str] = []
        for root in self.host.model_roots():
            for form in (os.path.abspath(str(root)), os.path.realpath(str(root))):
                if form not in forms:
                    forms.append(form)
        return forms

    def _entries_in_roots(self, roots=None) -> list:
        roots = roots if roots is not None else self.root_forms()
        return self._index().entries(roots) if roots else []

    # ------------------------------------------------------------------ which versions are here
    def versions_on_disk(self) -> dict:
        """version id -> [paths] of files in the index, cached for a short while."""
        with self._lock:
            cached = self._versions_cache
            if cached and time.monotonic() - cached[0] < _LIBRARY_CACHE_SECONDS:
                return cached[1]
        roots = self.root_forms()
        mapping: dict[int, list[str]] = {}
        if roots:
            for version_id, paths in self._index().version_paths(roots).items():
                present = [p for p in paths if os.path.exists(p)]
                if present:
                    mapping[version_id] = present
        with self._lock:
            self._versions_cache = (time.monotonic(), mapping)
        return mapping

    def forget_cache(self) -> None:
        """The files changed (a scan, a download): the next ``versions_on_disk`` asks the index."""
        with self._lock:
            self._versions_cache = None

    # ------------------------------------------------------------------ scan
    def scan_library(self, *, lookup: bool = True, refresh: bool = False, progress=None) -> dict:
        """Hash new or changed files under the model roots and link them to Civitai.

        Runs in the calling thread; progress goes to ``progress`` (if given) and to subscribers
        as ``("civkit.scan", {...})`` events. One scan at a time per service.
        """
        from .library.scan import scan

        if not self._scan_lock.acquire(blocking=False):
            raise ServiceError("A library scan is already running; wait for it to finish.", http_status=409)
        try:
            return self._scan_locked(scan, lookup=lookup, refresh=refresh, progress=progress)
        finally:
            self._scan_lock.release()
            self.forget_cache()

    def _scan_locked(self, scan, *, lookup: bool, refresh: bool, progress) -> dict:
        # Folders the host knows but nobody created yet are normal, not scan errors; whatever
        # the index still remembers under a folder that is gone is forgotten.
        every_root = [str(r) for r in self.host.model_roots()]
        roots = [r for r in every_root if os.path.isdir(r)]
        missing = [r for r in every_root if r not in roots]
        started = time.monotonic()
        self._events.emit(EVENT_SCAN, {"state": "started", "roots": roots})
        last = {"phase": None, "at": 0.0}

        def on_progress(*args, **kwargs):
            data = _progress_dict(args, kwargs)
            now = time.monotonic()
            # hashing reports often; subscribers get phase changes plus at most 4 updates a second
            if data.get("phase") != last["phase"] or now - last["at"] >= 0.25:
                last["phase"], last["at"] = data.get("phase"), now
                self._events.emit(EVENT_SCAN, {**data, "state": "running"})
            if progress is not None:
                try:
                    progress(*args, **kwargs)
                except Exception:  # noqa: BLE001 - a UI's progress bug must not stop the scan
                    log.warning("scan progress callback failed", exc_info=True)

        try:
            if missing:
                self._index().remove_missing(missing, seen=set())
            config = self._config()
            report = scan(
                roots, self._index(), self._client() if lookup else None, lookup=lookup,
                write_sidecars=config.write_sidecars, refresh=refresh, progress=on_progress,
                nsfw_previews=config.nsfw_previews, forge=getattr(self.host, "layout", "") == "forge",
            )
        except Exception as exc:
            message = error_message(exc, self._config().api_key, getattr(self.host, "key_hint", None))
            self._events.emit(EVENT_SCAN, {"state": "failed", "message": message})
            raise
        summary = _report_dict(report, roots, time.monotonic() - started)
        self._events.emit(EVENT_SCAN, {"state": "done", **{k: v for k, v in summary.items() if k != "errors"},
                                "error_count": len(summary["errors"])})
        return summary

    # ------------------------------------------------------------------ listing
    def library(self, query: Optional[str] = None, status: Optional[str] = None, offset: int = 0,
                limit: Optional[int] = None) -> list:
        """Indexed files under the model roots, as JSON-safe dicts sorted by path (all of them
        without arguments). ``query`` filters by file, model, version, type, base model or trigger
        word (case-insensitive); ``status`` by link status. Built from the index's light listing:
        the stored version JSON is never parsed here."""
        return self._library_rows(query, status, offset, limit)[0]

    def library_page(self, query: Optional[str] = None, status: Optional[str] = None, offset: int = 0,
                     limit: Optional[int] = 200) -> dict:
        """One page of ``library()``: ``{"items", "total", "offset", "limit"}``; ``total`` counts
        every matching file, so a UI can say "200 of 31,452 files"."""
        items, total, offset, limit = self._library_rows(query, status, offset, limit)
        return {"items": items, "total": total, "offset": offset, "limit": limit}

    def library_counts(self) -> dict:
        """status -> number of files under the model roots (every status present), one cheap query."""
        from .library.index import STATUSES

        roots = self.root_forms()
        if not roots:
            return {s: 0 for s in STATUSES}
        return self._index().status_counts(roots)

    def _library_rows(self, query, status, offset, limit) -> tuple:
        from .library.index import STATUSES

        offset = _whole_number(offset, "offset", 0)
        limit = None if limit is None else _whole_number(limit, "limit", 0)
        status = (str(status).strip() or None) if status is not None else None
        if status is not None and status not in STATUSES:
            raise ServiceError(f"Unknown library status {status!r}; use one of: {', '.join(STATUSES)}.")
        query = str(query).strip() if query is not None else None
        roots = self.root_forms()
        if not roots:
            return [], 0, offset, limit
        rows, total = self._index().list_rows(roots, query=query or None, status=status, offset=offset, limit=limit)
        updates = self._updates
        items = [entry_dict(r, update=updates.get(r["path"])) for r in rows]
        return items, total, offset, limit

    def duplicates(self) -> list:
        """Groups of files with the same SHA256: ``[{"sha256", "size", "paths", "names"}]``."""
        groups: dict[str, list] = defaultdict(list)
        for entry in self._entries_in_roots():
            if entry.sha256:
                groups[entry.sha256].append(entry)
        out = []
        for sha, entries in sorted(groups.items()):
            if len(entries) < 2:
                continue
            first = entries[0]
            out.append({
                "sha256": sha,
                "size": first.size,
                "paths": [e.path for e in entries],
                "model_name": first.model_name,
                "version_name": first.version_name,
                "wasted_bytes": first.size * (len(entries) - 1),
            })
        return out

    def updates(self) -> list:
        """Linked files whose model has a newer version than every local copy.

        The same rule as ``civkit updates`` (``library.queries.find_updates``): one
        ``/models?ids=`` request per 100 models. The answer is remembered, so ``library()`` can
        show ``update_available`` afterwards.
        """
        from .library.queries import find_updates

        linked = [e for e in self._entries_in_roots()
                  if e.status == "linked" and e.model_id and e.version_id]
        self._updates = {e.path: {"available": False} for e in linked}
        if not linked:
            return []
        by_path = {e.path: e for e in linked}
        found = []
        for update in find_updates(linked, self._client()):
            info = {
                "available": True,
                "latest_version_id": update.latest_version_id,
                "latest_version_name": update.latest_version_name,
                "latest_base_model": update.latest_base_model,
                "latest_published_at": update.latest_published_at,
            }
            for copy in update.local:
                entry = by_path.get(copy.path)
                if entry is None:
                    continue
                self._updates[entry.path] = info
                found.append({
                    "path": entry.path,
                    "name": os.path.basename(entry.path),
                    "model_id": entry.model_id,
                    "model_name": update.model_name or entry.model_name,
                    "version_id": entry.version_id,
                    "version_name": entry.version_name,
                    "base_model": entry.base_model,
                    **{k: v for k, v in info.items() if k != "available"},
                })
        return found

    # ------------------------------------------------------------------ trigger words
    def trigger_words(self, path_or_name: str) -> list:
        """Trigger words of a model file inside the model roots (a path, a path relative to a
        root or a folder key's folder, or a bare file name found in the index)."""
        from .triggers import trigger_words_for

        path = self.resolve_model_path(path_or_name)
        return list(trigger_words_for(path, index=self._index(), client=self._lookup_client()))

    def _lookup_client(self):
        """Trigger words are asked for interactively (a node run, a click): one quick try at Civitai,
        then the file's own training metadata, instead of the half minute of retries a scan may afford."""
        from .api import CivitaiClient

        # Kept while the config stays the same object (every settings or key change replaces it), so
        # repeated lookups reuse one session and its connections.
        config = self._config()
        cached = self._lookup_client_for
        if cached is None or cached[0] is not config:
            cached = (config, CivitaiClient(config.api_base, config.api_key, max_attempts=1, timeout=(3, 10)))
            self._lookup_client_for = cached
        return cached[1]

    def resolve_model_path(self, path_or_name: str) -> str:
        """The real path of a model file inside the roots, or ServiceError. Never reads anything
        outside the roots: ``..`` and absolute paths elsewhere are refused before any file access."""
        text = str(path_or_name or "").strip()
        if not text or "\x00" in text:
            raise ServiceError("Give the name or path of a model file.")
        roots = self.root_forms()
        folders = [str(p) for paths in self.host.folder_keys().values() for p in paths]
        if getattr(self.host, "models_dir", None):  # "loras/x.safetensors" relative to the models folder
            folders.append(str(self.host.models_dir))
        if os.path.isabs(text):
            candidates = [os.path.abspath(text)]
        else:
            candidates = [os.path.abspath(os.path.join(base, text)) for base in [*folders, *roots]]
        inside = [c for c in candidates if under_any(c, roots)]
        if not inside:
            raise ServiceError(
                f"{text} is outside the model folders civkit manages, so civkit will not read it. "
                "Use a file inside: " + ", ".join(str(r) for r in self.host.model_roots()) + ".",
                http_status=403,
            )
        for candidate in inside:
            # A symlink inside a root counts as inside: the user put it there (models on another disk).
            if os.path.isfile(candidate):
                return os.path.realpath(candidate)
        by_name = self._find_by_name(text, roots)
        if by_name:
            return by_name
        raise ServiceError(f"No model file {text} in the model folders (run a library scan if it is new).",
                           http_status=404)

    def _find_by_name(self, name: str, roots) -> Optional[str]:
        if os.sep in name or (os.altsep and os.altsep in name):
            return None
        wanted = name.lower()
        for entry in self._entries_in_roots(roots):
            base = os.path.basename(entry.path).lower()
            if (base == wanted or os.path.splitext(base)[0] == wanted) and os.path.isfile(entry.path):
                return entry.path
        return None


def _whole_number(value, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ServiceError(f"{name} must be a whole number, not {value!r}.") from None
    if number < 0 or isinstance(value, bool):
        raise ServiceError(f"{name} must be 0 or more, not {value!r}.")
    return number


def _progress_dict(args, kwargs) -> dict:
    """Whatever the scanner reports, as a JSON-safe dict."""
    data: dict = {}
    if len(args) == 1 and not kwargs:
        value = args[0]
        if isinstance(value, dict):
            data.update(value)
        elif hasattr(value, "__dict__"):
            data.update(vars(value))
        else:
            data["value"] = value
    else:
        for i, value in enumerate(args):
            data[("done", "total", "path", "phase")[i] if i < 4 else f"arg{i}"] = value
        data.update(kwargs)
    return {str(k): (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
            for k, v in data.items()}


def _report_dict(report, roots, seconds: float) -> dict:
    """ScanReport as a JSON-safe dict: this scan's counts plus the library's totals by status."""
    counts: dict[str, int] = defaultdict(int)
    for e in report.entries:
        counts[e.status] += 1
    errors = [{"path": str(path), "message": str(message)} for path, message in report.errors]
    for result in report.conflicts:
        errors.append({"path": str(result.path), "message": str(result.message or result.status)})
    out = {"roots": list(roots)}
    for name in ("files", "new", "changed", "unchanged", "moved", "removed", "hashed", "from_sidecars",
                 "looked_up", "linked", "not_found", "requests"):
        out[name] = int(getattr(report, name, 0) or 0)
    out.update({
        "lookup_error": report.lookup_error,
        "errors": errors,
        "by_status": {k: counts[k] for k in ("linked", "not_found", "unknown", "error")},
        "seconds": round(seconds, 3),
    })
    return out
