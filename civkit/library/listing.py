"""Bulk reads of the library index: the light listing the Library views page through, and whole-library
records and JSON lines (``civkit --json scan``), none of which builds a ``LibraryEntry`` or parses the
stored version JSON per file. Functions of a ``LibraryIndex`` (its connection and lock); the index
offers them as methods (``index.list_rows(...)``, ``index.records(...)``, ``index.json_lines(...)``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Optional

from .index import (
    _COLUMNS,
    _NOT_JSON_TEXT,
    _SHA_AT,
    _WORDS_AT,
    LIST_COLUMNS,
    STATUSES,
    _root_list,
    _word_lists,
)


def _text_match(needle, path, *fields) -> bool:
    """SQL ``civkit_match``: ``needle`` (already casefolded) in the file name or any text field.

    Python rather than SQL ``LIKE``/``lower()``, which only fold ASCII ("Ü" would miss "ü"); measured
    no slower, since SQL has no cheap way to cut the file name out of the path.
    Trigger words are searched in their stored JSON text, which keeps non-ASCII as it is.
    """
    if path and needle in os.path.basename(path).casefold():
        return True
    return any(f and needle in f.casefold() for f in fields)


def _common_folder(first: str, last: str) -> str:
    """The longest folder prefix (ending in a separator) of two paths, "" when they share none;
    for the first and last of a sorted list, that of the whole list."""
    common = os.path.commonprefix([first, last])
    cut = common.rfind(os.sep)
    return common[: cut + 1] if cut >= 0 else ""


def records(index, paths, columns=LIST_COLUMNS, chunk: int = 2000):
    """The given columns (and the path) of the files in ``paths`` as dicts, sorted by path, a list per chunk
    (so output can stream), ``trained_words`` decoded to a list: what a whole-library listing
    needs, without a ``LibraryEntry`` (and its version JSON) per file.

    Many paths are read as one range of the path index (rows outside ``paths`` skipped), a few
    by ``IN`` lists: 500 ``IN`` lookups cost about as much as reading 5,000 rows in order.
    """
    unknown = [c for c in columns if c not in _COLUMNS]
    if unknown:
        raise ValueError(f"not index columns: {unknown}")
    columns = tuple(columns) if "path" in columns else ("path", *columns)
    path_at = columns.index("path")
    words_at = columns.index("trained_words") if "trained_words" in columns else None
    wanted = sorted(dict.fromkeys(map(str, paths)))  # already sorted (a scan's paths): linear
    select = f"SELECT {','.join(columns)} FROM files WHERE "
    if len(wanted) < 2000:
        batches = (_in_batch(index, select, wanted[i : i + 500]) for i in range(0, len(wanted), 500))
    else:
        batches = _range_batches(index, select, path_at, set(wanted),
                                     _common_folder(wanted[0], wanted[-1]), chunk)
    for rows in batches:
        out = [dict(zip(columns, r, strict=True)) for r in rows]
        if words_at is not None:
            for d, words in zip(out, _word_lists([r[words_at] for r in rows]), strict=True):
                d["trained_words"] = words
        yield out


def json_lines(index, paths, columns, chunk: int = 2000):
    """``records(paths, columns)`` as JSON texts, one object per file, a list per chunk: exactly
    what ``json.dumps(record, ensure_ascii=False)`` gives, but written by SQLite (its JSON
    functions), so a 30,000-file listing builds no Python object per file. Text and integer
    columns only (a REAL would be spelt differently). Without SQLite's JSON functions (built in
    since 3.38, usually before), the records are encoded in Python."""
    columns = tuple(columns) if "path" in columns else ("path", *columns)
    if any(c not in _COLUMNS or c in _NOT_JSON_TEXT for c in columns):
        raise ValueError(f"only text and integer columns: {columns}")
    if not _has_json(index):
        encode = json.JSONEncoder(ensure_ascii=False).encode
        yield from ([encode(r) for r in records] for records in records(index, paths, columns, chunk))
        return
    parts = []
    for i, c in enumerate(columns):
        value = (f"CASE WHEN {c} IS NULL OR {c} = '[]' THEN '[]' "  # most rows: nothing to parse
                 f"WHEN json_valid({c}) AND json_type({c})='array' THEN {c} ELSE '[]' END"
                 if c == "trained_words" else f"json_quote({c})")
        parts.append(f"'{', ' if i else '{'}{json.dumps(c)}: ' || {value}")
    line = " || ".join(parts) + " || '}'"
    wanted = sorted(dict.fromkeys(map(str, paths)))  # already sorted (a scan's paths): linear
    select = f"SELECT path, {line} FROM files WHERE "
    if len(wanted) < 2000:
        batches = (_in_batch(index, select, wanted[i : i + 500]) for i in range(0, len(wanted), 500))
    else:
        batches = _range_batches(index, select, 0, set(wanted), _common_folder(wanted[0], wanted[-1]), chunk)
    for rows in batches:
        yield [r[1] for r in rows]


def _has_json(index) -> bool:
    if not hasattr(index, "_json_ok"):
        try:
            with index._lock:
                index._json_ok = index._select("SELECT json_quote('a') || json_valid('[]')") == [('"a"1',)]
        except sqlite3.OperationalError:  # no JSON functions in this SQLite
            index._json_ok = False
    return index._json_ok


def _in_batch(index, select: str, part: list) -> list:
    with index._lock:
        return index._select(f"{select}path IN ({','.join('?' * len(part))}) ORDER BY path", part)


def _range_batches(index, select: str, path_at: int, wanted: set, prefix: str, chunk: int):
    """Rows whose path starts with ``prefix`` and is in ``wanted``, ``chunk`` rows per query
    (the lock is let go in between)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None
    after = None
    while True:
        clauses, params = [], []
        if after is not None or prefix:
            clauses.append("path > ?" if after is not None else "path >= ?")
            params.append(after if after is not None else prefix)
        if upper is not None:
            clauses.append("path < ?")
            params.append(upper)
        sql = f"{select}{' AND '.join(clauses) or '1'} ORDER BY path LIMIT {int(chunk)}"
        with index._lock:
            rows = index._select(sql, params)
        if not rows:
            return
        after = rows[-1][path_at]
        yield [r for r in rows if r[path_at] in wanted]


