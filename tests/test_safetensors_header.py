"""civkit.safetensors_header: reading only the header, clear errors, kohya/modelspec metadata."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from civkit.hashing import hash_file
from civkit.safetensors_header import (
    HeaderError,
    SafetensorsHeader,
    guess_kind,
    parse_header,
    read_header,
    tag_frequency,
)

VECTOR2 = struct.pack("<Q", 2) + b"{}" + b"hello world"


def st_bytes(header, payload: bytes = b"", raw_header: bytes | None = None) -> bytes:
    body = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(body)) + body + payload


def kohya_lora(tmp_path) -> Path:
    """A LoRA written by the real safetensors library, with kohya-style metadata."""
    tensors = {
        "lora_unet_down_blocks_0.lora_down.weight": np.zeros((4, 320), dtype=np.float16),
        "lora_unet_down_blocks_0.lora_up.weight": np.zeros((320, 4), dtype=np.float16),
        "lora_unet_down_blocks_0.alpha": np.array(4.0, dtype=np.float32),
    }
    metadata = {
        "ss_network_module": "networks.lora",
        "ss_base_model_version": "sdxl_base_v1-0",
        "ss_tag_frequency": json.dumps({"10_mychar": {"mychar": 40, "smile": 12}, "2_style": {"mychar": 3}}),
        "sshs_model_hash": "not-a-real-hash",
        "modelspec.title": "My Character",
        "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
    }
    path = tmp_path / "mychar.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    return path


def test_parse_minimal_header():
    h = parse_header(VECTOR2)
    assert (h.header_size, h.data_offset, h.tensor_count, h.metadata) == (2, 10, 0, {})
    assert h.raw == {}


def test_parse_metadata_of_vector3():
    header = b'{"__metadata__":{"a":"b"}}'
    h = parse_header(struct.pack("<Q", len(header)) + header + b"hello world")
    assert h.metadata == {"a": "b"} and h.data_offset == 8 + 26 and h.tensor_count == 0


def test_cross_check_with_the_safetensors_package(tmp_path):
    path = kohya_lora(tmp_path)
    h = read_header(path)
    with safe_open(str(path), framework="np") as f:
        assert h.metadata == f.metadata()
        assert sorted(k for k in h.raw if k != "__metadata__") == sorted(f.keys())
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert h.tensor_count == 3
    assert h.dtypes == ("F16", "F32")  # most frequent first
    assert set(h.dtypes) == dtypes
    assert h.parameter_count == sum(int(np.prod(s)) for s in shapes.values()) == 2 * 4 * 320 + 1
    assert h.file_size == path.stat().st_size == h.expected_size and not h.truncated
    # AutoV3 is the hash of exactly the bytes after the header that read_header found.
    data = path.read_bytes()
    import hashlib

    assert hash_file(path).autov3 == hashlib.sha256(data[h.data_offset :]).hexdigest()[:12].upper()


def test_kohya_metadata_and_tag_frequency(tmp_path):
    h = read_header(kohya_lora(tmp_path))
    assert h.metadata["ss_network_module"] == "networks.lora"
    assert h.metadata["modelspec.title"] == "My Character"
    # exposed as written, but never trusted for lookups (see the module docstring)
    assert h.metadata["sshs_model_hash"] == "not-a-real-hash"
    assert tag_frequency(h.metadata) == {"10_mychar": {"mychar": 40, "smile": 12}, "2_style": {"mychar": 3}}
    assert guess_kind(h) == "LoRA"


def test_tag_frequency_tolerates_absent_and_broken_values():
    assert tag_frequency({}) == {}
    assert tag_frequency({"ss_tag_frequency": "{not json"}) == {}
    assert tag_frequency({"ss_tag_frequency": "[1, 2]"}) == {}
    assert tag_frequency({"ss_tag_frequency": json.dumps({"1_a": {"x": "3", "y": "many"}, "b": 5})}) == {
        "1_a": {"x": 3}
    }


def test_non_string_metadata_values_become_strings():
    h = parse_header(st_bytes({"__metadata__": {"epochs": 10, "nested": {"a": 1}, "s": "x"}}))
    assert h.metadata == {"epochs": "10", "nested": '{"a": 1}', "s": "x"}
    assert parse_header(st_bytes({"__metadata__": "oops"})).metadata == {}


def test_read_header_reads_only_the_header_of_a_huge_file(tmp_path):
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2**30], "data_offsets": [0, 2**31]}}).encode()
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as fh:  # 2 GiB sparse: reading it all would be slow and obvious
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + 2**31)

    def rchar() -> int:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
        raise AssertionError("no rchar")

    before = rchar()
    h = read_header(path)
    read = rchar() - before
    assert h.parameter_count == 2**30 and h.dtypes == ("BF16",) and h.file_size == 8 + len(header) + 2**31
    assert read < 8 + len(header) + 4096  # 8 bytes + header (+ the /proc read itself)


def test_truncated_payload_is_flagged_not_refused(tmp_path):
    header = {"w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}}
    path = tmp_path / "partial.safetensors"
    path.write_bytes(st_bytes(header, b"\0" * 100))
    h = read_header(path)
    assert h.truncated and h.expected_size - h.file_size == 300
    assert h.summary()["truncated"] is True


# --- errors a person reads -----------------------------------------------------------------------


def test_header_larger_than_the_cap():
    data = struct.pack("<Q", 100 * 1024 * 1024 + 1) + b"{"
    with pytest.raises(HeaderError) as err:
        parse_header(data)
    assert str(err.value) == "header claims 104857601 bytes, more than the 100 MiB limit"


def test_cap_is_checked_before_reading(tmp_path):
    path = tmp_path / "big-header.safetensors"
    path.write_bytes(st_bytes({"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}, b"\0\0"))
    with pytest.raises(HeaderError, match=r"header claims \d+ bytes, more than the 16 bytes limit"):
        read_header(path, max_header_bytes=16)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(struct.pack("<Q", 500) + b'{"a":')
    with pytest.raises(HeaderError) as err:
        read_header(path)
    assert str(err.value).startswith("truncated file: the header claims 500 bytes but the file has only 5")
    assert "download may be incomplete" in str(err.value)
    with pytest.raises(HeaderError, match="truncated header: it claims 500 bytes but only 5 follow"):
        parse_header(path.read_bytes())


@pytest.mark.parametrize("content", [b"", b"\x01\x02\x03"])
def test_file_shorter_than_the_length_prefix(tmp_path, content):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(content)
    with pytest.raises(HeaderError, match=f"the file is only {len(content)} bytes long"):
        read_header(path)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": 1', "header is not JSON"),
        (b"[1, 2, 3]", "header is JSON but not an object (it is an array)"),
        (b'"text"', "header is JSON but not an object (it is a string)"),
        (b'{"a": "\xff\xfe"}', "header is not UTF-8 text (bad byte at offset 15)"),
        (b"{", "too short for a JSON object"),
    ],
)
def test_bad_headers_say_what_is_wrong(tmp_path, raw, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(st_bytes(None, b"payload", raw_header=raw))
    with pytest.raises(HeaderError) as err:
        read_header(path)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "nope.safetensors")


def test_padded_header_and_summary_are_json_safe():
    body = b'{"__metadata__":{"k":"v"},"t":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}' + b" " * 6
    h = parse_header(struct.pack("<Q", len(body)) + body + b"\0" * 8)
    assert isinstance(h, SafetensorsHeader)
    summary = h.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["tensor_count"] == 1 and summary["parameter_count"] == 4 and summary["metadata"] == {"k": "v"}
    assert guess_kind(h) is None


def test_guess_kind_checkpoint_and_lycoris():
    ckpt = parse_header(st_bytes({"model.diffusion_model.x": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}))
    assert guess_kind(ckpt) == "checkpoint"
    lyco = parse_header(st_bytes({"__metadata__": {"ss_network_module": "lycoris.kohya"}}))
    assert guess_kind(lyco) == "LyCORIS"
