"""Read generation text out of image files, with the standard library only (no Pillow).

* PNG: ``tEXt``, ``zTXt`` and ``iTXt`` chunks (A1111 ``parameters``; ComfyUI ``prompt`` and
  ``workflow``). Non-text chunks are skipped with a seek, never read.
* JPEG: the EXIF ``UserComment`` (``UNICODE\\0`` + UTF-16 as A1111 writes it, or ``ASCII\\0``),
  ``ImageDescription``, and ComfyUI's ``Make``/``Model`` tags (``workflow:{...}`` / ``prompt:{...}``);
  also ``COM`` comment segments.
* WebP: the same EXIF tags from the RIFF ``EXIF`` chunk.

Hostile files: every length is checked against what is left; a text chunk larger than
``MAX_TEXT`` bytes (compressed or not) is skipped and reported in ``ImageText.skipped``; a truncated
file yields what was complete before the cut. Nothing here raises on bad bytes except
``NotAnImage`` for data that is no PNG, JPEG or WebP at all.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field

MAX_TEXT = 16 * 1024 * 1024        # per text value, after decompression
MAX_CHUNKS = 10000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_KEYS = ("parameters", "prompt", "workflow", "UserComment", "ImageDescription", "comment")


class NotAnImage(ValueError):
    """The bytes are not a PNG, JPEG or WebP file."""


@dataclass
class ImageText:
    format: str
    texts: dict = field(default_factory=dict)      # key -> text (first value wins)
    skipped: list = field(default_factory=list)    # "<key>: why" for values that were not read

    def put(self, key: str, text: str) -> None:
        if text and key not in self.texts:
            self.texts[key] = text


def image_format(head: bytes) -> str | None:
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def read_image_text(data_or_stream) -> ImageText:
    """The text values of an image given as bytes or a binary stream (file object)."""
    stream = io.BytesIO(data_or_stream) if isinstance(data_or_stream, (bytes, bytearray)) else data_or_stream
    head = stream.read(16)
    kind = image_format(head)
    if kind is None:
        raise NotAnImage("not a PNG, JPEG or WebP image")
    stream.seek(0)
    out = ImageText(kind)
    if kind == "png":
        _read_png(stream, out)
    elif kind == "jpeg":
        _read_jpeg(stream, out)
    else:
        _read_webp(stream, out)
    return out


# ----------------------------------------------------------------- PNG

def _inflate(data: bytes) -> bytes | None:
    """zlib-decompress at most MAX_TEXT bytes; None when larger (a decompression bomb) or broken."""
    try:
        d = zlib.decompressobj()
        out = d.decompress(data, MAX_TEXT + 1)
    except zlib.error:
        return None
    return None if len(out) > MAX_TEXT else out


def _read_png(stream, out: ImageText) -> None:
    stream.seek(len(PNG_SIGNATURE))
    for _ in range(MAX_CHUNKS):
        header = stream.read(8)
        if len(header) < 8:
            return  # truncated (or no IEND): keep what was read
        length, ctype = struct.unpack(">I4s", header)
        if ctype == b"IEND":
            return
        if ctype not in (b"tEXt", b"zTXt", b"iTXt"):
            stream.seek(length + 4, io.SEEK_CUR)
            continue
        if length > MAX_TEXT + 1024:
            out.skipped.append(f"{ctype.decode()} chunk of {length} bytes (more than civkit reads)")
            stream.seek(length + 4, io.SEEK_CUR)
            continue
        body = stream.read(length)
        crc = stream.read(4)
        if len(body) < length or len(crc) < 4:
            out.skipped.append(f"{ctype.decode()} chunk cut off at the end of the file")
            return
        if struct.unpack(">I", crc)[0] != zlib.crc32(ctype + body):
            out.skipped.append(f"{ctype.decode()} chunk with a bad checksum")
            continue
        key, text = _png_text(ctype, body)
        if key is None:
            out.skipped.append(f"{ctype.decode()} chunk that could not be decoded")
        else:
            out.put(key, text)


def _png_text(ctype: bytes, body: bytes):
    key, sep, rest = body.partition(b"\0")
    if not sep or not key or len(key) > 79:
        return None, None
    name = key.decode("latin-1")
    if ctype == b"tEXt":
        return name, rest.decode("latin-1")
    if ctype == b"zTXt":
        raw = _inflate(rest[1:]) if rest[:1] == b"\0" else None
        return (name, raw.decode("latin-1")) if raw is not None else (None, None)
    # iTXt: compression flag, method, language\0, translated keyword\0, text (UTF-8)
    if len(rest) < 2:
        return None, None
    flag, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) < 3:
        return None, None
    text = parts[2]
    if flag:
        text = _inflate(text) if method == 0 else None
        if text is None:
            return None, None
    return name, text.decode("utf-8", "replace")


# ----------------------------------------------------------------- EXIF (JPEG, WebP)

_TIFF_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}
_TAG_NAMES = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x9286: "UserComment"}


def decode_user_comment(raw: bytes) -> str:
    """EXIF UserComment: an 8-byte charset prefix, then the text (A1111: ``UNICODE\\0`` + UTF-16)."""
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", "replace").rstrip("\0")
        # piexif (A1111) writes big-endian; some tools little-endian: ASCII text tells by its zero bytes
        even_zero = body[0::2].count(0)
        odd_zero = body[1::2].count(0)
        codec = "utf-16-le" if odd_zero > even_zero else "utf-16-be"
        return body[: len(body) // 2 * 2].decode(codec, "replace").rstrip("\0")
    if prefix.startswith(b"ASCII") or prefix == b"\0" * 8:
        return body.decode("utf-8", "replace").rstrip("\0")
    return raw.decode("utf-8", "replace").rstrip("\0")


def _read_tiff(tiff: bytes, out: ImageText) -> None:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        out.skipped.append("EXIF block without a TIFF header")
        return
    end = "<" if tiff[:2] == b"II" else ">"
    ifd = struct.unpack(end + "I", tiff[4:8])[0]
    seen: set = set()
    queue = [ifd]
    while queue and len(seen) < 8:
        offset = queue.pop(0)
        if offset in seen or offset + 2 > len(tiff):
            continue
        seen.add(offset)
        count = struct.unpack(end + "H", tiff[offset:offset + 2])[0]
        for i in range(min(count, 512)):
            at = offset + 2 + 12 * i
            if at + 12 > len(tiff):
                out.skipped.append("EXIF directory cut off")
                break
            tag, typ, n = struct.unpack(end + "HHI", tiff[at:at + 8])
            if tag == 0x8769:  # the Exif sub-directory, where UserComment lives
                queue.append(struct.unpack(end + "I", tiff[at + 8:at + 12])[0])
                continue
            if tag not in _TAG_NAMES or typ not in _TIFF_TYPES:
                continue
            size = _TIFF_TYPES[typ] * n
            if size > MAX_TEXT:
                out.skipped.append(f"{_TAG_NAMES[tag]} of {size} bytes (more than civkit reads)")
                continue
            if size <= 4:
                raw = tiff[at + 8:at + 8 + size]
            else:
                start = struct.unpack(end + "I", tiff[at + 8:at + 12])[0]
                raw = tiff[start:start + size]
                if len(raw) < size:
                    out.skipped.append(f"{_TAG_NAMES[tag]} cut off")
                    continue
            name = _TAG_NAMES[tag]
            if name == "UserComment":
                out.put("UserComment", decode_user_comment(raw))
                continue
            text = raw.decode("utf-8", "replace").rstrip("\0")
            # ComfyUI's WebP/JPEG savers: Make = "workflow:{...}", Model = "prompt:{...}"
            for key in ("workflow", "prompt"):
                if text.startswith(key + ":"):
                    out.put(key, text[len(key) + 1:])
                    break
            else:
                if name == "ImageDescription":
                    out.put(name, text)


def _read_jpeg(stream, out: ImageText) -> None:
    stream.seek(2)
    for _ in range(MAX_CHUNKS):
        marker = stream.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return
        if marker[1] in (0xD9, 0xDA):  # end of image / start of scan: no more metadata
            return
        if marker[1] == 0x01 or 0xD0 <= marker[1] <= 0xD7:
            continue
        raw_len = stream.read(2)
        if len(raw_len) < 2:
            return
        length = struct.unpack(">H", raw_len)[0] - 2
        if length < 0:
            return
        if marker[1] not in (0xE1, 0xFE):
            stream.seek(length, io.SEEK_CUR)
            continue
        body = stream.read(length)
        if len(body) < length:
            out.skipped.append("JPEG segment cut off at the end of the file")
            return
        if marker[1] == 0xE1 and body.startswith(b"Exif\0\0"):
            _read_tiff(body[6:], out)
        elif marker[1] == 0xFE:
            out.put("comment", body.decode("utf-8", "replace").rstrip("\0"))


def _read_webp(stream, out: ImageText) -> None:
    stream.seek(12)
    for _ in range(MAX_CHUNKS):
        header = stream.read(8)
        if len(header) < 8:
            return
        ctype, length = struct.unpack("<4sI", header)
        padded = length + (length & 1)
        if ctype != b"EXIF":
            stream.seek(padded, io.SEEK_CUR)
            continue
        if length > MAX_TEXT + 65536:
            out.skipped.append(f"EXIF chunk of {length} bytes (more than civkit reads)")
            stream.seek(padded, io.SEEK_CUR)
            continue
        body = stream.read(length)
        if len(body) < length:
            out.skipped.append("EXIF chunk cut off at the end of the file")
            return
        _read_tiff(body[6:] if body.startswith(b"Exif\0\0") else body, out)
        stream.seek(padded - length, io.SEEK_CUR)
