"""The library index: one SQLite database (WAL) that remembers every model file civkit has seen.

Per file (keyed by its real path): size, mtime_ns and inode (to know whether it changed), its
hashes, a summary of its safetensors header, and its Civitai link or "not on Civitai" with the time
it was checked. The raw version JSON is kept so later versions of civkit can re-read it.

Thread-safe: one connection guarded by a lock. Writers batch their rows (``upsert_many``) and
commit as they go, so a scan killed halfway keeps everything already written.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STATUSES = ("linked", "not_found", "unknown", "error")
NOT_FOUND_RETRY_SECONDS = 24 * 3600  # by-hash misses are cached for 24 h (CIVITAI_API.md §12)

_COLUMNS = (
    "path", "size", "mtime_ns", "inode", "sha256", "autov1", "autov2", "autov3", "crc32", "blake3",
    "status", "model_id", "version_id", "model_name", "version_name", "model_type", "base_model",
    "trained_words", "air", "checked_at", "error", "header", "version_json", "updated_at",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    sha256 TEXT, autov1 TEXT, autov2 TEXT, autov3 TEXT, crc32 TEXT, blake3 TEXT,
    status TEXT NOT NULL DEFAULT 'unknown',
    model_id INTEGER, version_id INTEGER,
    model_name TEXT, version_name TEXT, model_type TEXT, base_model TEXT,
    trained_words TEXT,            -- JSON list
    air TEXT,
    checked_at REAL,               -- when Civitai was last asked (linked or not_found)
    error TEXT,
    header TEXT,                   -- JSON summary of the safetensors header
    version_json TEXT,             -- the raw Civitai version object, for re-reading later
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
CREATE INDEX IF NOT EXISTS files_version ON files(version_id);
"""


@dataclass
class LibraryEntry:
    """What the index knows about one file. Hash values are upper-case hex, as Civitai shows them."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    sha256: Optional[str] = None
    autov1: Optional[str] = None
    autov2: Optional[str] = None
    autov3: Optional[str] = None
    crc32: Optional[str] = None
    blake3: Optional[str] = None
    status: str = "unknown"  # "linked" | "not_found" | "unknown" | "error"
    model_id: Optional[int] = None
    version_id: Optional[int] = None
    model_name: Optional[str] = None
    version_name: Optional[str] = None
    model_type: Optional[str] = None
    base_model: Optional[str] = None
    trained_words: list = field(default_factory=list)
    air: Optional[str] = None
    checked_at: Optional[float] = None
    error: Optional[str] = None
    header: Optional[dict] = None
    version_json: Optional[dict] = None

    def matches_stat(self, st: os.stat_result) -> bool:
        return self.size == st.st_size and self.mtime_ns == st.st_mtime_ns and self.inode == st.st_ino

    def needs_lookup(self, now: Optional[float] = None, refresh: bool = False) -> bool:
        """Whether Civitai should be asked about this file (again)."""
        if self.status == "error" or not self.sha256:
            return False
        if refresh or self.status == "unknown":
            return True
        if self.status == "not_found":
            now = time.time() if now is None else now
            return self.checked_at is None or now - self.checked_at >= NOT_FOUND_RETRY_SECONDS
        return False

    def clear_link(self) -> None:
        self.model_id = self.version_id = None
        self.model_name = self.version_name = self.model_type = self.base_model = self.air = None
        self.trained_words = []
        self.version_json = None

    def to_json(self) -> dict:
        """JSON-safe dict without the bulky raw parts (header, version JSON)."""
        data = asdict(self)
        data.pop("version_json", None)
        data.pop("header", None)
        data["trained_words"] = list(self.trained_words or [])
        return data


def _row_values(entry: LibraryEntry, now: float) -> tuple:
    return (
        entry.path, int(entry.size), int(entry.mtime_ns), int(entry.inode),
        entry.sha256, entry.autov1, entry.autov2, entry.autov3, entry.crc32, entry.blake3,
        entry.status if entry.status in STATUSES else "unknown",
        entry.model_id, entry.version_id, entry.model_name, entry.version_name, entry.model_type,
        entry.base_model, json.dumps(list(entry.trained_words or []), ensure_ascii=False), entry.air,
        entry.checked_at, entry.error,
        json.dumps(entry.header, ensure_ascii=False) if entry.header is not None else None,
        json.dumps(entry.version_json, ensure_ascii=False) if entry.version_json is not None else None,
        now,
    )


def _loads(text, default):
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _entry_from_row(row: sqlite3.Row) -> LibraryEntry:
    names = {f.name for f in fields(LibraryEntry)}
    data = {k: row[k] for k in row.keys() if k in names}
    data["trained_words"] = _loads(data.get("trained_words"), [])
    data["header"] = _loads(data.get("header"), None)
    data["version_json"] = _loads(data.get("version_json"), None)
    return LibraryEntry(**data)


def _under(path: str, roots: Iterable[str]) -> bool:
    for root in roots:
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


class IndexUnavailable(Exception):
    """The index database cannot be opened or used (message for people)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = self.user_message = message