def list_rows(index, root=None, *, query: Optional[str] = None, status: Optional[str] = None,
              offset: int = 0, limit: Optional[int] = None) -> tuple:
    """``(rows, total)``: the light listing the Library views need, sorted by path.

    Each row is a dict with ``LIST_COLUMNS`` (``trained_words`` as a list) plus ``copies``
    (files in the listing's roots with the same SHA-256, None without a hash). The raw version
    JSON and header are never read, which is what keeps this fast for tens of thousands of
    files. ``root``: a path or a list of them; ``query``: case-insensitive text in the file
    name, model name, version name, model type, base model or trigger words; ``status``: one of
    ``STATUSES``; ``total`` counts every match, not just the page.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    where, params = where_clause(index, root, query, status)
    offset = max(0, int(offset or 0))
    page = ""
    page_params: list = []
    if limit is not None or offset:
        page = " LIMIT ? OFFSET ?"
        page_params = [-1 if limit is None else max(0, int(limit)), offset]
    sql = f"SELECT {','.join(LIST_COLUMNS)} FROM files{where} ORDER BY path{page}"
    with index._lock:
        cursor = index._conn.cursor()
        cursor.row_factory = None  # plain tuples: no sqlite3.Row per row
        raw = cursor.execute(sql, [*params, *page_params]).fetchall()
        if page_params and (limit is None or len(raw) >= max(0, int(limit)) or offset):
            total = index._conn.execute(f"SELECT COUNT(*) FROM files{where}", params).fetchone()[0]
        else:
            total = len(raw)
        copies = _copies(index, {r[_SHA_AT] for r in raw if r[_SHA_AT]}, root)
    words = _word_lists([r[_WORDS_AT] for r in raw])
    rows = []
    for values, word_list in zip(raw, words, strict=True):
        row = dict(zip(LIST_COLUMNS, values, strict=True))
        row["trained_words"] = word_list
        row["copies"] = copies.get(row["sha256"]) if row["sha256"] else None
        rows.append(row)
    return rows, total


def status_counts(index, root=None) -> dict:
    """status -> number of files (optionally under ``root``), every status present, one query."""
    where, params = where_clause(index, root, None, None)
    with index._lock:
        found = dict(index._conn.execute(f"SELECT status, COUNT(*) FROM files{where} GROUP BY status",
                                        params).fetchall())
    return {s: int(found.get(s, 0)) for s in STATUSES}


def where_clause(index, root, query, status) -> tuple:
    clauses: list = []
    params: list = []
    roots = _root_list(root)
    if roots is not None:
        if not roots:
            return " WHERE 0", []
        ors = []
        for r in roots:
            prefix = r.rstrip(os.sep) + os.sep
            ors.append("(path = ? OR substr(path, 1, ?) = ?)")
            params += [r, len(prefix), prefix]
        clauses.append("(" + " OR ".join(ors) + ")")
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    needle = (query or "").strip().casefold()
    if needle:
        _ensure_match_function(index)
        clauses.append("civkit_match(?, path, model_name, version_name, model_type, base_model, trained_words)")
        params.append(needle)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _ensure_match_function(index) -> None:
    with index._lock:
        if not getattr(index, "_match_registered", False):
            index._conn.create_function("civkit_match", 7, _text_match, deterministic=True)
            index._match_registered = True


def _copies(index, shas: set, root) -> dict:
    """sha256 -> how many files (under ``root``) have it, for the given hashes only.

    A page's few hashes are counted directly. For a long listing, first find the hashes shared
    by two or more rows anywhere (the sha256 index alone answers that; duplicates are rare) and
    count under ``root`` only those; the rest have 1.
    """
    if not shas:
        return {}
    out = dict.fromkeys(shas, 1)
    wanted = sorted(shas)
    if len(wanted) > 1000:
        wanted = sorted(shas & {sha for (sha,) in index._conn.execute(
            "SELECT sha256 FROM files WHERE sha256 IS NOT NULL GROUP BY sha256 HAVING COUNT(*) > 1")})
    if not wanted:
        return out
    where, params = where_clause(index, root, None, None)
    where = (where + " AND " if where else " WHERE ") + "sha256 IN ({marks})"
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        sql = f"SELECT sha256, COUNT(*) FROM files{where.format(marks=','.join('?' * len(chunk)))} GROUP BY sha256"
        out.update(index._conn.execute(sql, [*params, *chunk]).fetchall())
    return out
