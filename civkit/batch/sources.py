"""What a batch is made of: (version, file, options) triples for ``Planner.plan``.

* ``for_refs``: what the user named, with ``all_files`` / ``all_versions``;
* ``for_models``: models from a listing (favorites, a creator), the newest version unless ``all_versions``;
* ``for_updates``: for every linked model with a newer version, the newest version's file that matches
  the old file's format, size and fp (the old file's metadata comes from the index, so planning costs
  only the bulk ``/models?ids=`` requests of ``find_updates``: one per 100 models).

Every function takes records already fetched or a client and stays out of the disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from ..download.choice import choose_file
from ..download.errors import DownloadError

log = logging.getLogger(__name__)


@dataclass
class Selection:
    """Which files of a version: all of them, or one as ``choose_file`` picks it."""

    all_files: bool = False
    include_training_data: bool = False
    format: Optional[str] = None
    size: Optional[str] = None
    fp: Optional[str] = None
    allow_unsafe: bool = False
    file_id: Optional[int] = None

    def files(self, version) -> list:
        """[(file or None, options)] for one version."""
        if self.all_files and self.file_id is None:
            files = [f for f in version.files or () if self.include_training_data or f.type != "Training Data"]
            if files:
                return [(f, None) for f in files]
            left_out = " (its Training Data is left out without --include-training-data)" if version.files else ""
            return [(None, {"message": _no_files_message(version) + left_out})]
        try:
            # Safety is the planner's call (a blocked row names it), so allow here and judge there.
            chosen = choose_file(version, file_id=self.file_id, format=self.format, size=self.size, fp=self.fp,
                                 allow_unsafe=True, include_training_data=self.include_training_data)
        except DownloadError as exc:
            return [(None, {"message": exc.message})]
        return [(chosen, None)]


def _no_files_message(version) -> str:
    mode = (getattr(version, "model_mode", None) or "").lower()
    if mode == "archived":
        return "archived on Civitai: it can no longer be downloaded"
    return f"Civitai lists no files for version {version.id}"


def published_newest_first(versions) -> list:
    published = [v for v in versions if v.status in (None, "Published")]
    return sorted(published, key=lambda v: (v.published_at or "", v.id), reverse=True)


def for_version(version, selection: Selection) -> list:
    return [(version, f, opts) for f, opts in selection.files(version)]


def for_models(models, selection: Selection, *, all_versions: bool = False) -> list:
    """Triples for listed models: the newest published version (every one with ``all_versions``)."""
    out = []
    for model in models:
        versions = published_newest_first(model.versions)
        if not versions:
            continue
        for version in versions if all_versions else versions[:1]:
            out += for_version(version, selection)
    return out


def for_refs(refs, resolver, client, selection: Selection, *, all_versions: bool = False) -> list:
    """Triples for what the user named. ``resolver`` is a ``VersionResolver``. With ``all_versions``
    one ``GET /models/{id}`` per model; otherwise one version request per reference."""
    out = []
    for ref in refs:
        if all_versions:
            model, _selected = resolver.model(ref)
            out += for_models([model], selection, all_versions=True)
        else:
            version, parsed = resolver.version(ref)
            sel = selection
            if parsed.file_id and selection.file_id is None:
                sel = Selection(**{**selection.__dict__, "file_id": parsed.file_id})
            out += for_version(version, sel)
    return out


def _old_file_meta(entry) -> tuple:
    """(format, size, fp) of a linked file, from the version JSON the index keeps."""
    version_json = entry.version_json if isinstance(entry.version_json, dict) else {}
    sha = (entry.sha256 or "").upper()
    for f in version_json.get("files") or ():
        if not isinstance(f, dict):
            continue
        hashes = f.get("hashes") if isinstance(f.get("hashes"), dict) else {}
        if str(hashes.get("SHA256") or "").upper() == sha:
            meta = f.get("metadata") if isinstance(f.get("metadata"), dict) else {}
            return meta.get("format"), meta.get("size"), meta.get("fp"), f.get("type")
    return None, None, None, None


def _eq(a, b) -> bool:
    return (a or "").lower() == (b or "").lower()


def matching_file(version, fmt, size, fp, ftype=None):
    """(file, note): the version's file with the old file's format, size and fp; else the closest."""
    files = [f for f in version.files or () if f.type != "Training Data"]
    if not files:
        return None, _no_files_message(version)
    exact = [f for f in files if _eq(f.format, fmt) and _eq(f.size, size) and _eq(f.fp, fp)]
    if ftype:
        exact.sort(key=lambda f: (f.type != ftype, not f.primary))
    if exact:
        return exact[0], ""
    same_format = [f for f in files if _eq(f.format, fmt) and f.type in ("Model", "Pruned Model")]
    pick = next((f for f in same_format if f.primary), None) or (same_format[0] if same_format else None)
    if pick is None:
        pick = version.primary_file
    wanted = " ".join(x for x in (fmt, size, fp) if x) or "the old file's kind"
    return pick, f"no file matches {wanted}; planned the closest ({pick.name})" if pick else ""


def for_updates(entries, client) -> tuple:
    """(triples, updates) for every linked model with a newer version. One row per distinct file of
    the newest version; it goes beside the newest local copy and supersedes the copies it matches."""
    from ..library.queries import find_updates

    by_path = {e.path: e for e in entries}
    updates = find_updates(entries, client)
    out = []
    for update in updates:
        model = update.model
        latest = next((v for v in model.versions if v.id == update.latest_version_id), None) if model else None
        if latest is None:
            continue
        planned: dict = {}
        for copy in update.local:
            entry = by_path.get(copy.path)
            if entry is None:
                continue
            fmt, size, fp, ftype = _old_file_meta(entry)
            file, note = matching_file(latest, fmt, size, fp, ftype)
            key = getattr(file, "id", None)
            if key in planned:
                planned[key][2]["replaces"].append(copy.path)
                continue
            opts = {"message": note, "replaces": [copy.path], "beside": copy.path} if file is not None else \
                {"message": note}
            planned[key] = (latest, file, opts)
        out += list(planned.values())
    return out, updates
