"""JSON-safe dicts made from civkit records, the shapes every UI receives from the service.

Only plain ``str``/``int``/``float``/``bool``/``None``/``list``/``dict`` come out of here, so
gradio, aiohttp and FastAPI can send the result as it is. Nothing here talks to the network.
Descriptions are sanitised (``html_text``) before they leave: a UI may render ``description_html``
as HTML.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Optional

from .download.choice import is_pickle
from .html_text import sanitize_html, to_plain_text

# Civitai browsing levels (CIVITAI_API.md §3): PG=1, PG13=2, R=4, X=8, XXX=16, Blocked=32.
SFW_LEVELS = 1 | 2


def is_sfw_level(level: Optional[int]) -> bool:
    """No bit above PG13. Level 0 ("not rated yet") has no such bit and counts as SFW here;
    images use ``image_is_nsfw`` instead, which treats unrated images as NSFW."""
    return not (int(level or 0) & ~SFW_LEVELS)


def hidden_note(count: int, how: str) -> str:
    """What every face says when strict SFW hid search results: how many, and how to show them."""
    noun = "model" if count == 1 else "models"
    return f"{count} {noun} hidden by the strict SFW filter (content rated above PG-13): {how} to show them."


def image_is_nsfw(level: Optional[int]) -> bool:
    """Blur-worthy: rated above PG13, or not rated at all (an unrated image may be anything)."""
    level = int(level or 0)
    return level == 0 or bool(level & ~SFW_LEVELS)


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Raw API fragments (image meta) copied into plain JSON types, nothing deeper than 6 levels."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 6:
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in value]
    return str(value)


def stats_dict(stats) -> dict:
    if stats is None:
        return {"downloads": None, "likes": 0, "dislikes": 0, "comments": 0, "rating": None}
    return {
        "downloads": stats.download_count,
        "likes": stats.thumbs_up,
        "dislikes": stats.thumbs_down,
        "comments": stats.comment_count,
        "rating": stats.rating,
    }


def creator_dict(creator) -> Optional[dict]:
    if creator is None:
        return None
    return {"username": creator.username, "image": creator.image}


def image_dict(image) -> dict:
    return {
        "url": image.url,
        "nsfw_level": int(image.nsfw_level or 0),
        "nsfw": image_is_nsfw(image.nsfw_level),
        "width": image.width,
        "height": image.height,
        "type": image.type or "image",
        "is_video": bool(image.is_video),
        "meta": _json_safe(image.meta) if image.meta else None,
    }


def preview_dict(images: Iterable, *, nsfw: bool) -> Optional[dict]:
    """The first image (the first SFW one in strict SFW mode), as url + nsfw flag."""
    for image in images:
        if not nsfw and image_is_nsfw(image.nsfw_level) and int(image.nsfw_level or 0) != 0:
            continue
        return {
            "url": image.url,
            "nsfw": image_is_nsfw(image.nsfw_level),
            "nsfw_level": int(image.nsfw_level or 0),
            "is_video": bool(image.is_video),
        }
    return None


def scan_verdict(file) -> tuple[bool, bool]:
    """(safe, needs_allow_unsafe) for a file.

    A "Danger" pickle or virus scan is never safe; a PickleTensor file (arbitrary code when
    loaded) needs an explicit allow-unsafe, as ``download.choose_file`` demands.
    """
    danger = any(str(r or "").lower() == "danger" for r in (file.pickle_scan, file.virus_scan))
    pickled = is_pickle(file)
    return (not danger and not pickled), (pickled and not danger)


def file_dict(file) -> dict:
    safe, needs_allow = scan_verdict(file)
    return {
        "id": file.id,
        "name": file.name,
        "size": int(file.size_bytes),
        "size_kb": float(file.size_kb or 0),
        "type": file.type,
        "format": file.format,
        "fp": file.fp,
        "size_kind": file.size,
        "primary": bool(file.primary),
        "sha256": file.sha256,
        "pickle_scan": file.pickle_scan,
        "virus_scan": file.virus_scan,
        "safe": safe,
        "needs_allow_unsafe": needs_allow,
    }


def version_brief(version) -> dict:
    return {
        "id": version.id,
        "name": version.name,
        "base_model": version.base_model,
        "published_at": version.published_at,
    }


def version_dict(version, *, local_path: Optional[str] = None, nsfw: bool = True) -> dict:
    images = [image_dict(i) for i in version.images if nsfw or not image_is_nsfw(i.nsfw_level)]
    try:
        early = bool(version.early_access_active())
    except (TypeError, ValueError):
        early = False
    return {
        **version_brief(version),
        "model_id": version.model_id,
        "base_model_type": version.base_model_type,
        "nsfw_level": int(version.nsfw_level or 0),
        "trained_words": list(version.trained_words),
        "description_html": sanitize_html(version.description),
        "description_text": to_plain_text(version.description),
        "air": version.air,
        "availability": version.availability,
        "early_access": early,
        "early_access_deadline": version.early_access_deadline,
        "stats": stats_dict(version.stats),
        "files": [file_dict(f) for f in version.files],
        "images": images,
        "in_library": local_path is not None,
        "local_path": local_path,
    }


def model_summary(model, *, library_versions: Iterable[int] = (), nsfw: bool = False) -> dict:
    """One search result card."""
    owned = set(library_versions)
    images = [i for v in model.versions for i in v.images]
    return {
        "id": model.id,
        "name": model.name,
        "type": model.type,
        "nsfw": bool(model.nsfw) or not is_sfw_level(model.nsfw_level),
        "nsfw_level": int(model.nsfw_level or 0),
        "creator": creator_dict(model.creator),
        "stats": stats_dict(model.stats),
        "tags": list(model.tags),
        "preview": preview_dict(images, nsfw=nsfw),
        "versions": [version_brief(v) for v in model.versions],
        "in_library": any(v.id in owned for v in model.versions),
        "mode": model.mode,
    }


def model_detail(model, *, local_paths: Optional[dict] = None, nsfw: bool = True,
                 selected_version_id: Optional[int] = None) -> dict:
    """The details view: the model with every version, file and image."""
    local_paths = local_paths or {}
    versions = [version_dict(v, local_path=local_paths.get(v.id), nsfw=nsfw) for v in model.versions]
    if selected_version_id is None and versions:
        selected_version_id = versions[0]["id"]
    return {
        "id": model.id,
        "name": model.name,
        "type": model.type,
        "nsfw": bool(model.nsfw) or not is_sfw_level(model.nsfw_level),
        "nsfw_level": int(model.nsfw_level or 0),
        "poi": bool(model.poi),
        "mode": model.mode,
        "availability": model.availability,
        "creator": creator_dict(model.creator),
        "stats": stats_dict(model.stats),
        "tags": list(model.tags),
        "description_html": sanitize_html(model.description),
        "description_text": to_plain_text(model.description),
        "license": {
            "commercial_use": sorted(model.allow_commercial_use or ()),
            "allow_no_credit": bool(model.allow_no_credit),
            "allow_derivatives": bool(model.allow_derivatives),
            "allow_different_license": bool(model.allow_different_license),
        },
        "versions": versions,
        "selected_version_id": selected_version_id,
        "in_library": any(v["in_library"] for v in versions),
    }


def entry_dict(entry, *, update: Optional[dict] = None) -> dict:
    """A library file for the Library views: a ``LibraryEntry`` or a light row from
    ``LibraryIndex.list_rows`` (a dict, which also knows ``copies``: files with the same SHA-256).

    Keys: path, name, folder, size, status, model_id, version_id, model_name, version_name,
    model_type, base_model, trained_words, sha256, air, checked_at, error, copies,
    update_available, latest_version_id, latest_version_name.
    """
    if isinstance(entry, dict):  # copied as a whole: this runs once per file of the library
        out = {k: entry.get(k) for k in _ENTRY_FIELDS} if entry.keys() != _ENTRY_KEYS else dict(entry)
    else:
        out = {k: getattr(entry, k, None) for k in _ENTRY_FIELDS}
    path = out["path"] = str(out["path"])
    head, sep, name = path.rpartition(os.sep)
    if os.altsep or not sep or not head:  # Windows, a bare name or a file at "/": let os.path decide
        name, head = os.path.basename(path), os.path.dirname(path)
    out["name"] = name
    out["folder"] = head
    out["trained_words"] = list(out["trained_words"] or ())
    out["update_available"] = bool(update.get("available")) if update is not None else None
    out["latest_version_id"] = update.get("latest_version_id") if update else None
    out["latest_version_name"] = update.get("latest_version_name") if update else None
    return out


_ENTRY_FIELDS = ("path", "size", "status", "model_id", "version_id", "model_name", "version_name", "model_type",
                 "base_model", "trained_words", "sha256", "air", "checked_at", "error", "copies")
_ENTRY_KEYS = frozenset(_ENTRY_FIELDS)
