"""Is a need already on disk? The library index by hash or version, else a file of that name in
the host's folder for its kind (``present`` but unverified when no hash confirms it).

Only the host's own roots are ever looked in: a referenced name becomes a path only through
``needs.safe_parts`` joined under a root and checked to stay there after resolving links.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from ..paths import under_any
from .needs import MODEL_EXTENSIONS, Need, safe_parts, stem

log = logging.getLogger(__name__)
MAX_WALK = 200_000  # files per folder key: a huge folder is listed in part, never walked forever


class LocalFiles:
    """Answers "where is it on disk" for one host and index; cheap to build, caches its listings."""

    def __init__(self, host, index=None):
        self.host = host
        self.index = index
        self._keys = None
        self._listing: dict = {}

    def keys(self) -> dict:
        if self._keys is None:
            self._keys = {k: [Path(p) for p in v] for k, v in self.host.folder_keys().items() if v}
        return self._keys

    def roots(self, key: Optional[str] = None) -> list:
        if key:
            return list(self.keys().get(key) or ())
        out = []
        for paths in self.keys().values():
            out.extend(p for p in paths if p not in out)
        return out

    def inside_roots(self, path) -> bool:
        return under_any(os.path.realpath(str(path)), [os.path.realpath(str(root)) for root in self.roots()])

    # ----------------------------------------------------------------- by name
    def _list(self, key: Optional[str]) -> dict:
        """casefolded stem -> [paths] for every model file under the key's roots (all roots for None)."""
        cache_key = key or "*"
        if cache_key not in self._listing:
            found: dict = {}
            count = 0
            for root in self.roots(key):
                for folder, dirs, files in os.walk(root):
                    dirs[:] = [d for d in dirs if not d.startswith(".")]
                    for name in files:
                        if name.lower().endswith(MODEL_EXTENSIONS) and not name.startswith("."):
                            found.setdefault(stem(name), []).append(Path(folder) / name)
                            count += 1
                    if count >= MAX_WALK:
                        log.warning("stopped listing %s after %d files", root, count)
                        break
            self._listing[cache_key] = found
        return self._listing[cache_key]

    def by_name(self, need: Need) -> Optional[Path]:
        """A file the need's name points to inside its folder (or any model folder for unknown kinds)."""
        parts = safe_parts(need.name)
        if not parts:
            return None
        key = need.folder_key if need.folder_key in self.keys() else None
        for root in self.roots(key):
            candidate = Path(root).joinpath(*parts)
            if candidate.is_file() and self.inside_roots(candidate):
                return candidate
        # A1111 names files without extension (Model: x, <lora:x:1>), maybe from a subfolder
        wanted = stem(parts[-1])
        suffixes = [p.lower() for p in parts[:-1]]
        for path in self._list(key).get(wanted, ()):
            if suffixes and [p.lower() for p in path.parent.parts[-len(suffixes):]] != suffixes:
                continue
            if self.inside_roots(path):
                return path
        return None

    def names(self, key: str) -> list:
        """File names (as written in prompts: the stems) of every model file under a folder key."""
        return sorted({paths[0].stem for paths in self._list(key).values()})

    # ----------------------------------------------------------------- by hash / version
    def _alive(self, entries) -> Optional[object]:
        for entry in entries:
            path = Path(entry.path)
            if path.is_file() and self.inside_roots(path):
                try:
                    if entry.matches_stat(path.stat()):
                        return entry
                except OSError:
                    continue
        return None

    def by_hash(self, value: str):
        """An index entry (valid for the file on disk, inside the roots) with this hash."""
        if self.index is None or not value:
            return None
        try:
            return self._alive(self.index.by_hash(value))
        except Exception as exc:  # an unreadable index must not stop a lookup
            log.warning("index lookup failed: %s", exc)
            return None

    def by_sha256(self, sha256: Optional[str]):
        return self.by_hash(sha256) if sha256 and len(sha256) == 64 else None

    def by_version(self, version_id: Optional[int]):
        if self.index is None or not version_id:
            return None
        try:
            paths = self.index.version_paths().get(int(version_id)) or []
            entries = self.index.entries_for(paths)
        except Exception as exc:
            log.warning("index lookup failed: %s", exc)
            return None
        return self._alive(entries)

    def entry_for(self, path: Path):
        if self.index is None:
            return None
        try:
            entry = self.index.get(str(path))
            return entry if entry is not None and entry.matches_stat(path.stat()) else None
        except Exception:
            return None