class LibraryIndex:
    """The SQLite index. Safe to share between threads; open one per process."""

    def __init__(self, db_path):
        self.db_path = Path(db_path)
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.db_path), check_same_thread=False, timeout=30)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise IndexUnavailable(
                f"cannot open the civkit library index {self.db_path}: {exc}. "
                "Check that CIVKIT_HOME is writable, or delete the file to rebuild it."
            ) from exc
        self._lock = threading.RLock()

    def _migrate(self) -> None:
        (version,) = self._conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"it was written by a newer civkit (schema {version}, this one knows {SCHEMA_VERSION})"
            )
        with self._conn:
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- reading ---------------------------------------------------------------------------
    def get(self, path) -> Optional[LibraryEntry]:
        with self._lock:
            row = self._conn.execute("SELECT * FROM files WHERE path=?", (str(path),)).fetchone()
        return _entry_from_row(row) if row else None

    def lookup_valid(self, path, st: os.stat_result) -> Optional[LibraryEntry]:
        """The entry for ``path`` if the file is unchanged since it was indexed (size, mtime_ns, inode)."""
        entry = self.get(path)
        if entry is not None and entry.matches_stat(st):
            return entry
        return None

    def stat_map(self) -> dict:
        """path -> (size, mtime_ns, inode, status, checked_at, has_sha256) for every file, in one query.

        This is what makes a rescan cheap: compare it with fresh ``stat`` results and touch
        only what changed.
        """
        with self._lock:
            rows = self._conn.execute(
                "SELECT path, size, mtime_ns, inode, status, checked_at, sha256 IS NOT NULL FROM files"
            ).fetchall()
        return {r[0]: (r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows}

    def entries(self, root=None) -> list:
        """All entries, or those under ``root`` (a folder path or a list of them), sorted by path."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM files ORDER BY path").fetchall()
        result = [_entry_from_row(r) for r in rows]
        if root is not None:
            roots = [str(root)] if isinstance(root, (str, os.PathLike)) else [str(r) for r in root]
            result = [e for e in result if _under(e.path, roots)]
        return result

    def entries_for(self, paths: Iterable[str]) -> list:
        wanted = list(dict.fromkeys(str(p) for p in paths))
        found = {}
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._conn.execute(f"SELECT * FROM files WHERE path IN ({marks})", chunk):
                    found[row["path"]] = _entry_from_row(row)
        return [found[p] for p in wanted if p in found]

    def version_paths(self, root=None) -> dict:
        """version id -> [paths] of linked files (optionally under ``root``: a path or a list), one light query."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT version_id, path FROM files WHERE status='linked' AND version_id IS NOT NULL ORDER BY path"
            ).fetchall()
        roots = None
        if root is not None:
            roots = [str(root)] if isinstance(root, (str, os.PathLike)) else [str(r) for r in root]
        out: dict = {}
        for version_id, path in rows:
            if roots is None or _under(path, roots):
                out.setdefault(int(version_id), []).append(path)
        return out

    def by_sha256(self, sha256) -> list:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM files WHERE sha256=? ORDER BY path", (str(sha256).upper(),)
            ).fetchall()
        return [_entry_from_row(r) for r in rows]

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    # -- writing ---------------------------------------------------------------------------
    def upsert(self, entry: LibraryEntry) -> None:
        self.upsert_many([entry])

    def upsert_many(self, entries: Iterable[LibraryEntry]) -> int:
        """Insert or replace entries in one transaction (committed before returning)."""
        now = time.time()
        rows = [_row_values(e, now) for e in entries]
        if not rows:
            return 0
        marks = ",".join("?" * len(_COLUMNS))
        with self._lock, self._conn:
            self._conn.executemany(
                f"INSERT OR REPLACE INTO files ({','.join(_COLUMNS)}) VALUES ({marks})", rows
            )
        return len(rows)

    def delete(self, paths: Iterable[str]) -> int:
        paths = [(str(p),) for p in paths]
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM files WHERE path=?", paths)
        return len(paths)

    def remove_missing(self, roots, seen: Optional[set] = None) -> int:
        """Forget files under ``roots`` that are gone. With ``seen`` (paths a walk just found),
        anything under the roots not in it is gone; without, each file is checked on disk."""
        roots = [str(r) for r in roots]
        known = [p for p in self.stat_map() if _under(p, roots)]
        if seen is not None:
            gone = [p for p in known if p not in seen]
        else:
            gone = [p for p in known if not os.path.exists(p)]
        return self.delete(gone) if gone else 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
