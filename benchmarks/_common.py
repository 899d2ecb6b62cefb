"""Helpers shared by the benchmarks: temporary test files, a warm page cache, timing, tables.

Benchmarks are plain scripts; they print ratios against a baseline measured in the same run,
because absolute numbers depend on the machine and on whatever else it is doing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

MIB = 1024 * 1024
_CHUNK = 8 * MIB

# Make `import civkit` work when run from a checkout without `pip install -e .`.
_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


@contextmanager
def temp_dir(prefix: str = "civkit-bench-") -> Iterator[Path]:
    """A scratch directory that is removed afterwards, even on Ctrl-C or kill (SIGTERM)."""
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so `finally` runs on kill too
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def safetensors_header_bytes(n_tensors: int, payload_size: int, metadata: dict | None = None) -> bytes:
    """An 8-byte length plus a JSON header describing ``n_tensors`` F16 tensors filling the payload."""
    n_tensors = max(1, n_tensors)
    per = max(2, payload_size // n_tensors // 2 * 2)
    tensors = {}
    offset = 0
    for i in range(n_tensors):
        last = i == n_tensors - 1
        end = payload_size if last else min(payload_size, offset + per)
        tensors[f"lora_unet_block_{i}.lora_down.weight"] = {  # the last one takes any odd byte
            "dtype": "U8" if last else "F16",
            "shape": [end - offset] if last else [(end - offset) // 2],
            "data_offsets": [offset, end],
        }
        offset = end
    header = {"__metadata__": metadata or {"ss_network_module": "networks.lora"}, **tensors}
    body = json.dumps(header, separators=(",", ":")).encode()
    body += b" " * (-len(body) % 8)  # writers pad the header to 8 bytes
    return struct.pack("<Q", len(body)) + body


def make_safetensors_file(path: Path, size: int, seed: int = 0, n_tensors: int = 64) -> Path:
    """A safetensors-shaped file of exactly ``size`` bytes with pseudo-random payload.

    The payload is one random 8 MiB chunk with a per-chunk counter written over its start, so
    no two chunks are equal (content does not change hashing speed; this is just faster than
    os.urandom for gigabytes).
    """
    rng = random.Random(seed)
    chunk = bytearray(rng.randbytes(_CHUNK))
    head = safetensors_header_bytes(n_tensors, max(2, size - 4096))
    payload_size = size - len(head)
    if payload_size < 0:
        raise ValueError(f"size {size} too small for a header of {len(head)} bytes")
    head = safetensors_header_bytes(n_tensors, payload_size)
    payload_size = size - len(head)
    with open(path, "wb") as fh:
        fh.write(head)
        written = 0
        counter = 0
        while written < payload_size:
            chunk[:8] = struct.pack("<Q", counter ^ seed << 32)
            n = min(_CHUNK, payload_size - written)
            fh.write(memoryview(chunk)[:n])
            written += n
            counter += 1
    return path


def make_sparse_safetensors(path: Path, size: int, n_tensors: int, metadata: dict | None = None) -> Path:
    """A safetensors file whose payload is a hole: gigabytes that cost no disk and no time."""
    head = safetensors_header_bytes(n_tensors, max(2, size), metadata)
    payload = max(2, size - len(head))
    head = safetensors_header_bytes(n_tensors, payload, metadata)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + payload)
    return path


def warm_cache(paths) -> None:
    """Read every file once so the runs that follow measure hashing, not the disk."""
    buf = bytearray(_CHUNK)
    for path in paths:
        with open(path, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def cpu_seconds(children: bool = False) -> float:
    import resource

    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], object], children: bool = False) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result) of ``fn()``."""
    cpu0 = cpu_seconds(children)
    t0 = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    return wall, cpu_seconds(children) - cpu0, result


def best_of(runs: int, fn: Callable[[], object]) -> tuple[float, object]:
    """The best wall time of ``runs`` calls, and the last call's result."""
    best, result = None, None
    for _ in range(runs):
        wall, _cpu, result = timed(fn)
        best = wall if best is None else min(best, wall)
    return best, result


def bytes_read_by_this_process() -> int | None:
    """``rchar`` from /proc/self/io: bytes this process asked read() for (Linux only)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def machine_line() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return (
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"(other work on the machine lowers the parallel ratios), Python {sys.version.split()[0]}"
    )


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Numbers right-aligned; the first and last columns (names, notes) left-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    last = len(headers) - 1

    def fmt(cells) -> str:
        return "  ".join(
            str(c).ljust(w) if i in (0, last) else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(fmt(headers))
    print("-" * len(fmt(headers)))
    for row in rows:
        print(fmt(row))
