"""Reading other tools' sidecars (only when they belong to this very file) and writing ours."""

from __future__ import annotations

import json
import os

from civkit.api.records import parse_version
from civkit.library.sidecar_read import read_sidecar_facts, read_sidecar_hashes
from civkit.library.sidecars import html_to_text, merge_a1111_json, sd_version_for, write_civitai_info

SHA = "3202778C3EBE5CF7EBE5FC51561DEAE8611F4362036EB7C02EFA033C705E6240"
OTHER = "1" * 64


def _model(tmp_path, name="lora.safetensors", size=2048):
    f = tmp_path / name
    f.write_bytes(b"\0" * size)
    return f


def _age(path, seconds):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def _info(model, sha=SHA, size=None, vid=1255556, **extra):
    size = model.stat().st_size if size is None else size
    data = {
        "id": vid, "modelId": 1117241, "name": "v1.0", "trainedWords": ["ppWhimsy"], "baseModel": "Flux.1 D",
        "model": {"name": "Whimsy", "type": "LORA", "nsfw": False, "poi": False},
        "files": [{"id": 9, "name": model.name, "sizeKB": size / 1024, "hashes": {"SHA256": sha, "AutoV2": sha[:10]}}],
        "images": [{"url": "https://image.example/1.jpeg", "nsfwLevel": 1, "type": "image"}],
    }
    data.update(extra)
    return data


# -- reading --------------------------------------------------------------------------------------


def test_civitai_info_hash_is_taken_when_the_size_matches(tmp_path):
    m = _model(tmp_path)
    (tmp_path / "lora.civitai.info").write_text(json.dumps(_info(m)))
    facts = read_sidecar_facts(m)
    assert facts.hashes["SHA256"] == SHA and facts.hashes["AutoV2"] == SHA[:10]
    assert facts.source == "civitai.info"
    assert facts.version["id"] == 1255556 and facts.trained_words == ["ppWhimsy"]


def test_civitai_info_for_a_different_size_is_ignored(tmp_path):
    m = _model(tmp_path)
    (tmp_path / "lora.civitai.info").write_text(json.dumps(_info(m, size=4096)))
    assert read_sidecar_hashes(m) == {}


def test_empty_and_skeleton_civitai_info_mean_not_on_civitai(tmp_path):
    m = _model(tmp_path)
    info = tmp_path / "lora.civitai.info"
    info.write_text("{}")
    facts = read_sidecar_facts(m)
    assert facts.not_found_since is not None and facts.hashes == {}
    skeleton = {"id": "", "baseModel": "Unknown", "extensions": {"sd_civitai_helper": {"skeleton_file": True}},
                "files": [{"name": m.name, "sizeKB": 2, "hashes": {"SHA256": SHA}}]}
    info.write_text(json.dumps(skeleton))
    facts = read_sidecar_facts(m)
    assert facts.not_found_since is not None
    assert facts.hashes["SHA256"] == SHA and facts.version is None


def test_a_not_found_marker_older_than_the_model_says_nothing(tmp_path):
    m = _model(tmp_path)
    info = tmp_path / "lora.civitai.info"
    info.write_text("{}")
    _age(info, 3600)
    assert read_sidecar_facts(m).not_found_since is None


def test_lora_manager_only_when_completed_and_sized(tmp_path):
    m = _model(tmp_path)
    side = tmp_path / "lora.metadata.json"
    side.write_text(json.dumps({"sha256": SHA.lower(), "hash_status": "completed", "size": 2048, "autov3": "abcdef123456"}))
    assert read_sidecar_hashes(m) == {"SHA256": SHA, "AutoV3": "ABCDEF123456"}
    side.write_text(json.dumps({"sha256": SHA.lower(), "hash_status": "pending", "size": 2048}))
    assert read_sidecar_hashes(m) == {}
    side.write_text(json.dumps({"sha256": SHA.lower(), "hash_status": "completed", "size": 999}))
    assert read_sidecar_hashes(m) == {}


