"""Real, small, deterministic model files for the emulator catalog.

Every file is generated from a seed, so rebuilding a catalog in the same folder gives the same bytes
(and the cache in ``catalog.py`` can reuse files and hashes).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import struct
import zipfile
import zlib
from pathlib import Path

DTYPE_SIZES = {"F16": 2, "BF16": 2, "F32": 4}


def pseudo_random(seed: str, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def safetensors_bytes(metadata: dict[str, str] | None, payload_size: int, seed: str, dtype: str = "F16") -> bytes:
    """A valid safetensors file: u64 header length, JSON header, then ``payload_size`` tensor bytes.

    The payload is split into a few 1-D tensors named like kohya LoRA weights.
    """
    item = DTYPE_SIZES[dtype]
    payload_size -= payload_size % item
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    parts = 4 if payload_size >= 4 * item * 16 else 1
    per = (payload_size // parts) // item * item
    offset = 0
    for i in range(parts):
        size = per if i < parts - 1 else payload_size - offset
        name = f"lora_unet_down_blocks_{i}_attentions_0_proj_in.lora_down.weight"
        header[name] = {"dtype": dtype, "shape": [size // item], "data_offsets": [offset, offset + size]}
        offset += size
    payload = pseudo_random(seed, payload_size)
    meta = header.get("__metadata__", {})
    for key in ("sshs_model_hash", "modelspec.hash_sha256"):
        if meta.get(key) == "auto":  # the correct value: SHA256 of the tensor data (= AutoV3 in full)
            digest = hashlib.sha256(payload).hexdigest()
            meta[key] = digest if key == "sshs_model_hash" else "0x" + digest
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads the header to 8 bytes with spaces
    return struct.pack("<Q", len(raw)) + raw + payload


def pickle_checkpoint_bytes(seed: str, payload_size: int) -> bytes:
    """A torch-style zip (.ckpt/.pth) holding a harmless pickle and a blob of 'storage' bytes."""
    entries = {"archive/data.pkl": pickle.dumps({"state_dict": {"weight": "storage/0"}}, protocol=2),
               "archive/data/0": pseudo_random(seed, payload_size), "archive/version": b"3\n"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)  # fixed time: same bytes
    return buf.getvalue()


def zip_bytes(entries: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zf.writestr(zi, entries[name])
    return buf.getvalue()


def png_bytes(width: int, height: int, seed: int) -> bytes:
    """A real PNG: a vertical gradient whose colour depends on ``seed``."""
    rng = random.Random(seed)
    r0, g0, b0 = rng.randrange(256), rng.randrange(256), rng.randrange(256)
    rows = []
    for y in range(height):
        shade = y * 255 // max(1, height - 1)
        px = bytes(((r0 + shade) % 256, (g0 + shade // 2) % 256, (b0 + 255 - shade) % 256))
        rows.append(b"\x00" + px * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + chunk(b"IEND", b"")
    )


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` unless the file already holds exactly these bytes; True when written."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except OSError:
        pass
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def write_large_safetensors(path: Path, size: int, seed: str = "large", metadata: dict | None = None) -> None:
    """A safetensors file of exactly ``size`` bytes, written fast from one repeated random block.

    Each 4 MiB block carries its index in its first 8 bytes, so no two blocks are equal.
    """
    meta = {"ss_output_name": path.stem, **(metadata or {})}
    # The header states the payload length, whose digit count changes the header length: take a payload
    # a little too small, then pad the header with spaces (allowed by safetensors) to hit ``size`` exactly.
    payload = size - 8 - len(_large_header_json(meta, size)) - 8
    if payload < 16:
        raise ValueError("size too small for a safetensors file")
    raw = _large_header_json(meta, payload)
    raw += b" " * (size - 8 - payload - len(raw))
    header = struct.pack("<Q", len(raw)) + raw
    block_size = 4 * 1024 * 1024
    block = bytearray(pseudo_random(seed, block_size))
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(header)
        written, index = 0, 0
        while written < payload:
            struct.pack_into("<Q", block, 0, index)
            n = min(block_size, payload - written)
            fh.write(memoryview(block)[:n])
            written += n
            index += 1
    os.replace(tmp, path)


def _large_header_json(meta: dict, payload: int) -> bytes:
    header = {
        "__metadata__": {k: str(v) for k, v in meta.items()},
        "model.diffusion_model.weight": {"dtype": "U8", "shape": [payload], "data_offsets": [0, payload]},
    }
    return json.dumps(header, separators=(",", ":")).encode()
