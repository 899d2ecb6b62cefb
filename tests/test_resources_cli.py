"""``civkit resources``: from a workflow, image, image link or pasted text to every model, on the emulator."""

from __future__ import annotations

import hashlib
import io
import json
import shutil

import pytest

from civkit.cli.main import main
from civkit.testing.images import png_with_text


def civkit(fake, *args):
    return main(["--api-base", fake.base_url, "--api-key", fake.api_key] + list(args))


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


def catalog_file(fake, file_id):
    _m, _v, f = fake.catalog.find_file(file_id)
    return f, fake.catalog.files[file_id]


def lines(capsys):
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models"
    for sub in ("checkpoints", "loras", "vae", "embeddings"):
        (path / sub).mkdir(parents=True)
    return path


def entry(fake, file_id, directory, version_id):
    f, _ = catalog_file(fake, file_id)
    return {"name": f["name"], "url": f"{fake.base_url}/api/download/models/{version_id}?fileId={file_id}",
            "hash": f["hashes"]["SHA256"].lower(), "hash_type": "sha256", "directory": directory}


def done_means_workflow(fake) -> dict:
    """ComfyUI's default graph + two LoRA loaders + a VAE loader + an embedding, with models entries."""
    ckpt, lora1, lora2, vae, emb = (catalog_file(fake, i)[0]["name"] for i in (10700, 10110, 10600, 11100, 11000))
    nodes = [
        {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": [ckpt],
         "properties": {"models": [entry(fake, 10700, "checkpoints", 1070)]}},
        {"id": 10, "type": "LoraLoader", "widgets_values": [lora1, 0.7, 0.7],
         "properties": {"models": [entry(fake, 10110, "loras", 1011)]}},
        {"id": 12, "type": "LoraLoader", "widgets_values": [lora2, 0.5, 0.5],
         "properties": {"models": [entry(fake, 10600, "loras", 1060)]}},
        {"id": 11, "type": "VAELoader", "widgets_values": [vae],
         "properties": {"models": [entry(fake, 11100, "vae", 1110)]}},
        {"id": 6, "type": "CLIPTextEncode", "widgets_values": ["a harbour at dawn"]},
        {"id": 7, "type": "CLIPTextEncode", "widgets_values": [f"lowres, embedding:{emb.rsplit('.', 1)[0]}"]},
        {"id": 3, "type": "KSampler", "widgets_values": [1, "fixed", 20, 7, "euler", "normal", 1]},
    ]
    return {"nodes": nodes, "links": [], "version": 0.4,
            "models": [entry(fake, 11000, "embeddings", 1100)]}


def test_workflow_with_three_missing_is_fixed_by_one_download(fake_civitai, models, tmp_path, capsys):
    fake = fake_civitai
    # the checkpoint and the first LoRA are on disk already (unindexed: found by name)
    shutil.copy(catalog_file(fake, 10700)[1], models / "checkpoints" / "dreamforgeXL_v10.safetensors")
    shutil.copy(catalog_file(fake, 10110)[1], models / "loras" / "anime_lineart_v2.safetensors")
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(done_means_workflow(fake)))

    assert civkit(fake, "--json", "resources", str(wf), "--models-dir", str(models)) == 1
    first = {x["name"]: x for x in lines(capsys)}
    assert len(first) == 5
    assert {x["status"] for x in first.values()} == {"present", "missing"}
    missing = sorted(x["kind"] for x in first.values() if x["status"] == "missing")
    assert missing == ["embedding", "lora", "vae"]
    ckpt = first["dreamforgeXL_v10.safetensors"]
    assert ckpt["path"] == str(models / "checkpoints" / "dreamforgeXL_v10.safetensors")
    lora2 = first["cinematic_light_dora.safetensors"]
    assert lora2["version_id"] == 1060 and lora2["size"] == catalog_file(fake, 10600)[1].stat().st_size
    assert lora2["weight"] == 0.5 and lora2["node_id"] == "12" and lora2["path"] is None
    for key in ("source", "model_id", "file_id", "sha256", "candidates", "message"):
        assert key in lora2

    assert civkit(fake, "--json", "resources", str(wf), "--download", "--models-dir", str(models)) == 0
    second = {x["name"]: x for x in lines(capsys)}
    assert sorted(x["status"] for x in second.values()) == ["downloaded"] * 3 + ["present"] * 2
    for file_id, folder in ((10600, "loras"), (11100, "vae"), (11000, "embeddings")):
        f, src = catalog_file(fake, file_id)
        target = models / folder / f["name"]
        assert target.is_file() and sha256_of(target) == f["hashes"]["SHA256"]  # verified, in its folder
        assert not list(target.parent.glob("*.part"))

    assert civkit(fake, "resources", str(wf), "--models-dir", str(models)) == 0
    out = capsys.readouterr().out
    assert out.count("present") == 5 and "5 of 5 on disk" in out