def test_stability_matrix_both_suffixes_by_mtime(tmp_path):
    m = _model(tmp_path)
    for name in ("lora.cm-info.json", "lora.cminfo.json"):
        side = tmp_path / name
        side.write_text(json.dumps({"ModelId": 1, "Hashes": {"SHA256": SHA, "BLAKE3": "ab"}, "TrainedWords": ["w"]}))
        facts = read_sidecar_facts(m)
        assert facts.hashes["SHA256"] == SHA and facts.source == "." + name.split(".", 1)[1]
        assert facts.trained_words == ["w"]
        _age(side, 3600)  # written before the model file was replaced: not this file any more
        assert read_sidecar_hashes(m) == {}
        side.unlink()


def test_rgthree_info_keeps_the_model_extension(tmp_path):
    m = _model(tmp_path)
    (tmp_path / "lora.safetensors.rgthree-info.json").write_text(
        json.dumps({"sha256": SHA.lower(), "trainedWords": [{"word": "rgword", "civitai": True}]})
    )
    facts = read_sidecar_facts(m)
    assert facts.hashes == {"SHA256": SHA} and facts.trained_words == ["rgword"]


def test_sha256_file_only_if_not_older_than_the_model(tmp_path):
    m = _model(tmp_path)
    side = tmp_path / "lora.sha256"
    side.write_text(SHA.lower() + "\n")
    assert read_sidecar_hashes(m) == {"SHA256": SHA}
    _age(side, 3600)
    assert read_sidecar_hashes(m) == {}
    side.write_text("not a hash\n")
    assert read_sidecar_hashes(m) == {}


def test_order_of_trust_civitai_info_first(tmp_path):
    m = _model(tmp_path)
    (tmp_path / "lora.sha256").write_text(OTHER)
    (tmp_path / "lora.civitai.info").write_text(json.dumps(_info(m)))
    assert read_sidecar_hashes(m)["SHA256"] == SHA


def test_broken_sidecars_are_ignored(tmp_path):
    m = _model(tmp_path)
    (tmp_path / "lora.civitai.info").write_text("{not json")
    (tmp_path / "lora.metadata.json").write_text("[1, 2]")
    (tmp_path / "lora.cm-info.json").write_bytes(b"\xff\xfe garbage")
    assert read_sidecar_hashes(m) == {}


# -- writing .civitai.info -----------------------------------------------------------------------------


def _version(model, vid=1255556, **extra):
    raw = _info(model, vid=vid)
    raw.update(extra)
    return parse_version(raw)


