"""How long a name civkit makes may be, in bytes (issue 13 item 8).

A path component holds at most 255 bytes on ext4, btrfs, XFS and APFS (NTFS counts 255 UTF-16
units, which a 255-byte UTF-8 name never exceeds). civkit adds to the names it makes:
``.part``, ``.part.lock``, ``.part.segments`` (a segmented download's state) and that state file's
atomic temp name (``"." + name + ".part.segments" + ".XXXXXXXX.tmp"`` = name + 28 bytes); sidecars
(``.civitai.info``, ``.preview.jpeg`` and their temp names) replace the extension and stay within
that too. So a file or folder name civkit makes, a `` (NNN)`` suffix included, is at most
``MAX_NAME_BYTES`` = 223 bytes, cut on a character boundary with its extension kept.
"""

from __future__ import annotations

NAME_MAX = 255
ROOM_BESIDE = 32
MAX_NAME_BYTES = NAME_MAX - ROOM_BESIDE


def cut_to_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, on a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:max(0, limit)].decode("utf-8", "ignore")


def _split_ext(name: str) -> tuple[str, str]:
    """(stem, ".ext") with an extension worth keeping (up to 16 characters), else (name, "")."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        return name, ""
    return stem, "." + ext


def fit_name(name: str, limit: int = MAX_NAME_BYTES, *, keep_ext: bool = True, tail: str = "") -> str:
    """``name`` (with ``tail``, e.g. " (12)", before its extension) in at most ``limit`` bytes: only
    the stem is shortened, on a character boundary; the extension and ``tail`` are kept."""
    stem, ext = _split_ext(name) if keep_ext else (name, "")
    if len((stem + tail + ext).encode("utf-8")) <= limit:
        return stem + tail + ext
    short = cut_to_bytes(stem, limit - len((tail + ext).encode("utf-8"))).rstrip(". ")
    return f"{short}{tail}{ext}" if short else cut_to_bytes(stem + tail + ext, limit)
