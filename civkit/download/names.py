"""File names from Civitai, made safe to create inside a chosen folder (HOSTS.md §3, CIVITAI_API.md §5.5).

A name from the server is data, not a path: it may carry ``..``, an absolute or drive path, a UNC
prefix, separators of either OS, control characters or a Windows reserved device name. Whatever
comes in, what comes out is one plain file name, or ``UnsafeFilename``.
"""

from __future__ import annotations

import os
import re
import unicodedata
from email.message import Message
from pathlib import Path
from typing import Optional, Union
from urllib.parse import unquote

from ..name_bytes import MAX_NAME_BYTES, fit_name

__all__ = ["MAX_NAME_BYTES", "UnsafeFilename", "filename_from_disposition", "safe_filename", "suffixed_name",
           "target_inside"]

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{dev}{n}" for dev in ("COM", "LPT") for n in list("123456789") + ["¹", "²", "³"]
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeFilename(ValueError):
    """No usable file name is left after removing the dangerous parts."""

    def __init__(self, name: str):
        self.name = name
        self.message = f"Civitai gave the file name {name!r}, which is not a usable file name"
        super().__init__(self.message)


def safe_filename(name: Optional[str]) -> str:
    """One file name that can only ever mean a file directly inside the target folder.

    Path parts (POSIX and Windows separators, ``..``, drive letters, UNC prefixes) are stripped to
    the last component, control characters removed, Windows-forbidden characters replaced, trailing
    dots/spaces dropped, reserved device names prefixed with ``_``. Raises ``UnsafeFilename`` when
    nothing is left.
    """
    if name is None:
        raise UnsafeFilename("")
    original = str(name)
    text = unicodedata.normalize("NFC", original)
    text = _CONTROL.sub("", text)
    # The last component under both POSIX and Windows rules: "a/../b\\c" -> "c", "C:x" -> "x".
    text = re.split(r"[\\/]", text)[-1]
    text = _DRIVE.sub("", text)
    text = _WINDOWS_FORBIDDEN.sub("_", text)
    text = text.strip().rstrip(". ")
    if text in ("", ".", "..") or set(text) <= {"."}:
        raise UnsafeFilename(original)
    text = text.lstrip()
    stem = text.split(".", 1)[0].rstrip(" ").upper()
    if stem in _WINDOWS_RESERVED:
        text = "_" + text
    return fit_name(text)  # at most MAX_NAME_BYTES: room for .part.lock, the state file, " (NNN)"


def filename_from_disposition(header: Optional[str]) -> Optional[str]:
    """The file name in a Content-Disposition header: RFC 5987 ``filename*=`` first, then ``filename=``.

    Returned raw (unsanitised), or None when there is none.
    """
    if not header:
        return None
    star = re.search(r"filename\*\s*=\s*([^;]+)", header, re.IGNORECASE)
    if star:
        value = star.group(1).strip().strip('"')
        charset, _, rest = value.partition("'")
        _, _, encoded = rest.partition("'")
        if encoded:
            try:
                return unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                pass
        elif "'" not in value and value:  # a bare percent-encoded value, without charset''
            return unquote(value)
    msg = Message()
    msg["content-disposition"] = header
    plain = msg.get_param("filename", header="content-disposition")
    if isinstance(plain, tuple):  # RFC 2231 form decoded by email
        plain = unquote(plain[2], encoding=plain[0] or "utf-8", errors="replace")
    return str(plain) if plain else None


def suffixed_name(name: str, n: int) -> str:
    """``model.safetensors`` -> ``model (n).safetensors``; a long stem is shortened so the result
    stays within ``MAX_NAME_BYTES``."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return fit_name(name, keep_ext=False, tail=f" ({n})")
    plain = f"{stem} ({n}).{ext}"
    return plain if len(plain.encode("utf-8")) <= MAX_NAME_BYTES else fit_name(name, tail=f" ({n})")


def target_inside(folder: Union[str, Path], name: str) -> Path:
    """``folder / name`` for an already safe name, checked once more to lie directly in ``folder``."""
    folder = Path(folder)
    target = folder / name
    # Normalise without following a symlink at the target: replacing a link is fine, but the
    # name itself must not climb out of the folder.
    if Path(os.path.normpath(folder.resolve() / name)).parent != folder.resolve():
        raise UnsafeFilename(name)
    return target
