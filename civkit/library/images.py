"""Example images kept offline: one content-addressed cache under ``$CIVKIT_HOME/images``.

``objects/<sha[:2]>/<sha256>.<ext>`` holds each image once, however many versions show it;
``versions/<version id>.json`` lists the images kept for a version (url, sha256, file, size,
NSFW level). Nothing is written beside the model files, so moving a model needs nothing here.
The NSFW setting is respected as for previews (``preview.choose_preview_image``'s rule); videos
are skipped. Image hosts never get the Civitai Authorization header.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Optional

from ..atomic import write_atomic
from .preview import SFW_LEVELS, _field, _is_video, _level, fetch_image_bytes, image_extension

log = logging.getLogger(__name__)

MAX_IMAGES = 50


def cache_root(home) -> Path:
    return Path(home) / "images"


def allowed(image, nsfw_allowed: bool) -> bool:
    if not _field(image, "url", "url") or _is_video(image):
        return False
    level = _level(image)
    return nsfw_allowed or bool(level and not level & ~SFW_LEVELS)


def store_image(home, data: bytes) -> Optional[str]:
    """Keep ``data`` once by its SHA-256; the file's path relative to the cache, or None if not an image."""
    ext = image_extension(bytes(data[:16]))
    if ext is None:
        return None
    sha = hashlib.sha256(data).hexdigest()
    relative = f"objects/{sha[:2]}/{sha}.{ext}"
    target = cache_root(home) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, bytes(data))
    return relative


def _fetch(session, url: str, timeout) -> Optional[bytes]:
    return fetch_image_bytes(session, url, timeout, f"example image {url}")


def _manifest_path(home, version_id) -> Path:
    return cache_root(home) / "versions" / f"{int(version_id)}.json"


def cached_images(home, version_id) -> list:
    """The kept images of a version: ``[{url, sha256, file (absolute), nsfw_level, width, height}]``."""
    if version_id is None:
        return []
    try:
        with open(_manifest_path(home, version_id), encoding="utf-8") as fh:
            items = json.load(fh)
    except (OSError, ValueError, TypeError):
        return []
    out = []
    root = cache_root(home).resolve()
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            continue
        path = (root / item["file"]).resolve()
        if root in path.parents and path.is_file():  # a damaged manifest never points elsewhere
            out.append({**item, "file": str(path)})
    return out


def keep_version_images(home, version: dict, session, limit: int, *, nsfw_allowed: bool = False,
                        timeout=(10, 60)) -> list:
    """Download (if not cached yet) up to ``limit`` allowed images of ``version`` (raw JSON)."""
    version_id = version.get("id") if isinstance(version, dict) else None
    if not version_id or limit <= 0:
        return []
    limit = min(int(limit), MAX_IMAGES)
    known = {i["url"]: i for i in cached_images(home, version_id)}
    kept = []
    for image in version.get("images") or []:
        if len(kept) >= limit:
            break
        if not isinstance(image, dict) or not allowed(image, nsfw_allowed):
            continue
        url = image["url"]
        if url in known:
            item = dict(known[url])
            item["file"] = os.path.relpath(item["file"], cache_root(home))
            kept.append(item)
            continue
        data = _fetch(session, url, timeout)
        relative = store_image(home, data) if data else None
        if relative is None:
            continue
        kept.append({"url": url, "sha256": Path(relative).stem, "file": relative, "size": len(data),
                     "nsfw_level": image.get("nsfwLevel"), "width": image.get("width"),
                     "height": image.get("height")})
    target = _manifest_path(home, version_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps(kept, indent=1).encode("utf-8"))
    return kept
