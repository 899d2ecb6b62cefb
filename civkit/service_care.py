"""The library-care part of ``CivkitService``: move, rename, delete to the trash, the offline card,
trigger-word groups and the preferred weight, links made by hand — for the host's model folders.

Files are named like everywhere else in the service (``Library.resolve_model_path``: a path inside
the roots, a path relative to a root or folder, or a file name from the index); destinations must
stay inside the roots too. After a file moves, the host's lists are refreshed (ComfyUI's
``folder_paths`` cache and a ``civkit.refresh`` event; the WebUI's extra-networks list).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from .service_errors import ServiceError

log = logging.getLogger(__name__)


def _refused(exc) -> ServiceError:
    status = getattr(exc, "status", 400)
    return ServiceError(getattr(exc, "message", None) or str(exc), http_status=status if status in (400, 403, 404) else 400)


class LibraryCare:
    """``index()``/``config()``/``client()`` return the service's current parts; ``library`` is its
    ``Library`` (roots and path resolution); ``versions`` its ``VersionResolver``."""

    def __init__(self, client: Callable, index: Callable, host, config: Callable, library, versions):
        self._client = client
        self._index = index
        self.host = host
        self._config = config
        self._library = library
        self._versions = versions
        self._lock = threading.Lock()  # one move at a time per service: plans are checked, then carried out

    # ------------------------------------------------------------------ helpers
    def _caretaker(self):
        from .library.care import CareRefused, Caretaker

        try:
            return Caretaker(self._index(), [str(r) for r in self.host.model_roots()], self._config().home)
        except CareRefused as exc:
            raise _refused(exc) from None

    def _path(self, path_or_name) -> str:
        return self._library.resolve_model_path(path_or_name)

    def _dest_folder(self, folder) -> str:
        """A destination folder: absolute inside the roots, or relative to the file's root folder."""
        text = str(folder or "").strip()
        if not text or "\x00" in text:
            raise ServiceError("Say which folder to move the file to.")
        return text

    def _refresh(self, *paths) -> None:
        self._library.forget_cache()
        invalidate = getattr(self.host, "invalidate", None)
        if invalidate is not None:
            try:
                invalidate(None)  # the old folder key's list is stale too
            except Exception:  # noqa: BLE001 - a refresh must not fail a finished move
                log.debug("could not invalidate the host's lists", exc_info=True)
        for path in paths:
            if path and os.path.exists(path):
                try:
                    self.host.after_download(path)
                except Exception:  # noqa: BLE001
                    log.warning("could not refresh the host's lists after %s", path, exc_info=True)

    def _carry(self, work) -> list:
        from .library.care import CareRefused

        with self._lock:
            try:
                results = work(self._caretaker())
            except CareRefused as exc:
                raise _refused(exc) from None
        self._refresh(*[r.path for r in results if r.status in ("moved", "renamed", "trashed")])
        return [r.to_json() for r in results]

    # ------------------------------------------------------------------ moving
    def bundle_info(self, path_or_name) -> dict:
        """What a delete or move takes along: ``{"path", "name", "sidecars": [names], "shared": [names]}``."""
        from .library.bundle import bundle_of

        path = self._path(path_or_name)
        bundle = bundle_of(path)
        return {"path": path, "name": os.path.basename(path), "sidecars": bundle.sidecar_names(),
                "shared": [p.name for p in bundle.shared]}

    def move_file(self, path_or_name, folder) -> dict:
        """Move a file and its sidecars into ``folder`` (absolute inside the roots, or relative to its folder)."""
        path = self._path(path_or_name)
        dest = self._dest_folder(folder)
        if not os.path.isabs(dest):
            dest = os.path.join(os.path.dirname(path), dest)
        return self._carry(lambda care: care.move([path], dest.rstrip(os.sep) + os.sep))[0]

    def rename_file(self, path_or_name, new_name) -> dict:
        path = self._path(path_or_name)
        return self._carry(lambda care: care.rename(path, str(new_name or "")))[0]

    def delete_file(self, path_or_name) -> dict:
        """Move the file and its sidecars to the trash; the result has ``trash_id``."""
        path = self._path(path_or_name)
        result = self._carry(lambda care: care.remove([path]))[0]
        if result["status"] != "trashed":
            raise ServiceError(result["message"], http_status=400)
        return result

    # ------------------------------------------------------------------ the trash
    def trash_items(self) -> list:
        from .library.trash import list_trash

        care = self._caretaker()
        return [i.to_json() for i in list_trash(care.roots, care.home)]

    def restore_trash(self, item_id) -> dict:
        from .library.trash import TrashError, find_items, restore_item

        care = self._caretaker()
        with self._lock:
            try:
                (item,) = find_items([str(item_id)], care.roots, care.home)
                path = restore_item(item, care.index)
            except TrashError as exc:
                raise ServiceError(exc.message, http_status=404 if "no trash item" in exc.message else 409) from None
        self._refresh(path)
        return {"path": path, "old_path": item.folder, "status": "restored", "id": item.id,
                "message": f"restored with {len(item.files) - 1} sidecar(s)"}

    def empty_trash(self, ids=None, older_than_days=None) -> list:
        from .library.trash import TrashError, empty_trash

        care = self._caretaker()
        try:
            return [i.to_json() for i in empty_trash(care.roots, care.home, ids=list(ids) if ids else None,
                                                      older_than_days=older_than_days)]
        except TrashError as exc:
            raise ServiceError(exc.message, http_status=404) from None

    # ------------------------------------------------------------------ card, triggers, links
    def model_card(self, path_or_name) -> dict:
        """The offline card of a library file (index, sidecars, image cache; no network)."""
        from .library.card import model_card
        from .library.prefs import PrefsError, indexed_entry

        path = self._path(path_or_name)
        try:
            entry = indexed_entry(self._index(), path)
        except PrefsError as exc:
            raise _refused(exc) from None
        config = self._config()
        return model_card(entry, config.home, site=config.api_base)

    def set_triggers(self, path_or_name, *, groups=None, all_groups: bool = False, weight=None,
                     clear_weight: bool = False) -> dict:
        """Choose trigger-word groups (1-based numbers) and/or the preferred weight; the new card."""
        from .library.prefs import PrefsError, set_prefs

        path = self._path(path_or_name)
        try:
            _entry, result = set_prefs(self._index(), path, groups=groups, all_groups=all_groups, weight=weight,
                                       clear_weight=clear_weight, write_json=self._config().write_sidecars)
        except PrefsError as exc:
            raise _refused(exc) from None
        card = self.model_card(path)
        card["json_status"] = result.status if result is not None else None
        card["json_message"] = result.message if result is not None else None
        return card

    def preferred_weight(self, path_or_name):
        """The file's preferred LoRA weight, or None (also when the file is not in the index)."""
        entry = self._index().get(self._path(path_or_name))
        return entry.preferred_weight if entry is not None else None

    def link_file(self, path_or_name, ref) -> dict:
        from .library.prefs import link_by_hand

        path = self._path(path_or_name)
        version, _ = self._versions.version(ref)
        entry, results = link_by_hand(self._index(), path, version, forge=getattr(self.host, "layout", "") == "forge",
                                      write_sidecars=self._config().write_sidecars)
        self._refresh(path)
        return {"path": path, "old_path": path, "status": "linked",
                "message": f"linked by hand to {entry.model_name} — {entry.version_name}",
                "warnings": [r.message for r in results if r.status in ("error", "conflict")]}

    def clear_link(self, path_or_name) -> dict:
        from .library.prefs import PrefsError, clear_link

        path = self._path(path_or_name)
        try:
            clear_link(self._index(), path)
        except PrefsError as exc:
            raise _refused(exc) from None
        return {"path": path, "old_path": path, "status": "unlinked", "message": "link forgotten"}
