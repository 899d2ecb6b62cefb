"""Many files at once on the command line (issue 11): a plan first, then the queue, against the emulator."""

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


@pytest.fixture
def fake(fake_civitai):
    fake_civitai.catalog.add_batch_models()  # model 126: two versions, several files each
    return fake_civitai


def civkit(fake, *args, key=True):
    pre = ["--api-base", fake.base_url] + (["--api-key", fake.api_key] if key else [])
    return main(pre + list(args))


def lines(capsys):
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def catalog_file(fake, file_id):
    _m, _v, f = fake.catalog.find_file(file_id)
    return f


def test_dry_run_plans_every_file_and_touches_nothing(fake, models, capsys):
    code = civkit(fake, "--json", "download", "126", "--all-versions", "--all-files", "--dry-run",
                  "--models-dir", str(models))
    assert code == 0
    rows = lines(capsys)
    assert [r["file_id"] for r in rows] == [12610, 12611, 12600, 12601]  # newest version first, no training data
    for r in rows:
        assert {"model_id", "version_id", "file_id", "name", "path", "size", "action", "message"} <= set(r)
        assert r["action"] == "download" and r["model_id"] == 126
        assert r["size"] == catalog_file(fake, r["file_id"])["sizeKB"] * 1024
        assert r["path"] == str(models / "loras" / r["name"])
    assert files_under(models) == []  # not even a folder
    assert fake.count("/storage/") == 0 and fake.count("/api/download/") == 0

    assert civkit(fake, "--json", "download", "126", "--all-versions", "--all-files", "--include-training-data",
                  "--dry-run", "--models-dir", str(models)) == 0
    rows = lines(capsys)
    assert [r["file_id"] for r in rows] == [12610, 12611, 12612, 12600, 12601]
    assert fake.count("/storage/") == 0 and files_under(models) == []


def test_all_files_downloads_and_verifies_each(fake, models, capsys):
    code = civkit(fake, "--json", "download", "126@1261", "--all-files", "--include-training-data",
                  "--models-dir", str(models), "--rate", "50")
    assert code == 0
    out = lines(capsys)
    assert sorted(o["file_id"] for o in out) == [12610, 12611, 12612]
    for o in out:
        assert o["status"] == "done" and o["state"] == "done"
        assert {"ref", "path", "sha256", "bytes", "model_id", "version_id", "trained_words"} <= set(o)
        path = models.parent / o["path"] if not os.path.isabs(o["path"]) else o["path"]
        assert sha256_of(__import__("pathlib").Path(path)) == catalog_file(fake, o["file_id"])["hashes"]["SHA256"]


def test_a_file_in_the_library_under_another_name_is_have(fake, models, capsys):
    assert civkit(fake, "download", "101@1011", "--models-dir", str(models), "--no-sidecars") == 0
    original = models / "loras" / "anime_lineart_v2.safetensors"
    renamed = models / "loras" / "my lineart.safetensors"
    original.rename(renamed)
    assert civkit(fake, "scan", str(models), "--no-lookup") == 0
    capsys.readouterr()
    fake.request_log.clear()

    assert civkit(fake, "--json", "download", "101", "--all-versions", "--dry-run", "--models-dir", str(models)) == 0
    rows = {r["version_id"]: r for r in lines(capsys)}
    assert rows[1011]["action"] == "have" and rows[1011]["existing"] == str(renamed)
    assert rows[1010]["action"] == "download"

    assert civkit(fake, "download", "101@1011", "--all-files", "--models-dir", str(models)) == 0
    out = capsys.readouterr().out
    assert "already in the library" in out and str(renamed) in out
    assert fake.count("/storage/") == 0 and fake.count("/api/download/") == 0
    assert not original.exists() and renamed.exists()


def test_a_different_file_with_the_name_is_a_conflict_and_stays(fake, models, capsys):
    target = models / "loras" / "pixel_art_kit_v2.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"my own file, not civitai's")
    code = civkit(fake, "download", "126@1261", "--all-files", "--models-dir", str(models), "--rate", "50")
    assert code == 1
    captured = capsys.readouterr()
    assert "conflict" in captured.out and "nothing will overwrite it" in captured.out
    assert target.read_bytes() == b"my own file, not civitai's"
    assert (models / "loras" / "pixel_art_kit_v2_fp32.safetensors").exists()  # the rest of the batch went on
    assert "1 not downloaded" in captured.out


