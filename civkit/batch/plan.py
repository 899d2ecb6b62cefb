"""A batch's plan: one row per file, with what will happen to it, before anything is fetched.

Every batch (updates, all files / all versions, favorites, a creator's models) first becomes a
``Plan``: for each file the model, version, file, target path, size and an action —

* ``download``: it will be fetched (a ``.part`` left by an interrupted run is resumed);
* ``have``: its SHA256 is already in the library index, anywhere (``existing`` names the file);
* ``conflict``: a different file already has the target name (nothing is overwritten);
* ``blocked``: early access, archived, downloads disabled, a pickle without ``allow_unsafe``,
  a scan that says Danger — the message says which.

``Planner`` decides a row from records already fetched (no API request of its own); what to plan
comes from ``sources.py``. Totals: files, bytes to fetch and the free space left after, per disk.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..download.choice import check_safety
from ..download.errors import DownloadError
from ..download.names import UnsafeFilename, safe_filename
from ..sizes import human_size

log = logging.getLogger(__name__)

ACTIONS = ("download", "have", "conflict", "blocked")
JSON_KEYS = ("model_id", "version_id", "file_id", "model_name", "version_name", "name", "path", "size",
             "action", "message", "sha256", "existing", "replaces", "file_type")


@dataclass
class PlanRow:
    model_id: Optional[int]
    version_id: Optional[int]
    file_id: Optional[int]
    model_name: Optional[str]
    version_name: Optional[str]
    name: Optional[str]
    path: Optional[str]              # the target file (None when blocked before a folder was known)
    size: int
    action: str
    message: str = ""
    sha256: Optional[str] = None
    existing: Optional[str] = None   # for "have": the library's copy
    replaces: list = field(default_factory=list)  # for updates: the older copies this one supersedes
    file_type: Optional[str] = None
    beside: Optional[str] = None     # download into this library file's folder (updates)

    @property
    def ref(self) -> str:
        return f"{self.model_id}@{self.version_id}" if self.model_id else str(self.version_id)

    def to_json(self) -> dict:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in
                ((k, getattr(self, k)) for k in JSON_KEYS)}


@dataclass
class Plan:
    rows: list
    kind: str = "download"
    notes: list = field(default_factory=list)   # things worth saying that are no row (a model with no files)
    disk_usage: Callable = field(default=shutil.disk_usage, repr=False)

    def of(self, action: str) -> list:
        return [r for r in self.rows if r.action == action]

    def totals(self) -> dict:
        """files, per-action counts, bytes to fetch (minus what ``.part`` files hold) and free space after."""
        counts = {a: 0 for a in ACTIONS}
        for r in self.rows:
            counts[r.action] = counts.get(r.action, 0) + 1
        downloads = self.of("download")
        need = sum(max(0, r.size - _part_size(r.path)) for r in downloads)
        free_after, space_ok = _free_after(downloads, self.disk_usage)
        return {"files": len(self.rows), **counts, "download_bytes": sum(r.size for r in downloads),
                "fetch_bytes": need, "have_bytes": sum(r.size for r in self.of("have")),
                "free_after": free_after, "space_ok": space_ok}

    def to_json(self) -> dict:
        return {"kind": self.kind, "rows": [r.to_json() for r in self.rows], "totals": self.totals(),
                "notes": list(self.notes)}


def _part_size(path: Optional[str]) -> int:
    if not path:
        return 0
    try:
        return os.stat(path + ".part").st_size
    except OSError:
        return 0


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


def _free_after(rows, disk_usage) -> tuple:
    """(smallest free space left on any target disk after the downloads, whether every disk has room)."""
    by_device: dict = {}
    for r in rows:
        if not r.path:
            continue
        anchor = _existing_ancestor(Path(r.path).parent)
        try:
            dev = anchor.stat().st_dev
        except OSError:
            continue
        entry = by_device.setdefault(dev, [anchor, 0])
        entry[1] += max(0, r.size - _part_size(r.path))
    worst = None
    for anchor, need in by_device.values():
        try:
            left = disk_usage(str(anchor)).free - need
        except OSError as exc:
            log.debug("no disk usage for %s: %s", anchor, exc)
            continue
        worst = left if worst is None else min(worst, left)
    if worst is None:
        try:
            worst = disk_usage(os.getcwd()).free
        except OSError:
            worst = None
    return worst, worst is None or worst >= 0


def blocked_reason(version, file=None, *, allow_unsafe: bool = False) -> Optional[str]:
    """Why this version's file cannot be downloaded, in words for people; None when it can."""
    mode = (getattr(version, "model_mode", None) or "").lower()
    if mode == "archived":
        return "archived on Civitai: it can no longer be downloaded"
    if mode == "takendown":
        return "taken down on Civitai: it can no longer be downloaded"
    if (getattr(version, "usage_control", None) or "Download") not in ("Download", ""):
        return "the creator allows only on-site generation: downloads are disabled"
    if version.early_access_active():
        deadline = version.early_access_deadline
        return (f"early access{' until ' + deadline[:10] if deadline else ''}: free after that, "
                "or bought early with Buzz on civitai.com (needs your API key)")
    if file is not None:
        try:
            check_safety(file, allow_unsafe=allow_unsafe)
        except DownloadError as exc:
            return exc.message
    return None


class Planner:
    """Turns (version, file) pairs into rows.

    ``index`` is the library index (``by_sha256``, ``get``); ``target_folder(version, file)`` the
    download's folder as the service would choose it; ``same_file(path, sha256)`` says whether a
    file on disk is that file (default: the index, else a hash of the file).
    """

    def __init__(self, index, target_folder: Callable, *, allow_unsafe: bool = False,
                 disk_usage: Callable = shutil.disk_usage, same_file: Optional[Callable] = None):
        self.index = index
        self.target_folder = target_folder
        self.allow_unsafe = allow_unsafe
        self.disk_usage = disk_usage
        self.same_file = same_file or self._same_file
        self._paths: set = set()
        self._shas: dict = {}

    def plan(self, pairs, kind: str = "download", notes=()) -> Plan:
        """``pairs``: (version, file or None, options dict or None); a None file is a blocked row
        whose message is options["message"]."""
        rows = [self.row(v, f, **(opts or {})) for v, f, opts in pairs]
        return Plan(rows=rows, kind=kind, notes=list(notes), disk_usage=self.disk_usage)

    def row(self, version, file, *, message: str = "", folder=None, replaces=(), beside=None) -> PlanRow:
        row = PlanRow(model_id=version.model_id, version_id=version.id, file_id=getattr(file, "id", None),
                      model_name=version.model_name, version_name=version.name,
                      name=getattr(file, "name", None), path=None, size=int(getattr(file, "size_bytes", 0) or 0),
                      action="blocked", message=message, sha256=(getattr(file, "sha256", None) or None),
                      replaces=list(replaces), file_type=getattr(file, "type", None), beside=beside)
        if row.sha256:
            row.sha256 = row.sha256.upper()
        if file is None:
            row.message = message or "Civitai lists no file to download"
            return row
        row = self._decide(row, version, file, folder if folder is not None else
                           (Path(beside).parent if beside else None))
        if message and row.action != "blocked":
            row.message = f"{message}; {row.message}" if row.message else message
        return row

    def _decide(self, row: PlanRow, version, file, folder) -> PlanRow:
        reason = blocked_reason(version, file, allow_unsafe=self.allow_unsafe)
        try:
            name = safe_filename(file.name)
        except UnsafeFilename:
            name = f"{version.id}_{file.id}.bin"
        try:
            base = Path(folder) if folder is not None else Path(self.target_folder(version, file))
        except Exception as exc:  # noqa: BLE001 - a folder that cannot be chosen blocks this row only
            row.message = getattr(exc, "message", None) or str(exc)
            return row
        row.path = str(base / name)
        if reason:
            row.message = reason
            return row
        existing = self._in_library(row.sha256)
        if existing:
            row.action, row.existing = "have", existing
            row.message = "already in the library" + ("" if existing == row.path else f": {existing}")
            return row
        if row.sha256 and row.sha256 in self._shas:
            row.action, row.existing = "have", self._shas[row.sha256]
            row.message = f"the same file is planned as {row.existing}"
            return row
        if row.path in self._paths:
            row.action, row.message = "conflict", "another file of this batch has the same name and folder"
            return row
        if os.path.lexists(row.path):
            if row.sha256 and self.same_file(row.path, row.sha256):
                row.action, row.existing, row.message = "have", row.path, "already there"
                return row
            row.action = "conflict"
            row.message = f"a different file is already named {name} in {base}; nothing will overwrite it"
            return row
        row.action = "download"
        part = _part_size(row.path)
        row.message = f"resumes from {human_size(part)}" if part else ""
        self._paths.add(row.path)
        if row.sha256:
            self._shas[row.sha256] = row.path
        return row

    def _in_library(self, sha256: Optional[str]) -> Optional[str]:
        if not sha256 or self.index is None:
            return None
        try:
            entries = self.index.by_sha256(sha256)
        except Exception as exc:  # noqa: BLE001 - the index is a cache; without it, we download
            log.warning("library index lookup failed: %s", exc)
            return None
        for entry in entries:
            if entry.path and os.path.isfile(entry.path):
                return entry.path
        return None

    def _same_file(self, path: str, sha256: str) -> bool:
        """The index's hash when it is current for this file, else hash it (what the download would do)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        entry = None
        if self.index is not None:
            try:
                entry = self.index.lookup_valid(path, st)
            except Exception:  # noqa: BLE001
                entry = None
        if entry is not None and entry.sha256:
            return entry.sha256.upper() == sha256
        from ..hashing import hash_file

        try:
            return hash_file(path, ("SHA256",)).sha256.upper() == sha256
        except OSError:
            return False
