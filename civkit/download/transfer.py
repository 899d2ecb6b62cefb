"""Moving one file's bytes: resolve, fetch storage with Range, write into the ``.part``, hash, retry.

A ``Transfer`` is owned by one download job (``core._Download``), which opens the ``.part`` and
decides what happens before and after; the transfer only moves bytes into it. ``transfer.have``
(bytes in the ``.part``, every one of them fed to the hasher) is the one truth across attempts.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Optional

from ..hashing import MultiHasher
from ..sizes import human_size
from .errors import DownloadError, disk_full, explain, raise_if_cancelled
from .hashpipe import HashPipeline
from .names import UnsafeFilename, safe_filename
from .storage import StorageStream, TransferDropped

log = logging.getLogger(__name__)

WRITEBACK_STEP = 32 * 1024 * 1024
# Storage may send a little more than Civitai's listed size (sizeKB is rounded); past this it is
# refused instead of filling the disk (issue 13 item 6).
OVERSIZE_SLACK = 1024 * 1024
CHUNK = 1024 * 1024


class Transfer:
    """Streams one Civitai file into an open ``.part``, hashing while it writes.

    ``check_space(needed)`` raises when the disk cannot take ``needed`` more bytes; ``progress``
    is the download's ``(state, done, total)`` callback; ``cancel`` a ``threading.Event``.
    """

    def __init__(self, client, version, file, *, want, expected_size, dest_dir, progress, cancel,
                 check_space, max_retries, retry_delay, sleep):
        self.client, self.version, self.file = client, version, file
        self.want = want
        self.expected_size = expected_size
        self.dest_dir = dest_dir
        self.progress = progress
        self.cancel = cancel
        self.check_space = check_space
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.sleep = sleep
        self.have = 0
        self.pipe = HashPipeline(MultiHasher(want, total_size=None), size=CHUNK)
        self.syncer = Syncer()

    def close(self) -> None:
        """Stop the flushing and hashing threads (safe to call once the transfer is over)."""
        self.syncer.close()
        self.pipe.close()

    def hashes(self):
        """The hashes of every byte in the ``.part`` (waits for the hashing thread)."""
        self.pipe.drain()
        return self.pipe.hasher.result()

    def _check_cancel(self) -> None:
        raise_if_cancelled(self.cancel)

    def rehash_prefix(self, fh, have: int) -> None:
        """Feed the ``have`` bytes already in the ``.part`` to the hasher (the only second read)."""
        fh.seek(0)
        buf = bytearray(8 * 1024 * 1024)
        view = memoryview(buf)
        left = have
        while left:
            n = fh.readinto(view[: min(len(buf), left)])
            if not n:
                raise DownloadError("The partial download changed while it was read; run the download again.")
            self.pipe.hasher.update(view[:n])  # nothing is queued yet: same thread is fine
            left -= n
            self._check_cancel()

    def fetch(self, fh, have: int, name: str) -> int:
        """Stream the rest into ``fh``; returns the total size. Retries dropped connections.

        ``self.have`` (bytes in the .part, all of them hashed) is the one truth across attempts.
        """
        self.have = have
        failures = attempts = 0
        while True:
            self._check_cancel()
            attempts += 1
            start_have = self.have
            try:
                total = self._attempt(fh, name)
                if total is None or self.have >= total:
                    return self.have
                raise TransferDropped(f"connection closed at {self.have} of {total} bytes")
            except TransferDropped as exc:
                if exc.restart:
                    self.restart(fh)
                failures = 1 if self.have > start_have else failures + 1
                if failures > self.max_retries or attempts > self.max_retries * 4:
                    raise DownloadError(
                        f"The connection to Civitai's storage kept dropping ({attempts} tries; last: {exc}). "
                        f"The partial file is kept ({human_size(self.have)}); run the download again to resume."
                    ) from exc
                log.info("download of %s interrupted (%s); resuming from %s", name, exc, human_size(self.have))
                self.sleep(min(self.retry_delay * (2 ** (failures - 1)), 30.0))

    def _attempt(self, fh, name: str) -> Optional[int]:
        """One resolve + storage GET; returns the file's total size as storage reports it."""
        self.progress("resolving", self.have, self.expected_size)
        try:
            resolved = self.client.resolve_download(self.version.id, self.file.id)
        except Exception as exc:
            if _is_network_error(exc):
                raise TransferDropped(str(exc)) from exc
            raise explain(exc) from exc
        with StorageStream(self.client, resolved.url, self.have) as stream:
            if stream.complete:  # 416: complete, or our .part is not a prefix of this file
                if self.have and stream.total == self.have:
                    return self.have
                raise TransferDropped("storage answered 416 for the partial file", restart=True)
            if stream.restart:  # a 200 although we asked for a range
                self.restart(fh)
            self._check_name(stream.disposition_name, name)
            total = stream.total
            if total is not None:
                self.check_space(total - self.have)
            self._stream(stream, fh, total)
            return total

    def restart(self, fh) -> None:
        log.info("starting %s over from byte 0", fh.name)
        self.pipe.drain()
        fh.seek(0)
        fh.truncate(0)
        self.have = 0
        self.pipe.hasher = MultiHasher(self.want, total_size=None)

    def _check_name(self, served: Optional[str], name: str) -> None:
        if not served:
            return
        try:
            served_safe = safe_filename(served)
        except UnsafeFilename:
            log.warning("storage sent an unusable file name %r; keeping %s", served, name)
            return
        expected = {name, self.file.name, getattr(self.file, "override_name", None)}
        if served_safe not in expected and served not in expected:
            log.warning("storage names the file %s, Civitai's file list says %s; saving as %s",
                        served_safe, self.file.name, name)

    def _stream(self, stream: StorageStream, fh, total: Optional[int]) -> None:
        self.progress("downloading", self.have, total)
        self.flushed = self.have
        pipe = self.pipe
        while True:
            if self.cancel.is_set():
                self._check_cancel()
            buf = pipe.buffer()
            try:
                n = stream.read_into(buf)
                if n and self.expected_size and self.have + n > self.expected_size + OVERSIZE_SLACK:
                    raise DownloadError(
                        f"The download server sent more than the {human_size(self.expected_size)} Civitai "
                        f"lists for {self.file.name}; civkit stopped at {human_size(self.have)} instead of "
                        "filling the disk. Nothing was saved under the file's name; try again later.")
                if n:
                    self._write_all(fh, memoryview(buf)[:n])
            except BaseException:
                pipe.give_back(buf)
                raise
            if not n:
                pipe.give_back(buf)
                return
            pipe.feed(buf, n)
            self.have += n
            if self.have - self.flushed >= WRITEBACK_STEP:
                self.syncer.request(fh.fileno())
                self.flushed = self.have
            self.progress("downloading", self.have, total)

    def _write_all(self, fh, view: memoryview) -> None:
        try:
            while view:
                written = fh.write(view)
                view = view[written:]
        except OSError as exc:
            full = disk_full(exc, self.dest_dir, self.have)
            if full is not None:
                raise full from exc
            raise


class Syncer:
    """Flushes the .part to disk on its own thread while the download goes on.

    The fsync before the rename then has almost nothing left to do (done all at the end it cost
    ~20% of a loopback download), and on Linux FADV_DONTNEED lets the kernel drop the flushed pages,
    so a many-GiB download does not crowd the page cache. Requests while a flush runs coalesce.
    """

    def __init__(self):
        self._wanted: Optional[int] = None
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="civkit-sync", daemon=True)
        self._thread.start()

    def request(self, fd: int) -> None:
        with self._cond:
            self._wanted = fd
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._wanted is None and not self._stop:
                    self._cond.wait()
                if self._wanted is None:
                    return
                fd, self._wanted = self._wanted, None
            try:
                getattr(os, "fdatasync", os.fsync)(fd)
                advise = getattr(os, "posix_fadvise", None)
                if advise is not None:
                    advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError as exc:  # only an optimisation: the final fsync still runs
                log.debug("background flush failed: %s", exc)


def _is_network_error(exc: BaseException) -> bool:
    import requests

    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    try:
        from ..api.errors import NetworkError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, NetworkError)

