"""``civkit download``: the command a person runs, against the emulator, with real files."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from civkit.cli.main import main


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models"
    path.mkdir()
    return path


def civkit(fake, *args, key=True):
    pre = ["--api-base", fake.base_url] + (["--api-key", fake.api_key] if key else [])
    return main(pre + list(args))


def catalog_sha(fake, version_id):
    _m, version = fake.catalog.find_version(version_id)
    primary = next(f for f in version["files"] if f.get("primary")) if any(
        f.get("primary") for f in version["files"]) else version["files"][0]
    return primary["hashes"]["SHA256"]


def test_download_into_the_guessed_layout(fake_civitai, models, capsys):
    assert civkit(fake_civitai, "download", "101", "--models-dir", str(models)) == 0
    out = capsys.readouterr().out
    target = models / "loras" / "anime_lineart_v2.safetensors"
    assert f"saved {target}" in out and "SHA256 verified" in out and "animelineart" in out
    assert sha256_of(target) == catalog_sha(fake_civitai, 1011)
    assert (models / "loras" / "anime_lineart_v2.civitai.info").exists()  # sidecars by default


def test_json_lines_and_a1111_layout(fake_civitai, tmp_path, capsys):
    models = tmp_path / "webui" / "models"
    (models / "Stable-diffusion").mkdir(parents=True)
    (models / "Lora").mkdir()
    code = civkit(fake_civitai, "--json", "download", "1011", "109", "--models-dir", str(models), "--no-sidecars")
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["version_id"] for x in lines] == [1011, 1090]
    lora, embedding = lines
    assert lora["path"] == str(models / "Lora" / "anime_lineart_v2.safetensors")
    assert embedding["path"].startswith(str(tmp_path / "webui" / "embeddings"))  # beside models/, A1111 style
    for item in lines:
        assert item["state"] == "done" and len(item["sha256"]) == 64 and item["bytes"] > 0
        assert item["model_id"] and isinstance(item["trained_words"], list)
    assert lora["trained_words"] == ["animelineart", "clean lineart"]
    assert not (models / "Lora" / "anime_lineart_v2.civitai.info").exists()  # --no-sidecars


def test_bare_number_falls_back_to_a_version_id(fake_civitai, models, capsys):
    assert civkit(fake_civitai, "--json", "download", "1010", "--models-dir", str(models)) == 0
    assert json.loads(capsys.readouterr().out)["version_id"] == 1010


def test_to_an_exact_folder(fake_civitai, tmp_path, capsys):
    exact = tmp_path / "exactly here"
    assert civkit(fake_civitai, "--json", "download", "111", "--to", str(exact)) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(exact / "clear_vae_xl.safetensors")


def test_no_models_folder_says_what_to_pass(fake_civitai, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert civkit(fake_civitai, "download", "101") == 2
    assert "--models-dir" in capsys.readouterr().err


def test_conflict_then_suffix(fake_civitai, models, capsys):
    mine = models / "loras" / "anime_lineart_v2.safetensors"
    mine.parent.mkdir()
    mine.write_bytes(b"someone else's file")
    assert civkit(fake_civitai, "download", "1011", "--models-dir", str(models)) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--on-conflict" in err
    assert mine.read_bytes() == b"someone else's file"
    assert civkit(fake_civitai, "download", "1011", "--models-dir", str(models), "--on-conflict", "suffix") == 0
    assert sha256_of(models / "loras" / "anime_lineart_v2 (1).safetensors") == catalog_sha(fake_civitai, 1011)
    assert mine.read_bytes() == b"someone else's file"


def test_identical_file_is_skipped(fake_civitai, models, capsys):
    assert civkit(fake_civitai, "download", "1011", "--models-dir", str(models)) == 0
    transfers = fake_civitai.count("/storage/")
    assert civkit(fake_civitai, "--json", "download", "1011", "--models-dir", str(models)) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["state"] == "skipped"
    assert fake_civitai.count("/storage/") == transfers


@pytest.mark.parametrize("setup,ref,key,expected", [
    (None, "103", False, "needs a Civitai API key: set CIVITAI_API_KEY or pass --api-key"),
    (None, "103", "wrong-key", "rejected your API key"),
    (None, "119", True, "disabled downloads"),
    (None, "104", True, "early access until 20"),
    (None, "118", True, "archived"),
    ("download_quota", "1011", True, "rate limited"),
    ("cloudflare", "1011", True, "Cloudflare"),
    (None, "120", True, "says Danger"),
])
def test_each_refusal_exits_1_and_leaves_nothing(fake_civitai, models, capsys, setup, ref, key, expected):
    if setup == "download_quota":
        fake_civitai.faults.download_quota = True
    elif setup == "cloudflare":
        fake_civitai.faults.cloudflare_count = 1
    pre = ["--api-base", fake_civitai.base_url]
    if key:
        pre += ["--api-key", fake_civitai.api_key if key is True else key]
    assert main(pre + ["download", ref, "--models-dir", str(models)]) == 1
    assert expected in capsys.readouterr().err
    assert [p for p in models.rglob("*") if p.is_file()] == []


def test_corrupt_download_exits_1(fake_civitai, models, capsys):
    fake_civitai.faults.corrupt_bytes = True
    assert civkit(fake_civitai, "download", "1011", "--models-dir", str(models)) == 1
    assert "corrupt" in capsys.readouterr().err
    assert [p for p in models.rglob("*") if p.is_file()] == []


def test_killed_process_resumes_from_the_part(fake_civitai, models, monkeypatch):
    """SIGKILL mid-download, run the same command again: it resumes with Range and ends verified."""
    ranges = []
    real = fake_civitai.handle

    def handle(method, target, headers, body):
        if target.startswith("/storage/"):
            ranges.append(headers.get("range"))
        return real(method, target, headers, body)

    monkeypatch.setattr(fake_civitai, "handle", handle)
    fake_civitai.faults.chunk_delay = 0.05
    fake_civitai.faults.chunk_size = 32 * 1024
    cmd = [sys.executable, "-m", "civkit.cli.main", "--api-base", fake_civitai.base_url,
           "--api-key", fake_civitai.api_key, "download", "1011", "--models-dir", str(models)]
    part = models / "loras" / "anime_lineart_v2.safetensors.part"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 0):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    have = part.stat().st_size
    assert 0 < have < 2 * 1024 * 1024 + 300 * 1024
    assert not (models / "loras" / "anime_lineart_v2.safetensors").exists()
    fake_civitai.faults.chunk_delay = 0
    again = subprocess.run(cmd[:5] + ["--json"] + cmd[5:], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["state"] == "done"
    assert ranges[-1] == f"bytes={have}-"  # the second run asked only for the rest
    target = models / "loras" / "anime_lineart_v2.safetensors"
    assert sha256_of(target) == result["sha256"] == catalog_sha(fake_civitai, 1011)
    assert not part.exists() and os.listdir(models / "loras").count("anime_lineart_v2.safetensors.part.lock") == 0


def test_a_broken_library_index_does_not_stop_a_download(fake_civitai, models, capsys):
    """The index is a cache: a download needs none of it, so an unreadable index file only costs the
    index entry (with a warning saying so), and the index file is left as it was for the user."""
    from civkit.config import load_config

    index_file = load_config().index_path
    index_file.parent.mkdir(parents=True, exist_ok=True)
    index_file.write_bytes(b"this is not an SQLite database" * 100)
    assert civkit(fake_civitai, "download", "101", "--models-dir", str(models)) == 0
    captured = capsys.readouterr()
    target = models / "loras" / "anime_lineart_v2.safetensors"
    assert sha256_of(target) == catalog_sha(fake_civitai, 1011)
    assert "library index" in captured.out + captured.err
    assert index_file.read_bytes() == b"this is not an SQLite database" * 100
