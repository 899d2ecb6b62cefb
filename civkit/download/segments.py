"""One large file over several connections: ``Range`` pieces written into one preallocated ``.part``.

Storage hosts and CDNs cap each connection far below a user's line, so ``connections`` workers
each fetch pieces (``bytes=a-b``) in file order and ``pwrite`` them in place. Pieces are handed
out in order, so the contiguous prefix grows nearly as fast as the download; a hashing thread
reads it back from the page cache as it grows (no second pass over the disk at the end). An idle
worker splits the largest unfinished piece (work stealing), and a connection that sends nothing
for ``STALL_SECONDS`` is cut and its rest fetched again, so one bad connection never sets the pace.
A background thread flushes the ``.part`` and then records the ranges done in the state file
(``segstate``), so a dropped connection or a killed process resumes per piece (both helper
threads live in ``segthreads``).

``SegmentedTransfer.run`` returns ``None`` when the download must go on with one connection:
storage ignored ``Range`` (200), answered 416, or the file's size changed.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import Optional

from ..config import DEFAULT_CONNECTIONS, MAX_CONNECTIONS
from ..hashing import MultiHasher
from ..sizes import human_size
from . import segthreads
from .errors import DownloadError, disk_full, explain, raise_if_cancelled
from .segstate import Ranges, drop_state, identity, load_state, save_state
from .storage import StorageStream, TransferDropped

__all__ = ["DEFAULT_CONNECTIONS", "MAX_CONNECTIONS", "MIN_SEGMENTED_SIZE", "SegmentedTransfer", "worth_it"]

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# Below this one connection is as fast: `bench_download_process.py --case threshold` measured 4 vs 1
# connections at 1.1x (4 MiB), 1.2x (8 MiB), 2.3x (16 MiB) with 40 MB/s per connection, and no steady
# gain unthrottled on loopback; at 16 MiB each of 4 connections still gets a whole 4 MiB piece.
MIN_SEGMENTED_SIZE = 16 * MIB
PIECE_MIN, PIECE_MAX = 4 * MIB, 32 * MIB
READ = 1 * MIB
# Work stealing at the end of a download: an idle connection takes the far part of the piece with the
# most time left, sized so both end together (its new request costs one request latency first). Shares
# are at least STEAL_MIN; the victim keeps STEAL_MARGIN past its position (it may be reading that now).
STEAL_MIN = 256 * 1024
STEAL_MARGIN = 256 * 1024
STEAL_ALIGN = 64 * 1024
STALL_SECONDS = 15.0  # a connection that sends nothing this long is cut and its rest fetched again


class FallBack(Exception):
    """Storage cannot serve pieces (ignores Range, 416, the size changed): use one connection."""


def worth_it(connections: int, expected_size: Optional[int]) -> bool:
    return connections > 1 and bool(expected_size) and expected_size >= MIN_SEGMENTED_SIZE


def _abort(stream) -> None:
    """Cut a connection another thread is reading (its read then fails at once)."""
    response = getattr(stream, "response", None)
    raw = getattr(response, "raw", None)
    try:
        raw.shutdown()
        return
    except Exception:
        pass
    try:
        import socket

        raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        log.debug("could not cut a storage connection", exc_info=True)


class _Piece:
    __slots__ = ("start", "pos", "end", "fails", "last", "stream", "flowing_since", "flowing_from")

    def __init__(self, start: int, end: int, fails: int = 0):
        self.start, self.pos, self.end, self.fails = start, start, end, fails
        self.last = time.monotonic()
        self.stream = None
        self.flowing_since: Optional[float] = None  # when its current response began to arrive
        self.flowing_from = start

    def rate(self, now: float) -> Optional[float]:
        """Bytes per second of its current response; None until it has flowed a little while."""
        if self.flowing_since is None or now - self.flowing_since < 0.05:
            return None
        return (self.pos - self.flowing_from) / (now - self.flowing_since)


class SegmentedTransfer:
    def __init__(self, client, version, file, *, part, want, expected_size, expected_sha256, connections,
                 progress, cancel, check_space, max_retries, retry_delay, sleep, dest_dir):
        self.client, self.version, self.file, self.part = client, version, file, part
        self.want, self.expected_size = want, expected_size
        self.connections = max(1, min(int(connections), MAX_CONNECTIONS))
        self.progress, self.cancel, self.check_space = progress, cancel, check_space
        self.max_retries, self.retry_delay, self.sleep = max_retries, retry_delay, sleep
        self.dest_dir = dest_dir
        self.ident = identity(version, file, 0, expected_sha256)
        self.cond = threading.Condition()
        self.url_lock = threading.Lock()
        self.url: Optional[str] = None
        self.size: Optional[int] = None
        self.done = Ranges()
        self.pending: collections.deque = collections.deque()
        self.active: set = set()
        self.stop = False
        self.error: Optional[BaseException] = None
        self.fallback: Optional[str] = None
        self.hashed = 0
        self.written = 0
        self.steals = 0
        self.latency = 0.0  # seconds from asking storage for a piece to its answer (a running average)
        self.hasher = MultiHasher(want, total_size=None)
        self.fd = -1

    # ------------------------------------------------------------------ the run
    def run(self, fh):
        """(total, hashes, resumed_from) with every byte in the .part and on disk; None: fall back."""
        self.fd = fh.fileno()
        self.ident["size"] = None
        done = load_state(self.part, self.ident)
        have = os.fstat(self.fd).st_size
        probe = None
        if done is not None and have == self.ident["size"]:
            self.size, self.done = self.ident["size"], done
            self._plan(self.done)
        else:
            if done is not None:
                drop_state(self.part)
            if self.expected_size and have > self.expected_size + 1024:
                have = 0  # larger than the file can be: not ours
            fh.truncate(have)
            self.done = Ranges([(0, have)])  # a one-connection .part: a prefix
            probe = _Piece(have, have + self._piece_size(self.expected_size or PIECE_MIN))
        resumed_from = self.done.total()
        if resumed_from:
            log.info("resuming %s: %s already there", self.part.name, human_size(resumed_from))
        self.progress("resolving", resumed_from, self.size or self.expected_size)
        self.url = self._resolve()
        threads = [threading.Thread(target=self._worker, args=(probe if i == 0 else None,),
                                    name=f"civkit-seg-{i}", daemon=True) for i in range(self.connections)]
        hasher = threading.Thread(target=segthreads.hash_loop, args=(self,), name="civkit-seg-hash", daemon=True)
        flusher = threading.Thread(target=segthreads.flush_loop, args=(self,), name="civkit-seg-sync", daemon=True)
        for t in (*threads, hasher, flusher):
            t.start()
        try:
            self._coordinate()
        except BaseException:
            self._halt(threads, hasher, flusher)
            raise
        self._halt(threads, hasher, flusher, finished=True)
        if self.fallback:
            log.info("%s: %s; going on with one connection", self.part.name, self.fallback)
            return None
        fh.flush()
        os.fsync(self.fd)  # the bytes are on disk before the name points at them
        drop_state(self.part)
        return self.size, self.hasher.result(), resumed_from

    def _coordinate(self) -> None:
        """The calling thread: progress, cancel, stalls, errors, until every byte is written and hashed."""
        while True:
            with self.cond:
                self.cond.wait(0.1)
                error, fallback, size = self.error, self.fallback, self.size
                finished = size is not None and self.hashed >= size
                stalled = [p for p in self.active if p.stream is not None
                           and time.monotonic() - p.last > STALL_SECONDS]
                got = self.done.total()
            if error is not None:
                raise error
            if fallback or finished:
                return
            raise_if_cancelled(self.cancel)
            for piece in stalled:
                log.info("a connection sent nothing for %.0f s; fetching bytes %d-%d again", STALL_SECONDS,
                         piece.pos, piece.end)
                piece.last = time.monotonic()
                _abort(piece.stream)
            self.progress("downloading", got, size or self.expected_size)

    def _halt(self, threads, hasher, flusher, finished: bool = False) -> None:
        with self.cond:
            self.stop = True
            for piece in self.active:
                if piece.stream is not None:
                    _abort(piece.stream)
            self.cond.notify_all()
        for t in (*threads, hasher, flusher):
            t.join(timeout=None if finished else 10)
        if not finished or self.fallback:
            try:
                segthreads.save(self, sync=True)  # what is done survives for the next run (or the fallback's prefix)
            except OSError as exc:
                log.warning("could not record the download state of %s: %s", self.part.name, exc)

    # ------------------------------------------------------------------ planning
    def _piece_size(self, size: int) -> int:
        return max(PIECE_MIN, min(PIECE_MAX, size // (self.connections * 8) // MIB * MIB))

    def _plan(self, done: Ranges) -> None:
        """Queue the missing ranges as pieces in file order (caller holds the lock or runs alone)."""
        step = self._piece_size(self.size)
        for start, end in done.missing(self.size):
            for a in range(start, end, step):
                self.pending.append((a, min(end, a + step), 0))

    def _learn_size(self, piece: _Piece, total: Optional[int]) -> None:
        """The first answer gives the exact size (Civitai lists it rounded): preallocate and plan."""
        if total is None:
            raise FallBack("storage did not tell the file size")
        self.check_space(total - self.done.total())
        with self.cond:
            self.size = self.ident["size"] = total
            piece.end = min(piece.end, total)
        save_state(self.part, self.ident, self.done)  # before the holes exist, the state explains them
        if os.fstat(self.fd).st_size < total:
            os.ftruncate(self.fd, total)
        with self.cond:
            planned = self.done.copy()
            planned.add(piece.start, piece.end)
            self._plan(planned)
            self.cond.notify_all()

    def _take(self, first: Optional[_Piece]) -> Optional[_Piece]:
        with self.cond:
            if first is not None:
                self.active.add(first)
                return first
            while not self.stop:
                if self.pending:
                    start, end, fails = self.pending.popleft()
                    piece = _Piece(start, end, fails)
                    self.active.add(piece)
                    return piece
                if self.size is not None:
                    stolen = self._steal()
                    if stolen is not None:
                        return stolen
                    if not self.active:
                        return None  # every byte is written
                self.cond.wait(0.25)
            return None

    def _steal(self) -> Optional[_Piece]:
        """Split the unfinished piece with the most time left; the caller takes its far part.

        With the victim's rate r and the request latency L, a thief taking x of the R bytes left ends
        with the victim when x/r + L = (R-x)/r: x = (R - rL)/2, worth it only if R/r > 2L (else a new
        request would end later than the victim alone). A piece that has not flowed for a moment yet
        is left alone (idle connections would otherwise split each new share again and again); one
        that stalls sees its rate fall towards 0, its time left grow, and is split in halves."""
        now = time.monotonic()
        victim, most = None, -1.0
        for piece in self.active:
            left = piece.end - piece.pos - STEAL_MARGIN
            if left < 2 * STEAL_MIN:
                continue
            rate = piece.rate(now)
            if rate is None:
                continue
            seconds = left / rate if rate > 0 else float("inf")
            if seconds > most:
                victim, most = piece, seconds
        if victim is None:
            return None
        left = victim.end - victim.pos
        if most <= 2 * self.latency:
            return None
        rate = victim.rate(now) or 0.0
        share = min((left - rate * self.latency) / 2, left - STEAL_MARGIN)
        share = int(share) // STEAL_ALIGN * STEAL_ALIGN
        if share < STEAL_MIN:
            return None
        mid = victim.end - share
        piece = _Piece(mid, victim.end)
        victim.end = mid
        self.active.add(piece)
        self.steals += 1
        return piece

    # ------------------------------------------------------------------ workers
    def _worker(self, first: Optional[_Piece]) -> None:
        fd = os.dup(self.fd)  # never a closed-and-reused descriptor, whatever happens to the caller's
        view = memoryview(bytearray(READ))
        try:
            while True:
                piece = self._take(first)
                first = None
                if piece is None:
                    return
                try:
                    self._fetch(piece, fd, view)
                    with self.cond:
                        self.active.discard(piece)
                        self.cond.notify_all()
                except TransferDropped as exc:
                    self._dropped(piece, exc)
                except FallBack as exc:
                    self.finish_with(fallback=str(exc))
                except BaseException as exc:
                    self.finish_with(error=exc)
        finally:
            os.close(fd)

    def finish_with(self, *, error=None, fallback=None) -> None:
        with self.cond:
            if self.stop:
                return  # cut by the coordinator: not an error of its own
            if error is not None and self.error is None:
                self.error = error
            if fallback and self.fallback is None:
                self.fallback = fallback
            self.stop = True
            for piece in self.active:
                if piece.stream is not None:
                    _abort(piece.stream)
            self.cond.notify_all()

    def _fetch(self, piece: _Piece, fd: int, view: memoryview) -> None:
        url = self.url
        asked = time.monotonic()
        try:
            stream = StorageStream(self.client, url, piece.pos, piece.end - 1).__enter__()
        except TransferDropped as exc:
            if not self.stop:
                self._refresh_url(url)  # an expired signed URL, or storage trouble: ask Civitai again
            raise exc
        try:
            status = stream.response.status_code
            if status == 200:
                raise FallBack("storage ignores Range requests (200 instead of 206)")
            if stream.complete:
                raise FallBack("storage answered 416 to a piece")
            if self.size is None:
                self._learn_size(piece, stream.total)
            elif stream.total != self.size:
                raise FallBack(f"the file's size changed on storage ({stream.total} instead of {self.size})")
            with self.cond:
                if self.stop:
                    return
                piece.stream = stream
                piece.last = piece.flowing_since = time.monotonic()
                piece.flowing_from = piece.pos
                self.latency = 0.7 * self.latency + 0.3 * (piece.last - asked) if self.latency else piece.last - asked
            while True:
                left = piece.end - piece.pos
                if left <= 0 or self.stop:
                    return
                n = stream.read_into(view[: min(READ, left)])
                if not n:
                    raise TransferDropped(f"connection closed at byte {piece.pos} of piece {piece.start}-{piece.end}")
                with self.cond:
                    n = min(n, piece.end - piece.pos)  # the piece may have been split meanwhile
                    if self.stop:
                        return
                self._write(fd, view[:n], piece.pos)
                with self.cond:
                    before = self.done.prefix()
                    self.done.add(piece.pos, piece.pos + n)
                    piece.pos += n
                    piece.fails = 0
                    piece.last = time.monotonic()
                    self.written += n
                    if self.done.prefix() != before:
                        self.cond.notify_all()
        finally:
            with self.cond:
                piece.stream = None
            stream.close()

    def _write(self, fd: int, view: memoryview, offset: int) -> None:
        try:
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as exc:
            full = disk_full(exc, self.dest_dir, self.done.total())
            if full is not None:
                raise full from exc
            raise

    def _dropped(self, piece: _Piece, exc: TransferDropped) -> None:
        with self.cond:
            self.active.discard(piece)
            if self.stop:
                return
            fails = piece.fails + 1
            if piece.pos < piece.end:
                self.pending.appendleft((piece.pos, piece.end, fails))
            self.cond.notify_all()
        if fails > self.max_retries:
            self.finish_with(error=DownloadError(
                f"The connection to Civitai's storage kept dropping ({fails} tries for one piece; last: {exc}). "
                f"The partial file is kept ({human_size(self.done.total())}); run the download again to resume."))
            return
        log.info("piece %d-%d of %s interrupted (%s); fetching the rest again", piece.start, piece.end,
                 self.part.name, exc)
        self.sleep(min(self.retry_delay * (2 ** (fails - 1)), 30.0))

    def _resolve(self) -> str:
        """A signed storage URL for the file (the Civitai key goes to Civitai only, never to storage)."""
        for attempt in range(1, self.max_retries + 2):
            try:
                return self.client.resolve_download(self.version.id, self.file.id).url
            except Exception as exc:
                from .transfer import _is_network_error

                if not _is_network_error(exc) or attempt > self.max_retries:
                    raise explain(exc) from exc
                self.sleep(min(self.retry_delay * (2 ** (attempt - 1)), 30.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def _refresh_url(self, failed: str) -> None:
        with self.url_lock:
            if self.url == failed:
                try:
                    self.url = self._resolve()
                except BaseException as exc:
                    self.finish_with(error=exc)
