"""Issue 13 item 17: new files often have no hashes on Civitai yet. civkit checks the size, uses
BLAKE3 when that is all Civitai lists, and otherwise marks the download ``unverified`` everywhere
(the result, the index entry, the CLI's text and --json, task snapshots, the UIs); it never says
"verified" for a file it could not check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from civkit.api import CivitaiClient
from civkit.config import load_config
from civkit.download import DownloadError, choose_file, download_file
from civkit.hosts.standalone import StandaloneHost
from civkit.service import CivkitService

SOURCE_VERSION = 1011  # anime_lineart_v2.safetensors: its bytes are reused for the fresh upload


def _publish(fake, tmp_path, name: str, hashes: dict | None, size_kb: float | None = None) -> dict:
    """A new one-file LoRA whose listed hashes are ``hashes`` (None: what Civitai computed)."""
    _model, version = fake.catalog.find_version(SOURCE_VERSION)
    src = fake.catalog.files[version["files"][0]["id"]]
    path = tmp_path / "upload" / f"{name.lower().replace(' ', '_')}.safetensors"
    path.parent.mkdir(exist_ok=True)
    shutil.copyfile(src, path)
    model = fake.add_model(path, name=name, model_type="LORA", trained_words=("freshword",))
    file = model["modelVersions"][0]["files"][0]
    if hashes is not None:
        file["hashes"] = hashes
    if size_kb is not None:
        file["sizeKB"] = size_kb
    return model


def _ref(model) -> str:
    return f"{model['id']}@{model['modelVersions'][0]['id']}"


@pytest.fixture
def client(fake_civitai):
    return CivitaiClient(fake_civitai.base_url, fake_civitai.api_key, sleep=lambda s: None)


@pytest.fixture
def fresh(fake_civitai, tmp_path):
    return _publish(fake_civitai, tmp_path, "Fresh Upload Lora", {})


def _download(client, model, dest, **kw):
    version = client.get_version(model["modelVersions"][0]["id"])
    file = choose_file(version)
    return file, download_file(client, version, file, dest, retry_delay=0, **kw)


# ------------------------------------------------------------------------- the download itself


def test_no_hashes_downloads_unverified_and_says_so(client, fresh, tmp_path):
    file, result = _download(client, fresh, tmp_path / "loras")
    assert file.hashes == {} or not any(file.hashes.values())
    assert result.unverified is True and result.verified_with is None
    assert "verified" not in result.message.replace("unverified", "")
    assert "no hash" in result.message and "size" in result.message
    assert result.to_dict()["unverified"] is True
    assert result.path.stat().st_size == file.size_bytes
    again = download_file(client, client.get_version(fresh["modelVersions"][0]["id"]), file, tmp_path / "loras")
    assert again.skipped and again.unverified is True and "SHA256" not in again.message


def test_a_wrong_size_without_hashes_is_refused_and_nothing_saved(fake_civitai, client, tmp_path):
    model = _publish(fake_civitai, tmp_path, "Fresh Wrong Size", {}, size_kb=4096.0)
    dest = tmp_path / "loras"
    with pytest.raises(DownloadError) as info:
        _download(client, model, dest)
    assert "corrupt" in info.value.message and "bytes" in info.value.message
    assert not dest.exists() or list(dest.iterdir()) == []


def test_blake3_alone_is_used_and_named(fake_civitai, client, tmp_path):
    _model, version = fake_civitai.catalog.find_version(SOURCE_VERSION)
    blake3 = version["files"][0]["hashes"]["BLAKE3"]
    model = _publish(fake_civitai, tmp_path, "Fresh Blake Lora", {"BLAKE3": blake3})
    _file, result = _download(client, model, tmp_path / "loras")
    assert result.unverified is False and result.verified_with == "BLAKE3"
    assert "BLAKE3" in result.message and "SHA256" not in result.message


def test_a_sha256_listed_file_says_sha256(client, tmp_path):
    version = client.get_version(SOURCE_VERSION)
    file = choose_file(version)
    result = download_file(client, version, file, tmp_path / "loras", retry_delay=0)
    assert result.unverified is False and result.verified_with == "SHA256"


# ----------------------------------------------------------------- service: index and snapshots


@pytest.fixture
def service(fake_civitai, tmp_path, civkit_home):
    models = tmp_path / "models"
    models.mkdir()
    svc = CivkitService(load_config(api_base=fake_civitai.base_url, home=civkit_home),
                        StandaloneHost(models, layout="comfyui"))
    yield svc
    svc.close()


def test_the_snapshot_and_the_index_entry_say_unverified(service, fresh):
    snap = service.wait_download(service.start_download(_ref(fresh)), timeout=60)
    assert snap["state"] == "done", snap
    assert snap["unverified"] is True and snap["verified_with"] is None
    entry = service.index.get(str(Path(snap["path"]).resolve()))
    assert entry is not None and entry.status == "linked" and entry.unverified is True
    assert entry.to_json()["unverified"] is True
    listed = service.downloads()[-1]
    assert listed["unverified"] is True


def test_a_verified_download_is_not_marked(service):
    snap = service.wait_download(service.start_download(f"101@{SOURCE_VERSION}"), timeout=60)
    assert snap["state"] == "done" and snap["unverified"] is False and snap["verified_with"] == "SHA256"
    entry = service.index.get(str(Path(snap["path"]).resolve()))
    assert entry.unverified is False


def test_an_index_from_before_gains_the_column(tmp_path):
    import sqlite3

    from civkit.library.index import LibraryEntry, LibraryIndex

    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)
    conn.executescript("""CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL, sha256 TEXT, autov1 TEXT, autov2 TEXT, autov3 TEXT, crc32 TEXT, blake3 TEXT,
        status TEXT NOT NULL DEFAULT 'unknown', model_id INTEGER, version_id INTEGER, model_name TEXT,
        version_name TEXT, model_type TEXT, base_model TEXT, trained_words TEXT, air TEXT, checked_at REAL,
        error TEXT, header TEXT, version_json TEXT, updated_at REAL);
        INSERT INTO files (path, size, mtime_ns, inode, status) VALUES ('/m/old.safetensors', 1, 1, 1, 'linked');
        PRAGMA user_version=1;""")
    conn.close()
    index = LibraryIndex(db)
    try:
        assert index.get("/m/old.safetensors").unverified is False
        index.upsert(LibraryEntry(path="/m/new.safetensors", size=2, mtime_ns=2, inode=2, unverified=True))
        assert index.get("/m/new.safetensors").unverified is True
    finally:
        index.close()


# ------------------------------------------------------------------------------------ CLI


def test_cli_text_and_json_say_unverified(fake_civitai, fresh, tmp_path, capsys):
    from civkit.cli.main import main

    models = tmp_path / "models"
    models.mkdir()
    pre = ["--api-base", fake_civitai.base_url]
    assert main(pre + ["download", _ref(fresh), "--models-dir", str(models)]) == 0
    out = capsys.readouterr().out
    assert "unverified" in out and "no hash" in out and "SHA256 verified" not in out
    assert "verified" not in out.replace("unverified", "")
    (models / "loras" / "fresh_upload_lora.safetensors").unlink()
    assert main(pre + ["--json", "download", _ref(fresh), "--models-dir", str(models)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["state"] == "done" and line["unverified"] is True and line["verified_with"] is None


def test_cli_says_which_hash_verified_a_file(fake_civitai, tmp_path, capsys):
    from civkit.cli.main import main

    models = tmp_path / "models"
    models.mkdir()
    assert main(["--api-base", fake_civitai.base_url, "--json", "download", f"101@{SOURCE_VERSION}",
                 "--models-dir", str(models)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["unverified"] is False and line["verified_with"] == "SHA256"


# ------------------------------------------------------------------------------- gradio UI


def test_gradio_downloads_view_and_status_line_say_unverified(service, fresh):
    pytest.importorskip("gradio")
    from civkit.ui import cards
    from civkit.ui.views_search import task_status_text

    snap = service.wait_download(service.start_download(_ref(fresh)), timeout=60)
    table = cards.downloads_html([snap])
    assert "unverified" in table.lower() and "no hash" in table
    status = task_status_text(snap)
    assert "unverified" in status.lower() and "verified" not in status.lower().replace("unverified", "")
    done = service.wait_download(service.start_download(f"101@{SOURCE_VERSION}"), timeout=60)
    assert "unverified" not in cards.downloads_html([done]).lower()
    assert "unverified" not in task_status_text(done).lower()


def test_a_batch_download_says_unverified_too(fake_civitai, fresh, tmp_path, capsys):
    """`civkit download --all-files` (the batch path) never prints "SHA256 verified" for such a file."""
    from civkit.cli.main import main

    models = tmp_path / "models"
    models.mkdir()
    pre = ["--api-base", fake_civitai.base_url]
    assert main(pre + ["download", _ref(fresh), "--all-files", "--models-dir", str(models)]) == 0
    out = capsys.readouterr().out
    assert "unverified" in out and "SHA256 verified" not in out
    assert "verified" not in out.replace("unverified", "")
    (models / "loras" / "fresh_upload_lora.safetensors").unlink()
    assert main(pre + ["--json", "download", _ref(fresh), "--all-files", "--models-dir", str(models)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["status"] == "done" and line["unverified"] is True and line["verified_with"] is None


def test_a_batch_status_and_its_views_mark_unverified_files(service, fresh):
    """The batch part's progress (ComfyUI and gradio batch views read it) never says "✓ verified"
    for a file without hashes."""
    plan = service.plan_batch("refs", refs=[_ref(fresh)], all_files=True)
    runner = service.batch_runner(plan["id"])
    runner.run()
    status = runner.status()
    assert status["files_done"] == 1 and status["files_unverified"] == 1
    item = status["items"][0]
    assert item["state"] == "done" and item["unverified"] is True
    pytest.importorskip("gradio")
    from civkit.ui.views_batches import progress_html

    page = progress_html(status)
    assert "unverified" in page and "✓ verified" not in page
