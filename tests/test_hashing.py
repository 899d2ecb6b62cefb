"""civkit.hashing: Civitai's hash definitions (CIVITAI_API.md §7), the fast paths, and failures."""

from __future__ import annotations

import hashlib
import os
import random
import struct
import zlib

import blake3
import pytest

from civkit import hashing
from civkit.hashing import (
    ALL_HASHES,
    EMPTY_AUTOV3,
    SCAN_HASHES,
    FileChangedError,
    FileHashes,
    MultiHasher,
    hash_bytes,
    hash_file,
    hash_files,
)

MIB = 1024 * 1024
HELLO = b"hello world"
VECTOR2 = struct.pack("<Q", 2) + b"{}" + HELLO
VECTOR3_HEADER = b'{"__metadata__":{"a":"b"}}'
VECTOR3 = struct.pack("<Q", len(VECTOR3_HEADER)) + VECTOR3_HEADER + HELLO


def reference(data: bytes) -> dict:
    """Straightforward hashlib/zlib/blake3 over the whole buffer, spelled the Civitai way."""
    sha = hashlib.sha256(data).hexdigest().upper()
    v1 = None
    if len(data) >= 0x200000:
        v1 = hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8].upper()
    v3 = None
    if len(data) >= 9:
        (n,) = struct.unpack("<Q", data[:8])
        if 8 + n <= len(data) and data[8:9] == b"{":
            v3 = hashlib.sha256(data[8 + n :]).hexdigest()[:12].upper()
    return {
        "SHA256": sha,
        "AutoV1": v1,
        "AutoV2": sha[:10],
        "AutoV3": v3,
        "CRC32": zlib.crc32(data).to_bytes(4, "little").hex().upper(),
        "BLAKE3": blake3.blake3(data).hexdigest().upper(),
    }


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the test vectors of CIVITAI_API.md §7 ------------------------------------------------------


@pytest.mark.parametrize("parallel", [False, True])
def test_vector1_hello_world(tmp_path, parallel):
    got = hash_file(write(tmp_path, "hello.bin", HELLO), parallel=parallel, block_size=4)
    assert got.as_civitai() == {
        "SHA256": "B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9",
        "AutoV1": None,
        "AutoV2": "B94D27B993",
        "AutoV3": None,
        "CRC32": "85114A0D",
        "BLAKE3": "D74981EFA70A0C880B8D8C1985D075DBCBF679B99A5F9914E5AAF96B831A9E24",
    }
    assert got.size == 11
    assert hash_bytes(HELLO) == got


def test_crc32_is_written_least_significant_byte_first():
    assert zlib.crc32(HELLO) == 0x0D4A1185  # the conventional rendering
    assert hash_bytes(HELLO, ["CRC32"]).crc32 == "85114A0D"


@pytest.mark.parametrize("parallel", [False, True])
def test_vector2_minimal_safetensors(tmp_path, parallel):
    got = hash_file(write(tmp_path, "v2.safetensors", VECTOR2), parallel=parallel, block_size=3)
    assert got.as_civitai() == {
        "SHA256": "1321508D33F3CD706BA620772AA91F7DDB96724E7670A8E3F2828DE4514C07FB",
        "AutoV1": None,
        "AutoV2": "1321508D33",
        "AutoV3": "B94D27B9934D",
        "CRC32": "A227D524",
        "BLAKE3": "0E7B1C07126983690D70A07299656C4895CC6F59696DFA51544F5D1759FE08A8",
    }


def test_vector3_rewritten_header_keeps_autov3(tmp_path):
    got = hash_file(write(tmp_path, "v3.safetensors", VECTOR3))
    assert got.sha256 == "D86415F513DDB95D379E3BDCF3BA88B0AD3392CEA297CED1E7DD4A721D8FD9C0"
    assert got.autov3 == "B94D27B9934D" == hash_bytes(VECTOR2).autov3


# --- AutoV1 and AutoV3 edges ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [0x200000 - 1, 0x200000, 0x200000 + 12345])
def test_autov1_absent_below_2_mib_and_correct_from_2_mib(tmp_path, size):
    data = random.Random(size).randbytes(size)
    got = hash_file(write(tmp_path, "f.bin", data), SCAN_HASHES, block_size=65537)
    if size < 0x200000:
        assert got.autov1 is None
    else:
        assert got.autov1 == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8].upper()
    assert got.sha256 == hashlib.sha256(data).hexdigest().upper()
    assert got.autov3 is None and got.crc32 is None and got.blake3 is None  # not asked for


def test_autov3_needs_a_brace_and_a_header_that_fits(tmp_path):
    not_json = struct.pack("<Q", 2) + b"[]" + HELLO
    too_long = struct.pack("<Q", 100) + b"{}" + HELLO  # claims more than the file holds
    exactly_fits = struct.pack("<Q", 2) + b"{}"  # 8+N == size: payload is empty
    assert hash_bytes(not_json).autov3 is None
    assert hash_bytes(too_long).autov3 is None
    assert hash_file(write(tmp_path, "e.safetensors", exactly_fits)).autov3 == EMPTY_AUTOV3
    assert hash_bytes(b"{" * 8).autov3 is None  # shorter than 9 bytes


def test_autov3_ignores_trainer_written_hash(tmp_path):
    """sshs_model_hash in the header is whatever the trainer wrote; civkit computes its own."""
    header = b'{"__metadata__":{"sshs_model_hash":"0000000000000000"}}'
    data = struct.pack("<Q", len(header)) + header + b"tensor bytes"
    got = hash_file(write(tmp_path, "m.safetensors", data))
    assert got.autov3 == hashlib.sha256(b"tensor bytes").hexdigest()[:12].upper()


# --- the fast paths give exactly the simple result -----------------------------------------------


def _odd_files(tmp_path):
    rng = random.Random(7)
    header = b'{"w":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}}   '
    files = {
        "empty": b"",
        "one": b"x",
        "nine": b"{" * 9,
        "odd": rng.randbytes(4099),
        "st_small": struct.pack("<Q", len(header)) + header + rng.randbytes(5001),
        "st_big": struct.pack("<Q", len(header)) + header + rng.randbytes(3 * MIB + 17),
        "plain_big": rng.randbytes(2 * MIB + 65535),
    }
    return {name: (write(tmp_path, name, data), data) for name, data in files.items()}


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("block_size", [1, 7, 4096, 65537, 1_000_003, None])
def test_files_of_odd_sizes_match_the_reference(tmp_path, parallel, block_size):
    for name, (path, data) in _odd_files(tmp_path).items():
        if block_size is not None and block_size < 4096 and len(data) > 10_000:
            continue  # byte-sized blocks on megabytes would only make the test slow
        got = hash_file(path, ALL_HASHES, block_size=block_size, parallel=parallel)
        assert got.as_civitai() == reference(data), (name, block_size, parallel)
        assert got.size == len(data)


def test_pipeline_recycles_its_buffers_over_many_blocks(tmp_path):
    """Far more blocks than buffers: every buffer is reused many times while lanes still read."""
    data = random.Random(3).randbytes(300_001)
    path = write(tmp_path, "many.bin", struct.pack("<Q", 2) + b"{}" + data)
    seen = []
    got = hash_file(path, ALL_HASHES, block_size=1000, parallel=True, progress=seen.append)
    assert got.as_civitai() == reference(path.read_bytes())
    assert sum(seen) == path.stat().st_size and len(seen) > 10 * hashing.PIPELINE_BUFFERS


@pytest.mark.parametrize("want", [["SHA256"], ["AutoV2"], ["CRC32", "BLAKE3"], ["AutoV3"], ["AutoV1"]])
def test_only_what_is_asked_for(tmp_path, want):
    data = struct.pack("<Q", 2) + b"{}" + random.Random(1).randbytes(3 * MIB)
    got = hash_file(write(tmp_path, "f", data), want, block_size=MIB, parallel=True).as_civitai()
    ref = reference(data)
    given = set(want) | ({"SHA256"} if "AutoV2" in want else set())  # AutoV2 costs the full SHA256 anyway
    for name in ALL_HASHES:
        assert got[name] == (ref[name] if name in given else None), name


def test_streaming_in_uneven_chunks_matches_one_update():
    """Downloads feed MultiHasher whatever chunk sizes the network gives, even single bytes."""
    rng = random.Random(11)
    header = b'{"__metadata__":{}}'
    data = struct.pack("<Q", len(header)) + header + rng.randbytes(0x200000 + 999)
    hasher = MultiHasher(ALL_HASHES, total_size=len(data))
    pos = 0
    sizes = [1] * 40 + [rng.randint(1, 70000) for _ in range(200)]
    for n in sizes:
        hasher.update(data[pos : pos + n])
        pos += n
    hasher.update(data[pos:])
    assert hasher.result().as_civitai() == reference(data)
    assert hash_bytes(data) == hasher.result()


def test_streaming_without_known_size_still_gets_autov3():
    hasher = MultiHasher(ALL_HASHES)
    for i in range(0, len(VECTOR2), 2):
        hasher.update(VECTOR2[i : i + 2])
    assert hasher.result().autov3 == "B94D27B9934D"


def test_fast_crc32_agrees_with_zlib():
    data = random.Random(5).randbytes(1_000_003)
    assert hashing._crc32(data) == zlib.crc32(data)
    assert hashing._crc32(data[500:], hashing._crc32(data[:500])) == zlib.crc32(data)


def test_unknown_hash_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown hash names"):
        MultiHasher(["SHA1"])
    with pytest.raises(ValueError, match="unknown hash names"):
        list(hash_files([write(tmp_path, "f", b"x")], ["MD5"]))


def test_file_hashes_spelling():
    got = hash_bytes(HELLO)
    assert list(got.as_civitai()) == list(ALL_HASHES)
    assert got.as_dict()["sha256"] == got.sha256
    assert FileHashes().as_civitai() == dict.fromkeys(ALL_HASHES)


# --- many files at once ---------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_hash_files_matches_hash_file(tmp_path, workers):
    rng = random.Random(workers)
    paths = [write(tmp_path, f"m{i}.bin", rng.randbytes(rng.randint(0, 300_000))) for i in range(9)]
    got = dict(hash_files((p for p in paths), ALL_HASHES, workers=workers, block_size=8191))
    assert set(got) == set(paths)
    for path in paths:
        assert got[path] == hash_file(path, ALL_HASHES, parallel=False)


def test_hash_files_reports_bad_files_and_goes_on(tmp_path):
    good = write(tmp_path, "good.bin", HELLO)
    missing = tmp_path / "vanished.safetensors"
    folder = tmp_path / "a folder"
    folder.mkdir()
    dangling = tmp_path / "dangling.safetensors"
    os.symlink(tmp_path / "nowhere", dangling)
    results = dict(hash_files([missing, good, folder, dangling], SCAN_HASHES, workers=2))
    assert isinstance(results[missing], FileNotFoundError)
    assert isinstance(results[folder], IsADirectoryError)
    assert isinstance(results[dangling], FileNotFoundError)
    assert results[good].sha256 == reference(HELLO)["SHA256"]


def test_file_that_grows_while_hashed_is_reported(tmp_path):
    path = write(tmp_path, "downloading.safetensors", b"a" * 50_000)

    def grow(_n):  # another program appends while civkit reads
        with open(path, "ab") as fh:
            fh.write(b"more")

    results = dict(hash_files([path], SCAN_HASHES, workers=1, progress=grow, block_size=10_000))
    err = results[path]
    assert isinstance(err, FileChangedError)
    assert "changed size while it was hashed" in str(err) and "hash it again" in str(err)
    assert err.filename == str(path)


def test_progress_counts_every_byte_across_threads(tmp_path):
    paths = [write(tmp_path, f"f{i}", bytes(100_000 + i)) for i in range(6)]
    total = []
    list(hash_files(paths, ALL_HASHES, workers=3, progress=total.append, block_size=4096))
    assert sum(total) == sum(p.stat().st_size for p in paths)


def test_closing_hash_files_early_stops_cleanly(tmp_path):
    paths = [write(tmp_path, f"f{i}", bytes(10_000)) for i in range(50)]
    gen = hash_files(paths, SCAN_HASHES, workers=2)
    first_path, first = next(gen)
    gen.close()
    assert first_path in paths and first.size == 10_000


@pytest.mark.parametrize("parallel", [False, True])
def test_file_that_shrinks_while_hashed_is_reported(tmp_path, parallel):
    path = write(tmp_path, "rewritten.safetensors", bytes(400_000))

    def shrink(_n):  # another program truncates the file under us
        os.truncate(path, 50_000)

    err = dict(hash_files([path], ALL_HASHES, workers=1, progress=shrink, block_size=40_000, parallel=parallel))[path]
    assert isinstance(err, FileChangedError)
    assert "(400000 bytes when opened, " in str(err)


@pytest.mark.parametrize("inline_crc", [True, False])
def test_pipeline_layouts_agree(tmp_path, monkeypatch, inline_crc):
    """CRC-32 rides in the reader with isal and gets its own thread with zlib: same results."""
    monkeypatch.setattr(hashing._CrcLane, "inline", inline_crc)
    data = struct.pack("<Q", 2) + b"{}" + random.Random(9).randbytes(200_003)
    got = hash_file(write(tmp_path, "f.safetensors", data), ALL_HASHES, block_size=4099, parallel=True)
    assert got.as_civitai() == reference(data)


def test_cancel_stops_hashing(tmp_path):
    import threading

    path = write(tmp_path, "f", bytes(10_000))
    stop = threading.Event()
    stop.set()
    with pytest.raises(InterruptedError, match="hashing was cancelled"):
        hash_file(path, ALL_HASHES, cancel=stop)


def test_closing_hash_files_stops_big_files_midway(tmp_path):
    small = write(tmp_path, "small", b"x")
    big = []
    for name in ("big1", "big2"):
        path = tmp_path / name
        with open(path, "wb") as fh:
            fh.truncate(64 * MIB)  # sparse: costs no disk
        big.append(path)
    seen = []
    gen = hash_files([small, *big], SCAN_HASHES, workers=3, progress=seen.append, block_size=4096)
    assert next(gen)[0] == small  # 1 byte against 2 x 16,384 blocks: always first
    gen.close()  # returns once the big files stopped at their next block
    assert sum(seen) < 2 * 64 * MIB
