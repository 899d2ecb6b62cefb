"""civkit's ComfyUI nodes run with stand-in MODEL/CLIP objects, the emulator behind the service."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from comfyui_harness import comfy_fixture, install_service, load_pack_into  # noqa: F401 - fixture


@pytest.fixture
def nodes_env(comfy, fake_civitai):
    pack = load_pack_into(comfy)
    comfy.service = install_service(comfy, pack, fake_civitai.base_url, api_key=fake_civitai.api_key)
    comfy.nodes = pack.NODE_CLASS_MAPPINGS
    comfy.fake = fake_civitai
    comfy.loras = Path(comfy.folder_paths.get_folder_paths("loras")[0])
    import comfy.sd as sd

    comfy.sd = sd
    return comfy


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _write_lora(path: Path, metadata: dict) -> Path:
    header = json.dumps({"__metadata__": metadata,
                         "lora_unet_x.alpha": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    return path


def test_lora_loader_downloads_a_missing_reference_and_outputs_trained_words(nodes_env):
    sd = nodes_env.sd
    node_cls = nodes_env.nodes["CivkitLoraLoader"]
    assert node_cls.VALIDATE_INPUTS(lora_name="stale-name.safetensors", civitai_ref="101@1011") is True
    model, clip = sd.StandinModel("base"), sd.StandinClip("base")

    out = node_cls().load(model, clip, "", 0.8, 0.5, civitai_ref="101@1011", unique_id="7")

    path = nodes_env.loras / "anime_lineart_v2.safetensors"
    assert path.is_file() and not list(nodes_env.loras.glob("*.part"))
    assert _sha256(path) == _sha256(nodes_env.fake.catalog.files[10110])  # verified bytes
    model_out, clip_out, words = out["result"]
    assert words == "animelineart, clean lineart"
    assert model_out.loras == ((str(path), 0.8),) and clip_out.loras == ((str(path), 0.5),)
    assert model.loras == () and clip.loras == ()  # inputs untouched, like the core node
    # the workflow's models entry: download URL without any key, SHA-256, folder key
    (entry,) = out["ui"]["civkit_models"]
    assert entry["name"] == "anime_lineart_v2.safetensors"
    assert entry["directory"] == "loras"
    assert entry["hash_type"] == "sha256" and entry["hash"] == _sha256(path)
    assert entry["url"] == f"{nodes_env.fake.base_url}/api/download/models/1011"
    assert nodes_env.fake.api_key not in json.dumps(out["ui"])
    # the new file is in ComfyUI's list and the browser was told to refresh its combos
    assert "anime_lineart_v2.safetensors" in nodes_env.folder_paths.get_filename_list("loras")
    assert nodes_env.server.events("civkit.refresh")


def test_a_reference_already_in_the_library_is_not_downloaded_again(nodes_env):
    sd = nodes_env.sd
    node = nodes_env.nodes["CivkitLoraLoader"]()
    node.load(sd.StandinModel(), sd.StandinClip(), "", 1.0, 1.0, civitai_ref="101@1011")
    downloads = nodes_env.fake.count("/api/download")
    out = node.load(sd.StandinModel(), sd.StandinClip(), "", 1.0, 1.0, civitai_ref="101@1011")
    assert nodes_env.fake.count("/api/download") == downloads
    assert out["result"][2] == "animelineart, clean lineart"
    assert len(nodes_env.service.downloads()) == 1


def test_a_symlinked_loras_folder_works_for_download_and_library(comfy, fake_civitai, tmp_path):
    """Model folders on another disk, linked into models/: the index keeps real paths."""
    real = tmp_path / "other-disk" / "loras"
    real.mkdir(parents=True)
    link = Path(comfy.folder_paths.get_folder_paths("loras")[0])
    link.rmdir()
    link.symlink_to(real, target_is_directory=True)
    pack = load_pack_into(comfy)
    service = install_service(comfy, pack, fake_civitai.base_url)
    import comfy.sd as sd

    node = pack.NODE_CLASS_MAPPINGS["CivkitLoraLoader"]()
    first = node.load(sd.StandinModel(), sd.StandinClip(), "", 1.0, 1.0, civitai_ref="101@1011")
    downloads = fake_civitai.count("/api/download")
    again = node.load(sd.StandinModel(), sd.StandinClip(), "", 1.0, 1.0, civitai_ref="101@1011")
    assert fake_civitai.count("/api/download") == downloads  # found in the library through the link
    assert (real / "anime_lineart_v2.safetensors").is_file()
    assert first["ui"]["civkit_models"][0]["name"] == again["ui"]["civkit_models"][0]["name"] \
        == "anime_lineart_v2.safetensors"
    assert len(service.downloads()) == 1


def test_strength_zero_passes_model_and_clip_through(nodes_env):
    sd = nodes_env.sd
    _write_lora(nodes_env.loras / "mine.safetensors", {"modelspec.trigger_phrase": "mychar"})
    model, clip = sd.StandinModel(), sd.StandinClip()
    out = nodes_env.nodes["CivkitLoraLoader"]().load(model, clip, "mine.safetensors", 0.0, 0.0)
    assert out[0] is model and out[1] is clip
    assert [c for c in sd.CALLS if c[0] == "load_lora_for_models"] == []


def test_local_lora_without_reference_loads_through_core_and_reads_words_offline(nodes_env):
    sd = nodes_env.sd
    _write_lora(nodes_env.loras / "mine.safetensors",
                {"ss_tag_frequency": json.dumps({"10_mychar": {"mychar": 20, "red scarf": 12}})})
    node_cls = nodes_env.nodes["CivkitLoraLoader"]
    assert node_cls.VALIDATE_INPUTS(lora_name="mine.safetensors", civitai_ref="") is True
    out = node_cls().load(sd.StandinModel(), sd.StandinClip(), "mine.safetensors", 1.0, 1.0)
    assert isinstance(out, tuple)  # no Civitai reference, nothing recorded in the workflow
    assert out[0].loras[0][0].endswith("mine.safetensors")
    assert out[2].startswith("mychar")

    words = nodes_env.nodes["CivkitTriggerWords"]().words("mine.safetensors")
    assert words[0].startswith("mychar") and "red scarf" in words[0]


def test_validate_inputs_and_is_changed(nodes_env):
    lora = nodes_env.nodes["CivkitLoraLoader"]
    message = lora.VALIDATE_INPUTS(lora_name="gone.safetensors", civitai_ref="")
    assert message.startswith("gone.safetensors is not in the loras folders")
    # a reference coming in over a link has no value at queue time: the run decides
    assert lora.VALIDATE_INPUTS(lora_name="gone.safetensors", input_types={"civitai_ref": "STRING"}) is True
    bad_ref = lora.VALIDATE_INPUTS(lora_name="", civitai_ref="https://example.com/x")
    assert isinstance(bad_ref, str) and bad_ref.startswith("civitai_ref:")
    path = _write_lora(nodes_env.loras / "fp.safetensors", {})
    stamp = lora.IS_CHANGED(lora_name="fp.safetensors", civitai_ref="")
    st = path.stat()
    assert stamp == f"{path}:{st.st_size}:{st.st_mtime_ns}"  # a fingerprint, never a hash
    assert lora.IS_CHANGED(lora_name="x", civitai_ref=" 101@1011 ") == "ref:101@1011"


def test_missing_local_file_says_what_to_do(nodes_env):
    sd = nodes_env.sd
    with pytest.raises(ValueError) as info:
        nodes_env.nodes["CivkitLoraLoader"]().load(sd.StandinModel(), sd.StandinClip(), "nope.safetensors", 1, 1)
    assert "nope.safetensors is not in the loras folders" in str(info.value)


def test_a_failed_download_reports_the_civitai_message(nodes_env):
    nodes_env.service.set_api_key(None)
    sd = nodes_env.sd
    with pytest.raises(ValueError) as info:
        nodes_env.nodes["CivkitLoraLoader"]().load(sd.StandinModel(), sd.StandinClip(), "", 1, 1,
                                                   civitai_ref="103@1030")
    assert str(info.value).startswith("This model needs a Civitai API key")
    assert not (nodes_env.loras / "pony_anime_shading.safetensors").exists()


def test_checkpoint_loader_downloads_into_checkpoints(nodes_env):
    node_cls = nodes_env.nodes["CivkitCheckpointLoader"]
    assert node_cls.VALIDATE_INPUTS(ckpt_name="", civitai_ref="107@1070") is True
    out = node_cls().load("", civitai_ref="107@1070")
    model, clip, vae = out["result"]
    ckpts = Path(nodes_env.folder_paths.get_folder_paths("checkpoints")[0])
    assert Path(model.name).parent == ckpts and Path(vae.path).is_file()
    assert out["ui"]["civkit_models"][0]["directory"] == "checkpoints"


def test_apply_triggers_never_adds_a_word_twice(nodes_env):
    node = nodes_env.nodes["CivkitApplyTriggers"]()
    (text,) = node.apply("a cat, animelineart", "animelineart, clean lineart", "append")
    assert text == "a cat, animelineart, clean lineart"
    assert node.apply(text, "animelineart, clean lineart", "append") == (text,)
    (front,) = node.apply("a cat", "animelineart", "prepend")
    assert front == "animelineart, a cat"
