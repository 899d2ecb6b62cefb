"""Issue 13, download pipeline: planted symlinks (item 5), storage sending too much (item 6)."""

from __future__ import annotations

import os

import pytest

from civkit.api import CivitaiClient
from civkit.download import DownloadError, choose_file, download_file

LORA_VERSION = 1011


@pytest.fixture
def client(fake_civitai):
    return CivitaiClient(fake_civitai.base_url, fake_civitai.api_key, sleep=lambda s: None)


def fetch(client, dest, version_id=LORA_VERSION, **kw):
    version = client.get_version(version_id)
    file = choose_file(version)
    return file, download_file(client, version, file, dest, retry_delay=0, **kw)


@pytest.mark.parametrize("suffix", [".part", ".part.lock"])
def test_a_symlink_planted_at_the_part_or_lock_is_never_followed(client, tmp_path, suffix):
    dest = tmp_path / "loras"
    dest.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious user data\n")
    name = choose_file(client.get_version(LORA_VERSION)).name
    (dest / (name + suffix)).symlink_to(victim)
    with pytest.raises(DownloadError) as info:
        fetch(client, dest)
    assert "symbolic link" in str(info.value) and name + suffix in str(info.value)
    assert victim.read_bytes() == b"precious user data\n"
    assert (dest / (name + suffix)).is_symlink()  # left for the user to look at, not removed behind their back
    assert not (dest / name).exists()


def test_a_dangling_symlink_at_the_part_is_not_created_through(client, tmp_path):
    dest = tmp_path / "loras"
    dest.mkdir()
    elsewhere = tmp_path / "elsewhere" / "new-file"
    elsewhere.parent.mkdir()
    name = choose_file(client.get_version(LORA_VERSION)).name
    (dest / (name + ".part")).symlink_to(elsewhere)
    with pytest.raises(DownloadError):
        fetch(client, dest)
    assert not elsewhere.exists()


def test_a_fifo_planted_at_the_part_is_refused_not_waited_on(client, tmp_path):
    dest = tmp_path / "loras"
    dest.mkdir()
    name = choose_file(client.get_version(LORA_VERSION)).name
    os.mkfifo(dest / (name + ".part"))
    with pytest.raises(DownloadError) as info:
        fetch(client, dest)
    assert "not a regular file" in str(info.value)


def test_storage_sending_more_than_the_listed_size_is_stopped(client, fake_civitai, tmp_path, monkeypatch):
    from civkit.download.transfer import OVERSIZE_SLACK
    from civkit.testing.http import Response

    version = client.get_version(LORA_VERSION)
    file = choose_file(version)
    listed = file.size_bytes
    endless = b"\0" * (listed + OVERSIZE_SLACK + 8 * 1024 * 1024)
    real = fake_civitai.handle
    served = []

    def handle(method, target, headers, body):
        if target.startswith("/storage/"):  # a storage host that does not stop
            served.append(target)
            return Response(200, endless, [("Content-Type", "application/octet-stream")])
        return real(method, target, headers, body)

    monkeypatch.setattr(fake_civitai, "handle", handle)
    dest = tmp_path / "loras"
    with pytest.raises(DownloadError) as info:
        download_file(client, version, file, dest, retry_delay=0)
    message = str(info.value)
    assert "more than" in message and "Civitai lists" in message
    assert not (dest / file.name).exists()
    assert all(p.stat().st_size <= listed + OVERSIZE_SLACK for p in dest.iterdir())
    assert len(served) == 1  # not retried: a retry would only do the same