def test_hash_identified_needs_take_at_most_two_plus_misses_requests(fake_civitai, models, tmp_path, capsys):
    fake = fake_civitai
    shas = [catalog_file(fake, i)[0]["hashes"]["SHA256"] for i in (10700, 10110, 10600, 11100)]
    unknown = "AB" * 32
    wf = {"nodes": [], "models": [
        {"name": f"m{i}.safetensors", "url": "https://example.invalid/x", "hash": h, "hash_type": "sha256",
         "directory": "loras"} for i, h in enumerate(shas + [unknown])]}
    # two more needs known only by A1111 short hashes (each a miss of the bulk routes)
    text = ("a cat <lora:anime_lineart_v2:1>\nSteps: 20, Seed: 1, Model: x, Model hash: "
            f"{catalog_file(fake, 10700)[0]['hashes']['AutoV2']}, Lora hashes: \"anime_lineart_v2: "
            f"{catalog_file(fake, 10110)[0]['hashes']['AutoV3']}\"")
    (tmp_path / "wf.json").write_text(json.dumps(wf))
    (tmp_path / "a.png").write_bytes(png_with_text({"parameters": text}))
    fake.request_log.clear()
    civkit(fake, "--json", "resources", str(tmp_path / "wf.json"), "--models-dir", str(models))
    out = lines(capsys)
    paths = [p for _, p, _ in fake.request_log]
    hash_requests = [p for p in paths if "/by-hash" in p]
    assert hash_requests == ["/api/v1/model-versions/by-hash/ids", "/api/v1/model-versions/by-hash"]
    assert sum(1 for x in out if x["status"] == "missing") == 4
    assert [x["name"] for x in out if x["status"] == "unresolved"] == ["m4.safetensors"]

    fake.request_log.clear()
    civkit(fake, "--json", "resources", str(tmp_path / "a.png"), "--models-dir", str(models))
    out = lines(capsys)
    paths = [p for _, p, _ in fake.request_log]
    assert len(paths) == 2 and all("/model-versions/by-hash/" in p for p in paths)  # 0 bulk + 2 misses
    assert [x["version_id"] for x in out] == [1011, 1070]


@pytest.mark.parametrize("image_id", [7901, 7902, 7903, 7904])
def test_civitai_image_links(fake_civitai, models, capsys, image_id):
    link = f"{fake_civitai.base_url}/images/{image_id}"
    code = civkit(fake_civitai, "--json", "resources", link, "--models-dir", str(models))
    out = lines(capsys)
    assert code == 1
    versions = {x["version_id"] for x in out if x["status"] == "missing"}
    expected = {7901: {1070, 1011, 1060, 1110, 1100}, 7902: {1070, 1011, 1100},
                7903: {1070, 1060, 1100}, 7904: {1070, 1011}}[image_id]
    assert versions == expected
    if image_id == 7903:  # the VAE is named only: offered, never taken without a yes
        vae = next(x for x in out if x["kind"] == "vae")
        assert vae["status"] == "ambiguous" and vae["candidates"][0]["version_id"] == 1110
        assert vae["candidates"][0]["confidence"] >= 0.9
    # the request asks for every level: 7902 is rated R
    assert any(f"imageId={image_id}" in p and "browsingLevel=31" in p for _, p, _ in fake_civitai.request_log)