def test_blocked_rows_early_access_and_pickle(fake, models, capsys):
    assert civkit(fake, "--json", "download", "104", "108", "--dry-run", "--models-dir", str(models)) == 1
    rows = {r["model_id"]: r for r in lines(capsys)}
    assert rows[104]["action"] == "blocked" and "early access" in rows[104]["message"]
    assert rows[108]["action"] == "blocked" and "PickleTensor" in rows[108]["message"]
    assert civkit(fake, "--json", "download", "108", "--dry-run", "--allow-unsafe", "--models-dir", str(models)) == 0
    assert [r["action"] for r in lines(capsys)] == ["download"]
    # a real run reports the blocked file as failed, with the reason, and exits 1
    assert civkit(fake, "--json", "download", "104", "--all-files", "--models-dir", str(models)) == 1
    (row,) = lines(capsys)
    assert row["status"] == "failed" and row["action"] == "blocked" and "early access" in row["message"]
    assert fake.count("/api/download/") == 0 and files_under(models) == []


def test_favorites_need_the_key(fake, models, capsys):
    assert civkit(fake, "download", "--favorites", "--dry-run", "--models-dir", str(models), key=False) == 1
    err = capsys.readouterr().err
    assert "API key" in err and "CIVITAI_API_KEY" in err
    assert civkit(fake, "--json", "download", "--favorites", "--dry-run", "--models-dir", str(models)) == 0
    assert {r["model_id"] for r in lines(capsys)} == {101, 107}  # the test user's bookmarks
    assert any("favorites=true" in path and auth for _m, path, auth in fake.request_log)
    assert civkit(fake, "--json", "download", "--favorites", "--type", "LORA", "--dry-run",
                  "--models-dir", str(models)) == 0
    assert [r["model_id"] for r in lines(capsys)] == [101]


