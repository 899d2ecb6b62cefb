"""Serving file bytes from disk: Range/206/416 and the storage faults (drops, corruption, slowness).

The fast path hands the file to the kernel with ``socket.sendfile`` so a 1 GiB file costs little memory.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from pathlib import Path

from .http import Response, text_response

log = logging.getLogger(__name__)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int):
    """(start, end_inclusive) for a single satisfiable range; None when absent/ignored; 'bad' if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # malformed or multi-range: served whole, like most storage back ends
    if not m.group(1):  # suffix range: the last N bytes
        n = int(m.group(2))
        if n == 0:
            return "bad"
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return "bad"
    return start, min(end, size - 1)


def storage_response(req, path: Path, name: str) -> Response:
    faults = req.fake.faults
    size = path.stat().st_size
    rng = None if faults.ignore_range else parse_range(req.headers.get("range"), size)
    disposition = f'attachment; filename="{name}"'
    base = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
            ("Content-Disposition", disposition), ("ETag", f'"{int(path.stat().st_mtime_ns)}-{size}"'),
            ("Last-Modified", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(path.stat().st_mtime)))]
    if rng == "bad":
        return text_response(416, "", "application/xml", [("Content-Range", f"bytes */{size}"),
                                                          ("Accept-Ranges", "bytes")])
    if rng is None:
        start, length, status = 0, size, 200
    else:
        start, end = rng
        length, status = end - start + 1, 206
        base.append(("Content-Range", f"bytes {start}-{end}/{size}"))
    drop_at = faults.drop_after_bytes if faults.drop_after_bytes is not None and faults.take("drop_count") else None

    def stream(handler) -> None:
        _send_file(handler, path, start, length, size, drop_at, faults)

    return Response(status, b"", base, stream=stream, length=length)


def _send_file(handler, path: Path, start: int, length: int, size: int, drop_at, faults) -> None:
    conn: socket.socket = handler.connection
    corrupt_at = size // 2 if faults.corrupt_bytes else None
    slow = faults.chunk_delay > 0
    limit = length if drop_at is None else min(length, drop_at)
    try:
        with open(path, "rb") as fh:
            if corrupt_at is None and not slow:
                if limit:
                    conn.sendfile(fh, start, limit)
            else:
                _copy_chunks(conn, fh, start, limit, corrupt_at, faults)
        if drop_at is not None and drop_at < length:
            handler.close_connection = True
            conn.shutdown(socket.SHUT_RDWR)  # the client sees a short body: a dropped connection
    except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError) as exc:
        log.debug("storage client went away: %s", exc)
        handler.close_connection = True


def _copy_chunks(conn, fh, start: int, limit: int, corrupt_at, faults) -> None:
    fh.seek(start)
    pos, sent = start, 0
    chunk = max(1, faults.chunk_size)
    while sent < limit:
        data = fh.read(min(chunk, limit - sent))
        if not data:
            break
        if corrupt_at is not None and pos <= corrupt_at < pos + len(data):
            buf = bytearray(data)
            buf[corrupt_at - pos] ^= 0xFF
            data = bytes(buf)
        conn.sendall(data)
        pos += len(data)
        sent += len(data)
        if faults.chunk_delay > 0:
            time.sleep(faults.chunk_delay)


def file_bytes_response(path: Path, content_type: str) -> Response:
    data = path.read_bytes() if path.exists() else b""
    return Response(200, data, [("Content-Type", content_type), ("Cache-Control", "public, max-age=31536000")])