def test_guesses_need_a_yes(fake_civitai, models, capsys):
    link = f"{fake_civitai.base_url}/images/7903"
    assert civkit(fake_civitai, "--json", "resources", link, "--download", "--models-dir", str(models)) == 1
    out = {x["kind"]: x for x in lines(capsys)}
    assert out["vae"]["status"] == "ambiguous" and not (models / "vae" / "clear_vae_xl.safetensors").exists()
    assert out["checkpoint"]["status"] == "downloaded"
    assert civkit(fake_civitai, "--json", "resources", link, "--download", "--accept-guesses",
                  "--models-dir", str(models)) == 0
    out = {x["kind"]: x for x in lines(capsys)}
    assert out["vae"]["status"] == "downloaded" and out["vae"]["guess"] is True
    assert (models / "vae" / "clear_vae_xl.safetensors").is_file()


def test_pasted_parameters_from_stdin(fake_civitai, models, capsys, monkeypatch):
    lora = catalog_file(fake_civitai, 10110)[0]["hashes"]["AutoV3"]
    text = f'1girl <lora:anime_lineart_v2:0.7>\nNegative prompt: lowres\nSteps: 20, Seed: 3, Lora hashes: "anime_lineart_v2: {lora}"'
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert civkit(fake_civitai, "resources", "-", "--models-dir", str(models)) == 1
    out = capsys.readouterr().out
    assert "anime_lineart_v2" in out and "missing" in out and "Anime Lineart Style v2.0" in out
    assert "1 missing (2.3 MiB): run again with --download" in out


def test_bad_input_exits_2_with_a_message(fake_civitai, models, tmp_path, capsys):
    from civkit.testing.files import png_bytes

    (tmp_path / "plain.png").write_bytes(png_bytes(8, 8, 2))
    (tmp_path / "broken.json").write_text('{"nodes": [')
    cases = [("plain.png", "no generation data in plain.png"), ("broken.json", "broken.json is not valid JSON"),
             ("nope.png", "no such file")]
    for name, message in cases:
        assert civkit(fake_civitai, "resources", str(tmp_path / name), "--models-dir", str(models)) == 2
        assert message in capsys.readouterr().err
    assert civkit(fake_civitai, "resources", "https://example.com/images/1", "--models-dir", str(models)) == 2
    assert "not a Civitai image link" in capsys.readouterr().err
    assert (tmp_path / "broken.json").read_text() == '{"nodes": ['  # nothing damaged


def test_hostile_names_stay_inside_the_model_folders(fake_civitai, models, tmp_path, capsys):
    outside = models.parent / "x.safetensors"  # what ../../x.safetensors from loras/ would reach
    outside.write_bytes(b"not yours")
    wf = {"nodes": [{"id": 1, "type": "LoraLoader", "widgets_values": ["../../x.safetensors", 1, 1]},
                    {"id": 2, "type": "VAELoader", "widgets_values": ["/etc/hostname"]}]}
    (tmp_path / "wf.json").write_text(json.dumps(wf))
    home = tmp_path / "civkit-home"  # the index lives there

    def files():
        return sorted(p for p in tmp_path.rglob("*") if home not in p.parents and p != home)

    before = files()
    code = civkit(fake_civitai, "--json", "resources", str(tmp_path / "wf.json"), "--download",
                  "--accept-guesses", "--models-dir", str(models))
    out = lines(capsys)
    assert code == 1
    assert all(x["status"] != "present" for x in out)
    assert all(not (x["path"] or "").startswith(str(models.parent / "x")) for x in out)
    assert files() == before  # nothing written anywhere
    assert outside.read_bytes() == b"not yours"