def test_favorites_with_a_rejected_key_say_so(fake, models, capsys):
    code = main(["--api-base", fake.base_url, "--api-key", "wrong-key", "download", "--favorites", "--dry-run",
                 "--models-dir", str(models)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("civkit: ") and "key" in err.lower() and "wrong-key" not in err


def test_creator_with_type_base_model_and_limit(fake, models, capsys):
    assert civkit(fake, "--json", "download", "--creator", "aquarelle", "--dry-run", "--models-dir", str(models)) == 1
    rows = lines(capsys)
    by_model = {r["model_id"]: r for r in rows}
    assert set(by_model) == {104, 106, 119, 126}
    assert by_model[104]["action"] == "blocked" and "early access" in by_model[104]["message"]
    # (/models does not list usageControl: 119's "generation only" shows when its download is refused)
    assert civkit(fake, "--json", "download", "--creator", "aquarelle", "--type", "LORA", "--base-model",
                  "SDXL 1.0", "--dry-run", "--models-dir", str(models)) == 0
    assert {r["model_id"] for r in lines(capsys)} == {119, 126}
    assert civkit(fake, "--json", "download", "--creator", "aquarelle", "--type", "DoRA", "--limit", "1",
                  "--dry-run", "--models-dir", str(models)) == 0
    assert [r["model_id"] for r in lines(capsys)] == [106]
    assert civkit(fake, "download", "--creator", "nobody_here", "--dry-run", "--models-dir", str(models)) == 1
    assert "civkit:" in capsys.readouterr().err


@pytest.mark.parametrize("args, words", [
    ([], "REF..., --favorites or --creator"),
    (["101", "--favorites"], "one of"),
    (["101", "--type", "LORA", "--all-files"], "--type and --base-model"),
    (["--favorites", "--limit", "3"], "--limit goes with --creator"),
    (["--creator", "x", "--limit", "0"], "at least 1"),
    (["101", "--all-files", "--rate", "0"], "--rate"),
    (["not a ref at all", "--all-files"], "Civitai"),
])
def test_bad_input_exits_2_and_creates_nothing(fake, models, capsys, args, words):
    assert civkit(fake, "download", *args, "--models-dir", str(models)) == 2
    assert words in capsys.readouterr().err
    assert files_under(models) == [] and fake.count("/storage/") == 0


def _old_version_library(fake, models, capsys):
    assert civkit(fake, "download", "101@1010", "126@1260", "--all-files", "--models-dir", str(models),
                  "--rate", "50") == 0
    capsys.readouterr()
    return models / "loras"


def test_updates_dry_run_plans_matching_files_and_fetches_nothing(fake, models, capsys):
    loras = _old_version_library(fake, models, capsys)
    before = files_under(models)
    fake.request_log.clear()
    assert civkit(fake, "--json", "updates", str(models), "--dry-run") == 0
    rows = {r["file_id"]: r for r in lines(capsys)}
    # the fp32 copy gets the fp32 file of v2.0, the fp16 one the fp16 file: format, size and fp match
    assert set(rows) == {10110, 12610, 12611}
    assert rows[12611]["replaces"] == [str(loras / "pixel_art_kit_v1_fp32.safetensors")]
    assert rows[12610]["path"] == str(loras / "pixel_art_kit_v2.safetensors")
    assert all(r["action"] == "download" for r in rows.values())
    assert files_under(models) == before
    assert fake.count("/storage/") == 0 and fake.count("/api/download/") == 0


def test_updates_download_replace_moves_the_old_file_to_the_trash(fake, models, capsys):
    loras = _old_version_library(fake, models, capsys)
    old = loras / "anime_lineart_v1.safetensors"
    old_bytes = old.read_bytes()
    assert (loras / "anime_lineart_v1.civitai.info").exists()
    assert civkit(fake, "updates", str(models), "--download", "--replace", "--rate", "50") == 0
    out = capsys.readouterr().out
    new = loras / "anime_lineart_v2.safetensors"
    assert sha256_of(new) == catalog_file(fake, 10110)["hashes"]["SHA256"]
    assert (loras / "pixel_art_kit_v2_fp32.safetensors").exists()
    # the old file and its sidecars are in civkit's trash, not deleted
    assert not old.exists() and not (loras / "anime_lineart_v1.civitai.info").exists()
    assert "moved the old anime_lineart_v1.safetensors and its sidecars to civkit's trash" in out
    trashed = [p for p in models.rglob("*anime_lineart_v1.safetensors*") if ".civkit-trash" in p.parts]
    assert len(trashed) == 1 and trashed[0].read_bytes() == old_bytes
    assert civkit(fake, "--json", "trash", "list", "--models-dir", str(models)) == 0
    items = lines(capsys)
    assert {i["name"] for i in items} == {"anime_lineart_v1.safetensors", "pixel_art_kit_v1.safetensors",
                                         "pixel_art_kit_v1_fp32.safetensors"}
    # a second run: nothing left to update
    assert civkit(fake, "--json", "updates", str(models), "--dry-run") == 0
    assert lines(capsys) == []


def test_updates_download_without_replace_keeps_both(fake, models, capsys):
    loras = _old_version_library(fake, models, capsys)
    assert civkit(fake, "updates", str(models), "--download", "--rate", "50") == 0
    assert (loras / "anime_lineart_v1.safetensors").exists() and (loras / "anime_lineart_v2.safetensors").exists()
    assert not list(models.rglob(".civkit-trash/*"))


def test_updates_replace_needs_download(fake, models, capsys):
    assert civkit(fake, "updates", str(models), "--replace") == 2
    assert "--replace goes with --download" in capsys.readouterr().err


def test_killed_batch_resumes(fake, models, monkeypatch):
    """SIGKILL during the second file of a batch; the same command again: the first is have, the
    second resumes from its .part with Range and every file ends verified."""
    ranges = []
    real = fake.handle

    def handle(method, target, headers, body):
        if target.startswith("/storage/"):
            ranges.append((target.split("/")[2], headers.get("range")))
        return real(method, target, headers, body)

    monkeypatch.setattr(fake, "handle", handle)
    cmd = [sys.executable, "-m", "civkit.cli.main", "--api-base", fake.base_url, "--api-key", fake.api_key,
           "download", "--favorites", "--models-dir", str(models), "--rate", "50"]
    second = models / "loras" / "anime_lineart_v2.safetensors"  # the plan: 107's checkpoint, then 101's LoRA
    part = second.with_name(second.name + ".part")
    fake.faults.chunk_size = 32 * 1024
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        slowed = False
        while not (part.exists() and part.stat().st_size > 0):
            if not slowed and (models / "checkpoints" / "dreamforgeXL_v10.safetensors").exists():
                fake.faults.chunk_delay = 0.05  # the first file is done: slow down the second
                slowed = True
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the second download never started"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    have = part.stat().st_size
    assert 0 < have < catalog_file(fake, 10110)["sizeKB"] * 1024 and not second.exists()
    fake.faults.chunk_delay = 0
    ranges.clear()
    again = subprocess.run(cmd[:5] + ["--json"] + cmd[5:], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    out = {o["file_id"]: o for o in (json.loads(x) for x in again.stdout.splitlines())}
    assert out[10700]["status"] == "have" and out[10110]["status"] == "done"
    assert ranges == [("10110", f"bytes={have}-")]  # only the rest of the interrupted file was fetched
    assert sha256_of(second) == catalog_file(fake, 10110)["hashes"]["SHA256"]
    assert not part.exists()
