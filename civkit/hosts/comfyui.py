"""ComfyUI as a host: model folders come from ``folder_paths`` (HOSTS.md §1.6).

Every folder key ComfyUI knows (including the roots added by ``extra_model_paths.yaml`` and by
other packs) is a place civkit may write to; the first root of a key is its download target, so
an ``is_default: true`` section in ``extra_model_paths.yaml`` wins, as it does for ComfyUI itself.
Types no ComfyUI loader reads go to ``civkit_other``, which this adapter registers with
``add_model_folder_path`` so it shows up like any other key.

``folder_paths`` and ``server`` are imported inside functions only: the core must import without
ComfyUI (ARCHITECTURE.md "Which way the arrows run").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from ..folders import OTHER_KEY, canonical_type, folder_key_for, safe_component
from .base import HostAdapter

log = logging.getLogger(__name__)

# Keys that hold no models (``custom_nodes`` is the node packs themselves).
_NOT_MODEL_KEYS = frozenset({"custom_nodes"})

REFRESH_EVENT = "civkit.refresh"


def _default_send(event: str, data: dict) -> None:
    """Broadcast through ComfyUI's PromptServer (thread-safe: it uses call_soon_threadsafe)."""
    try:
        from server import PromptServer
    except ImportError:
        return
    instance = getattr(PromptServer, "instance", None)
    if instance is not None:
        instance.send_sync(event, data)


class ComfyUIHost(HostAdapter):
    name = "comfyui"
    layout = "comfyui"
    key_hint = "open the civkit sidebar in ComfyUI, go to its Settings tab and paste it into “Civitai API key”"

    def __init__(self, folder_paths_module=None, send_event: Optional[Callable[[str, dict], None]] = None):
        if folder_paths_module is None:
            import folder_paths as folder_paths_module
        self._fp = folder_paths_module
        self._send = send_event or _default_send
        super().__init__(self._fp.models_dir, "comfyui")
        other = os.path.join(self._fp.models_dir, OTHER_KEY)
        if OTHER_KEY not in self._fp.folder_names_and_paths:
            self._fp.add_model_folder_path(OTHER_KEY, other)

    # ------------------------------------------------------------------ folders

    def folder_keys(self) -> dict[str, list[Path]]:
        keys = {}
        for key in list(self._fp.folder_names_and_paths):
            if key in _NOT_MODEL_KEYS:
                continue
            keys[key] = [Path(p) for p in self._fp.get_folder_paths(key)]
        return keys

    def extras(self) -> dict:
        """Every key ComfyUI (or another pack) registered, with its download target."""
        return {key: roots[0] for key, roots in self.folder_keys().items() if roots}

    def key_for(self, model_type: Optional[str], file_type: Optional[str] = None) -> str:
        present = set(self._fp.folder_names_and_paths) - _NOT_MODEL_KEYS
        key = folder_key_for(model_type, self.layout, file_type, extras=present)
        return key if key in present else OTHER_KEY

    def folder_for_key(self, key: str) -> Path:
        """The download target of a folder key: its first root. KeyError for unknown keys."""
        if key in _NOT_MODEL_KEYS or key not in self._fp.folder_names_and_paths:
            raise KeyError(key)
        return Path(self._fp.get_folder_paths(key)[0])

    def folder_for(self, model_type: Optional[str], file_type: Optional[str] = None) -> Path:
        key = self.key_for(model_type, file_type)
        root = self.folder_for_key(key)
        if key == OTHER_KEY:
            return root / safe_component(canonical_type(model_type), "Other")
        return root

    def locate(self, path) -> Optional[tuple[str, str]]:
        """(folder key, name as ComfyUI lists it) for a file inside a known root, else None.

        The first key whose roots contain the file wins, in ``folder_names_and_paths`` order.
        Roots are compared as given and resolved, because model folders are often symlinks to
        another disk and the index keeps real paths.
        """
        targets = {os.path.abspath(path), os.path.realpath(path)}
        for key, roots in self.folder_keys().items():
            for root in roots:
                for base in {os.path.abspath(root), os.path.realpath(root)}:
                    for target in targets:
                        if os.path.normcase(target).startswith(os.path.normcase(base) + os.sep):
                            return key, os.path.relpath(target, base)
        return None

    def resolve_name(self, key: str, name: str) -> Optional[Path]:
        """A ``(key, relative name)`` pair to an existing file, only inside that key's roots."""
        if key in _NOT_MODEL_KEYS or key not in self._fp.folder_names_and_paths or not name:
            return None
        full = self._fp.get_full_path(key, name)
        return Path(full) if full else None

    def filenames(self, key: str) -> list[str]:
        try:
            return self._fp.get_filename_list(key)
        except KeyError:
            return []

    # ------------------------------------------------------------------ after a download

    def invalidate(self, key: Optional[str] = None) -> None:
        """Drop ComfyUI's cached file lists so the next ``get_filename_list`` rescans.

        The cache is keyed on folder mtimes, and a rename within the same mtime tick would not be
        noticed; dropping the entry makes the new file show up for certain.
        """
        cache = self._fp.filename_list_cache
        if key is None:
            cache.clear()
        else:
            cache.pop(key, None)

    def after_download(self, path) -> None:
        located = self.locate(path)
        self.invalidate(located[0] if located else None)
        data = {"folder_key": located[0], "name": located[1]} if located else {}
        try:
            self._send(REFRESH_EVENT, data)
        except Exception as exc:  # a closed socket must not fail a finished download
            log.warning("could not tell the ComfyUI frontend to refresh: %s", exc)
