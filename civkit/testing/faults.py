"""Fault switches for the Civitai emulator.

Tests flip these on ``fake.faults``; ``fake.reset()`` puts every switch back to its default.
Counters (``*_count``) affect the next K matching requests and then switch themselves off,
so "three drops in one download" is ``drop_after_bytes=1000, drop_count=3``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class Faults:
    # --- storage (the signed URL the download route redirects to) ---
    drop_after_bytes: int | None = None  # close the connection after sending this many body bytes
    drop_count: int = 0  # ... for the next K storage requests (0 = off)
    ignore_range: bool = False  # answer 200 with the whole file even when Range was sent
    corrupt_bytes: bool = False  # flip one byte in the middle of every served file
    chunk_delay: float = 0.0  # seconds to sleep after every storage chunk (slow network)
    chunk_size: int = 1024 * 1024  # storage chunk size when the slow path is used
    storage_ttl: float = 3600.0  # lifetime of signed storage URLs (negative: already expired)
    storage_error_count: int = 0  # next K storage requests answer storage_error_status (XML body, like B2/S3)
    storage_error_status: int = 503
    throttle_bps: int = 0  # limit every storage connection (one response at a time) to this many bytes/s
    drop_at_offset: int | None = None  # a storage response covering this file offset stops just before it
    #                                    and closes (a dropped connection); uses drop_count like drop_after_bytes
    corrupt_offset: int | None = None  # with corrupt_bytes: flip the byte at this offset instead of the middle
    stall_at_offset: int | None = None  # a storage response covering this offset pauses before it ...
    stall_seconds: float = 0.0  # ... this long (or until the client goes away) ...
    stall_count: int = 0  # ... for the next K such responses
    expire_after_bytes: int | None = None  # once storage has sent this many body bytes, every signed URL
    #                                        handed out so far answers 403 "Request has expired"

    # --- API routes (/api/v1/* and /api/download/*) ---
    request_delay: float = 0.0  # seconds to sleep before answering any API request
    busy_count: int = 0  # next K API requests answer 503 + Retry-After (origin overload)
    retry_after: int = 2
    error_count: int = 0  # next K API requests answer error_status with a JSON 500-style body
    error_status: int = 500
    cloudflare_count: int = 0  # next K requests (API or download) get a Cloudflare HTML page
    cloudflare_status: int = 403  # 403, 429 or 503
    region_blocked: bool = False  # every route answers 451 REGION_BLOCKED
    rate_limit_every: int = 0  # every Nth API request answers 429 + Retry-After, like Civitai's limiter (0 = off)
    rate_limit_retry_after: int = 1  # ... with this Retry-After (seconds)
    api_requests: int = 0  # API requests seen since the last reset (the rate_limit_every counter)

    # --- download route ---
    download_quota: bool = False  # 429 "unusual amount of downloading" (§5.2 row 2)
    blocklisted: bool = False  # 403 Forbidden (§5.2 row 1)
    login_required_sitewide: bool = False  # every download needs a valid key (§5.2 row 7)
    non_primary_redirect: bool = False  # downloads on 127.0.0.1 answer 307 to the same path on localhost

    # --- shapes ---
    legacy_shapes: bool = False  # §11: string allowCommercialUse, numeric nextCursor, legacy totals
    undefined_bulk_urls: bool = False  # POST by-hash downloadUrls read https://undefined/... (§11.5)
    etag: bool = True  # send ETag and honour If-None-Match with 304

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reset(self) -> None:
        defaults = Faults()
        for f in fields(self):
            if f.name != "_lock":
                setattr(self, f.name, getattr(defaults, f.name))

    def take(self, counter: str) -> bool:
        """Consume one unit of a ``*_count`` switch; True when this request is affected."""
        with self._lock:
            left = getattr(self, counter)
            if left <= 0:
                return False
            setattr(self, counter, left - 1)
            return True

    def next_is_rate_limited(self) -> bool:
        """Count one API request; True when it is the Nth one and ``rate_limit_every`` is N."""
        with self._lock:
            self.api_requests += 1
            return self.rate_limit_every > 0 and self.api_requests % self.rate_limit_every == 0
