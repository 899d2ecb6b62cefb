"""One read of a file feeds every hash Civitai knows.

Civitai names and definitions (CIVITAI_API.md §7):
  SHA256  whole file
  AutoV2  first 10 hex of SHA256 (the A1111 model hash)
  AutoV1  SHA256 of the 64 KiB at offset 1 MiB, first 8 hex; only for files >= 2 MiB
  AutoV3  safetensors only: SHA256 of the bytes after the 8-byte length and the JSON header, first 12 hex
  CRC32   CRC-32/IEEE (the zlib CRC) with its 4 bytes written least-significant first (Civitai's quirk)
  BLAKE3  256-bit, when the ``blake3`` package is installed
All values are upper-case hex, as Civitai shows them.

Speed. Every hasher used here (hashlib, zlib/isal crc32, blake3) releases the GIL while it works on
a large buffer, so threads give real parallelism:
  * ``hash_files`` hashes several files at once, one thread per file (a scan: SHA256 + AutoV1/V2).
  * ``hash_file`` with several expensive hashes (``civkit hash``: two SHA256 passes, BLAKE3, CRC32)
    reads the file once and hands each block to one thread per expensive hash ("lanes"; the
    cheap CRC-32 rides along in the reader). Blocks come from a small pool of reused buffers, so
    memory stays at ``PIPELINE_BUFFERS * block_size`` per file.
Reads go into reused buffers of 1-2 MiB: large enough that the GIL is free >99% of the time,
small enough to stay in the CPU cache between the read and the hashers (see BLOCK_SIZE).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Optional, Union

try:  # ISA-L's CRC-32 is ~4x faster than zlib's and gives the same values (same polynomial)
    from isal.isal_zlib import crc32 as _crc32

    _FAST_CRC = True
except ImportError:  # pragma: no cover - optional speed-up
    from zlib import crc32 as _crc32

    _FAST_CRC = False

try:  # blake3 has wheels for the common platforms only
    import blake3 as _blake3
except ImportError:  # pragma: no cover - depends on the platform
    _blake3 = None

log = logging.getLogger(__name__)

ALL_HASHES = ("SHA256", "AutoV1", "AutoV2", "AutoV3", "CRC32", "BLAKE3")
SCAN_HASHES = ("SHA256", "AutoV1", "AutoV2")
# Block sizes, measured on a 2-core EPYC (benchmarks/bench_hashing.py): hashing 1 MiB takes
# ~0.7 ms with the GIL released and the bookkeeping between blocks holds it for microseconds, so
# the GIL is free >99% of the time already. Bigger blocks cost CPU instead: the bytes fall out of
# the CPU cache between the read and the hashers (the pipeline with 8 MiB blocks used up to ~20% more
# CPU per byte than with 1 MiB ones, enough alone to put `civkit hash` under its 0.7x target).
BLOCK_SIZE = 2 * 1024 * 1024  # one thread per file: read, then hash, block by block
PIPELINE_BLOCK_SIZE = 1024 * 1024  # one block is read once and hashed by 4 lanes
PIPELINE_BUFFERS = 4  # blocks in flight per file: bounds memory and keeps lanes close together
AUTOV1_OFFSET = 0x100000
AUTOV1_LENGTH = 0x10000
AUTOV1_MIN_SIZE = 0x200000
EMPTY_AUTOV3 = "E3B0C44298FC"  # SHA256 of empty input: never look it up

ProgressFn = Callable[[int], None]
PathLike = Union["os.PathLike[str]", str]


def has_blake3() -> bool:
    return _blake3 is not None


class FileChangedError(OSError):
    """The file grew or shrank while it was read (still downloading, or being written)."""

    def __init__(self, message: str, filename: str):
        super().__init__(message)
        self.filename = filename

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class FileHashes:
    """Hashes of one file, upper-case hex, None where not computed or not applicable."""

    sha256: Optional[str] = None
    autov1: Optional[str] = None
    autov2: Optional[str] = None
    autov3: Optional[str] = None
    crc32: Optional[str] = None
    blake3: Optional[str] = None
    size: int = 0

    def as_civitai(self) -> dict:
        """The Civitai spelling: {"SHA256": ..., "AutoV1": ..., ...} with every key present."""
        return {
            "SHA256": self.sha256,
            "AutoV1": self.autov1,
            "AutoV2": self.autov2,
            "AutoV3": self.autov3,
            "CRC32": self.crc32,
            "BLAKE3": self.blake3,
        }

    def as_dict(self) -> dict:
        return asdict(self)


def crc32_civitai(crc: int) -> str:
    """Civitai writes the CRC's 4 bytes least-significant first."""
    return struct.pack("<I", crc & 0xFFFFFFFF).hex().upper()


