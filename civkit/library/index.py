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

from ..api.normalise import scrub_text
from ..paths import under_any

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
STATUSES = ("linked", "not_found", "unknown", "error")
# A file Civitai did not know is asked about again only after this long (issue 12: 7 days by
# default; ``civkit scan --recheck`` asks at once). A file linked by hand is never asked again.
NOT_FOUND_RETRY_SECONDS = 7 * 24 * 3600
LINK_SOURCES = ("hash", "hand")

_COLUMNS = (
    "path", "size", "mtime_ns", "inode", "sha256", "autov1", "autov2", "autov3", "crc32", "blake3",
    "status", "model_id", "version_id", "model_name", "version_name", "model_type", "base_model",
    "trained_words", "air", "checked_at", "error", "header", "version_json", "updated_at",
    "link_source", "trigger_groups", "preferred_weight", "unverified", "ctime_ns",
)
# Columns added since schema 2, with their types: an index without them gains them on open (additive, so
# no schema bump: an older civkit reading this index ignores them).
_ADDED_COLUMNS = (("unverified", "INTEGER"), ("ctime_ns", "INTEGER"))

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
    updated_at REAL,
    link_source TEXT,              -- "hand" when linked with `civkit link`: later lookups leave it alone
    trigger_groups TEXT,           -- JSON list of chosen trained-words indexes; NULL = all
    preferred_weight REAL,         -- the user's LoRA weight; NULL = the host's default
    unverified INTEGER,            -- 1: downloaded while Civitai listed no hash to check it against
    ctime_ns INTEGER               -- the inode's change time when indexed; NULL: indexed before civkit kept it
);
CREATE TABLE IF NOT EXISTS roots (
    path TEXT PRIMARY KEY,         -- a model folder scanned or downloaded into (the CLI's default roots)
    seen_at REAL
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
CREATE INDEX IF NOT EXISTS files_version ON files(version_id);
-- Covers LibraryIndex.list_rows (path first: its ORDER BY), so listing never reads the big rows
-- with their version JSON: ~10x less to read on a slow disk for a large library.
CREATE INDEX IF NOT EXISTS files_listing ON files(
    path, size, status, model_id, version_id, model_name, version_name, model_type, base_model,
    trained_words, sha256, air, checked_at, error);
-- Covers what a rescan reads: LibraryIndex.stat_map (every rescan) and the scan's JSON lines
-- (`civkit --json scan`, listing.json_lines), in path order: without it a library whose rows carry
-- their version JSON (~3 KB each) reads a page per file, and the JSON lines a table row per index entry.
-- (files_rescan replaces files_scan, which lacked ctime_ns; _migrate drops the old one.)
CREATE INDEX IF NOT EXISTS files_rescan ON files(
    path, size, mtime_ns, inode, ctime_ns, status, checked_at, sha256, autov1, autov2, autov3, model_id,
    version_id, model_name, version_name, model_type, base_model, trained_words, air, error);
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
    link_source: Optional[str] = None       # "hand" (civkit link) | "hash" | None
    trigger_groups: Optional[list] = None   # chosen indexes into trained_words; None = every group
    preferred_weight: Optional[float] = None
    unverified: bool = False  # downloaded by civkit while Civitai listed no hash: only its size was checked
    # The inode's change time when indexed. Nobody can set it back: a copy written into the same inode
    # with its old size and mtime kept (`cp -p` over the file) still changes it. None: not recorded.
    ctime_ns: Optional[int] = None

    @classmethod
    def from_stat(cls, path: str, st: os.stat_result, **values) -> LibraryEntry:
        """A new entry for ``path`` whose change markers are those of ``st``."""
        return cls(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino,
                   ctime_ns=st.st_ctime_ns, **values)

    def take_stat(self, st: os.stat_result) -> None:
        """The file was moved or restored: its change markers are now those of ``st``."""
        self.size, self.mtime_ns, self.inode, self.ctime_ns = st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns

    def matches_stat(self, st: os.stat_result) -> bool:
        return (self.size == st.st_size and self.mtime_ns == st.st_mtime_ns and self.inode == st.st_ino
                and (self.ctime_ns is None or self.ctime_ns == st.st_ctime_ns))

    def needs_lookup(self, now: Optional[float] = None, refresh: bool = False) -> bool:
        """Whether Civitai should be asked about this file (again)."""
        if self.status == "error" or not self.sha256 or self.link_source == "hand":
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
        self.link_source = None
        self.trigger_groups = None

    def to_json(self) -> dict:
        """JSON-safe dict without the bulky raw parts (header, version JSON)."""
        data = asdict(self)
        data.pop("version_json", None)
        data.pop("header", None)
        data["trained_words"] = list(self.trained_words or [])
        return data


def _text(value):
    """A text column's value: lone surrogates (from JSON or a non-UTF-8 file name) cannot be stored."""
    return scrub_text(value) if isinstance(value, str) else value


def _json_text(value) -> Optional[str]:
    """JSON for a column; lone surrogates survive as ``\\udXXX`` escapes instead of failing the write."""
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)  # ASCII escapes: valid UTF-8 whatever the strings hold
    return text


def _row_values(entry: LibraryEntry, now: float) -> tuple:
    words = [_text(w) for w in entry.trained_words or []]
    return (
        entry.path, int(entry.size), int(entry.mtime_ns), int(entry.inode),
        entry.sha256, entry.autov1, entry.autov2, entry.autov3, entry.crc32, entry.blake3,
        entry.status if entry.status in STATUSES else "unknown",
        entry.model_id, entry.version_id, _text(entry.model_name), _text(entry.version_name), _text(entry.model_type),
        _text(entry.base_model), _json_text(words), _text(entry.air),
        entry.checked_at, _text(entry.error), _json_text(entry.header), _json_text(entry.version_json),
        now,
        entry.link_source if entry.link_source in LINK_SOURCES else None,
        json.dumps([int(i) for i in entry.trigger_groups]) if entry.trigger_groups is not None else None,
        float(entry.preferred_weight) if entry.preferred_weight is not None else None,
        1 if entry.unverified else 0,
        int(entry.ctime_ns) if entry.ctime_ns is not None else None,
    )


def _loads(text, default):
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


# What the Library views show; ``LibraryIndex.list_rows`` reads only these (never version_json/header).
LIST_COLUMNS = (
    "path", "size", "status", "model_id", "version_id", "model_name", "version_name", "model_type",
    "base_model", "trained_words", "sha256", "air", "checked_at", "error",
)
_SHA_AT = LIST_COLUMNS.index("sha256")
# REAL columns, and JSON kept as text: ``json_lines`` refuses them (it spells text and integers only)
_NOT_JSON_TEXT = ("checked_at", "updated_at", "header", "version_json", "trigger_groups", "preferred_weight")
_WORDS_AT = LIST_COLUMNS.index("trained_words")


def _word_lists(texts: list) -> list:
    """The stored JSON word lists decoded in one ``json.loads`` (one call per row costs ~10x more)."""
    cleaned = [t if t and t != "[]" else "[]" for t in texts]
    try:
        decoded = json.loads("[" + ",".join(cleaned) + "]")
        if len(decoded) == len(cleaned) and all(isinstance(d, list) for d in decoded):
            return decoded
    except ValueError:
        pass
    out = []
    for t in cleaned:  # one damaged row must not hide the others' words
        d = _loads(t, [])
        out.append(d if isinstance(d, list) else [])
    return out


_ENTRY_COLUMNS = tuple(f.name for f in fields(LibraryEntry))  # all of them columns, in field order
_ENTRY_SELECT = f"SELECT {','.join(_ENTRY_COLUMNS)} FROM files"
_E_WORDS, _E_HEADER, _E_VERSION, _E_GROUPS, _E_UNVERIFIED = (
    _ENTRY_COLUMNS.index(k) for k in ("trained_words", "header", "version_json", "trigger_groups", "unverified"))


def _entries_from_rows(rows: list) -> list:
    """``LibraryEntry`` objects from plain ``_ENTRY_SELECT`` tuples; the word lists decoded in bulk."""
    out = []
    for values, words in zip(rows, _word_lists([r[_E_WORDS] for r in rows]), strict=True):
        values = list(values)
        values[_E_WORDS] = words
        if values[_E_HEADER] is not None:
            values[_E_HEADER] = _loads(values[_E_HEADER], None)
        if values[_E_VERSION] is not None:
            values[_E_VERSION] = _loads(values[_E_VERSION], None)
        if values[_E_GROUPS] is not None:
            groups = _loads(values[_E_GROUPS], None)
            values[_E_GROUPS] = [i for i in groups if isinstance(i, int)] if isinstance(groups, list) else None
        values[_E_UNVERIFIED] = bool(values[_E_UNVERIFIED])
        out.append(LibraryEntry(*values))
    return out


def _root_list(root) -> Optional[list]:
    """``root`` (None, a path or a list of paths) as distinct strings, nested roots dropped."""
    if root is None:
        return None
    roots = [str(root)] if isinstance(root, (str, os.PathLike)) else [str(r) for r in root]
    roots = sorted(set(roots), key=len)
    kept: list = []
    for r in roots:
        if not under_any(r, kept):
            kept.append(r)
    return kept


# What one bad row makes sqlite3 raise: INTEGER overflow, unencodable text, a value of the wrong type.
_ROW_ERRORS = (OverflowError, UnicodeError, ValueError, TypeError, sqlite3.InterfaceError,
               sqlite3.IntegrityError, sqlite3.DataError)


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
            if version == 1:  # schema 1 had no care columns: add them, keep every row
                for column, kind in (("link_source", "TEXT"), ("trigger_groups", "TEXT"),
                                     ("preferred_weight", "REAL")):
                    self._conn.execute(f"ALTER TABLE files ADD COLUMN {column} {kind}")
            # an existing table gains the added columns first: the schema's indexes cover some of them
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(files)")}
            for column, kind in _ADDED_COLUMNS:  # additive: rows and older readers are unaffected
                if have and column not in have:
                    self._conn.execute(f"ALTER TABLE files ADD COLUMN {column} {kind}")
            self._conn.executescript(_SCHEMA)
            self._conn.execute("DROP INDEX IF EXISTS files_scan")  # files_rescan covers it and ctime_ns
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- reading ---------------------------------------------------------------------------
    def _select(self, sql: str, params=()) -> list:
        """Plain tuples (no ``sqlite3.Row`` per row); the caller holds the lock."""
        cursor = self._conn.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, params).fetchall()

    def get(self, path) -> Optional[LibraryEntry]:
        with self._lock:
            rows = self._select(f"{_ENTRY_SELECT} WHERE path=?", (str(path),))
        return _entries_from_rows(rows)[0] if rows else None

    def lookup_valid(self, path, st: os.stat_result) -> Optional[LibraryEntry]:
        """The entry for ``path`` if the file is unchanged since it was indexed (size, mtime_ns, inode,
        and ctime_ns where it was recorded)."""
        entry = self.get(path)
        if entry is not None and entry.matches_stat(st):
            return entry
        return None

    def stat_map(self) -> dict:
        """path -> (size, mtime_ns, inode, status, checked_at, has_sha256 (1/0), ctime_ns) for every file, in one query.

        This is what makes a rescan cheap: compare it with fresh ``stat`` results and touch
        only what changed.
        """
        with self._lock:  # plain tuples, sliced: no sqlite3.Row and no tuple built by hand per file
            rows = self._select(
                "SELECT path, size, mtime_ns, inode, status, checked_at, sha256 IS NOT NULL, ctime_ns FROM files")
        return {r[0]: r[1:] for r in rows}

    def record_ctimes(self, ctimes: Iterable[tuple]) -> None:
        """Fill ``ctime_ns`` of files indexed before civkit kept it: ``(path, ctime_ns)`` pairs."""
        rows = [(int(c), str(p)) for p, c in ctimes]
        if not rows:
            return
        with self._lock, self._conn:
            self._conn.executemany("UPDATE files SET ctime_ns=? WHERE path=? AND ctime_ns IS NULL", rows)

    def entries(self, root=None) -> list:
        """All entries, or those under ``root`` (a folder path or a list of them), sorted by path."""
        from .listing import where_clause

        where, params = where_clause(self, root, None, None)
        with self._lock:
            rows = self._select(f"{_ENTRY_SELECT}{where} ORDER BY path", params)
        return _entries_from_rows(rows)

    def entries_for(self, paths: Iterable[str]) -> list:
        wanted = list(dict.fromkeys(str(p) for p in paths))
        rows: list = []
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                rows += self._select(f"{_ENTRY_SELECT} WHERE path IN ({','.join('?' * len(chunk))})", chunk)
        found = {e.path: e for e in _entries_from_rows(rows)}
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
            if roots is None or under_any(path, roots):
                out.setdefault(int(version_id), []).append(path)
        return out

    def by_sha256(self, sha256) -> list:
        with self._lock:
            rows = self._select(f"{_ENTRY_SELECT} WHERE sha256=? ORDER BY path", (str(sha256).upper(),))
        return _entries_from_rows(rows)

    def by_version(self, version_id) -> list:
        """Entries linked to Civitai version ``version_id`` (one indexed query, not a walk of every row)."""
        with self._lock:
            rows = self._select(f"{_ENTRY_SELECT} WHERE version_id=? ORDER BY path", (int(version_id),))
        return _entries_from_rows(rows)

    def by_hash(self, value) -> list:
        """Entries with ``value`` as one of their hashes (any kind), or as the start of their SHA256
        (A1111's short hashes: 10 or 12 hex). Used to find what an image or workflow names."""
        value = str(value or "").strip().upper()
        if not value or len(value) < 8:
            return []
        with self._lock:
            rows = self._select(
                f"{_ENTRY_SELECT} WHERE sha256=? OR autov1=? OR autov2=? OR autov3=? OR blake3=? OR crc32=?"
                " OR (length(?) >= 10 AND substr(sha256, 1, length(?)) = ?) ORDER BY path",
                (value,) * 6 + (value, value, value))
        return _entries_from_rows(rows)

    # -- bulk reads (civkit/library/listing.py) ----------------------------------------------
    def list_rows(self, root=None, *, query: Optional[str] = None, status: Optional[str] = None,
                  offset: int = 0, limit: Optional[int] = None) -> tuple:
        """``(rows, total)``: the light listing of the Library views (``listing.list_rows``)."""
        from .listing import list_rows

        return list_rows(self, root, query=query, status=status, offset=offset, limit=limit)

    def status_counts(self, root=None) -> dict:
        """status -> number of files (optionally under ``root``), every status present, one query."""
        from .listing import status_counts

        return status_counts(self, root)

    def records(self, paths, columns=LIST_COLUMNS, chunk: int = 2000):
        """Lists of dicts of ``columns`` for ``paths``, sorted by path (``listing.records``)."""
        from .listing import records

        return records(self, paths, columns, chunk)

    def json_lines(self, paths, columns, chunk: int = 2000):
        """``records`` as lists of JSON texts, written by SQLite (``listing.json_lines``)."""
        from .listing import json_lines

        return json_lines(self, paths, columns, chunk)

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    # -- writing ---------------------------------------------------------------------------
    def upsert(self, entry: LibraryEntry) -> None:
        self.upsert_many([entry])

    def upsert_many(self, entries: Iterable[LibraryEntry], failed: Optional[list] = None) -> int:
        """Insert or replace entries in one transaction (committed before returning); the number written.

        One row SQLite refuses (a number too large for INTEGER, a path that is not UTF-8) never costs
        the others: the batch is then written row by row, and each refused row is left out, with
        ``(path, message)`` appended to ``failed`` (logged when no list is given).
        """
        now = time.time()
        entries = list(entries)
        rows: list = []
        for e in entries:
            try:
                rows.append(_row_values(e, now))
            except (TypeError, ValueError, OverflowError) as exc:
                self._refused(e, exc, failed)
        if not rows:
            return 0
        sql = f"INSERT OR REPLACE INTO files ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})"
        with self._lock:
            try:
                with self._conn:
                    self._conn.executemany(sql, rows)
                return len(rows)
            except _ROW_ERRORS:
                pass  # rolled back: find the bad rows one by one
            written = 0
            with self._conn:
                for row in rows:
                    try:
                        self._conn.execute(sql, row)
                        written += 1
                    except _ROW_ERRORS as exc:
                        self._refused(next(e for e in entries if e.path == row[0]), exc, failed)
        return written

    @staticmethod
    def _refused(entry: LibraryEntry, exc: BaseException, failed: Optional[list]) -> None:
        path = scrub_text(str(entry.path))
        message = f"the library index cannot store this file's record ({type(exc).__name__}: {_text(str(exc))})"
        if failed is not None:
            failed.append((path, message))
        else:
            log.warning("%s: %s", path, message)

    def delete(self, paths: Iterable[str]) -> int:
        paths = [(str(p),) for p in paths]
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM files WHERE path=?", paths)
        return len(paths)

    def remove_missing(self, roots, seen: Optional[set] = None) -> int:
        """Forget files under ``roots`` that are gone. With ``seen`` (paths a walk just found),
        anything under the roots not in it is gone; without, each file is checked on disk."""
        roots = [str(r) for r in roots]
        known = [p for p in self.stat_map() if under_any(p, roots)]
        if seen is not None:
            gone = [p for p in known if p not in seen]
        else:
            gone = [p for p in known if not os.path.exists(p)]
        return self.delete(gone) if gone else 0

    def move_entry(self, old_path, new_path, st: Optional[os.stat_result] = None) -> Optional[LibraryEntry]:
        """Re-key the entry of a moved file (hashes, link and choices kept; nothing is re-hashed).

        ``st``: the file's stat at its new place (a copy across file systems has a new inode);
        returns the moved entry, or None if the old path was not indexed. An entry already at
        ``new_path`` is replaced.
        """
        entry = self.get(old_path)
        if entry is None:
            return None
        entry.path = str(new_path)
        if st is not None:
            entry.take_stat(st)
        now = time.time()
        marks = ",".join("?" * len(_COLUMNS))
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM files WHERE path=?", (str(old_path),))
            self._conn.execute(f"INSERT OR REPLACE INTO files ({','.join(_COLUMNS)}) VALUES ({marks})",
                               _row_values(entry, now))
        return entry

    def remember_roots(self, roots: Iterable) -> None:
        """Note model folders civkit scanned or downloaded into (the CLI's roots when none are given)."""
        now = time.time()
        rows = [(os.path.realpath(str(r)), now) for r in roots]
        if rows:
            with self._lock, self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO roots (path, seen_at) VALUES (?, ?)", rows)

    def known_roots(self) -> list:
        """The model folders remembered by ``remember_roots`` that still exist, nested ones dropped."""
        with self._lock:
            rows = [r[0] for r in self._conn.execute("SELECT path FROM roots ORDER BY path")]
        return _root_list([r for r in rows if os.path.isdir(r)]) or []

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
