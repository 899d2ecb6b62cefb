"""Save one preview image next to a model: ``<base>.preview.<ext>``, the extension from the bytes.

HOSTS.md §2.7/§4.7: A1111 and ComfyUI look for ``<base>.<ext>`` and ``<base>.preview.<ext>``. civkit
writes the second form once, from the first image the NSFW setting allows (videos skipped), and
never when any preview already exists. Image hosts get no Civitai Authorization header.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from ..atomic import write_atomic
from .sidecar_read import base_of

log = logging.getLogger(__name__)

PREVIEW_EXTS = ("png", "jpg", "jpeg", "webp", "gif")
MAX_PREVIEW_BYTES = 25 * 1024 * 1024
SFW_LEVELS = 1 | 2  # PG and PG-13 (CIVITAI_API.md §3)
_VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".m4v")


def existing_preview(model_path) -> Optional[Path]:
    """The preview a host would show for this model, if there is one."""
    base = str(base_of(model_path))
    for ext in PREVIEW_EXTS:
        for name in (f"{base}.{ext}", f"{base}.preview.{ext}"):
            if os.path.exists(name):
                return Path(name)
    return None


def image_extension(data: bytes) -> Optional[str]:
    """PNG/JPEG/WebP/GIF from the magic bytes; None for anything else (HTML, video, ...)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _field(image, name, raw_key):
    if isinstance(image, dict):
        return image.get(raw_key)
    return getattr(image, name, None)


def _is_video(image) -> bool:
    kind = str(_field(image, "type", "type") or "image").lower()
    url = str(_field(image, "url", "url") or "").lower().split("?")[0]
    return kind != "image" or url.endswith(_VIDEO_SUFFIXES)


def _level(image) -> int:
    level = _field(image, "nsfw_level", "nsfwLevel")
    if isinstance(level, int):
        return level
    named = {"none": 1, "soft": 2, "mature": 4, "x": 8, "blocked": 32}
    return named.get(str(level).lower(), 0) if level is not None else 0


def choose_preview_image(version, nsfw_allowed: bool = False):
    """The first image entry that is a still image and allowed by the NSFW setting."""
    images = version.get("images") if isinstance(version, dict) else getattr(version, "images", ())
    for image in images or ():
        if not _field(image, "url", "url") or _is_video(image):
            continue
        level = _level(image)
        # level 0 means "not rated yet": only shown when the user allows NSFW
        if nsfw_allowed or (level and not level & ~SFW_LEVELS):
            return image
    return None


def fetch_image_bytes(session, url: str, timeout, label: str) -> Optional[bytes]:
    """The image at ``url`` (at most ``MAX_PREVIEW_BYTES``), or None, logged as ``label``; never raises."""
    try:
        # Authorization=None removes a session-wide Civitai key: image hosts must not see it.
        response = session.get(url, headers={"Authorization": None}, timeout=timeout, stream=True)
    except Exception as exc:  # noqa: BLE001 - any transport error only costs the image
        log.info("%s not downloaded: %s", label, type(exc).__name__)
        return None
    try:
        if response.status_code != 200:
            log.info("%s not downloaded: HTTP %s", label, response.status_code)
            return None
        data = bytearray()
        for chunk in response.iter_content(256 * 1024):
            data += chunk
            if len(data) > MAX_PREVIEW_BYTES:
                log.info("%s skipped: larger than %d bytes", label, MAX_PREVIEW_BYTES)
                return None
        return bytes(data)
    except Exception as exc:  # noqa: BLE001
        log.info("%s not downloaded: %s", label, type(exc).__name__)
        return None
    finally:
        response.close()


def save_preview(model_path, version, session, nsfw_allowed: bool = False,
                 timeout=(10, 60)) -> Optional[Path]:
    """Download and save the preview; returns its path, or None when skipped or it failed."""
    if existing_preview(model_path) is not None:
        return None
    image = choose_preview_image(version, nsfw_allowed)
    if image is None:
        return None
    url = _field(image, "url", "url")
    data = fetch_image_bytes(session, url, timeout, f"preview for {model_path}")
    if data is None:
        return None
    ext = image_extension(data[:16])
    if ext is None:
        log.info("preview for %s skipped: the server did not send an image", model_path)
        return None
    target = Path(f"{base_of(model_path)}.preview.{ext}")
    try:
        # another process may have saved a preview meanwhile: never replace it
        if not write_atomic(target, data, before_replace=lambda: existing_preview(model_path) is None):
            return None
    except OSError as exc:
        log.warning("cannot save preview %s: %s", target, exc.strerror or exc)
        return None
    return target