def safetensors_data_offset(head: bytes, size: float) -> Optional[int]:
    """Offset of the tensor data if ``head`` starts a safetensors file, else None.

    AutoV3 applies only when 8+N <= size and the header starts with '{'.
    """
    if len(head) < 9:
        return None
    (n,) = struct.unpack("<Q", head[:8])
    if 8 + n > size or head[8:9] != b"{":
        return None
    return 8 + n


# --- lanes: one expensive hash each; a lane sees every block in order -------------------------


class _ShaLane:
    inline = False  # in the pipeline: its own thread

    def __init__(self):
        self.h = hashlib.sha256()

    def feed(self, mv: memoryview, start: int) -> None:
        self.h.update(mv)


class _CrcLane:
    # In the pipeline the reader computes it: CRC-32 with isal is cheap (~0.1 ms/MiB) and the
    # block is still hot in the reader's cache; a thread of its own cost more than it saved.
    # zlib's is 4x slower: then it gets its own thread like the others.
    inline = _FAST_CRC

    def __init__(self):
        self.crc = 0

    def feed(self, mv: memoryview, start: int) -> None:
        self.crc = _crc32(mv, self.crc)


class _Blake3Lane:
    inline = False

    def __init__(self):
        # One thread: parallelism comes from running the lanes side by side.
        self.h = _blake3.blake3(max_threads=1)

    def feed(self, mv: memoryview, start: int) -> None:
        self.h.update(mv)


class _PayloadLane:
    """SHA256 of [offset, EOF): the safetensors payload for AutoV3."""

    inline = False

    def __init__(self):
        self.h = hashlib.sha256()
        self.offset: Optional[int] = None  # set by MultiHasher before any payload byte is fed

    def feed(self, mv: memoryview, start: int) -> None:
        if self.offset is None:
            return
        lo = max(self.offset, start)
        if lo < start + len(mv):
            self.h.update(mv[lo - start :])


class MultiHasher:
    """Incremental hasher: feed bytes in order, get every requested hash at the end.

    Used by ``hash_file`` and by downloads (hash while streaming, no second read).
    """

    def __init__(self, want: Iterable[str] = ALL_HASHES, total_size: Optional[int] = None):
        want = set(want)
        unknown = want - set(ALL_HASHES)
        if unknown:
            raise ValueError(f"unknown hash names: {sorted(unknown)}")
        self.want = want
        self.total_size = total_size
        self._sha = _ShaLane() if want & {"SHA256", "AutoV2"} else None
        self._crc = _CrcLane() if "CRC32" in want else None
        self._b3 = _Blake3Lane() if ("BLAKE3" in want and _blake3) else None
        self._v3 = _PayloadLane() if "AutoV3" in want else None
        self.lanes = [lane for lane in (self._sha, self._v3, self._b3, self._crc) if lane is not None]
        self._v1 = hashlib.sha256() if "AutoV1" in want else None
        self._v1_got = 0
        self._v3_decided = self._v3 is None
        self._head = b""
        self.position = 0

    def update(self, data) -> None:
        mv = memoryview(data)
        start = self.advance(mv)
        for lane in self.lanes:
            lane.feed(mv, start)

    def advance(self, mv: memoryview) -> int:
        """The cheap, order-dependent part of ``update``: AutoV1's slice and the AutoV3 decision.

        Returns the offset of ``mv`` in the file; the caller then feeds ``mv`` to every lane.
        """
        start = self.position
        if self._v1 is not None and self._v1_got < AUTOV1_LENGTH:
            lo = max(AUTOV1_OFFSET, start)
            hi = min(AUTOV1_OFFSET + AUTOV1_LENGTH, start + len(mv))
            if lo < hi:
                self._v1.update(mv[lo - start : hi - start])
                self._v1_got += hi - lo
        if not self._v3_decided:
            self._collect_head(mv)
        self.position = start + len(mv)
        return start

    def _collect_head(self, mv: memoryview) -> None:
        """Decide where the safetensors payload starts, from the first 9 bytes.

        The payload offset is 8+N with N >= 1, so it always lies at or after the 9th byte: the
        decision is made before any payload byte reaches the lane.
        """
        need = 9 - len(self._head)
        if need > 0:
            self._head += bytes(mv[:need])
        if len(self._head) >= 9:
            size = self.total_size if self.total_size is not None else float("inf")
            self._v3.offset = safetensors_data_offset(self._head, size)
            self._v3_decided = True

    def result(self) -> FileHashes:
        size = self.position
        sha = self._sha.h.hexdigest().upper() if self._sha is not None else None
        v1 = None
        if self._v1 is not None and size >= AUTOV1_MIN_SIZE and self._v1_got == AUTOV1_LENGTH:
            v1 = self._v1.hexdigest()[:8].upper()
        v3 = None
        offset = self._v3.offset if self._v3 is not None else None
        if offset is not None and offset <= size:
            if self.total_size is None or offset <= self.total_size:
                v3 = self._v3.h.hexdigest()[:12].upper()
        return FileHashes(
            sha256=sha if "SHA256" in self.want or "AutoV2" in self.want else None,
            autov1=v1,
            autov2=sha[:10] if sha and "AutoV2" in self.want else None,
            autov3=v3,
            crc32=crc32_civitai(self._crc.crc) if self._crc is not None else None,
            blake3=self._b3.h.hexdigest().upper() if self._b3 is not None else None,
            size=size,
        )


