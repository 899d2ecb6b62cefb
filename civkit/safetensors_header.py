"""Read a safetensors file's JSON header without touching its tensor data.

Layout: ``[0, 8)`` u64 little-endian N, ``[8, 8+N)`` a UTF-8 JSON object (often padded with
spaces), then the tensor data. The object maps tensor names to ``{"dtype", "shape",
"data_offsets": [begin, end]}`` (offsets relative to the data start) and may hold
``"__metadata__"``: a str -> str map where trainers leave their notes:

* kohya sd-scripts: ``ss_*`` keys (``ss_network_module``, ``ss_base_model_version``,
  ``ss_tag_frequency`` — a JSON string inside the string, see ``tag_frequency``), and
  ``sshs_model_hash`` / ``sshs_legacy_hash``;
* Stability's ModelSpec: ``modelspec.*`` (``modelspec.title``, ``modelspec.architecture``,
  ``modelspec.hash_sha256``, ``modelspec.trigger_phrase``...).

``sshs_model_hash`` and ``modelspec.hash_sha256`` are NEVER trusted for lookups: some trainers
write them wrong, and metadata editors leave them stale after changing the header. civkit only
looks files up by hashes it computed itself (``civkit.hashing``).

``parse_header(bytes)`` is pure; ``read_header(path)`` reads 8 + N bytes, whatever the file size.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field, replace
from typing import Optional, Union

DEFAULT_MAX_HEADER_BYTES = 100 * 1024 * 1024
METADATA_KEY = "__metadata__"
U64_MAX = 2**64 - 1
# Parsed JSON costs up to ~30x its text in memory when it is all tiny values ("[0,0,0,...]"). A real
# header has ~10 values per tensor (a checkpoint: a few thousand tensors), plus metadata strings,
# so the values outside strings are counted first and a header with more than this is refused.
MAX_HEADER_VALUES = 2_000_000
_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class HeaderError(ValueError):
    """The file is not a readable safetensors file; the message says why, for people."""


@dataclass(frozen=True)
class SafetensorsHeader:
    header_size: int  # N, the JSON header's length in bytes
    data_offset: int  # 8 + N: where the tensor data (and AutoV3's input) starts
    metadata: dict  # __metadata__, every value a string
    tensor_count: int
    dtypes: tuple  # distinct dtypes, most frequent first ("F16", "BF16", "F32"...)
    raw: dict = field(repr=False)  # the whole parsed header
    parameter_count: int = 0  # sum over tensors of the product of their shape
    data_size: int = 0  # bytes of tensor data the header describes (largest end offset)
    file_size: Optional[int] = None  # set by read_header

    @property
    def expected_size(self) -> int:
        """The file size the header implies: 8 + N + tensor data."""
        return self.data_offset + self.data_size

    @property
    def truncated(self) -> bool:
        """True when the file is shorter than its header says (an interrupted download)."""
        return self.file_size is not None and self.file_size < self.expected_size

    def summary(self) -> dict:
        """A JSON-safe summary for people and for the library index (without ``raw``)."""
        return {
            "header_size": self.header_size,
            "data_offset": self.data_offset,
            "tensor_count": self.tensor_count,
            "dtypes": list(self.dtypes),
            "parameter_count": self.parameter_count,
            "data_size": self.data_size,
            "file_size": self.file_size,
            "truncated": self.truncated,
            "metadata": dict(self.metadata),
        }


def _metadata_strings(value) -> dict:
    """``__metadata__`` as str -> str. The format requires strings; tolerate writers that did not."""
    if not isinstance(value, dict):
        return {}
    out = {}
    for key, item in value.items():
        try:
            out[str(key)] = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        except (ValueError, RecursionError):  # a value nested too deeply to write back: left out
            continue
    return out


def _shape_product(name: str, shape: list) -> int:
    """The number of elements of a tensor; HeaderError for a dimension that is not a u64, or a product
    no file could hold. Stops as soon as the product passes u64, so absurd shapes cost nothing."""
    n = 1
    for dim in shape:
        if type(dim) is not int or not 0 <= dim <= U64_MAX:
            raise HeaderError(f"tensor {name[:80]!r} has a bad shape: {str(dim)[:40]} is not a dimension"
                              " (a whole number from 0 to 2^64-1)")
        n *= dim
        if n > U64_MAX:
            raise HeaderError(f"tensor {name[:80]!r} has a bad shape: more than 2^64 elements")
    return n


def _tensor_stats(header: dict) -> tuple:
    """(count, dtypes most frequent first, parameter count, end of the tensor data).

    Tolerant of missing or oddly typed entries (they count as tensors but add no parameters): this
    is a summary, not a validator. But a shape or offset that is a number out of u64 range is a
    HeaderError, as in the format. Written for speed: checkpoints have thousands of tensors.
    """
    count = 0
    params = 0
    data_end = 0
    dtype_counts: dict = {}
    for name, info in header.items():
        if type(info) is not dict or name == METADATA_KEY:
            continue
        count += 1
        dtype = info.get("dtype")
        if type(dtype) is str:
            dtype_counts[dtype] = dtype_counts.get(dtype, 0) + 1
        shape = info.get("shape")
        if type(shape) is list:
            params += _shape_product(name, shape)
        offsets = info.get("data_offsets")
        if type(offsets) is list and len(offsets) == 2:
            end = offsets[1]
            if type(end) is int and not 0 <= end <= U64_MAX:
                raise HeaderError(f"tensor {name[:80]!r} has bad data_offsets: {str(end)[:40]} is out of range")
            if type(end) is int and end > data_end:
                data_end = end
    dtypes = tuple(sorted(dtype_counts, key=lambda d: (-dtype_counts[d], d)))
    return count, dtypes, params, data_end


def _header_length(prefix: bytes, max_header_bytes: int) -> int:
    if len(prefix) < 8:
        raise HeaderError(
            f"the file is only {len(prefix)} bytes long, shorter than the 8-byte header length"
        )
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > max_header_bytes:
        limit = f"{max_header_bytes // (1024 * 1024)} MiB" if max_header_bytes % (1024 * 1024) == 0 else f"{max_header_bytes} bytes"
        raise HeaderError(f"header claims {n} bytes, more than the {limit} limit")
    if n < 2:
        raise HeaderError(f"the header claims {n} bytes, too short for a JSON object")
    return n


def parse_header(data: bytes, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> SafetensorsHeader:
    """Parse the start of a safetensors file: ``data`` holds at least its first 8 + N bytes."""
    n = _header_length(data, max_header_bytes)
    body = bytes(data[8 : 8 + n])
    if len(body) < n:
        raise HeaderError(f"truncated header: it claims {n} bytes but only {len(body)} follow")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeaderError(f"header is not UTF-8 text (bad byte at offset {8 + exc.start})") from None
    _check_value_count(body)
    try:
        header = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HeaderError(f"header is not JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise HeaderError("header is not a safetensors header: its JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. a number of more than 4300 digits
        raise HeaderError(f"header is not usable JSON: a number in it is too long ({str(exc)[:60]})") from None
    if not isinstance(header, dict):
        raise HeaderError(f"header is JSON but not an object (it is {_json_type(header)})")
    count, dtypes, params, data_end = _tensor_stats(header)
    return SafetensorsHeader(
        header_size=n,
        data_offset=8 + n,
        metadata=_metadata_strings(header.get(METADATA_KEY)),
        tensor_count=count,
        dtypes=dtypes,
        raw=header,
        parameter_count=params,
        data_size=data_end,
    )


def _check_value_count(body: bytes) -> None:
    """HeaderError when the JSON holds more values than any real header (see MAX_HEADER_VALUES).

    Commas and opening brackets outside strings count the values; strings are cut out first (a
    metadata string may hold any number of commas). Costs about one pass over the bytes.
    """
    if body.count(b",") + body.count(b"[") + body.count(b"{") <= MAX_HEADER_VALUES:
        return  # the common case: no need to look closer
    bare = _STRING_RE.sub(b"", body)
    values = bare.count(b",") + bare.count(b"[") + bare.count(b"{")
    if values > MAX_HEADER_VALUES:
        raise HeaderError(f"header holds too many values ({values:,}); a safetensors header has far fewer")


def _json_type(value) -> str:
    kinds = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
    return kinds.get(type(value), "null")


def _read_exactly(fh, n: int) -> bytes:
    chunks = []
    got = 0
    while got < n:
        chunk = fh.read(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_header(
    path: Union[os.PathLike[str], str], max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
) -> SafetensorsHeader:
    """Read only the 8-byte length and the JSON header of ``path``.

    Raises HeaderError for a file that is not safetensors (or is cut short inside its header),
    OSError when the file cannot be read.
    """
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        prefix = _read_exactly(fh, 8)
        n = _header_length(prefix, max_header_bytes)
        if 8 + n > size:
            raise HeaderError(
                f"truncated file: the header claims {n} bytes but the file has only {max(size - 8, 0)} after"
                " the length; the download may be incomplete"
            )
        body = _read_exactly(fh, n)
    return replace(parse_header(prefix + body, max_header_bytes), file_size=size)


def tag_frequency(metadata: dict) -> dict:
    """kohya's ``ss_tag_frequency``: ``{dataset folder: {tag: count}}``; ``{}`` when absent or broken.

    The value is a JSON string inside the metadata string. Folder names keep their ``N_`` repeat
    prefix (e.g. ``"10_mychar"``); callers strip it.
    """
    raw = metadata.get("ss_tag_frequency") if isinstance(metadata, dict) else None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            return {}
    if not isinstance(raw, dict):
        return {}
    out: dict = {}
    for folder, tags in raw.items():
        if not isinstance(tags, dict):
            continue
        counts = {}
        for tag, count in tags.items():
            try:
                counts[str(tag)] = int(count)
            except (TypeError, ValueError):
                continue
        out[str(folder)] = counts
    return out


# Keys worth showing a person first, in this order; the rest of __metadata__ follows.
NOTABLE_METADATA = (
    "modelspec.title",
    "modelspec.architecture",
    "modelspec.author",
    "modelspec.trigger_phrase",
    "modelspec.resolution",
    "ss_output_name",
    "ss_base_model_version",
    "ss_sd_model_name",
    "ss_network_module",
    "ss_network_dim",
    "ss_network_alpha",
    "ss_training_comment",
    "ss_num_epochs",
    "ss_steps",
    "ss_resolution",
)


def guess_kind(header: SafetensorsHeader) -> Optional[str]:
    """A rough guess from tensor names: "LoRA", "LyCORIS", "embedding", "checkpoint" or None."""
    names = [k for k in header.raw if k != METADATA_KEY]
    module = header.metadata.get("ss_network_module", "")
    if "lycoris" in module:
        return "LyCORIS"
    if module or any(".lora_down." in k or k.startswith(("lora_unet_", "lora_te")) for k in names):
        if any(".hada_w1_a" in k or ".lokr_w1" in k for k in names):
            return "LyCORIS"
        return "LoRA"
    if names and all(k in ("emb_params", "string_to_param", "clip_l", "clip_g") for k in names):
        return "embedding"
    if any(k.startswith(("model.diffusion_model.", "first_stage_model.")) for k in names):
        return "checkpoint"
    return None
