"""The parts of a scan that touch one file or one folder: walking, headers, sidecars, batching."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Optional

from ..api.normalise import scrub_text
from ..safetensors_header import HeaderError, read_header
from .index import LibraryEntry, LibraryIndex
from .link import apply_version

# Imported where used: the API records, sidecar reading and writing, previews. A rescan of an
# unchanged library needs none of them, and `civkit scan` starts faster without them.

log = logging.getLogger(__name__)

# Metadata values above this size (embedded cover images, ...) are left out of the index;
# the training tags are kept because trigger words come from them.
MAX_METADATA_VALUE = 32 * 1024
MAX_TAG_FREQUENCY = 1024 * 1024
KEEP_LARGE = ("ss_tag_frequency", "ss_dataset_dirs")


SIDECAR_SUFFIXES = (".civitai.info", ".cm-info.json", ".cminfo.json", ".metadata.json", ".rgthree-info.json",
                    ".sha256")


def sidecar_candidates(path: str) -> tuple:
    """The sidecar paths ``read_sidecar_facts`` would look at, as plain strings (cheap)."""
    base = os.path.splitext(path)[0]
    return (base + ".civitai.info", base + ".cm-info.json", base + ".cminfo.json", base + ".metadata.json",
            path + ".rgthree-info.json", base + ".sha256")


@dataclass
class Walk:
    files: dict = field(default_factory=dict)       # real path -> stat
    errors: list = field(default_factory=list)      # [(path, message)]
    roots: list = field(default_factory=list)       # real roots that could be walked
    unlisted: list = field(default_factory=list)    # folders that could not be listed
    sidecars: set = field(default_factory=set)      # sidecar-looking paths seen


def walk_models(roots, extensions) -> Walk:
    """Every model file under ``roots``, the sidecars next to them, and what could not be read.

    One ``stat`` per model file (``DirEntry.stat``); directory entries come with their type, so
    nothing else is asked of the file system. Hidden files and folders are skipped, and so are
    ``.part`` downloads and sidecars (they do not have a model extension). Symlinked folders are
    followed once.
    """
    walk = Walk()
    files, errors, sidecars = walk.files, walk.errors, walk.sidecars  # sidecars: new files without any cost no stat
    visited: set = set()
    for root in roots:
        real_root = os.path.realpath(root)
        if not os.path.isdir(real_root):
            errors.append((str(root), "not a folder (or it does not exist)"))
            continue
        walk.roots.append(real_root)
        stack = [real_root]
        while stack:
            folder = stack.pop()
            if folder in visited:
                continue
            visited.add(folder)
            try:
                it = os.scandir(folder)
            except OSError as exc:
                errors.append((folder, f"cannot list this folder: {exc.strerror or exc}"))
                walk.unlisted.append(folder)
                continue
            with it:
                for entry in it:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    try:
                        if entry.is_dir():
                            path = entry.path
                            stack.append(os.path.realpath(path) if entry.is_symlink() else path)
                            continue
                        if not name.lower().endswith(extensions):
                            if name.endswith(SIDECAR_SUFFIXES):
                                sidecars.add(entry.path)
                            continue
                        st = entry.stat()
                    except FileNotFoundError:
                        continue  # gone between listing and stat: nothing to report
                    except OSError as exc:
                        errors.append((entry.path, f"cannot read this file: {exc.strerror or exc}"))
                        continue
                    path = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
                    if not _utf8(path):
                        errors.append((scrub_text(path), "the file name is not valid UTF-8, so civkit cannot index"
                                       " it; rename the file"))
                        continue
                    if path not in files and S_ISREG(st.st_mode):
                        files[path] = st
    return walk


def _utf8(path: str) -> bool:
    """A name from a non-UTF-8 file system arrives with surrogate escapes; the index cannot hold it."""
    if path.isascii():
        return True
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def header_summary(header) -> dict:
    summary = header.summary()
    meta = {}
    for key, value in summary.get("metadata", {}).items():
        limit = MAX_TAG_FREQUENCY if key in KEEP_LARGE else MAX_METADATA_VALUE
        if isinstance(value, str) and len(value) > limit:
            continue
        meta[key] = value
    summary["metadata"] = meta
    return summary


def header_entry_error(entry: LibraryEntry, path: str) -> Optional[str]:
    """Read the safetensors header into ``entry.header``; a message (and status error) if broken.

    Raises FileNotFoundError when the file vanished.
    """
    try:
        header = read_header(path)
    except FileNotFoundError:
        raise
    except HeaderError as exc:
        message = f"not a valid safetensors file: {exc}"
    except PermissionError:
        message = "permission denied: civkit cannot read this file"
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror or exc}"
    else:
        entry.header = header_summary(header)
        if not header.truncated:
            return None
        message = (
            f"the file is shorter than its header says ({header.file_size} of {header.expected_size} bytes);"
            " the download is probably incomplete"
        )
    entry.status, entry.error = "error", message
    return message


def _version_holds(version: dict, sha: str) -> bool:
    for f in version.get("files") or []:
        hashes = f.get("hashes") if isinstance(f, dict) else None
        if isinstance(hashes, dict) and str(hashes.get("SHA256", "")).upper() == sha:
            return True
    return False


def seed_from_sidecars(entry: LibraryEntry, path: str, st: os.stat_result, present=None) -> bool:
    """Take hashes (and, when verified by SHA256, the Civitai link) from valid sidecars.

    ``present``: the sidecar-looking paths the walk saw; when none is this file's, nothing is read.
    Returns True when the SHA256 is known, i.e. the file need not be read.
    """
    if present is not None and not any(c in present for c in sidecar_candidates(path)):
        return False
    from ..api.records import parse_version
    from .sidecar_read import read_sidecar_facts

    try:
        facts = read_sidecar_facts(path, st)
    except OSError:
        return False
    # (anything else a sidecar makes go wrong is the caller's per-file error: see scan._read_files)
    if facts.not_found_since is not None:
        entry.status, entry.checked_at = "not_found", facts.not_found_since
    sha = facts.hashes.get("SHA256")
    if not sha:
        return False
    entry.sha256, entry.autov2 = sha, sha[:10]
    entry.autov1 = facts.hashes.get("AutoV1")
    entry.autov3 = facts.hashes.get("AutoV3")
    if facts.version and _version_holds(facts.version, sha):
        apply_version(entry, parse_version(facts.version))
    return True


def write_sidecars_for(path: str, version, session, *, site: str, nsfw_previews: bool = False,
                       forge: bool = False, previews: bool = True) -> tuple:
    """``.civitai.info``, the A1111 ``.json`` and a preview for one newly linked file."""
    from .preview import save_preview
    from .sidecars import SidecarResult, merge_a1111_json, write_civitai_info

    results = []
    for write in (
        lambda: write_civitai_info(path, version, site=site),
        lambda: merge_a1111_json(path, version, forge=forge),
    ):
        try:
            results.append(write())
        except OSError as exc:
            results.append(SidecarResult(Path(path), "error", f"cannot write a sidecar: {exc.strerror or exc}"))
    preview = None
    if previews:
        try:
            preview = save_preview(path, version, session, nsfw_allowed=nsfw_previews)
        except OSError as exc:
            log.warning("no preview for %s: %s", path, exc)
    return results, preview


class BatchWriter:
    """Collects index rows and commits them in small transactions (by count or by time)."""

    def __init__(self, index: LibraryIndex, max_rows: int = 200, max_seconds: float = 0.5,
                 errors: Optional[list] = None):
        self.index = index
        self.errors = errors  # (path, message) of rows the index refused; the rest are written
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.pending: list = []
        self.last = time.monotonic()

    def add(self, entry: LibraryEntry) -> None:
        self.pending.append(entry)
        if len(self.pending) >= self.max_rows or time.monotonic() - self.last >= self.max_seconds:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.index.upsert_many(self.pending, failed=self.errors)
            self.pending = []
        self.last = time.monotonic()
