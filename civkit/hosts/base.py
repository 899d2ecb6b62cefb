"""What civkit needs from the application it runs in (ComfyUI, A1111/Forge, or none).

A host adapter answers "where does a file of this type go", "which folders hold models" and
"a file arrived, refresh your lists". The core never imports a host module; adapters do, and only
inside their functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from .. import folders

log = logging.getLogger(__name__)


class HostAdapter:
    """Base adapter: a layout over one models folder. Subclasses override what their host knows better."""

    name: str = "standalone"
    layout: str = "comfyui"
    models_dir: Optional[Path] = None  # hosts that know their folders otherwise may leave it None
    subfolder_template: str = ""  # e.g. "{base_model}/{type}"; see folders.render_subfolder
    # Where the API key goes in this face, for "This model needs a Civitai API key: <key_hint>."
    # (None: the errors' own words, api.errors.KEY_HELP.)
    key_hint: Optional[str] = None

    def __init__(self, models_dir, layout: Optional[str] = None, *, subfolder_template: str = ""):
        self.models_dir = Path(models_dir).expanduser()
        self.layout = layout or self.layout
        if self.layout not in folders.LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; use one of: {', '.join(folders.LAYOUTS)}")
        self.subfolder_template = subfolder_template or ""

    # -- what the host provides; overridden by hosts that register extra folders
    def extras(self) -> dict:
        """Optional folder keys this host has (e.g. {"animatediff_models": Path}), see folders.folder_for."""
        return {}

    def folder_for(self, model_type, file_type=None) -> Path:
        """The folder a new file of ``model_type`` (and file ``file_type``) is downloaded to."""
        return folders.folder_for(model_type, self.layout, self.models_dir, file_type, extras=self.extras())

    def key_for(self, model_type, file_type=None) -> str:
        """The folder key ("loras", ..., "civkit_other") for a file of ``model_type``."""
        return folders.folder_key_for(model_type, self.layout, file_type, extras=self.extras().keys())

    def folder_for_key(self, key: str) -> Path:
        """The download target of a folder key: its first root. KeyError for unknown keys."""
        roots = self.folder_keys().get(key)
        if not roots:
            raise KeyError(key)
        return roots[0]

    def folder_keys(self) -> dict:
        """Folder key -> list of root folders holding that kind of model."""
        keys: dict = {}
        for mtype in folders.MODEL_TYPES:
            key = self.key_for(mtype)
            if key == folders.OTHER_KEY:
                continue
            path = self.folder_for(mtype)
            roots = keys.setdefault(key, [])
            if path not in roots:
                roots.append(path)
        keys[folders.OTHER_KEY] = [folders.key_path(folders.OTHER_KEY, self.layout, self.models_dir)]
        return keys

    def model_roots(self) -> list:
        """Every folder to scan for model files (no folder twice, no folder inside another listed one)."""
        roots: list = []
        for paths in self.folder_keys().values():
            for p in paths:
                if p not in roots:
                    roots.append(p)
        resolved = [p.resolve() for p in roots]
        return [p for p, r in zip(roots, resolved, strict=True) if not any(o != r and o in r.parents for o in resolved)]

    def target_folder(self, model_type, file_type=None, *, folder_key: Optional[str] = None,
                      **template_values) -> Path:
        """``folder_for`` (or the first root of ``folder_key``) plus the subfolder template, kept inside."""
        if folder_key:
            try:
                base = self.folder_for_key(folder_key)
            except KeyError:
                known = ", ".join(sorted(self.folder_keys()))
                raise ValueError(f"unknown model folder {folder_key!r}; known: {known}") from None
            if folder_key == folders.OTHER_KEY:
                base = base / folders.safe_component(folders.canonical_type(model_type), "Other")
        else:
            base = self.folder_for(model_type, file_type)
        if not self.subfolder_template:
            return base
        sub = folders.render_subfolder(self.subfolder_template, type=folders.canonical_type(model_type),
                                       **template_values)
        return folders.join_inside(base, sub)

    def note_for(self, model_type, file_type=None) -> Optional[str]:
        return folders.folder_note(model_type, self.layout, file_type)

    def after_download(self, path: Path) -> None:
        """Refresh the host's model lists; nothing to do without a host."""
        log.debug("downloaded %s", path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(models_dir={str(self.models_dir)!r}, layout={self.layout!r})"
