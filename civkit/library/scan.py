"""Scan model folders into the library index, link new files to Civitai, write their sidecars.

A rescan of unchanged files costs one ``stat`` each: the index's (size, mtime_ns, inode) for every
known path comes in one query, and only new or changed files are read. New files take a valid
hash from a sidecar when one exists (``sidecar_read.py``) and are hashed in parallel otherwise.
Rows are committed in small batches as the scan goes, so a scan killed halfway keeps its work.
One unreadable, corrupt or vanishing file is reported with a message; the scan goes on.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from ..hashing import SCAN_HASHES, hash_file, hash_files
from ..paths import under_any
from .index import NOT_FOUND_RETRY_SECONDS, LibraryEntry, LibraryIndex
from .link import SAFETENSORS_SUFFIXES, apply_version, link_entries, mark_not_found
from .scan_support import (
    BatchWriter,
    header_entry_error,
    seed_from_sidecars,
    walk_models,
    write_sidecars_for,
)

log = logging.getLogger(__name__)

SMALL_FILE = 1024 * 1024
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")


@dataclass
class ScanProgress:
    """What a progress callback receives. ``phase``: walk, hash, lookup, sidecars, done."""

    phase: str
    done: int = 0
    total: int = 0
    path: Optional[str] = None
    bytes_done: int = 0
    bytes_total: int = 0


@dataclass
class ScanReport:
    roots: list
    index: LibraryIndex = field(repr=False)
    files: int = 0            # model files found
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    hashed: int = 0           # files actually read
    from_sidecars: int = 0    # hashes taken from sidecars instead
    looked_up: int = 0
    linked: int = 0
    not_found: int = 0
    requests: int = 0
    errors: list = field(default_factory=list)       # [(path, message)]
    lookup_error: Optional[str] = None               # Civitai unreachable etc.
    sidecars: list = field(default_factory=list)     # SidecarResult written / conflict / error
    previews: list = field(default_factory=list)
    seconds: float = 0.0
    touched: list = field(default_factory=list)      # paths read or looked up in this scan
    _paths: list = field(default_factory=list, repr=False)
    _entries: Optional[list] = field(default=None, repr=False)

    @property
    def paths(self) -> list:
        """Every model file found under the roots, sorted (``index.records(report.paths, ...)`` lists
        them without building an entry per file)."""
        return self._paths

    @property
    def entries(self) -> list:
        """Every model file found under the roots, as the index now knows it (loaded on demand)."""
        if self._entries is None:
            self._entries = self.index.entries_for(self._paths)
        return self._entries

    @property
    def conflicts(self) -> list:
        return [r for r in self.sidecars if r.status in ("conflict", "error")]


def _stat_key(st: os.stat_result) -> tuple:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def scan(roots, index: LibraryIndex, client=None, *, lookup: bool = True, write_sidecars: bool = True,
         refresh: bool = False, progress: Optional[Callable[[ScanProgress], None]] = None,
         nsfw_previews: bool = False, forge: bool = False, previews: bool = True,
         workers: Optional[int] = None, recheck: bool = False,
         recheck_seconds: float = NOT_FOUND_RETRY_SECONDS) -> ScanReport:
    """Index every model file under ``roots``; look new ones up on Civitai when ``lookup`` and a client.

    Files Civitai did not know are asked about again once ``recheck_seconds`` have passed (at once
    with ``recheck``); files linked by hand (``civkit link``) are never looked up again.
    """
    started = time.monotonic()
    roots = [str(r) for r in roots]
    report = ScanReport(roots=roots, index=index)
    notify = progress or (lambda p: None)

    walk = walk_models(roots, MODEL_EXTENSIONS)
    files, sidecars = walk.files, walk.sidecars
    report.errors.extend(walk.errors)
    report.files = len(files)
    report._paths = sorted(files)
    notify(ScanProgress("walk", len(files), len(files)))

    index.remember_roots(walk.roots)
    known = index.stat_map()
    now = time.time()
    if recheck:
        recheck_seconds = 0
    to_read: list = []        # (path, stat) new or changed
    to_lookup: list = []      # unchanged paths whose Civitai answer should be (re)asked
    ctimes: list = []         # (path, ctime_ns) of unchanged files indexed before civkit kept ctimes
    for path, st in files.items():
        k = known.get(path)
        # unchanged: same size, mtime_ns, inode and ctime_ns (where recorded: `cp -p` into the same
        # inode keeps the other three), and hashed (or broken: retried with --refresh)
        if k is not None and k[0] == st.st_size and k[1] == st.st_mtime_ns and k[2] == st.st_ino and (
            k[6] is None or k[6] == st.st_ctime_ns) and (k[5] or k[3] == "error") and not (
            refresh and k[3] == "error"
        ):
            if k[6] is None:
                ctimes.append((path, st.st_ctime_ns))
            status, checked_at = k[3], k[4]
            if lookup and client is not None and (
                refresh or status == "unknown"
                or (status == "not_found" and (checked_at is None or now - checked_at >= recheck_seconds))
            ):
                to_lookup.append(path)
            report.unchanged += 1
        else:
            if k is None:
                report.new += 1
            else:
                report.changed += 1
            to_read.append((path, st))

    index.record_ctimes(ctimes)

    # Forget files that are gone (only under roots and folders that could be listed).
    gone = [p for p in known if p not in files and under_any(p, walk.roots)
            and not under_any(p, walk.unlisted)]
    moved_from = _moved_candidates(index, gone, to_read)

    writer = BatchWriter(index, errors=report.errors)
    fresh: list = []          # entries read in this scan, candidates for lookup
    try:
        fresh = _read_files(to_read, moved_from, sidecars, report, writer, notify, workers)
    finally:
        writer.flush()
    if gone:
        report.removed = index.delete(gone) - report.moved  # a moved file is not a removed one

    report.touched = [p for p, _ in to_read] + to_lookup
    if lookup and client is not None:
        candidates = [e for e in fresh if e.needs_lookup(now, refresh or (recheck and e.status == "not_found"))]
        candidates += [e for e in index.entries_for(to_lookup) if e.link_source != "hand"]
        _lookup(candidates, client, report, notify, write_sidecars=write_sidecars,
                nsfw_previews=nsfw_previews, forge=forge, previews=previews)
    report.seconds = time.monotonic() - started
    notify(ScanProgress("done", report.files, report.files))
    return report


def _moved_candidates(index: LibraryIndex, gone: list, to_read: list) -> dict:
    """(size, mtime_ns, inode) -> entry of a file that disappeared: a rename keeps all three."""
    if not gone or not to_read:
        return {}
    wanted = {_stat_key(st) for _, st in to_read}
    out = {}
    for e in index.entries_for(gone):
        key = (e.size, e.mtime_ns, e.inode)
        if key in wanted and e.sha256 and e.status != "error":
            out[key] = e
    return out


def _read_files(to_read, moved_from, sidecars, report: ScanReport, writer: BatchWriter, notify, workers) -> list:
    """Hashes (from a moved entry, a sidecar, or by reading) and header summaries of new files."""
    fresh: list = []
    to_hash: dict = {}        # path -> entry waiting for its hashes
    total_bytes = sum(st.st_size for _, st in to_read)
    done_files = 0
    bytes_done = 0
    for path, st in to_read:
        entry = LibraryEntry.from_stat(path, st)
        old = moved_from.pop(_stat_key(st), None)
        if old is not None:  # renamed or moved: same bytes, keep everything it knew
            old.path = path
            old.take_stat(st)  # a rename changes the ctime
            report.moved += 1
            writer.add(old)
            fresh.append(old)
            done_files += 1
            continue
        try:
            outcome = _prepare(entry, path, st, sidecars, report)
        except Exception as exc:  # whatever one file does, it is that file's error (issue 13 item 1)
            log.warning("scan: %s failed: %s", path, exc, exc_info=True)
            entry = LibraryEntry.from_stat(path, st)
            entry.status, entry.error = "error", f"civkit could not read this file: {type(exc).__name__}: {exc}"
            report.errors.append((path, entry.error))
            outcome = "done"
        if outcome == "hash":
            to_hash[path] = entry
            continue
        if outcome == "fresh":
            fresh.append(entry)
        if outcome != "vanished":
            writer.add(entry)
        done_files += 1
    notify(ScanProgress("hash", done_files, len(to_read), None, 0, total_bytes))

    def on_bytes(n: int) -> None:
        nonlocal bytes_done
        bytes_done += n

    for path, result in _hash_all(to_hash, workers, on_bytes):
        entry = to_hash[path]
        done_files += 1
        if isinstance(result, Exception):
            message = _read_error_message(result)
            report.errors.append((path, message))
            if not isinstance(result, FileNotFoundError):
                entry.status, entry.error = "error", message
                writer.add(entry)
        else:
            report.hashed += 1
            entry.sha256, entry.autov1, entry.autov2 = result.sha256, result.autov1, result.autov2
            writer.add(entry)
            fresh.append(entry)
        notify(ScanProgress("hash", done_files, len(to_read), path, bytes_done, total_bytes))
    return fresh


def _prepare(entry: LibraryEntry, path: str, st, sidecars, report: ScanReport) -> str:
    """The header and sidecar hashes of one new file -> "hash" (read it), "fresh" (known from a
    sidecar), "done" (broken: its error is set) or "vanished"."""
    if path.lower().endswith(SAFETENSORS_SUFFIXES):
        try:
            problem = header_entry_error(entry, path)
        except FileNotFoundError:
            report.errors.append((path, "the file vanished during the scan"))
            return "vanished"
        if problem:
            report.errors.append((path, problem))
            return "done"
    if seed_from_sidecars(entry, path, st, sidecars):
        report.from_sidecars += 1
        return "fresh"
    return "hash"


def _hash_all(to_hash: dict, workers, on_bytes):
    """Small files inline (a thread hand-off costs more than hashing a few KiB), big ones in parallel."""
    small = [p for p, e in to_hash.items() if e.size < SMALL_FILE]
    large = [p for p, e in to_hash.items() if e.size >= SMALL_FILE]
    for path in small:
        try:  # a buffer the size of the file, not hashing's default 8 MiB (allocating it dominates)
            yield path, hash_file(path, SCAN_HASHES, on_bytes, block_size=max(65536, to_hash[path].size + 1))
        except OSError as exc:
            yield path, exc
    yield from hash_files(large, SCAN_HASHES, workers=workers, progress=on_bytes)


def _read_error_message(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file vanished during the scan"
    if isinstance(exc, PermissionError):
        return "permission denied: civkit cannot read this file"
    text = getattr(exc, "strerror", None) or str(exc)
    return f"cannot read the file: {text}"


def _lookup(candidates: list, client, report: ScanReport, notify, *, write_sidecars: bool,
            nsfw_previews: bool, forge: bool, previews: bool) -> None:
    pending = list(candidates)
    writer = BatchWriter(report.index, errors=report.errors)
    linked_now: list = []
    report.looked_up = len(pending)
    result = link_entries(pending, client, progress=lambda phase, d, t: notify(ScanProgress(phase, d, t)))
    report.requests += result.requests
    report.lookup_error = result.error
    checked = time.time()
    for e in pending:
        if e.path in result.autov3:
            e.autov3 = result.autov3[e.path]
        if e.path in result.versions:
            apply_version(e, result.versions[e.path], checked)
            linked_now.append((e, result.versions[e.path]))
        elif e.path in result.not_found:
            mark_not_found(e, checked)
            report.not_found += 1
        elif e.path in result.file_errors:
            report.errors.append((e.path, result.file_errors[e.path]))
        writer.add(e)
    writer.flush()
    report.linked = len(linked_now)
    if write_sidecars:
        session = client.session
        for i, (e, version) in enumerate(linked_now):
            notify(ScanProgress("sidecars", i, len(linked_now), e.path))
            results, preview = write_sidecars_for(e.path, version, session, site=client.download_base,
                                                  nsfw_previews=nsfw_previews, forge=forge, previews=previews)
            report.sidecars.extend(r for r in results if r.status != "unchanged")
            if preview is not None:
                report.previews.append(preview)
