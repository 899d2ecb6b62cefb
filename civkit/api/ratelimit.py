"""civkit's own politeness towards Civitai (CIVITAI_API.md §12, a project choice, not a Civitai rule):
a token bucket (about 2 requests/s, burst 5) and at most N concurrent requests per host.

One ``RateLimiter`` belongs to a client; pass the same one to several clients to share the budget.
Waiting uses real time (``time.monotonic`` and a condition variable), never the retry ``sleep``,
so tests that skip backoff sleeps still get a correct limiter; tests turn the rate up instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Optional


class RateLimiter:
    def __init__(self, rate_per_second: Optional[float] = 2.0, burst: int = 5, max_concurrent_per_host: int = 2,
                 clock: Callable[[], float] = time.monotonic):
        self.rate = rate_per_second if rate_per_second and rate_per_second > 0 else None
        self.burst = max(1, int(burst))
        self.max_concurrent = max(1, int(max_concurrent_per_host))
        self._clock = clock
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._lock = threading.Condition()
        self._active: dict[str, int] = {}
        self._paused_until: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, burst={self.burst}, per_host={self.max_concurrent})"

    def _refill(self) -> None:
        now = self._clock()
        if self.rate:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def pause(self, host: str, seconds: float) -> None:
        """Hold back new requests to ``host`` (after an HTML 403/429 from Cloudflare, §12)."""
        with self._lock:
            self._paused_until[host] = max(self._paused_until.get(host, 0.0), self._clock() + seconds)

    def paused_for(self, host: str) -> float:
        with self._lock:
            return max(0.0, self._paused_until.get(host, 0.0) - self._clock())

    def try_acquire(self, host: str) -> bool:
        """Take a token and a slot for ``host`` if both are free now; pair with ``release``."""
        with self._lock:
            return self._take(host)

    def _take(self, host: str) -> bool:
        self._refill()
        if self._active.get(host, 0) >= self.max_concurrent:
            return False
        if self.rate is not None:
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
        self._active[host] = self._active.get(host, 0) + 1
        return True

    def release(self, host: str) -> None:
        with self._lock:
            self._active[host] = max(0, self._active.get(host, 0) - 1)
            self._lock.notify_all()

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        """Wait for a token and a free per-host slot; hold the slot for the request's duration."""
        with self._lock:
            while not self._take(host):
                busy = self._active.get(host, 0) >= self.max_concurrent
                wait = 0.05 if busy or not self.rate else max(0.001, (1.0 - self._tokens) / self.rate)
                self._lock.wait(timeout=wait)
        try:
            yield
        finally:
            self.release(host)
