"""Where a downloaded file goes: the host's folder for its type or a folder key, the subfolder
template, and a WebUI checkpoint's config yaml beside its checkpoint (HOSTS.md §3).

Target folders come only from the host (``host.folder_for`` or a key of ``host.folder_keys()``),
never from a caller's path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from .service_errors import ServiceError

log = logging.getLogger(__name__)

MODEL_FILE_TYPES = ("Model", "Pruned Model")
WEBUI_LAYOUTS = ("a1111", "forge")


def version_files_on_disk(index, version, types) -> list:
    """Files of ``version`` whose ``files[].type`` is in ``types`` that ``index`` knows on disk.

    ``index``: the LibraryIndex, or a function that opens it (called only if a file could match)."""
    found: list = []
    for f in version.files or ():
        if f.type not in types or not f.sha256:
            continue
        try:
            index = index() if callable(index) else index
            entries = index.by_sha256(f.sha256)
        except Exception as exc:  # the index is a cache: never let it break a download
            log.warning("library index lookup failed: %s", exc)
            return found
        for entry in entries:
            path = Path(entry.path)
            if path not in found and path.is_file():
                found.append(path)
    return found


class Placement:
    """``host`` gives the folders; ``config()`` the current subfolder template; ``index()`` the
    library, to find a checkpoint already on disk for its config."""

    def __init__(self, host, config: Callable, index: Callable):
        self.host = host
        self._config = config
        self._index = index

    def is_webui(self) -> bool:
        return getattr(self.host, "layout", "") in WEBUI_LAYOUTS

    def folder_for_key(self, folder_key: str) -> Path:
        """The first folder of a key the host offers, or a ServiceError that lists the keys."""
        keys = self.host.folder_keys()
        paths = keys.get(str(folder_key)) if isinstance(folder_key, str) else None
        if not paths:
            offered = ", ".join(sorted(k for k, v in keys.items() if v)) or "none"
            raise ServiceError(f"{folder_key!r} is not a model folder of this {self.host.name} install. "
                               f"Choose one of: {offered}.")
        return Path(paths[0])

    def target_folder(self, request, version, file, *, folder_key="request") -> Path:
        """The folder key's first root (the request's unless given), else the host's folder for
        the type; plus the subfolder template (civkit's setting, else the host's), kept inside."""
        from .folders import OTHER_KEY, canonical_type, join_inside, render_subfolder, safe_component

        mtype = canonical_type(version.model_type)
        if folder_key == "request" and getattr(request, "folder", None) is not None:
            return Path(request.folder)  # beside a library file: its folder, as it is
        folder_key = request.folder_key if folder_key == "request" else folder_key
        if folder_key:
            base = self.folder_for_key(folder_key)
            if folder_key == OTHER_KEY:
                base = base / safe_component(mtype, "Other")
        else:
            base = Path(self.host.folder_for(version.model_type, file.type))
        template = self._config().subfolder_template or getattr(self.host, "subfolder_template", "")
        if not template:
            return base
        raw_creator = version.raw.get("creator") if isinstance(version.raw, dict) else None
        creator = raw_creator.get("username") if isinstance(raw_creator, dict) else None
        sub = render_subfolder(template, base_model=version.base_model, type=mtype,
                               model_name=version.model_name, version_name=version.name, creator=creator)
        return join_inside(base, sub)

    def place(self, request, version, file, main_path: Optional[Path] = None):
        """``(folder, name or None)`` for ``file``; name None keeps Civitai's name.

        A Config on the WebUI layouts is named after its checkpoint and saved beside it: the one
        just downloaded, else one of this version already in the library. A VAE companion ignores
        the request's folder key (that names the checkpoint's folder)."""
        if file.type == "Config" and self.is_webui() and not request.folder_key:
            checkpoint = main_path or next(iter(version_files_on_disk(self._index, version, MODEL_FILE_TYPES)),
                                           None)
            if checkpoint is not None:
                suffix = Path(file.name or "").suffix.lower() or ".yaml"
                return Path(checkpoint).parent, Path(checkpoint).stem + suffix
        if main_path is not None:  # a companion: the host's folder for its file type
            return self.target_folder(request, version, file, folder_key=None), None
        return self.target_folder(request, version, file), None