def test_write_civitai_info_enriched_layout(tmp_path):
    m = _model(tmp_path)
    v = _version(m, downloadUrl="https://undefined/api/download/models/1255556")
    result = write_civitai_info(m, v)
    assert result.status == "written"
    text = (tmp_path / "lora.civitai.info").read_text(encoding="utf-8")
    data = json.loads(text)
    assert text.startswith('{\n    "id"')  # indent 4
    assert data["id"] == 1255556 and data["modelId"] == 1117241 and data["model"]["name"] == "Whimsy"
    assert data["downloadUrl"] == "https://civitai.com/api/download/models/1255556"
    assert data["extensions"]["civkit"]["version"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_write_civitai_info_keeps_other_extensions_and_local_files(tmp_path):
    m = _model(tmp_path)
    old = _info(m)
    old["extensions"] = {"sd_civitai_helper": {"version": "1.8"}, "civkit": {"version": "0.0"}}
    old["images"][0]["local_file"] = "/m/lora.preview.png"
    (tmp_path / "lora.civitai.info").write_text(json.dumps(old))
    assert write_civitai_info(m, _version(m, name="v1.0 renamed")).status == "written"
    data = json.loads((tmp_path / "lora.civitai.info").read_text())
    assert data["extensions"]["sd_civitai_helper"] == {"version": "1.8"}
    assert data["extensions"]["civkit"]["version"] != "0.0"
    assert data["images"][0]["local_file"] == "/m/lora.preview.png"
    assert data["name"] == "v1.0 renamed"
    # the same content again: nothing written
    assert write_civitai_info(m, _version(m, name="v1.0 renamed")).status == "unchanged"


def test_write_civitai_info_never_replaces_another_version_silently(tmp_path):
    m = _model(tmp_path)
    info = tmp_path / "lora.civitai.info"
    info.write_text(json.dumps(_info(m, vid=42)))
    before = info.read_bytes()
    result = write_civitai_info(m, _version(m))
    assert result.status == "conflict"
    assert "describes version 42" in result.message and "delete it" in result.message
    assert info.read_bytes() == before
    assert write_civitai_info(m, _version(m), force=True).status == "written"


def test_write_civitai_info_replaces_a_not_found_marker(tmp_path):
    m = _model(tmp_path)
    (tmp_path / "lora.civitai.info").write_text("{}")
    assert write_civitai_info(m, _version(m)).status == "written"


def test_write_civitai_info_leaves_a_broken_file_alone(tmp_path):
    m = _model(tmp_path)
    info = tmp_path / "lora.civitai.info"
    info.write_text("{broken")
    result = write_civitai_info(m, _version(m))
    assert result.status == "error" and "not valid JSON" in result.message
    assert info.read_text() == "{broken"


# -- merging the A1111 <base>.json --------------------------------------------------------------------


def test_merge_a1111_json_new_file(tmp_path):
    m = _model(tmp_path)
    v = _version(m, trainedWords=["ppWhimsy", "storybook"], baseModel="Illustrious",
                 description="<p>Soft <b>whimsical</b> style &amp; glow</p><ul><li>one</li></ul>")
    assert merge_a1111_json(m, v).status == "written"
    data = json.loads((tmp_path / "lora.json").read_text(encoding="utf-8"))
    assert data["activation text"] == "ppWhimsy, storybook"
    assert data["sd version"] == "SDXL"
    assert "<" not in data["description"] and "whimsical style & glow" in data["description"]
    assert "preferred weight" not in data


def test_merge_a1111_json_keeps_user_values_and_unknown_keys(tmp_path):
    m = _model(tmp_path)
    user = {"activation text": "my own words", "preferred weight": 0.7, "notes": "mine", "sd version": "",
            "modelId": 5, "unpackList": []}
    (tmp_path / "lora.json").write_text(json.dumps(user))
    assert merge_a1111_json(m, _version(m), forge=True).status == "written"
    data = json.loads((tmp_path / "lora.json").read_text())
    assert data["activation text"] == "my own words"
    assert data["preferred weight"] == 0.7 and data["notes"] == "mine" and data["modelId"] == 5
    assert data["sd version"] == "Flux"  # empty user value filled; Flux only on Forge
    assert merge_a1111_json(m, _version(m), forge=True).status == "unchanged"


def test_merge_a1111_json_leaves_invalid_json_alone(tmp_path):
    m = _model(tmp_path)
    side = tmp_path / "lora.json"
    side.write_text("[not, an, object")
    result = merge_a1111_json(m, _version(m))
    assert result.status == "error" and "left as it is" in result.message
    assert side.read_text() == "[not, an, object"


def test_sd_version_table():
    assert sd_version_for("SD 1.5") == "SD1"
    assert sd_version_for("SD 2.1 768") == "SD2"
    for name in ("SDXL 1.0", "SDXL Lightning", "Pony", "Illustrious", "NoobAI"):
        assert sd_version_for(name) == "SDXL"
    assert sd_version_for("Pony V7") == "Unknown"
    assert sd_version_for("Flux.1 D") == "Unknown"
    assert sd_version_for("Flux.1 D", forge=True) == "Flux"
    assert sd_version_for(None) == "Unknown" and sd_version_for("Wan Video 14B t2v") == "Unknown"


def test_html_to_text():
    assert html_to_text("<p>a</p><p>b&nbsp;c</p>") in ("a\nb\xa0c", "a\n\nb\xa0c", "a\nb c", "a\n\nb c")
    assert html_to_text(None) == ""
