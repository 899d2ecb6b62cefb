"""Hash on a second thread while the first one receives and writes (the verification costs no extra read).

SHA256 runs at roughly the speed of a loopback or fast LAN transfer, so hashing inline would
halve throughput; ``hashlib`` releases the GIL for large buffers, so a second thread overlaps it.
A small pool of fixed buffers bounds memory (``buffers`` x ``size``) and avoids an allocation per
chunk. Order is kept: buffers are hashed in the order they were fed.
"""

from __future__ import annotations

import queue
import threading

from ..hashing import MultiHasher


class HashPipeline:
    def __init__(self, hasher: MultiHasher, *, buffers: int = 16, size: int = 1024 * 1024):
        self.hasher = hasher
        self.error: Exception | None = None
        self._free: queue.Queue = queue.Queue()
        for _ in range(buffers):
            self._free.put(bytearray(size))
        self._todo: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="civkit-hash", daemon=True)
        self._thread.start()

    def buffer(self) -> bytearray:
        """A free buffer to read into (waits while all are queued for hashing)."""
        return self._free.get()

    def give_back(self, buf: bytearray) -> None:
        """Return a buffer that holds nothing to hash."""
        self._free.put(buf)

    def feed(self, buf: bytearray, n: int) -> None:
        """Hash ``buf[:n]`` next; the buffer returns to the pool afterwards."""
        self._todo.put((buf, n))

    def drain(self) -> None:
        """Wait until everything fed so far is hashed (before reading or replacing ``hasher``)."""
        done = threading.Event()
        self._todo.put(done)
        done.wait()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self._todo.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            buf, n = item
            try:
                self.hasher.update(memoryview(buf)[:n])
            except Exception as exc:  # surfaced by drain(); the thread must keep returning buffers
                self.error = exc
            self._free.put(buf)

    def __enter__(self) -> HashPipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
