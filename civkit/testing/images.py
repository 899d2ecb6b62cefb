"""Image files with generation metadata, built byte by byte (stdlib only), for tests and the demo.

``png_with_text`` writes real PNGs with ``tEXt`` / ``zTXt`` / ``iTXt`` chunks; ``jpeg_with_exif`` and
``webp_with_exif`` carry an EXIF ``UserComment`` the way A1111 writes it (``UNICODE\\0`` + UTF-16,
big-endian by default) or as ASCII. The JPEG and WebP hold no pixels a decoder would show: only
the metadata matters here.
"""

from __future__ import annotations

import struct
import zlib

from .files import png_bytes


def png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    value = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", value)


def text_chunk(key: str, text: str, mode: str = "tEXt") -> bytes:
    k = key.encode("latin-1")
    if mode == "tEXt":
        return png_chunk(b"tEXt", k + b"\0" + text.encode("latin-1", "replace"))
    if mode == "zTXt":
        return png_chunk(b"zTXt", k + b"\0\0" + zlib.compress(text.encode("latin-1", "replace")))
    if mode == "iTXt":
        return png_chunk(b"iTXt", k + b"\0\0\0\0\0" + text.encode("utf-8"))
    if mode == "iTXt-z":
        return png_chunk(b"iTXt", k + b"\0\1\0\0\0" + zlib.compress(text.encode("utf-8")))
    raise ValueError(mode)


def png_with_text(texts: dict, *, mode: str = "tEXt", width: int = 32, height: int = 48, seed: int = 1) -> bytes:
    """A real PNG with one text chunk per ``texts`` item, placed before IDAT (as A1111 and ComfyUI do)."""
    base = png_bytes(width, height, seed)
    head = len(b"\x89PNG\r\n\x1a\n") + 8 + 13 + 4  # signature + IHDR
    extra = b"".join(text_chunk(k, v, mode) for k, v in texts.items())
    return base[:head] + extra + base[head:]


def user_comment(text: str, encoding: str = "unicode-be") -> bytes:
    if encoding == "unicode-be":
        return b"UNICODE\0" + text.encode("utf-16-be")
    if encoding == "unicode-le":
        return b"UNICODE\0" + text.encode("utf-16-le")
    return b"ASCII\0\0\0" + text.encode("ascii", "replace")


def tiff_with_user_comment(comment: bytes, little_endian: bool = True) -> bytes:
    """A TIFF block: IFD0 with an Exif pointer, the Exif IFD with UserComment (tag 0x9286)."""
    e = "<" if little_endian else ">"
    ifd0_at = 8
    exif_at = ifd0_at + 2 + 12 + 4
    data_at = exif_at + 2 + 12 + 4
    out = (b"II" if little_endian else b"MM") + struct.pack(e + "HI", 42, ifd0_at)
    out += struct.pack(e + "H", 1) + struct.pack(e + "HHII", 0x8769, 4, 1, exif_at) + struct.pack(e + "I", 0)
    out += struct.pack(e + "H", 1) + struct.pack(e + "HHII", 0x9286, 7, len(comment), data_at)
    out += struct.pack(e + "I", 0)
    return out + comment


def jpeg_with_exif(text: str, encoding: str = "unicode-be") -> bytes:
    exif = b"Exif\0\0" + tiff_with_user_comment(user_comment(text, encoding))
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return b"\xff\xd8" + app1 + b"\xff\xd9"


def webp_with_exif(text: str, encoding: str = "unicode-be") -> bytes:
    exif = tiff_with_user_comment(user_comment(text, encoding))
    vp8l = b"\x2f\x00\x00\x00\x00"  # a stub 1x1 lossless header: readers of metadata skip it
    chunks = b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l + b"\0"
    chunks += b"EXIF" + struct.pack("<I", len(exif)) + exif + (b"\0" if len(exif) % 2 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks
