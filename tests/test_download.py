"""The download against the emulator: verified, resumable, atomic; real files in tmp_path."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import namedtuple

import pytest

from civkit.api import CivitaiClient
from civkit.download import (
    Cancelled,
    FileConflict,
    HashMismatch,
    NotEnoughSpace,
    choose_file,
    download_file,
)

LORA_VERSION = 1011  # "Anime Lineart Style" v2.0: anime_lineart_v2.safetensors, 2.3 MiB


@pytest.fixture
def client(fake_civitai):
    return CivitaiClient(fake_civitai.base_url, fake_civitai.api_key, sleep=lambda s: None)


@pytest.fixture
def ranges(fake_civitai, monkeypatch):
    """Record the Range header of every storage request the emulator receives."""
    seen = []
    real = fake_civitai.handle

    def handle(method, target, headers, body):
        if target.startswith("/storage/"):
            seen.append(headers.get("range"))
        return real(method, target, headers, body)

    monkeypatch.setattr(fake_civitai, "handle", handle)
    return seen


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".lock")))


def fetch(client, version_id=LORA_VERSION, dest=None, **kw):
    version = client.get_version(version_id)
    file = choose_file(version)
    return version, file, download_file(client, version, file, dest, retry_delay=0, **kw)


def test_download_is_verified_and_atomic(client, fake_civitai, tmp_path):
    dest = tmp_path / "loras"
    states = []
    version, file, result = fetch(client, dest=dest, progress=lambda s, d, t: states.append(s))
    target = dest / file.name
    assert result.path == target and not result.skipped
    assert sha256_of(target) == file.sha256 == result.sha256
    assert result.bytes == target.stat().st_size
    assert result.version_id == LORA_VERSION and result.model_id == 101 and result.trained_words
    assert leftovers(dest) == []
    assert "resolving" in states and "downloading" in states and states[-1] == "verifying"
    # the key goes to the download route only, never to storage
    log = fake_civitai.request_log
    assert any(p.startswith("/api/download/") and auth for _m, p, auth in log)
    assert all(not auth for _m, p, auth in log if p.startswith("/storage/"))


def test_three_dropped_connections_end_verified(client, fake_civitai, tmp_path, ranges):
    fake_civitai.faults.drop_after_bytes = 300_000
    fake_civitai.faults.drop_count = 3
    _v, file, result = fetch(client, dest=tmp_path)
    assert sha256_of(result.path) == file.sha256
    assert ranges == [None, "bytes=300000-", "bytes=600000-", "bytes=900000-"]
    assert fake_civitai.count("/api/download/") == 4  # a fresh signed URL for every attempt


def test_server_ignoring_range_starts_over_cleanly(client, fake_civitai, tmp_path, ranges):
    fake_civitai.faults.drop_after_bytes = 500_000
    fake_civitai.faults.drop_count = 1
    fake_civitai.faults.ignore_range = True
    _v, file, result = fetch(client, dest=tmp_path)
    assert ranges == [None, "bytes=500000-"]  # asked to resume, got a 200 with the whole file
    assert sha256_of(result.path) == file.sha256
    assert result.path.stat().st_size == file.size_bytes


def test_corrupt_bytes_delete_the_part_and_say_so(client, fake_civitai, tmp_path):
    fake_civitai.faults.corrupt_bytes = True
    dest = tmp_path / "loras"
    with pytest.raises(HashMismatch) as info:
        fetch(client, dest=dest)
    assert "corrupt" in info.value.message and "SHA256" in info.value.message
    assert "deleted" in info.value.message
    assert list(dest.iterdir()) == []


def test_full_disk_is_refused_before_the_first_byte(client, fake_civitai, tmp_path):
    Usage = namedtuple("Usage", "total used free")
    dest = tmp_path / "loras"
    with pytest.raises(NotEnoughSpace) as info:
        fetch(client, dest=dest, disk_usage=lambda p: Usage(10**9, 10**9 - 1000, 1000))
    assert "Not enough disk space" in info.value.message and "Free some space" in info.value.message
    assert fake_civitai.count("/storage/") == 0
    assert list(dest.iterdir()) == []


def test_disk_filling_up_while_writing(client, fake_civitai, tmp_path, monkeypatch):
    # A real ENOSPC: the .part is /dev/full, which refuses every write with "No space left on device".
    # (Not a symlink at <name>.part any more: civkit refuses to write through one, issue 13 item 5.)
    import civkit.download.core as core

    version = client.get_version(LORA_VERSION)
    file = choose_file(version)
    real_open = core.open_own_file
    monkeypatch.setattr(core, "open_own_file", lambda path: os.open("/dev/full", os.O_RDWR)
                        if str(path).endswith(".part") else real_open(path))
    with pytest.raises(NotEnoughSpace) as info:
        download_file(client, version, file, tmp_path, retry_delay=0)
    assert "disk filled up" in info.value.message
    assert not (tmp_path / file.name).exists()


def test_hostile_file_name_stays_inside(client, fake_civitai, tmp_path):
    source = tmp_path / "src.safetensors"
    source.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}" + os.urandom(5000))
    model = fake_civitai.add_model(source, file_name="../../evil.safetensors")
    dest = tmp_path / "models" / "loras"
    vid = model["modelVersions"][0]["id"]
    version = client.get_version(vid)
    file = choose_file(version)
    assert file.name == "../../evil.safetensors"
    result = download_file(client, version, file, dest, retry_delay=0)
    assert result.path == dest / "evil.safetensors"
    assert sha256_of(result.path) == sha256_of(source)
    assert not (tmp_path / "evil.safetensors").exists() and not (tmp_path / "models" / "evil.safetensors").exists()


def test_identical_existing_file_is_skipped(client, fake_civitai, tmp_path):
    _v, file, first = fetch(client, dest=tmp_path)
    before = fake_civitai.count("/storage/")
    _v, _f, second = fetch(client, dest=tmp_path)
    assert second.skipped and second.path == first.path and "already downloaded" in second.message
    assert fake_civitai.count("/storage/") == before


def test_conflicting_file_is_never_overwritten(client, fake_civitai, tmp_path):
    version = client.get_version(LORA_VERSION)
    file = choose_file(version)
    mine = tmp_path / file.name
    mine.write_bytes(b"my own different file")
    with pytest.raises(FileConflict) as info:
        download_file(client, version, file, tmp_path)
    assert "already exists" in info.value.message and "--on-conflict" in info.value.message
    assert mine.read_bytes() == b"my own different file"
    skipped = download_file(client, version, file, tmp_path, on_conflict="skip")
    assert skipped.skipped and mine.read_bytes() == b"my own different file"
    suffixed = download_file(client, version, file, tmp_path, on_conflict="suffix", retry_delay=0)
    assert suffixed.path.name == file.name.replace(".safetensors", " (1).safetensors")
    assert sha256_of(suffixed.path) == file.sha256 and mine.read_bytes() == b"my own different file"
    replaced = download_file(client, version, file, tmp_path, on_conflict="replace", retry_delay=0)
    assert replaced.path == mine and sha256_of(mine) == file.sha256


def test_two_concurrent_downloads_of_one_file(client, fake_civitai, tmp_path):
    fake_civitai.faults.chunk_delay = 0.02
    fake_civitai.faults.chunk_size = 64 * 1024
    version = client.get_version(LORA_VERSION)
    file = choose_file(version)
    results, errors = [], []

    def run():
        try:
            results.append(download_file(client, version, file, tmp_path, retry_delay=0))
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r.skipped for r in results) == [False, True]  # one downloaded, one found it done
    assert fake_civitai.count("/storage/") == 1
    assert sha256_of(tmp_path / file.name) == file.sha256
    assert leftovers(tmp_path) == []


def test_cancel_keeps_the_part_and_a_new_run_resumes(client, fake_civitai, tmp_path, ranges):
    fake_civitai.faults.chunk_delay = 0.01
    fake_civitai.faults.chunk_size = 64 * 1024
    cancel = threading.Event()

    def progress(state, done, total):
        if state == "downloading" and done >= 500_000:
            cancel.set()

    with pytest.raises(Cancelled) as info:
        fetch(client, dest=tmp_path, progress=progress, cancel=cancel)
    assert "kept" in info.value.message
    version = client.get_version(LORA_VERSION)
    file = choose_file(version)
    part = tmp_path / (file.name + ".part")
    have = part.stat().st_size
    assert have >= 500_000 and not (tmp_path / file.name).exists()
    fake_civitai.faults.chunk_delay = 0
    result = download_file(client, version, file, tmp_path)
    assert result.resumed_from == have and ranges[-1] == f"bytes={have}-"
    assert sha256_of(result.path) == file.sha256 and not part.exists()


def test_a_failing_hook_never_fails_a_verified_download(client, fake_civitai, tmp_path):
    calls = []

    def broken_sidecar(path, version, file, result):
        raise OSError("read-only sidecar folder")

    def good(path, version, file, result):
        calls.append(path)
        return "preview skipped: no SFW image"

    _v, file, result = fetch(client, dest=tmp_path, hooks=[broken_sidecar, good])
    assert sha256_of(result.path) == file.sha256
    assert calls == [result.path]
    assert any("read-only sidecar folder" in w for w in result.warnings)
    assert "preview skipped: no SFW image" in result.warnings


def test_complete_part_is_verified_without_refetching(client, fake_civitai, tmp_path, ranges):
    # Killed after the last byte but before the rename: storage answers 416 to the range, nothing to fetch.
    version = client.get_version(LORA_VERSION)
    file = choose_file(version)
    source = fake_civitai.catalog.files[file.id]
    (tmp_path / (file.name + ".part")).write_bytes(source.read_bytes())
    result = download_file(client, version, file, tmp_path)
    assert ranges == [f"bytes={source.stat().st_size}-"]
    assert result.resumed_from == source.stat().st_size and sha256_of(result.path) == file.sha256


def test_stale_part_from_another_file_starts_over_once(client, fake_civitai, tmp_path, ranges):
    version = client.get_version(LORA_VERSION)
    file = choose_file(version)
    (tmp_path / (file.name + ".part")).write_bytes(b"x" * 100_000)  # not a prefix of this file
    result = download_file(client, version, file, tmp_path)
    assert ranges == ["bytes=100000-", None]  # resumed, did not verify, fetched again from byte 0
    assert sha256_of(result.path) == file.sha256 and result.resumed_from == 0
