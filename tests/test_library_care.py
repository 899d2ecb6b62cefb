"""Looking after the library (issue 12): mv, rename, rm + trash, organize, link, misses, images, triggers.

Real files in tmp_path, the Civitai emulator on 127.0.0.1, the real CLI entry point.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time

import pytest

from civkit.cli.main import main
from civkit.library import LibraryIndex
from civkit.library import bundle as bundle_mod
from civkit.library.index import NOT_FOUND_RETRY_SECONDS

LINEART = 10110  # model 101, version 1011, trained words ["animelineart", "clean lineart"]


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _json_lines(out: str) -> list:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def lib(fake_civitai, tmp_path, capsys):
    """A scanned and linked models folder with the lineart LoRA, its sidecars and a user's extras."""
    root = tmp_path / "models"
    (root / "loras").mkdir(parents=True)
    src = fake_civitai.catalog.files[LINEART]
    model = root / "loras" / src.name
    shutil.copy(src, model)
    stem = model.stem
    (root / "loras" / f"{stem}.yaml").write_text("model: config\n")
    (root / "loras" / f"{stem}.sha256").write_text("not-checked\n")
    (root / "loras" / f"{model.name}.rgthree-info.json").write_text("{}")
    (root / "loras" / "mine.ckpt").write_bytes(b"my own merge " * 100)
    code, out, err = _run(capsys, "--api-base", fake_civitai.base_url, "scan", root)
    assert code == 0, err
    assert (root / "loras" / f"{stem}.civitai.info").is_file() and (root / "loras" / f"{stem}.json").is_file()
    return root, model


def _files(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and ".civkit-trash" not in p.parts}


def _index(civkit_home):
    return LibraryIndex(civkit_home / "library.sqlite3")


def test_mv_moves_every_sidecar_and_a_rescan_hashes_nothing(lib, capsys, civkit_home, fake_civitai):
    root, model = lib
    stem = model.stem
    before = {k: v for k, v in _files(root).items() if k.startswith(f"loras/{stem}") or k.startswith("loras/" + model.name)}
    assert len(before) >= 6  # model, .civitai.info, .json, preview, .yaml, .sha256, .rgthree-info.json
    code, out, err = _run(capsys, "--json", "mv", model, str(root / "loras" / "style") + os.sep)  # a new folder
    assert code == 0, err
    (record,) = _json_lines(out)
    assert record["status"] == "moved" and record["old_path"] == str(model)
    assert record["path"] == str(root / "loras" / "style" / model.name)
    assert {"path", "old_path", "status", "message"} <= set(record)
    after = _files(root)
    for name, data in before.items():
        moved = name.replace("loras/", "loras/style/", 1)
        assert after.get(moved) == data, f"{name} did not move along"
        assert name not in after
    with _index(civkit_home) as index:
        entry = index.get(str(root / "loras" / "style" / model.name))
        assert entry is not None and entry.status == "linked" and entry.version_id == 1011
        assert index.get(str(model)) is None
    code, out, err = _run(capsys, "--api-base", fake_civitai.base_url, "--json", "scan", root)
    assert code == 0, err
    # the index moved with the file: the rescan finds it unchanged, reads no byte of it
    from civkit.library import scan as scan_fn
    with _index(civkit_home) as index:
        report = scan_fn([root], index, None, lookup=False)
    assert report.hashed == 0 and report.new == 0 and report.moved == 0 and report.unchanged == 2


def test_rename_keeps_the_extension_and_renames_sidecars(lib, capsys, civkit_home):
    root, model = lib
    code, out, err = _run(capsys, "rename", model, "lineart v2")
    assert code == 0, err
    new = root / "loras" / "lineart v2.safetensors"
    assert new.is_file() and not model.exists()
    assert (root / "loras" / "lineart v2.civitai.info").is_file()
    assert (root / "loras" / "lineart v2.json").is_file()
    assert (root / "loras" / "lineart v2.safetensors.rgthree-info.json").is_file()
    assert "renamed" in out
    with _index(civkit_home) as index:
        assert index.get(str(new)).status == "linked"


