"""``civkit scan / triggers / updates / duplicates`` end to end, against the emulator."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from civkit.cli.main import main
from civkit.testing.files import safetensors_bytes

REQUIRED = {"path", "sha256", "autov2", "status", "model_id", "version_id", "model_name", "version_name",
            "base_model", "trained_words"}


def _lib(fake, tmp_path, file_ids):
    lib = tmp_path / "models"
    lib.mkdir(exist_ok=True)
    for fid in file_ids:
        shutil.copy(fake.catalog.files[fid], lib / fake.catalog.files[fid].name)
    return lib


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _api_calls(fake):
    return [p.split("?")[0] for _m, p, _a in fake.request_log if p.startswith("/api/")]


def test_scan_json_one_object_per_file(fake_civitai, tmp_path, capsys):
    lib = _lib(fake_civitai, tmp_path, [10110, 10600])
    (lib / "mine.ckpt").write_bytes(b"my merge")
    code, out, err = _run(capsys, "--api-base", fake_civitai.base_url, "scan", str(lib), "--json", "--no-sidecars")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3 and all(REQUIRED <= set(r) for r in records)
    by_name = {os.path.basename(r["path"]): r for r in records}
    lineart = by_name[fake_civitai.catalog.files[10110].name]
    assert lineart["status"] == "linked" and lineart["model_id"] == 101 and lineart["version_id"] == 1011
    assert lineart["model_name"] == "Anime Lineart Style" and lineart["version_name"] == "v2.0"
    assert lineart["base_model"] == "SD 1.5" and isinstance(lineart["trained_words"], list)
    assert lineart["sha256"].startswith(lineart["autov2"])
    assert by_name["mine.ckpt"]["status"] == "not_found"
    assert sorted(p.name for p in lib.iterdir()) == sorted(by_name)  # --no-sidecars


def test_scan_human_output_and_sidecars(fake_civitai, tmp_path, capsys):
    lib = _lib(fake_civitai, tmp_path, [10110])
    code, out, err = _run(capsys, "--api-base", fake_civitai.base_url, "scan", str(lib))
    assert code == 0, err
    assert "linked     Anime Lineart Style — v2.0 [SD 1.5]" in out
    assert "1 model files: 1 new" in out and "Civitai: 1 linked, 0 not on Civitai (2 requests)" in out
    stem = fake_civitai.catalog.files[10110].stem
    assert (lib / f"{stem}.civitai.info").exists() and (lib / f"{stem}.json").exists()
    # the second scan reads and asks nothing
    fake_civitai.reset()
    code, out, _ = _run(capsys, "--api-base", fake_civitai.base_url, "scan", str(lib))
    assert code == 0 and "1 unchanged" in out and _api_calls(fake_civitai) == []


def test_scan_no_lookup_makes_no_request(fake_civitai, tmp_path, capsys):
    lib = _lib(fake_civitai, tmp_path, [10110])
    code, out, _ = _run(capsys, "--api-base", fake_civitai.base_url, "--json", "scan", str(lib), "--no-lookup")
    assert code == 0 and fake_civitai.request_log == []
    assert json.loads(out)["status"] == "unknown"


def test_scan_refresh_asks_again(fake_civitai, tmp_path, capsys):
    lib = _lib(fake_civitai, tmp_path, [10110])
    _run(capsys, "--api-base", fake_civitai.base_url, "scan", str(lib), "--no-sidecars")
    fake_civitai.reset()
    code, _, _ = _run(capsys, "--api-base", fake_civitai.base_url, "scan", str(lib), "--refresh", "--no-sidecars")
    assert code == 0 and _api_calls(fake_civitai) == ["/api/v1/model-versions/by-hash/ids",
                                                      "/api/v1/model-versions/by-hash"]


def test_scan_reports_a_bad_file_in_one_line_and_goes_on(fake_civitai, tmp_path, capsys):
    lib = _lib(fake_civitai, tmp_path, [10110])
    bad = lib / "broken.safetensors"
    bad.write_bytes(b"\x10\0\0\0\0\0\0\0{not json at all")
    code, out, err = _run(capsys, "--api-base", fake_civitai.base_url, "scan", str(lib), "--no-sidecars")
    assert code == 1
    assert err.startswith(f"civkit: {bad}: not a valid safetensors file: ") and len(err.splitlines()) == 1
    assert "linked     Anime Lineart Style" in out
    assert bad.read_bytes() == b"\x10\0\0\0\0\0\0\0{not json at all"


def test_scan_of_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    code, out, err = _run(capsys, "scan", str(tmp_path / "nope"))
    assert code == 2 and out == ""
    assert err == f"civkit: {tmp_path / 'nope'} does not exist: give the folders that hold your models\n"


def test_an_unusable_index_is_one_line(tmp_path, capsys, civkit_home):
    (civkit_home / "library.sqlite3").write_bytes(b"not a database at all" * 50)
    code, _, err = _run(capsys, "scan", str(tmp_path), "--no-lookup")
    assert code == 1 and "cannot open the civkit library index" in err and len(err.splitlines()) == 1
    assert (civkit_home / "library.sqlite3").read_bytes() == b"not a database at all" * 50


def test_triggers_json_from_civitai(fake_civitai, tmp_path, capsys):
    lib = _lib(fake_civitai, tmp_path, [10110])
    path = lib / fake_civitai.catalog.files[10110].name
    code, out, _ = _run(capsys, "--api-base", fake_civitai.base_url, "--json", "triggers", str(path))
    expected = fake_civitai.catalog.find_version(1011)[1]["trainedWords"]
    assert code == 0 and json.loads(out) == expected and expected
    code, out, _ = _run(capsys, "--api-base", fake_civitai.base_url, "triggers", str(path))
    assert out.strip() == ", ".join(expected)


def test_triggers_offline_from_training_metadata(tmp_path, capsys):
    f = tmp_path / "mylora.safetensors"
    f.write_bytes(safetensors_bytes({"ss_tag_frequency": json.dumps({"10_zzchar": {"smile": 4, "zzchar": 9}})}, 64, "x"))
    code, out, _ = _run(capsys, "--json", "triggers", str(f), "--offline")
    assert code == 0 and json.loads(out) == ["zzchar", "smile"]


def test_triggers_nothing_known(tmp_path, capsys):
    f = tmp_path / "plain.ckpt"
    f.write_bytes(b"abc")
    code, out, err = _run(capsys, "triggers", str(f), "--offline")
    assert code == 0 and out == "" and "no trigger words known" in err
    code, out, _ = _run(capsys, "--json", "triggers", str(f), "--offline")
    assert json.loads(out) == []


def test_triggers_missing_file(tmp_path, capsys):
    code, _, err = _run(capsys, "triggers", str(tmp_path / "x.safetensors"))
    assert code == 2 and err.endswith("does not exist\n")


def test_updates_lists_models_with_a_newer_version(fake_civitai, tmp_path, capsys):
    lib = _lib(fake_civitai, tmp_path, [10100, 10600])  # 101 v1.0 (v2.0 is newer); 106 current
    code, out, err = _run(capsys, "--api-base", fake_civitai.base_url, "--json", "updates", str(lib))
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["model_id"], r["latest_version_id"]) for r in records] == [(101, 1011)]
    assert records[0]["local"][0]["version_id"] == 1010
    calls = _api_calls(fake_civitai)
    assert calls.count("/api/v1/models") == 1 and len(calls) == 3
    code, out, _ = _run(capsys, "--api-base", fake_civitai.base_url, "updates", str(lib))
    assert "Anime Lineart Style: you have v1.0; newer: v2.0" in out
    assert "1 of 2 linked models have a newer version" in out


def test_duplicates(tmp_path, capsys):
    lib = tmp_path / "models"
    (lib / "a").mkdir(parents=True)
    (lib / "b").mkdir()
    data = b"same bytes" * 1000
    (lib / "a" / "x.safetensors.ckpt").write_bytes(data)
    (lib / "b" / "y.ckpt").write_bytes(data)
    (lib / "b" / "unique.ckpt").write_bytes(b"other")
    os.link(lib / "b" / "unique.ckpt", lib / "a" / "hard.ckpt")
    code, out, _ = _run(capsys, "--json", "duplicates", str(lib))
    assert code == 0
    groups = [json.loads(line) for line in out.splitlines()]
    assert len(groups) == 2
    assert groups[0]["paths"] == [str(lib / "a" / "x.safetensors.ckpt"), str(lib / "b" / "y.ckpt")]
    assert groups[0]["wasted_bytes"] == len(data) and not groups[0]["hardlinked"]
    assert groups[1]["hardlinked"] and groups[1]["wasted_bytes"] == 0
    code, out, _ = _run(capsys, "duplicates", str(lib))
    assert "2 copies of 9.8 KiB, 9.8 KiB wasted" in out and "2 groups of identical files" in out


@pytest.mark.parametrize("command", ["updates", "duplicates"])
def test_folder_commands_refuse_a_file(tmp_path, capsys, command):
    f = tmp_path / "x.ckpt"
    f.write_bytes(b"1")
    code, _, err = _run(capsys, command, str(f))
    assert code == 2 and "is not a folder" in err
