"""Each refusal on the download route ends with a message a person can act on, and no file."""

from __future__ import annotations

import pytest

from civkit.api import CivitaiClient
from civkit.api.records import ModelFile
from civkit.download import DownloadError, HtmlInsteadOfFile, choose_file, download_file
from civkit.testing.http import Response


@pytest.fixture
def client(fake_civitai):
    return CivitaiClient(fake_civitai.base_url, fake_civitai.api_key, sleep=lambda s: None)


@pytest.fixture
def anonymous(fake_civitai):
    return CivitaiClient(fake_civitai.base_url, None, sleep=lambda s: None)


def attempt(client, version_id, dest, file=None):
    version = client.get_version(version_id)
    file = file or choose_file(version)
    with pytest.raises(DownloadError) as info:
        download_file(client, version, file, dest, retry_delay=0)
    assert not dest.exists() or list(dest.iterdir()) == []  # nothing under any name, no empty .part
    return info.value.message


def test_login_required(anonymous, tmp_path):
    message = attempt(anonymous, 1030, tmp_path / "loras")  # Pony Anime Shading requires login
    assert "needs a Civitai API key" in message and "CIVITAI_API_KEY" in message and "--api-key" in message


def test_key_rejected(fake_civitai, tmp_path):
    bad = CivitaiClient(fake_civitai.base_url, "not-a-real-key", sleep=lambda s: None)
    message = attempt(bad, 1030, tmp_path / "loras")
    assert "rejected your API key" in message


def test_downloads_disabled_by_creator(client, tmp_path):
    message = attempt(client, 1190, tmp_path / "loras")
    assert "disabled downloads" in message


def test_early_access_says_until_when(client, tmp_path):
    message = attempt(client, 1040, tmp_path / "loras")
    assert "early access until 20" in message


def test_archived(client, fake_civitai, tmp_path):
    # Civitai lists no files for an archived model; a file id from before still answers 410.
    _m, version_raw = fake_civitai.catalog.find_version(1180)
    raw_file = version_raw["_archivedFiles"][0]
    file = ModelFile(id=raw_file["id"], name=raw_file["name"], size_kb=raw_file["sizeKB"], type="Model",
                     format="SafeTensor", hashes=raw_file["hashes"])
    message = attempt(client, 1180, tmp_path / "loras", file=file)
    assert "archived" in message


def test_download_quota(client, fake_civitai, tmp_path):
    fake_civitai.faults.download_quota = True
    message = attempt(client, 1011, tmp_path / "loras")
    assert "rate limited" in message and "try later" in message


def test_cloudflare_on_the_download_route(client, fake_civitai, tmp_path):
    version = client.get_version(1011)
    fake_civitai.faults.cloudflare_count = 1
    with pytest.raises(DownloadError) as info:
        download_file(client, version, choose_file(version), tmp_path / "loras", retry_delay=0)
    assert "Civitai returned an HTML page (Cloudflare)" in info.value.message
    assert not (tmp_path / "loras").exists() or list((tmp_path / "loras").iterdir()) == []


def test_html_from_storage_is_never_saved(client, fake_civitai, tmp_path, monkeypatch):
    real = fake_civitai.handle

    def handle(method, target, headers, body):
        if target.startswith("/storage/"):  # a login page where the model should be
            return Response(200, b"<!DOCTYPE html><html>Log in</html>", [("Content-Type", "text/html")])
        return real(method, target, headers, body)

    monkeypatch.setattr(fake_civitai, "handle", handle)
    version = client.get_version(1011)
    with pytest.raises(HtmlInsteadOfFile) as info:
        download_file(client, version, choose_file(version), tmp_path / "loras", retry_delay=0)
    assert "HTML page" in info.value.message and "Nothing was saved" in info.value.message
    assert list((tmp_path / "loras").iterdir()) == []