@pytest.mark.parametrize("name", ["../escaped", "/etc/passwd", "sub/name", ".hidden", "..", "a\x00b", ""])
def test_hostile_names_never_leave_the_folder(lib, capsys, name):
    root, model = lib
    before, around = _files(root), sorted(p.name for p in root.parent.iterdir())
    code, out, err = _run(capsys, "rename", model, name)
    assert code == 2 and "civkit:" in err
    assert _files(root) == before and sorted(p.name for p in root.parent.iterdir()) == around


def test_mv_outside_the_roots_or_onto_a_file_is_refused_and_nothing_moves(lib, capsys, tmp_path):
    root, model = lib
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "loras" / "link-out").symlink_to(outside)
    taken = root / "loras" / "taken"
    taken.mkdir()
    (taken / f"{model.stem}.json").write_text('{"user": "mine"}')  # a sidecar name already taken
    before = _files(root)
    for dest in (outside, root / "loras" / "link-out", root / ".." / "x.safetensors", taken, root / "loras" / "mine.ckpt"):
        code, out, err = _run(capsys, "mv", model, dest)
        assert code == 2, dest
        assert "nothing was moved" in err or "outside" in err
    assert _files(root) == before and list(outside.iterdir()) == []
    code, out, err = _run(capsys, "mv", "--models-dir", root / "loras" / "taken", model, taken)
    assert code == 2 and "outside the model folders" in err


def test_rm_then_restore_gives_back_file_and_sidecars_byte_identical(lib, capsys, civkit_home):
    root, model = lib
    before = _files(root)
    code, out, err = _run(capsys, "--json", "rm", model)
    assert code == 0, err
    (record,) = _json_lines(out)
    assert record["status"] == "trashed" and record["old_path"] == str(model)
    gone = [k for k in before if k not in _files(root)]
    assert f"loras/{model.name}" in gone and f"loras/{model.stem}.civitai.info" in gone and len(gone) >= 6
    with _index(civkit_home) as index:
        assert index.get(str(model)) is None
    code, out, err = _run(capsys, "--json", "trash", "list")
    items = _json_lines(out)
    assert [i["id"] for i in items] == [record["trash_id"]]
    assert items[0]["path"] == str(model) and f"{model.stem}.json" in items[0]["sidecars"]
    code, out, err = _run(capsys, "trash", "restore", record["trash_id"])
    assert code == 0, err
    assert _files(root) == before
    with _index(civkit_home) as index:  # the entry came back: nothing to hash again
        assert index.get(str(model)).status == "linked"
        from civkit.library import scan as scan_fn
        assert scan_fn([root], index, None, lookup=False).hashed == 0
    code, out, err = _run(capsys, "--json", "trash", "list")
    assert out.strip() == ""


def test_restore_never_overwrites(lib, capsys):
    root, model = lib
    code, out, err = _run(capsys, "--json", "rm", model)
    trash_id = _json_lines(out)[0]["trash_id"]
    model.write_bytes(b"a new file with the old name")
    code, out, err = _run(capsys, "trash", "restore", trash_id)
    assert code == 2 and "already exists" in err and "never overwrites" in err
    assert model.read_bytes() == b"a new file with the old name"
    assert not (root / "loras" / f"{model.stem}.civitai.info").exists()  # nothing restored halfway
    code, out, err = _run(capsys, "--json", "trash", "list")
    assert [i["id"] for i in _json_lines(out)] == [trash_id]
    code, out, err = _run(capsys, "trash", "restore", "nope")
    assert code == 2 and "no trash item nope" in err


def test_trash_empty_older_than(lib, capsys):
    root, model = lib
    _run(capsys, "rm", model, root / "loras" / "mine.ckpt")
    code, out, err = _run(capsys, "--json", "trash", "list")
    assert len(_json_lines(out)) == 2
    code, out, err = _run(capsys, "trash", "empty", "--older-than", "1")
    assert code == 0 and "0 item(s)" in out
    code, out, err = _run(capsys, "trash", "empty")
    assert code == 0 and "2 item(s)" in out
    assert not any((root / ".civkit-trash").rglob("*.civkit-trashed"))


