"""The one facade every UI calls: ComfyUI routes and nodes, the gradio tab, the CLI where it fits.

Everything that goes out is a JSON-safe dict or list (see ``summaries``), so gradio, aiohttp and
FastAPI can send it as it is. Everything that goes wrong comes out as an exception with a
``.message`` for people; ``error_message(exc)`` gives the words every UI shows, and
``error_status(exc)`` the HTTP status a route should answer with.

Threads: ``search``/``model_details``/``scan_library``/``updates`` do their work in the calling
thread (UIs call them from workers, never from an event loop). Downloads run in the download
queue's worker threads; progress reaches subscribers as ``("civkit.download", snapshot)`` events,
library scans as ``("civkit.scan", {...})``.

Shape: the facade builds its parts, each a class with an explicit constructor, and forwards their
public methods, so every UI calls ``service.<method>``: ``Library`` (``service_library.py``: scan,
listing, updates, duplicates, trigger words), ``Downloads`` (``service_downloads.py``: the queue,
with ``Placement``, ``AfterDownload`` and ``Companions``), ``VersionResolver`` (``versions.py``)
the ``EventBus`` (``events.py``) and ``Resources`` (``resources/part.py``: what a workflow or
image needs, resolved, and its missing files queued). The parts get the client, index and config as functions,
because a new API key or API base replaces the client while the parts live on.

Safety: target folders come only from the host (``host.folder_for`` or a key of
``host.folder_keys()``), never from a caller's path; files are read only inside
``host.model_roots()``; the API key lives only in ``config`` and civkit's owner-only config file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import parse_qs, urlsplit

from .config import Config, check_connections, normalise_api_base, save_api_key, save_settings
from .events import EVENT_BATCH, EventBus
from .service_downloads import EVENT_DOWNLOAD, Downloads
from .service_errors import ServiceError, error_message, error_status
from .service_library import EVENT_SCAN, Library
from .versions import VersionResolver

if TYPE_CHECKING:
    from .resources.part import Resources
    from .service_batches import Batches
    from .service_care import LibraryCare

log = logging.getLogger(__name__)

__all__ = ["CivkitService", "ServiceError", "error_message", "error_status", "EVENT_DOWNLOAD", "EVENT_SCAN",
           "EVENT_BATCH"]

SETTINGS = ("api_base", "nsfw_previews", "write_sidecars", "subfolder_template", "connections")
_MAX_EMPTY_PAGES = 3  # strict SFW can empty a page; look a little further before giving up


def _as_tuple(value) -> tuple:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(v for v in value if v)


class CivkitService:
    """Search, details, downloads, library and trigger words for one host."""

    def __init__(self, config: Config, host, *, client=None, index=None, workers: int = 2):
        self._config = config
        self.host = host
        self._client = client
        self._index = index
        self._owns_index = index is None  # an index handed in is closed by whoever made it
        self._lock = threading.RLock()
        # The parts (private: every UI calls the facade's methods below, which forward to them).
        self._events = EventBus()
        self._versions = VersionResolver(self._current_client, self._current_config)
        self._library = Library(self._current_client, self._current_index, host, self._current_config,
                                self._events)
        self._downloads = Downloads(self._current_client, self._current_index, host, self._current_config,
                                    self._events, self._versions, self._library, workers=workers)
        # Library care, resources and batches are built on first use: a `civkit download` or a host
        # that never asks for them does not import their modules (issue 14: start-up time).
        self._built: dict = {}

    @property
    def _care(self) -> LibraryCare:
        return self._part("care")

    @property
    def _resources(self) -> Resources:
        return self._part("resources")

    @property
    def _batches(self) -> Batches:
        return self._part("batches")

    def _part(self, name: str):
        with self._lock:
            part = self._built.get(name)
            if part is None:
                part = self._built[name] = self._build_part(name)
            return part

    def _build_part(self, name: str):
        if name == "care":
            from .service_care import LibraryCare

            return LibraryCare(self._current_client, self._current_index, self.host, self._current_config,
                               self._library, self._versions)
        if name == "resources":
            from .resources.part import Resources

            return Resources(self.host, self._current_client, self._current_index, self._downloads,
                             get_config=self._current_config)
        from .service_batches import Batches

        return Batches(self._current_client, self._current_index, self._current_config, self._events,
                       self._downloads, self._library, self._versions)

    def __repr__(self) -> str:
        key = "set" if self._config.api_key else "not set"
        return f"CivkitService(host={getattr(self.host, 'name', '?')!r}, api_base={self._config.api_base!r}, api_key={key})"

    # ------------------------------------------------------------------ shared parts, built lazily
    @property
    def config(self) -> Config:
        return self._config

    @property
    def client(self):
        return self._current_client()

    @property
    def index(self):
        return self._current_index()

    def _current_config(self) -> Config:
        return self._config

    def _current_client(self):
        with self._lock:
            if self._client is None:
                from .api import CivitaiClient

                self._client = CivitaiClient(self._config.api_base, self._config.api_key)
            return self._client

    def _current_index(self):
        with self._lock:
            if self._index is None:
                from .library.index import LibraryIndex

                self._index = LibraryIndex(self._config.index_path)
            return self._index

    def close(self) -> None:
        """Stop the download workers (running downloads are cancelled) and close the index."""
        with self._lock:
            batches = self._built.get("batches")
        if batches is not None:
            batches.close()
        self._downloads.close()
        with self._lock:
            index, self._index = self._index, None
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
            "connections": cfg.connections,
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
            elif name == "connections":
                try:
                    clean[name] = check_connections(value)
                except ValueError as exc:
                    raise ServiceError(str(exc)) from None
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
            from .api.errors import KEY_HELP

            where = getattr(self.host, "key_hint", None) or KEY_HELP
            return {"ok": False, "username": None, "message": f"No API key is set: {where}."}
        try:
            me = self.client.me()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a plain message
            return {"ok": False, "username": None, "message": self.error_message(exc)}
        username = me.get("username") if isinstance(me, dict) else None
        if not username:
            return {"ok": False, "username": None, "message": "Civitai did not accept the API key."}
        return {"ok": True, "username": str(username), "message": None}

    def error_message(self, exc: BaseException) -> str:
        """The words for ``exc``; a missing or rejected key says where the key goes in this host's UI."""
        return error_message(exc, self._config.api_key, getattr(self.host, "key_hint", None))

    def error_status(self, exc: BaseException) -> int:
        return error_status(exc)

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[str, dict], Any]) -> Callable[[], None]:
        """Call ``callback(event, data)`` from worker threads; returns a function that unsubscribes."""
        return self._events.subscribe(callback)

    def unsubscribe(self, callback) -> None:
        self._events.unsubscribe(callback)

    # ------------------------------------------------------------------ search and details
    def search(self, query=None, *, types=(), base_models=(), sort=None, period=None, nsfw=False,
               cursor=None, limit=20) -> dict:
        """One page of models: ``{"items": [summary...], "next_cursor": str|None, "hidden": int}``.

        With ``nsfw=False`` (strict SFW) items whose level has a bit above PG13 are dropped on this
        side too, because ``/models?nsfw=false`` still returns models that merely include PG content;
        ``hidden`` counts them, so a UI can say how many and how to show them.
        """
        query = (query or "").strip() or None
        try:
            limit = max(1, min(100, int(limit or 20)))
        except (TypeError, ValueError):
            raise ServiceError("limit must be a number from 1 to 100.") from None
        from .summaries import is_sfw_level, model_summary

        owned = self._library.versions_on_disk()
        items: list[dict] = []
        hidden = 0
        seen_cursors = {cursor} if cursor else set()
        for _ in range(_MAX_EMPTY_PAGES):
            page = self.client.search_models_page(
                query, types=_as_tuple(types), base_models=_as_tuple(base_models), sort=sort or None,
                period=period or None, nsfw=bool(nsfw), limit=limit, **self._cursor_args(cursor),
            )
            for model in page.items:
                if nsfw or is_sfw_level(model.nsfw_level):
                    items.append(model_summary(model, library_versions=owned, nsfw=bool(nsfw)))
                else:
                    hidden += 1
            cursor = self._next_cursor(page)
            if items or not cursor or cursor in seen_cursors:
                break
            seen_cursors.add(cursor)
        if cursor in seen_cursors:
            cursor = None  # a repeated cursor is the end (CIVITAI_API.md §6)
        return {"items": items, "next_cursor": cursor, "hidden": hidden}

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
        from .summaries import model_detail

        model, selected = self._versions.model(ref)
        local = self._library.versions_on_disk()
        local_paths = {v.id: local[v.id][0] for v in model.versions if local.get(v.id)}
        return model_detail(model, local_paths=local_paths, nsfw=nsfw, selected_version_id=selected)

    # ------------------------------------------------------------------ forwarded to the parts
    # Downloads (service_downloads.py): the queue, where files go, what follows a download.
    def start_download(self, ref: str, *, file_id=None, folder_key: Optional[str] = None, with_vae=False,
                       with_config=False, beside: Optional[str] = None, **choices) -> str:
        return self._downloads.start_download(ref, file_id=file_id, folder_key=folder_key, with_vae=with_vae,
                                              with_config=with_config, beside=beside, **choices)

    def downloads(self) -> list:
        return self._downloads.downloads()

    def download(self, task_id) -> dict:
        return self._downloads.download(task_id)

    def cancel_download(self, task_id) -> bool:
        return self._downloads.cancel_download(task_id)

    def retry_download(self, task_id) -> bool:
        return self._downloads.retry_download(task_id)

    def download_failure(self, task_id):
        return self._downloads.failure(task_id)

    def clear_download(self, task_id) -> bool:
        return self._downloads.clear_download(task_id)

    def wait_download(self, task_id, timeout: Optional[float] = None) -> dict:
        return self._downloads.wait_download(task_id, timeout)

    def fetch(self, ref: str, *, folder_key: Optional[str] = None, timeout: Optional[float] = None,
              **choices) -> dict:
        return self._downloads.fetch(ref, folder_key=folder_key, timeout=timeout, **choices)

    # Library (service_library.py): files under the host's model roots.
    def root_forms(self) -> list:
        return self._library.root_forms()

    def scan_library(self, *, lookup: bool = True, refresh: bool = False, progress=None) -> dict:
        return self._library.scan_library(lookup=lookup, refresh=refresh, progress=progress)

    def library(self, query: Optional[str] = None, status: Optional[str] = None, offset: int = 0,
                limit: Optional[int] = None) -> list:
        return self._library.library(query, status, offset, limit)

    def library_page(self, query: Optional[str] = None, status: Optional[str] = None, offset: int = 0,
                     limit: Optional[int] = 200) -> dict:
        return self._library.library_page(query, status, offset, limit)

    def library_counts(self) -> dict:
        return self._library.library_counts()

    def duplicates(self) -> list:
        return self._library.duplicates()

    def updates(self) -> list:
        return self._library.updates()

    def trigger_words(self, path_or_name: str) -> list:
        return self._library.trigger_words(path_or_name)

    def resolve_model_path(self, path_or_name: str) -> str:
        return self._library.resolve_model_path(path_or_name)

    # LibraryCare (service_care.py): move, rename, trash, card, trigger groups, links by hand.
    def bundle_info(self, path_or_name) -> dict:
        return self._care.bundle_info(path_or_name)

    def move_file(self, path_or_name, folder) -> dict:
        return self._care.move_file(path_or_name, folder)

    def rename_file(self, path_or_name, new_name) -> dict:
        return self._care.rename_file(path_or_name, new_name)

    def delete_file(self, path_or_name) -> dict:
        return self._care.delete_file(path_or_name)

    def trash_items(self) -> list:
        return self._care.trash_items()

    def restore_trash(self, item_id) -> dict:
        return self._care.restore_trash(item_id)

    def empty_trash(self, ids=None, older_than_days=None) -> list:
        return self._care.empty_trash(ids, older_than_days)

    def model_card(self, path_or_name) -> dict:
        return self._care.model_card(path_or_name)

    def set_triggers(self, path_or_name, **choices) -> dict:
        return self._care.set_triggers(path_or_name, **choices)

    def preferred_weight(self, path_or_name):
        return self._care.preferred_weight(path_or_name)

    def link_file(self, path_or_name, ref) -> dict:
        return self._care.link_file(path_or_name, ref)

    def clear_link(self, path_or_name) -> dict:
        return self._care.clear_link(path_or_name)

    # Resources (resources/part.py): what a workflow, image, image link or parameters block needs.
    @property
    def resources_part(self) -> Resources:
        """The part itself, for faces that hold resolutions between steps (the CLI)."""
        return self._resources

    def resources(self, *, workflow=None, prompt=None, url: Optional[str] = None, text: Optional[str] = None,
                  data: Optional[bytes] = None, label: Optional[str] = None, accept_guesses: bool = False) -> dict:
        """Read one source and resolve its needs: ``{source, kind, needs: [...], summary, infotext, notes}``.
        Exactly one of workflow/prompt (a ComfyUI graph), url (a Civitai image link), text (a parameters
        block or workflow JSON) or data (image bytes). Network and disk work: call from a worker."""
        source = {k: v for k, v in (("workflow", workflow), ("prompt", prompt), ("url", url), ("text", text),
                                    ("data", data)) if v is not None}
        if label:
            source["label"] = label
        return self._resources.analyse(accept_guesses=accept_guesses, **source)

    def download_resources(self, items) -> list:
        """Queue the files of resolved needs (rows of ``resources()``: version_id, file_id, folder_key)."""
        return self._resources.start_items(items)

    # Batches (service_batches.py): many files at once, a plan first.
    def plan_batch(self, kind: str, **options) -> dict:
        return self._batches.plan_batch(kind, **options)

    def start_batch(self, plan_id: str, *, only=None, replace: bool = False) -> dict:
        return self._batches.start_batch(plan_id, only=only, replace=replace)

    def batch_runner(self, plan_id: str, **options):
        return self._batches.batch_runner(plan_id, **options)

    def batch(self, batch_id: str) -> dict:
        return self._batches.batch(batch_id)

    def batches(self) -> list:
        return self._batches.batches()

    def cancel_batch(self, batch_id: str) -> bool:
        return self._batches.cancel_batch(batch_id)
