"""Serving file bytes from disk: Range/206/416 and the storage faults (drops, corruption, slowness).

The fast path hands the file to the kernel with ``socket.sendfile`` so a 1 GiB file costs little memory.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from pathlib import Path
from urllib.parse import quote

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


def storage_response(req, path: Path, name: str, file_id: int | None = None) -> Response:
    fake, faults = req.fake, req.fake.faults
    size = path.stat().st_size
    rng = None if faults.ignore_range else parse_range(req.headers.get("range"), size)
    disposition = f'attachment; filename="{name}"'
    if not name.isascii():  # a header is latin-1: a non-ASCII name goes as RFC 5987, like real storage
        ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
        disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    base = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
            ("Content-Disposition", disposition), ("ETag", f'"{int(path.stat().st_mtime_ns)}-{size}"'),
            ("Last-Modified", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(path.stat().st_mtime)))]
    if rng == "bad":
        fake.log_storage(file_id, None, None, 416)
        return text_response(416, "", "application/xml", [("Content-Range", f"bytes */{size}"),
                                                          ("Accept-Ranges", "bytes")])
    if rng is None:
        start, length, status = 0, size, 200
    else:
        start, end = rng
        length, status = end - start + 1, 206
        base.append(("Content-Range", f"bytes {start}-{end}/{size}"))
    entry = fake.log_storage(file_id, start, start + length, status)
    plan = _Plan(faults, start, length, size)

    def stream(handler) -> None:
        _send_file(handler, path, start, length, plan, fake, entry)

    return Response(status, b"", base, stream=stream, length=length)


class _Plan:
    """What the faults do to one response: where it drops, stalls, which byte it corrupts, its pace."""

    def __init__(self, faults, start: int, length: int, size: int):
        def covers(offset):
            return offset is not None and start <= offset < start + length

        self.drop_at = None  # bytes of this response sent before the connection drops
        if faults.drop_after_bytes is not None and faults.take("drop_count"):
            self.drop_at = faults.drop_after_bytes
        elif covers(faults.drop_at_offset) and faults.take("drop_count"):
            self.drop_at = faults.drop_at_offset - start
        self.stall_at = faults.stall_at_offset - start if covers(faults.stall_at_offset) \
            and faults.take("stall_count") else None
        self.stall_seconds = faults.stall_seconds
        self.corrupt_at = None
        if faults.corrupt_bytes:
            self.corrupt_at = faults.corrupt_offset if faults.corrupt_offset is not None else size // 2
        self.throttle = max(0, int(faults.throttle_bps or 0))
        self.chunk_delay = faults.chunk_delay
        self.chunk_size = max(1, faults.chunk_size)
        self.count_bytes = faults.expire_after_bytes is not None

    @property
    def slow(self) -> bool:
        return (self.corrupt_at is not None or self.chunk_delay > 0 or self.throttle > 0
                or self.stall_at is not None or self.count_bytes)


def _send_file(handler, path: Path, start: int, length: int, plan: _Plan, fake, entry: dict) -> None:
    conn: socket.socket = handler.connection
    entry["client_port"] = handler.client_address[1]  # one TCP connection: tells reuse from a new connection
    limit = length if plan.drop_at is None else min(length, plan.drop_at)
    sent = 0
    try:
        with open(path, "rb") as fh:
            if not plan.slow:
                if limit:
                    conn.sendfile(fh, start, limit)
                sent = limit
            else:
                sent = _copy_chunks(conn, fh, start, limit, plan, fake, entry)
        if plan.drop_at is not None and plan.drop_at < length:
            handler.close_connection = True
            conn.shutdown(socket.SHUT_RDWR)  # the client sees a short body: a dropped connection
    except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError) as exc:
        log.debug("storage client went away: %s", exc)
        handler.close_connection = True
    finally:
        if not plan.slow:
            entry["sent"] = sent
            fake.storage_sent(sent)


def _copy_chunks(conn, fh, start: int, limit: int, plan: _Plan, fake, entry: dict) -> int:
    fh.seek(start)
    pos, sent = start, 0
    chunk = plan.chunk_size if not plan.throttle else min(plan.chunk_size, max(4096, plan.throttle // 50))
    began = time.monotonic()
    while sent < limit:
        if plan.stall_at is not None and sent == plan.stall_at:
            _stall(conn, plan.stall_seconds)
            plan.stall_at = None
            began = time.monotonic() - (sent / plan.throttle if plan.throttle else 0)
        step = min(chunk, limit - sent)
        if plan.stall_at is not None and sent < plan.stall_at:
            step = min(step, plan.stall_at - sent)
        data = fh.read(step)
        if not data:
            break
        if plan.corrupt_at is not None and pos <= plan.corrupt_at < pos + len(data):
            buf = bytearray(data)
            buf[plan.corrupt_at - pos] ^= 0xFF
            data = bytes(buf)
        conn.sendall(data)
        pos += len(data)
        sent += len(data)
        entry["sent"] = sent
        fake.storage_sent(len(data))
        if plan.chunk_delay > 0:
            time.sleep(plan.chunk_delay)
        if plan.throttle:
            due = began + sent / plan.throttle
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
    return sent


def _stall(conn, seconds: float) -> None:
    """Send nothing for ``seconds``, but stop early once the client has gone away."""
    import select

    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        readable, _w, _x = select.select([conn], [], [], min(left, 0.1))
        if readable:
            try:
                if not conn.recv(1, socket.MSG_PEEK):
                    raise ConnectionResetError("client closed the connection during a stall")
            except BlockingIOError:
                pass


def file_bytes_response(path: Path, content_type: str) -> Response:
    data = path.read_bytes() if path.exists() else b""
    return Response(200, data, [("Content-Type", content_type), ("Cache-Control", "public, max-age=31536000")])

