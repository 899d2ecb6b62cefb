"""Link files to Civitai with as few requests as possible (CIVITAI_API.md §4.4–4.6, §12).

1. ``POST /model-versions/by-hash/ids`` with every SHA256 (up to 10,000 a call): which are known.
2. ``POST /model-versions/by-hash`` for the known ones only, 100 a call: their full versions,
   mapped back through ``files[].hashes.SHA256`` (the route drops unmatched hashes silently).
3. ``GET /model-versions/by-hash/<AutoV3>`` one by one, only for safetensors files SHA256 did not
   find — a metadata editor may have rewritten their header, which changes SHA256 but not AutoV3.
   AutoV3 is computed for just those files.

Identifying 1,000 files known to Civitai therefore takes 1 + 10 requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from ..api.errors import CivitaiError, NotFound
from ..hashing import EMPTY_AUTOV3, hash_files
from .index import LibraryEntry

log = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")


@dataclass
class LinkResult:
    versions: dict = field(default_factory=dict)   # path -> ModelVersion
    not_found: set = field(default_factory=set)    # paths Civitai does not know
    autov3: dict = field(default_factory=dict)     # path -> AutoV3 computed here
    requests: int = 0
    error: Optional[str] = None                    # why lookups stopped early (offline, ...)
    file_errors: dict = field(default_factory=dict)  # path -> message (AutoV3 could not be read)


def _older_first(version) -> tuple:
    # by-hash semantics when several files share a hash: the oldest version wins (§4.4)
    return (version.published_at or "9999", version.id)


def _pick_versions(versions, matched: dict) -> dict:
    """SHA256 -> the version holding a file with that hash; the version by-hash/ids named wins."""
    chosen: dict = {}
    for version in versions:
        for f in version.files:
            sha = (f.sha256 or "").upper()
            if sha not in matched:
                continue
            current = chosen.get(sha)
            wanted = matched[sha].model_version_id
            if current is None or (version.id == wanted and current.id != wanted) or (
                current.id != wanted and _older_first(version) < _older_first(current)
            ):
                chosen[sha] = version
    return chosen


def apply_version(entry: LibraryEntry, version, checked_at: Optional[float] = None) -> None:
    """Fill the Civitai link of ``entry`` from a ModelVersion record."""
    entry.status = "linked"
    entry.error = None
    entry.model_id = version.model_id
    entry.version_id = version.id
    entry.model_name = version.model_name
    entry.version_name = version.name
    entry.model_type = version.model_type
    entry.base_model = version.base_model
    entry.trained_words = [w for w in version.trained_words if isinstance(w, str)]
    entry.air = version.air
    entry.version_json = dict(version.raw) if version.raw else None
    entry.checked_at = time.time() if checked_at is None else checked_at


def mark_not_found(entry: LibraryEntry, checked_at: Optional[float] = None) -> None:
    entry.clear_link()
    entry.status = "not_found"
    entry.error = None
    entry.checked_at = time.time() if checked_at is None else checked_at


def _autov3_for(entries: list, result: LinkResult) -> dict:
    """path -> AutoV3 for safetensors files, computing it only where it is not known yet."""
    known = {e.path: e.autov3 for e in entries if e.autov3}
    todo = [e.path for e in entries if not e.autov3]
    for path, value in hash_files(todo, ("AutoV3",)):
        if isinstance(value, Exception):
            result.file_errors[path] = f"cannot read the file to compute AutoV3: {value}"
        elif value.autov3:
            known[path] = value.autov3
            result.autov3[path] = value.autov3
    return known


def link_entries(entries, client, *, autov3: bool = True,
                 progress: Optional[Callable[[str, int, int], None]] = None) -> LinkResult:
    """Ask Civitai which of ``entries`` (with SHA256 set) it knows. Entries are not modified."""
    result = LinkResult()
    start = client.requests_made
    by_sha: dict = {}
    for e in entries:
        if e.sha256:
            by_sha.setdefault(e.sha256.upper(), []).append(e)
    if not by_sha:
        return result
    try:
        if progress:
            progress("lookup", 0, len(by_sha))
        matched = {m.hash.upper(): m for m in client.get_version_ids_by_hashes(list(by_sha))}
        versions = client.get_versions_by_hashes(list(matched)) if matched else []
        chosen = _pick_versions(versions, matched)
        for sha in matched:
            if sha not in chosen:  # published/unpublished race between the two calls
                try:
                    chosen[sha] = client.get_version(matched[sha].model_version_id)
                except NotFound:
                    pass
        for sha, group in by_sha.items():
            for e in group:
                if sha in chosen:
                    result.versions[e.path] = chosen[sha]
        if progress:
            progress("lookup", len(chosen), len(by_sha))
        unmatched = [e for e in entries if e.sha256 and e.path not in result.versions]
        rest = [e for e in unmatched if e.path.lower().endswith(SAFETENSORS_SUFFIXES)] if autov3 else []
        rest_paths = {e.path for e in rest}
        result.not_found.update(e.path for e in unmatched if e.path not in rest_paths)
        if rest:
            _link_by_autov3(rest, client, result)
    except CivitaiError as exc:
        result.error = exc.message
        log.warning("Civitai lookup stopped: %s", exc.message)
    finally:
        result.requests = client.requests_made - start
    return result


def _link_by_autov3(entries: list, client, result: LinkResult) -> None:
    values = _autov3_for(entries, result)
    answers: dict = {}  # AutoV3 -> version or None, so duplicates cost one request
    for e in entries:
        value = values.get(e.path)
        if not value or value.upper() == EMPTY_AUTOV3:
            if e.path not in result.file_errors:
                result.not_found.add(e.path)
            continue
        value = value.upper()
        if value not in answers:
            try:
                answers[value] = client.get_version_by_hash(value)
            except NotFound:
                answers[value] = None
        if answers[value] is not None:
            result.versions[e.path] = answers[value]
        else:
            result.not_found.add(e.path)