def hash_bytes(data: bytes, want: Iterable[str] = ALL_HASHES) -> FileHashes:
    hasher = MultiHasher(want, total_size=len(data))
    hasher.update(data)
    return hasher.result()


# --- reading files ----------------------------------------------------------------------------


def _open_sequential(path: PathLike):
    fh = open(path, "rb", buffering=0)
    if hasattr(os, "posix_fadvise"):
        try:  # a hint for cold files (bigger read-ahead); harmless when cached
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass
    return fh


def _check(cancel: Optional[threading.Event]) -> None:
    if cancel is not None and cancel.is_set():
        raise InterruptedError("hashing was cancelled")


def _read_serial(fh, hasher: MultiHasher, size: int, block_size: int, progress, cancel) -> None:
    buf = bytearray(block_size)
    view = memoryview(buf)
    while hasher.position < size:
        _check(cancel)
        n = fh.readinto(view[: min(block_size, size - hasher.position)])
        if not n:
            break
        hasher.update(view[:n])
        if progress is not None:
            progress(n)


class _Block:
    __slots__ = ("buf", "view", "start", "pending", "lock")

    def __init__(self, block_size: int):
        self.buf = bytearray(block_size)
        self.view = memoryview(self.buf)
        self.start = 0
        self.pending = 0
        self.lock = threading.Lock()


def _lane_worker(lane, inbox: queue.SimpleQueue, free: queue.SimpleQueue, errors: list) -> None:
    """Feed every block to one lane, in order; give each block back once every lane is done."""
    while True:
        item = inbox.get()
        if item is None:
            return
        block, n = item
        if not errors:
            try:
                lane.feed(block.view[:n], block.start)
            except Exception as exc:  # reported by the reader, which stops reading
                errors.append(exc)
        with block.lock:
            block.pending -= 1
            done = block.pending == 0
        if done:
            free.put(block)


