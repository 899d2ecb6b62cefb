"""One GET of a signed storage URL, read as a download needs it (CIVITAI_API.md §5.4).

``StorageStream(client, url, start)`` asks for ``bytes=<start>-`` through ``client.open_storage``
(which never sends the Civitai key) and tells the caller what came back:

* ``206`` from ``start``: append; ``total`` from ``Content-Range``;
* ``200`` although ``start > 0``: the server ignored Range, ``restart`` is True (start over at 0);
* ``416``: ``complete`` is True (the file is complete, or it changed);
* an HTML body: never a model file (Cloudflare, login or early-access page) -> ``HtmlInsteadOfFile``;
* a dropped connection, a storage 403/5xx (e.g. an expired signed URL): ``TransferDropped``, which
  the caller answers by resolving a fresh URL and resuming.
"""

from __future__ import annotations

import http.client
import logging
import re
from typing import Optional

import requests

from .errors import HtmlInsteadOfFile, explain
from .names import filename_from_disposition

log = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)
_RETRYABLE_STATUS = {403, 404, 408, 409, 425, 500, 502, 503, 504, 520, 521, 522, 523, 524}

HTML_MESSAGE = (
    "Civitai returned an HTML page (Cloudflare, or a login / early-access page) instead of the model file. "
    "Nothing was saved. Check your API key and try again later."
)


class TransferDropped(Exception):
    """The transfer stopped early in a way that resuming can fix (``restart``: from byte 0)."""

    def __init__(self, message: str, *, restart: bool = False):
        super().__init__(message)
        self.restart = restart


def _network_errors() -> tuple:
    errors = [http.client.HTTPException, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              requests.exceptions.ContentDecodingError, ConnectionError, TimeoutError]
    try:
        import urllib3.exceptions as u3

        errors += [u3.ProtocolError, u3.ReadTimeoutError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


NETWORK_ERRORS = _network_errors()


class StorageStream:
    def __init__(self, client, url: str, start: int, end: Optional[int] = None):
        self.client = client
        self.url = url
        self.start = start
        self.end = end  # inclusive; None: to the end of the file
        self.response: Optional[requests.Response] = None
        self.restart = False
        self.complete = False
        self.total: Optional[int] = None
        self.disposition_name: Optional[str] = None
        self._fast = None
        self._read1 = None

    def __enter__(self) -> StorageStream:
        try:
            if self.end is None:
                self.response = self.client.open_storage(self.url, self.start)
            else:
                self.response = self.client.open_storage(self.url, self.start, self.end)
        except NETWORK_ERRORS as exc:
            raise TransferDropped(f"{type(exc).__name__}") from exc
        except Exception as exc:
            from ..api import errors as api_errors

            if isinstance(exc, api_errors.NetworkError):
                raise TransferDropped("network error") from exc
            if isinstance(exc, api_errors.CloudflareBlocked):
                raise explain(exc) from exc
            status = getattr(exc, "status", None)
            if status in _RETRYABLE_STATUS and not isinstance(exc, api_errors.RateLimited):
                raise TransferDropped(f"storage answered {status}") from exc
            raise explain(exc) from exc
        try:
            self._read_headers()
            self._pick_reader()
        except BaseException:
            self.close()
            raise
        return self

    def _read_headers(self) -> None:
        r = self.response
        ctype = (r.headers.get("Content-Type") or "").lower()
        if "text/html" in ctype:
            raise HtmlInsteadOfFile(HTML_MESSAGE)
        self.disposition_name = filename_from_disposition(r.headers.get("Content-Disposition"))
        crange = _CONTENT_RANGE.match(r.headers.get("Content-Range") or "")
        if r.status_code == 416:
            self.complete = True
            if crange and crange.group(3) != "*":
                self.total = int(crange.group(3))
            return
        length = r.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if r.status_code == 206:
            if not crange or crange.group(1) is None:
                raise TransferDropped("206 without a usable Content-Range")
            first = int(crange.group(1))
            if first != self.start:
                raise TransferDropped(f"storage sent bytes from {first}, asked for {self.start}", restart=True)
            self.total = int(crange.group(3)) if crange.group(3) != "*" else None
        elif r.status_code == 200:
            if self.start or self.end is not None:
                self.restart = True
            self.total = length
        else:
            raise TransferDropped(f"unexpected storage status {r.status_code}")

    def read_into(self, buf: bytearray) -> int:
        """Fill ``buf`` with the next body bytes; returns how many (0 at the end of the body).

        A connection that drops midway returns what arrived (then 0), so nothing received is lost;
        network errors become TransferDropped.
        """
        try:
            if self._fast is not None:
                # http.client's readinto fills the buffer in C with no extra copy and returns a short
                # count (never an exception) when a Content-Length body ends early.
                return self._fast.readinto(buf)
            # read1 returns what one receive brought; read(n) would try to fill n and lose what it
            # had buffered when the connection drops.
            data = self._read1(len(buf), decode_content=True)
            buf[: len(data)] = data
            return len(data)
        except NETWORK_ERRORS as exc:
            raise TransferDropped(type(exc).__name__) from exc

    def _pick_reader(self) -> None:
        raw = self.response.raw
        encoding = (self.response.headers.get("Content-Encoding") or "identity").lower()
        fp = getattr(raw, "_fp", None)  # urllib3's underlying http.client response
        length_known = getattr(fp, "length", None) is not None and not getattr(fp, "chunked", False)
        self._fast = fp if encoding == "identity" and length_known and hasattr(fp, "readinto") else None
        self._read1 = raw.read1 if hasattr(raw, "read1") else raw.read

    def close(self) -> None:
        if self.response is None:
            return
        release = getattr(self.response.raw, "release_conn", None)
        if self.body_read() and release is not None:
            # The whole body came through the fast reader, which urllib3 does not see: closing the
            # response would close a connection that is clean. Hand it back to the pool instead, so
            # the next piece of a segmented download skips a new TCP (and TLS) handshake.
            release()
            return
        self.response.close()

    def body_read(self) -> bool:
        """Every byte of a body of known length was read (http.client counts it down to 0)."""
        return self._fast is not None and getattr(self._fast, "length", None) == 0

    def __exit__(self, *exc) -> None:
        self.close()