def test_move_across_file_systems_verifies_before_removing(lib, capsys, monkeypatch):
    root, model = lib
    data = model.read_bytes()

    def other_disk(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(bundle_mod, "_rename", other_disk)
    real_copy = bundle_mod._copy_bytes

    def corrupting_copy(src, out):
        digest = real_copy(src, out)
        out.write(b"!")  # the copy differs from the original
        return digest

    monkeypatch.setattr(bundle_mod, "_copy_bytes", corrupting_copy)
    (root / "loras" / "other").mkdir()
    code, out, err = _run(capsys, "mv", model, root / "loras" / "other")
    assert code == 1 and "does not match" in err
    assert model.read_bytes() == data  # the source stays
    assert not any((root / "loras" / "other").glob("*"))  # no copy, no temp left
    monkeypatch.setattr(bundle_mod, "_copy_bytes", real_copy)
    code, out, err = _run(capsys, "mv", model, root / "loras" / "other")
    assert code == 0, err
    assert "copied to the other disk, verified" in out
    assert (root / "loras" / "other" / model.name).read_bytes() == data and not model.exists()
    assert (root / "loras" / "other" / f"{model.stem}.civitai.info").is_file()


def test_move_between_two_real_file_systems(tmp_path):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system here")
    other = os.path.join(shm, f"civkit-test-{os.getpid()}")
    os.makedirs(other, exist_ok=True)
    try:
        src = tmp_path / "a.safetensors"
        src.write_bytes(os.urandom(5000))
        (tmp_path / "a.json").write_text('{"k": 1}')
        data = src.read_bytes()
        moved = bundle_mod.move_bundle(bundle_mod.bundle_of(src), os.path.join(other, "a.safetensors"))
        assert moved.how == "copy" and not src.exists() and not (tmp_path / "a.json").exists()
        assert open(os.path.join(other, "a.safetensors"), "rb").read() == data
        assert open(os.path.join(other, "a.json")).read() == '{"k": 1}'
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_organize_dry_run_moves_nothing_then_sorts(lib, capsys):
    root, model = lib
    before = _files(root)
    code, out, err = _run(capsys, "--json", "organize", root / "loras", "--template", "{base_model}/{type}", "--dry-run")
    assert code == 0, err
    (record,) = _json_lines(out)  # linked files only: mine.ckpt stays
    assert record["status"] == "planned" and record["path"] == str(root / "loras" / "SD 1.5" / "LORA" / model.name)
    assert _files(root) == before
    code, out, err = _run(capsys, "organize", root / "loras", "--template", "{base_model}/{type}")
    assert code == 0, err
    assert (root / "loras" / "SD 1.5" / "LORA" / model.name).is_file()
    assert (root / "loras" / "SD 1.5" / "LORA" / f"{model.stem}.civitai.info").is_file()
    assert (root / "loras" / "mine.ckpt").is_file()
    code, out, err = _run(capsys, "--json", "organize", root / "loras", "--template", "{base_model}/{type}", "--all",
                          "--dry-run")
    assert [r["old_path"] for r in _json_lines(out)] == [str(root / "loras" / "mine.ckpt")]


@pytest.mark.parametrize("template", ["{nope}/{type}", "{base_model}/{}", "{__class__}"])
def test_organize_refuses_unknown_fields(lib, capsys, template):
    root, _ = lib
    before = _files(root)
    code, out, err = _run(capsys, "organize", root / "loras", "--template", template)
    assert code == 2 and "Unknown template field" in err
    assert _files(root) == before


def test_organize_hostile_template_and_names_stay_inside(lib, capsys, civkit_home, tmp_path):
    root, model = lib
    with _index(civkit_home) as index:
        entry = index.get(str(model))
        entry.model_name = "../../../../escape"
        entry.base_model = "/etc"
        index.upsert(entry)
    code, out, err = _run(capsys, "--json", "organize", root / "loras", "--template", "../../{base_model}/{model_name}/..")
    assert code == 0, err
    (record,) = _json_lines(out)
    new = os.path.realpath(record["path"])
    assert new.startswith(str(root / "loras") + os.sep) and os.path.isfile(new)
    assert not (tmp_path / "escape").exists() and not list(tmp_path.glob("etc*"))


def test_link_by_hand_survives_refresh_and_clear(lib, capsys, civkit_home, fake_civitai):
    root, _ = lib
    mine = root / "loras" / "mine.ckpt"
    with _index(civkit_home) as index:
        assert index.get(str(mine)).status == "not_found"
    code, out, err = _run(capsys, "--api-base", fake_civitai.base_url, "--json", "link", mine, "101@1011")
    assert code == 0, err
    assert _json_lines(out)[0]["status"] == "linked"
    info = json.loads((root / "loras" / "mine.civitai.info").read_text())
    assert info["id"] == 1011
    assert json.loads((root / "loras" / "mine.json").read_text())["activation text"] == "animelineart, clean lineart"
    code, out, err = _run(capsys, "--api-base", fake_civitai.base_url, "scan", "--refresh", root)
    with _index(civkit_home) as index:
        entry = index.get(str(mine))
        assert entry.status == "linked" and entry.version_id == 1011 and entry.link_source == "hand"
    code, out, err = _run(capsys, "link", mine, "--clear")
    assert code == 0, err
    with _index(civkit_home) as index:
        assert index.get(str(mine)).status == "unknown"
    code, out, err = _run(capsys, "link", mine)
    assert code == 2 and "REF" in err


def test_misses_are_remembered_for_a_week(lib, capsys, civkit_home, fake_civitai):
    root, _ = lib
    mine = str(root / "loras" / "mine.ckpt")

    def asked() -> int:
        fake_civitai.request_log.clear()
        _run(capsys, "--api-base", fake_civitai.base_url, "scan", *extra, root)
        return sum(1 for _m, p, _a in fake_civitai.request_log if "by-hash" in p)

    extra = []
    assert asked() == 0  # a miss from a minute ago is not asked again
    with _index(civkit_home) as index:
        entry = index.get(mine)
        entry.checked_at = time.time() - NOT_FOUND_RETRY_SECONDS + 3600  # 6 days 23 h ago
        index.upsert(entry)
    assert asked() == 0
    extra = ["--recheck"]
    assert asked() >= 1
    extra = []
    with _index(civkit_home) as index:
        entry = index.get(mine)
        entry.checked_at = time.time() - NOT_FOUND_RETRY_SECONDS - 1
        index.upsert(entry)
    assert asked() >= 1
    assert NOT_FOUND_RETRY_SECONDS == 7 * 24 * 3600


def test_trigger_groups_and_weight_follow_into_the_a1111_json(lib, capsys, civkit_home):
    root, model = lib
    sidecar = root / "loras" / f"{model.stem}.json"
    data = json.loads(sidecar.read_text())
    data.update({"notes": "my notes", "sd version": "SD1", "description": "mine"})
    sidecar.write_text(json.dumps(data))
    code, out, err = _run(capsys, "triggers", model, "--only", "2")
    assert code == 0, err
    assert "[ ] 1: animelineart" in out and "[x] 2: clean lineart" in out
    after = json.loads(sidecar.read_text())
    assert after["activation text"] == "clean lineart"
    assert {k: v for k, v in after.items() if k != "activation text"} == {
        k: v for k, v in data.items() if k != "activation text"}
    code, out, err = _run(capsys, "--json", "triggers", model)
    assert json.loads(out) == ["clean lineart"]  # what nodes and prompts get: the chosen groups
    code, out, err = _run(capsys, "triggers", model, "--weight", "0.65")
    assert json.loads(sidecar.read_text())["preferred weight"] == 0.65
    code, out, err = _run(capsys, "triggers", model, "--all")
    after = json.loads(sidecar.read_text())
    assert after["activation text"] == "animelineart, clean lineart" and after["notes"] == "my notes"
    assert after["preferred weight"] == 0.65
    for bad, message in ((["--only", "3"], "No group 3"), (["--only", "x"], "numbers"),
                         (["--weight", "nan"], "between"), (["--weight", "heavy"], "number")):
        code, out, err = _run(capsys, "triggers", model, *bad)
        assert code == 2 and message in err
    assert json.loads(sidecar.read_text()) == after


def test_triggers_refuse_a_broken_json_and_leave_it(lib, capsys):
    root, model = lib
    sidecar = root / "loras" / f"{model.stem}.json"
    sidecar.write_text("{not json")
    code, out, err = _run(capsys, "triggers", model, "--only", "1")
    assert "not a valid JSON object" in err
    assert sidecar.read_text() == "{not json"


def test_identical_example_images_are_stored_once(fake_civitai, civkit_home):
    import requests

    from civkit.library.images import cache_root, cached_images, keep_version_images

    base = fake_civitai.base_url
    image = {"url": f"{base}/images/7001.png", "nsfwLevel": 1, "width": 512, "height": 768, "type": "image"}
    same_bytes = dict(image, url=f"{base}/images/7001.png?copy=2")
    nsfw = dict(image, url=f"{base}/images/7003.png", nsfwLevel=8)
    with requests.Session() as session:
        kept_a = keep_version_images(civkit_home, {"id": 1, "images": [image, nsfw]}, session, 5)
        kept_b = keep_version_images(civkit_home, {"id": 2, "images": [same_bytes]}, session, 5)
    assert len(kept_a) == 1 and len(kept_b) == 1  # the NSFW image is not kept without the setting
    objects = [p for p in (cache_root(civkit_home) / "objects").rglob("*") if p.is_file()]
    assert len(objects) == 1
    assert cached_images(civkit_home, 1)[0]["file"] == cached_images(civkit_home, 2)[0]["file"] == str(objects[0])


def test_scan_images_and_the_offline_card(lib, capsys, civkit_home, fake_civitai):
    from civkit.library.card import model_card

    root, model = lib
    code, out, err = _run(capsys, "--api-base", fake_civitai.base_url, "scan", root, "--images", "2")
    assert code == 0, err and "example images kept" in out
    with _index(civkit_home) as index:
        card = model_card(index.get(str(model)), civkit_home)
    assert card["model_name"] == "Anime Lineart Style" and card["base_model"] == "SD 1.5"
    assert [g["text"] for g in card["groups"]] == ["animelineart", "clean lineart"]
    assert 1 <= len(card["images"]) <= 2 and all(os.path.isfile(i["file"]) for i in card["images"])
    assert card["links"][0]["url"].endswith("/models/101?modelVersionId=1011")
    assert f"{model.stem}.civitai.info" in card["sidecars"]
    assert "<script" not in card["description_html"]


def test_no_roots_known_is_a_clear_error(capsys, tmp_path):
    f = tmp_path / "a.safetensors"
    f.write_bytes(b"x")
    code, out, err = _run(capsys, "rm", f)
    assert code == 2 and "--models-dir" in err
    assert f.exists()


def test_index_schema_1_is_migrated(tmp_path):
    import sqlite3

    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
                 " inode INTEGER NOT NULL, sha256 TEXT, autov1 TEXT, autov2 TEXT, autov3 TEXT, crc32 TEXT,"
                 " blake3 TEXT, status TEXT NOT NULL DEFAULT 'unknown', model_id INTEGER, version_id INTEGER,"
                 " model_name TEXT, version_name TEXT, model_type TEXT, base_model TEXT, trained_words TEXT,"
                 " air TEXT, checked_at REAL, error TEXT, header TEXT, version_json TEXT, updated_at REAL)")
    conn.execute("INSERT INTO files (path, size, mtime_ns, inode, status) VALUES ('/m/a', 1, 2, 3, 'linked')")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    with LibraryIndex(db) as index:
        entry = index.get("/m/a")
        assert entry.status == "linked" and entry.trigger_groups is None and entry.link_source is None
