"""One read of a file feeds every hash Civitai knows.

Civitai names and definitions (CIVITAI_API.md §7):
  SHA256  whole file
  AutoV2  first 10 hex of SHA256 (the A1111 model hash)
  AutoV1  SHA256 of the 64 KiB at offset 1 MiB, first 8 hex; only for files >= 2 MiB
  AutoV3  safetensors only: SHA256 of the bytes after the 8-byte length and the JSON header, first 12 hex
  CRC32   zlib CRC-32 with its 4 bytes written least-significant first (Civitai's quirk)
  BLAKE3  256-bit, when the ``blake3`` package is installed
All values are upper-case hex, as Civitai shows them.

NOTE: this is the simple, correct first version; parallel feeding comes later.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Optional

try:  # blake3 has wheels for the common platforms only
    import blake3 as _blake3
except ImportError:  # pragma: no cover - depends on the platform
    _blake3 = None

ALL_HASHES = ("SHA256", "AutoV1", "AutoV2", "AutoV3", "CRC32", "BLAKE3")
SCAN_HASHES = ("SHA256", "AutoV1", "AutoV2")
BLOCK_SIZE = 8 * 1024 * 1024
AUTOV1_OFFSET = 0x100000
AUTOV1_LENGTH = 0x10000
AUTOV1_MIN_SIZE = 0x200000
EMPTY_AUTOV3 = "E3B0C44298FC"  # SHA256 of empty input: never look it up

ProgressFn = Callable[[int], None]


def has_blake3() -> bool:
    return _blake3 is not None


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


def safetensors_data_offset(head: bytes, size: int) -> Optional[int]:
    """Offset of the tensor data if ``head`` starts a safetensors file, else None.

    AutoV3 applies only when 8+N <= size and the header starts with '{'.
    """
    if len(head) < 9:
        return None
    (n,) = struct.unpack("<Q", head[:8])
    if 8 + n > size or head[8:9] != b"{":
        return None
    return 8 + n


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
        self._sha = hashlib.sha256() if want & {"SHA256", "AutoV2"} else None
        self._crc = 0 if "CRC32" in want else None
        self._b3 = _blake3.blake3(max_threads=1) if ("BLAKE3" in want and _blake3) else None
        self._v1 = hashlib.sha256() if "AutoV1" in want else None
        self._v1_got = 0
        self._v3 = hashlib.sha256() if "AutoV3" in want else None
        self._v3_offset: Optional[int] = None
        self._v3_decided = "AutoV3" not in want
        self._head = b""
        self.position = 0

    def update(self, data) -> None:
        mv = memoryview(data)
        start = self.position
        if self._sha is not None:
            self._sha.update(mv)
        if self._crc is not None:
            self._crc = zlib.crc32(mv, self._crc)
        if self._b3 is not None:
            self._b3.update(mv)
        if self._v1 is not None and self._v1_got < AUTOV1_LENGTH:
            lo = max(AUTOV1_OFFSET, start)
            hi = min(AUTOV1_OFFSET + AUTOV1_LENGTH, start + len(mv))
            if lo < hi:
                self._v1.update(mv[lo - start : hi - start])
                self._v1_got += hi - lo
        if not self._v3_decided:
            self._collect_head(mv)
        if self._v3_offset is not None:
            lo = max(self._v3_offset, start)
            end = start + len(mv)
            if lo < end:
                self._v3.update(mv[lo - start :])
        self.position = start + len(mv)

    def _collect_head(self, mv: memoryview) -> None:
        """Decide where the safetensors payload starts, from the first bytes seen."""
        need = 9 - len(self._head)
        if need > 0:
            self._head += bytes(mv[:need])
        if len(self._head) >= 9:
            size = self.total_size if self.total_size is not None else float("inf")
            self._v3_offset = safetensors_data_offset(self._head, size)
            self._v3_decided = True
            if self._v3_offset is not None and self._v3_offset < self.position:
                # The offset lies in bytes already fed; only possible for tiny headers
                # fed byte-by-byte. Re-feeding is not possible, so give up honestly.
                self._v3_offset = None

    def result(self) -> FileHashes:
        size = self.position
        sha = self._sha.hexdigest().upper() if self._sha is not None else None
        v1 = None
        if self._v1 is not None and size >= AUTOV1_MIN_SIZE and self._v1_got == AUTOV1_LENGTH:
            v1 = self._v1.hexdigest()[:8].upper()
        v3 = None
        if self._v3 is not None and self._v3_offset is not None and self._v3_offset <= size:
            if self.total_size is None or self._v3_offset <= self.total_size:
                v3 = self._v3.hexdigest()[:12].upper()
        return FileHashes(
            sha256=sha if "SHA256" in self.want or "AutoV2" in self.want else None,
            autov1=v1,
            autov2=sha[:10] if sha and "AutoV2" in self.want else None,
            autov3=v3,
            crc32=crc32_civitai(self._crc) if self._crc is not None else None,
            blake3=self._b3.hexdigest().upper() if self._b3 is not None else None,
            size=size,
        )


def hash_bytes(data: bytes, want: Iterable[str] = ALL_HASHES) -> FileHashes:
    hasher = MultiHasher(want, total_size=len(data))
    hasher.update(data)
    return hasher.result()


def hash_file(
    path: "os.PathLike[str] | str",
    want: Iterable[str] = ALL_HASHES,
    progress: Optional[ProgressFn] = None,
    block_size: int = BLOCK_SIZE,
) -> FileHashes:
    """Hash a file in one read. ``progress`` receives the number of bytes read per block."""
    size = os.path.getsize(path)
    hasher = MultiHasher(want, total_size=size)
    buf = bytearray(block_size)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            hasher.update(view[:n])
            if progress is not None:
                progress(n)
    return hasher.result()