def _read_pipelined(fh, hasher: MultiHasher, size: int, block_size: int, progress, cancel) -> None:
    """One reader (this thread, also feeding the inline lanes) and one thread per other lane.

    Blocks are shared read-only; a block goes back to the pool when every lane is done with it.
    """
    lanes = [lane for lane in hasher.lanes if not lane.inline]
    inline = [lane for lane in hasher.lanes if lane.inline]
    free: queue.SimpleQueue = queue.SimpleQueue()
    for _ in range(PIPELINE_BUFFERS):
        free.put(_Block(block_size))
    inboxes = [queue.SimpleQueue() for _ in lanes]
    errors: list = []
    threads = [
        threading.Thread(target=_lane_worker, args=(lane, box, free, errors), name="civkit-hash-lane", daemon=True)
        for lane, box in zip(lanes, inboxes, strict=True)
    ]
    for t in threads:
        t.start()
    try:
        while not errors and hasher.position < size:
            _check(cancel)
            block = free.get()
            n = fh.readinto(block.view[: min(block_size, size - hasher.position)])
            if not n:
                free.put(block)
                break
            block.start = hasher.advance(block.view[:n])
            block.pending = len(lanes) + 1
            for box in inboxes:
                box.put((block, n))
            for lane in inline:
                lane.feed(block.view[:n], block.start)
            with block.lock:
                block.pending -= 1
                if block.pending == 0:
                    free.put(block)
            if progress is not None:
                progress(n)
    finally:
        for box in inboxes:
            box.put(None)
        for t in threads:
            t.join()
    if errors:
        raise errors[0]


def hash_file(
    path: PathLike,
    want: Iterable[str] = ALL_HASHES,
    progress: Optional[ProgressFn] = None,
    block_size: Optional[int] = None,
    parallel: Optional[bool] = None,
    cancel: Optional[threading.Event] = None,
) -> FileHashes:
    """Hash a file in one read. ``progress`` receives the number of bytes read per block.

    ``parallel``: feed the expensive hashes from threads (None: when it pays, i.e. several
    expensive hashes, several CPUs and a file of more than two blocks). Results are identical.
    ``block_size``: None picks ``BLOCK_SIZE`` or ``PIPELINE_BLOCK_SIZE``; tests pass tiny ones.
    ``cancel``: an Event checked before every block; once set, raises ``InterruptedError``.
    Raises OSError (FileNotFoundError, PermissionError, ``FileChangedError``...).
    """
    want = tuple(want)
    with _open_sequential(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        hasher = MultiHasher(want, total_size=size)
        if parallel is None:
            parallel = (os.cpu_count() or 1) > 1 and size > 2 * (block_size or PIPELINE_BLOCK_SIZE)
        if parallel and len(hasher.lanes) > 1:
            _read_pipelined(fh, hasher, size, block_size or PIPELINE_BLOCK_SIZE, progress, cancel)
        else:
            _read_serial(fh, hasher, size, block_size or BLOCK_SIZE, progress, cancel)
        # Read no further than the size seen at the start (a file being written could grow
        # forever), then make sure it did not grow.
        grew = hasher.position == size and fh.read(1)
    if hasher.position != size or grew:
        read = "more" if grew else hasher.position
        raise FileChangedError(
            f"the file changed size while it was hashed ({size} bytes when opened, {read} read);"
            " hash it again once it is complete",
            os.fspath(path),
        )
    return hasher.result()


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def hash_files(
    paths: Iterable[PathLike],
    want: Iterable[str] = SCAN_HASHES,
    workers: Optional[int] = None,
    progress: Optional[ProgressFn] = None,
    block_size: Optional[int] = None,
    parallel: Optional[bool] = None,
) -> Iterator[tuple]:
    """Hash many files in parallel threads; yields ``(path, FileHashes | Exception)`` per file.

    Results come in completion order. A file that cannot be read (missing, vanished, no
    permission, changed while read) yields its exception and the others go on. ``progress`` gets
    byte counts; calls are serialised, so it needs no lock of its own. Closing the iterator early
    (or Ctrl-C) cancels the files not started yet and stops the ones being hashed at their next block.
    """
    want = tuple(want)
    MultiHasher(want)  # unknown hash names fail here, before any thread starts
    workers = workers or default_workers()
    lock = threading.Lock()
    cancel = threading.Event()

    def locked_progress(n: int) -> None:
        with lock:
            progress(n)

    prog = locked_progress if progress is not None else None

    def one(path):
        try:
            return path, hash_file(path, want, prog, block_size, parallel, cancel)
        except OSError as exc:
            log.info("cannot hash %s: %s", path, exc)
            return path, exc

    if workers == 1:
        for path in paths:
            yield one(path)
        return
    it = iter(paths)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="civkit-hash")
    try:
        running = set()
        for path in it:  # keep a bounded number queued, so a 30,000-file scan stays small
            running.add(pool.submit(one, path))
            if len(running) >= 2 * workers:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
    finally:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
