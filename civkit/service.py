"""The one facade every UI calls: ComfyUI routes and nodes, the gradio tab, the CLI where it fits.

Everything that goes out is a JSON-safe dict or list (see ``summaries``), so gradio, aiohttp and
FastAPI can send it as it is. Everything that goes wrong comes out as an exception with a
``.message`` for people; ``error_message(exc)`` gives the words every UI shows, and
``error_status(exc)`` the HTTP status a route should answer with.

Threads: ``search``/``model_details``/``scan_library``/``updates`` do their work in the calling
thread (UIs call them from workers, never from an event loop). Downloads run in the download
queue's worker threads; progress reaches subscribers as ``("civkit.download", snapshot)`` events,
library scans as ``("civkit.scan", {...})``.

Safety: target folders come only from the host (``host.folder_for`` or a key of
``host.folder_keys()``), never from a caller's path; files are read only inside
``host.model_roots()``; the API key lives only in ``config`` and civkit's owner-only config file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from .config import Config, normalise_api_base, save_api_key, save_settings
from .service_downloads import EVENT_DOWNLOAD, DownloadsMixin
from .service_errors import ServiceError, error_message, error_status
from .service_library import EVENT_SCAN, LibraryMixin
from .summaries import is_sfw_level, model_detail, model_summary

log = logging.getLogger(__name__)

__all__ = ["CivkitService", "ServiceError", "error_message", "error_status", "EVENT_DOWNLOAD", "EVENT_SCAN"]

SETTINGS = ("api_base", "nsfw_previews", "write_sidecars", "subfolder_template")
_LIBRARY_CACHE_SECONDS = 30.0
_MAX_EMPTY_PAGES = 3  # strict SFW can empty a page; look a little further before giving up


def _as_tuple(value) -> tuple:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(v for v in value if v)


class CivkitService(DownloadsMixin, LibraryMixin):
    """Search, details, downloads, library and trigger words for one host."""

    def __init__(self, config: Config, host, *, client=None, index=None, workers: int = 2):
        self._config = config
        self.host = host
        self._client = client
        self._index = index
        self._owns_index = index is None  # an index handed in is closed by whoever made it
        self._queue = None
        self._workers = max(1, int(workers))
        self._lock = threading.RLock()
        self._scan_lock = threading.Lock()
        self._subscribers: list[Callable[[str, dict], Any]] = []
        self._library_cache: Optional[tuple[float, dict]] = None  # (built_at, version_id -> [paths])
        self._updates: dict[str, dict] = {}  # path -> update info, from the last updates() call

    def __repr__(self) -> str:
        key = "set" if self._config.api_key else "not set"
        return f"CivkitService(host={getattr(self.host, 'name', '?')!r}, api_base={self._config.api_base!r}, api_key={key})"

    # ------------------------------------------------------------------ parts, built lazily
    @property
    def config(self) -> Config:
        return self._config

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                from .api import CivitaiClient

                self._client = CivitaiClient(self._config.api_base, self._config.api_key)
            return self._client

    @property
    def index(self):
        with self._lock:
            if self._index is None:
                from .library.index import LibraryIndex

                self._index = LibraryIndex(self._config.index_path)
            return self._index

    @property
    def queue(self):
        with self._lock:
            if self._queue is None:
                self._queue = self._make_queue(self._workers)
            return self._queue

    def close(self) -> None:
        """Stop the download workers (running downloads are cancelled) and close the index."""
        with self._lock:
            queue, self._queue = self._queue, None
            index, self._index = self._index, None
        if queue is not None:
            queue.shutdown(cancel=True, timeout=10)
        if index is not None and self._owns_index:
            index.close()

    # ------------------------------------------------------------------ settings and the key
    def settings(self) -> dict:
        cfg = self._config
        return {
            "api_base": cfg.api_base,
            "api_key_set": bool(cfg.api_key),
            "nsfw_previews": cfg.nsfw_previews,
            "write_sidecars": cfg.write_sidecars,
            "subfolder_template": cfg.subfolder_template,
            "host": getattr(self.host, "name", None),
            "layout": getattr(self.host, "layout", None),
            "folders": self.folders(),
        }

    def folders(self) -> dict:
        """Folder keys a UI may offer (``folder_key`` values) -> their folders."""
        return {key: [str(p) for p in paths] for key, paths in self.host.folder_keys().items() if paths}

    def update_settings(self, *, persist: bool = True, **values) -> dict:
        """Change settings at runtime (and, with ``persist``, in civkit's config file)."""
        unknown = sorted(set(values) - set(SETTINGS))
        if unknown:
            raise ServiceError(f"Unknown civkit setting(s): {', '.join(unknown)}. Known: {', '.join(SETTINGS)}.")
        clean: dict[str, Any] = {}
        for name, value in values.items():
            if name == "api_base":
                try:
                    clean[name] = normalise_api_base(str(value or "https://civitai.com"))
                except ValueError as exc:
                    raise ServiceError(str(exc)) from None
            elif name == "subfolder_template":
                clean[name] = str(value or "").strip()
            else:
                clean[name] = bool(value)
        if persist and clean:
            save_settings(self._config.home, **clean)
        with self._lock:
            base_changed = "api_base" in clean and clean["api_base"] != self._config.api_base
            self._config = self._config.with_changes(**clean)
            if base_changed:
                self._client = None
        return self.settings()

    def api_key_is_set(self) -> bool:
        return bool(self._config.api_key)

    def set_api_key(self, key: Optional[str]) -> None:
        """Store the key in civkit's owner-only config file (None or "" removes it) and use it."""
        key = key.strip() if isinstance(key, str) else None
        if key and any(c.isspace() for c in key):
            raise ServiceError("That does not look like a Civitai API key (it contains spaces).")
        save_api_key(self._config.home, key or None)
        with self._lock:
            self._config = self._config.with_changes(api_key=key or None)
            self._client = None  # the next request builds a client with the new key

    def check_api_key(self) -> dict:
        """Ask Civitai who the key belongs to: ``{"ok", "username", "message"}``, nothing else."""
        if not self._config.api_key:
            return {"ok": False, "username": None,
                    "message": "No API key is set: set CIVITAI_API_KEY or enter it in Settings → civkit."}
        try:
            me = self.client.me()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a plain message
            return {"ok": False, "username": None, "message": self.error_message(exc)}
        username = me.get("username") if isinstance(me, dict) else None
        if not username:
            return {"ok": False, "username": None, "message": "Civitai did not accept the API key."}
        return {"ok": True, "username": str(username), "message": None}

    def error_message(self, exc: BaseException) -> str:
        return error_message(exc, self._config.api_key)

    def error_status(self, exc: BaseException) -> int:
        return error_status(exc)

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[str, dict], Any]) -> Callable[[], None]:
        """Call ``callback(event, data)`` from worker threads; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            self.unsubscribe(callback)

        return unsubscribe

    def unsubscribe(self, callback) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def _emit(self, event: str, data: dict) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event, dict(data))
            except Exception:  # noqa: BLE001 - a broken subscriber must never break a download
                log.warning("a civkit %s subscriber failed", event, exc_info=True)

    # ------------------------------------------------------------------ search and details
    def search(self, query=None, *, types=(), base_models=(), sort=None, period=None, nsfw=False,
               cursor=None, limit=20) -> dict:
        """One page of models: ``{"items": [summary...], "next_cursor": str|None}``.

        With ``nsfw=False`` (strict SFW) items whose level has a bit above PG13 are dropped on this
        side too, because ``/models?nsfw=false`` still returns models that merely include PG content.
        """
        query = (query or "").strip() or None
        try:
            limit = max(1, min(100, int(limit or 20)))
        except (TypeError, ValueError):
            raise ServiceError("limit must be a number from 1 to 100.") from None
        owned = self._library_versions()
        items: list[dict] = []
        seen_cursors = {cursor} if cursor else set()
        for _ in range(_MAX_EMPTY_PAGES):
            page = self.client.search_models_page(
                query, types=_as_tuple(types), base_models=_as_tuple(base_models), sort=sort or None,
                period=period or None, nsfw=bool(nsfw), limit=limit, **self._cursor_args(cursor),
            )
            for model in page.items:
                if nsfw or is_sfw_level(model.nsfw_level):
                    items.append(model_summary(model, library_versions=owned, nsfw=bool(nsfw)))
            cursor = self._next_cursor(page)
            if items or not cursor or cursor in seen_cursors:
                break
            seen_cursors.add(cursor)
        if cursor in seen_cursors:
            cursor = None  # a repeated cursor is the end (CIVITAI_API.md §6)
        return {"items": items, "next_cursor": cursor}

    @staticmethod
    def _cursor_args(cursor) -> dict:
        if not cursor:
            return {}
        cursor = str(cursor)
        if cursor.startswith("page:") and cursor[5:].isdigit():
            return {"page": int(cursor[5:])}
        return {"cursor": cursor}

    @staticmethod
    def _next_cursor(page) -> Optional[str]:
        """Civitai's nextCursor, else the cursor (or page number) inside nextPage."""
        if page.next_cursor not in (None, ""):
            return str(page.next_cursor)
        if page.next_page:
            params = parse_qs(urlsplit(page.next_page).query)
            if params.get("cursor"):
                return params["cursor"][0]
            if params.get("page") and params["page"][0].isdigit():
                return f"page:{params['page'][0]}"
        return None

    def model_details(self, ref: str, *, nsfw: bool = True) -> dict:
        """Everything a details view shows, for any reference ``parse_ref`` accepts.

        ``nsfw=False`` leaves out images rated above PG13; otherwise every image comes with its
        ``nsfw`` flag and the UI decides about blurring.
        """
        model, selected = self._resolve_model(ref)
        local = self._library_versions()
        local_paths = {v.id: local[v.id][0] for v in model.versions if local.get(v.id)}
        return model_detail(model, local_paths=local_paths, nsfw=nsfw, selected_version_id=selected)

    def _parse_ref(self, ref):
        from .refs import parse_ref

        if ref is None or not str(ref).strip():
            raise ServiceError("Paste a Civitai model link, an AIR (urn:air:...), 123@456 or a model id.")
        # URLs of the configured site (the emulator, a mirror) are accepted besides civitai.com.
        return parse_ref(str(ref).strip(), extra_hosts=(urlsplit(self._config.api_base).netloc,))

    def _resolve_model(self, ref):
        """(Model, selected version id or None). A bare number is a model id first, then a version id."""
        from .api.errors import NotFound

        parsed = self._parse_ref(ref)
        client = self.client
        version = None
        if parsed.model_id is not None:
            try:
                model = client.get_model(parsed.model_id)
            except NotFound:
                if not parsed.bare:
                    raise
                version = self._bare_version(parsed.model_id)  # "12345" may be a version id
                model = None
        else:
            version = client.get_version(parsed.version_id)
            model = None
        if model is None:
            if version.model_id is None:
                raise ServiceError(f"Civitai did not say which model version {version.id} belongs to.",
                                   http_status=502)
            model = client.get_model(version.model_id)
        selected = version.id if version is not None else parsed.version_id
        if selected is not None and all(v.id != selected for v in model.versions):
            # An early-access or unlisted version is missing from the model's list: add it, so the
            # version the user named is the one the details show.
            version = version or client.get_version(selected)
            model = replace(model, versions=(version, *model.versions))
        return model, selected

    def _bare_version(self, number: int):
        """A bare number that is no model id, read as a version id (or one clear 404)."""
        from .api.errors import NotFound

        try:
            return self.client.get_version(number)
        except NotFound:
            raise ServiceError(f"Civitai has no model and no model version with id {number}.",
                               http_status=404) from None

    def _resolve_version(self, ref):
        """(ModelVersion, Ref) for a download: the version named, or the model's latest."""
        from .api.errors import NotFound

        parsed = self._parse_ref(ref)
        client = self.client
        if parsed.version_id is not None:
            return client.get_version(parsed.version_id), parsed
        try:
            model = client.get_model(parsed.model_id)
        except NotFound:
            if not parsed.bare:
                raise
            return self._bare_version(parsed.model_id), parsed
        if not model.versions:
            raise ServiceError(f"{model.name} has no published version with files to download.",
                               http_status=404)
        # The model route lists versions newest first; fetch the version itself for complete data.
        return client.get_version(model.versions[0].id), parsed

    # ------------------------------------------------------------------ library lookups
    def _library_versions(self) -> dict:
        """version id -> [paths] of files in the index, cached for a short while."""
        with self._lock:
            cached = self._library_cache
            if cached and time.monotonic() - cached[0] < _LIBRARY_CACHE_SECONDS:
                return cached[1]
        roots = self._root_forms()
        mapping: dict[int, list[str]] = {}
        if roots:
            for version_id, paths in self.index.version_paths(roots).items():
                present = [p for p in paths if os.path.exists(p)]
                if present:
                    mapping[version_id] = present
        with self._lock:
            self._library_cache = (time.monotonic(), mapping)
        return mapping

    def _forget_library_cache(self) -> None:
        with self._lock:
            self._library_cache = None
