"""Civitai model type -> folder, for every layout (HOSTS.md §3), and layout guessing."""

from __future__ import annotations

from pathlib import Path

import pytest

from civkit.folders import (
    LAYOUTS,
    MODEL_TYPES,
    folder_for,
    folder_key_for,
    folder_note,
    guess_layout,
    join_inside,
    render_subfolder,
)

# HOSTS.md §3, row by row: type -> (comfyui key, a1111 key, forge key)
TABLE = {
    "Checkpoint": ("checkpoints", "checkpoints", "checkpoints"),
    "TextualInversion": ("embeddings", "embeddings", "embeddings"),
    "Hypernetwork": ("hypernetworks", "hypernetworks", "hypernetworks"),
    "AestheticGradient": ("civkit_other", "civkit_other", "civkit_other"),
    "LORA": ("loras", "loras", "loras"),
    "LoCon": ("loras", "loras", "loras"),
    "DoRA": ("loras", "loras", "loras"),
    "Controlnet": ("controlnet", "controlnet", "controlnet"),
    "Upscaler": ("upscale_models", "upscale_models", "upscale_models"),
    "MotionModule": ("civkit_other", "civkit_other", "civkit_other"),
    "VAE": ("vae", "vae", "vae"),
    "TextEncoder": ("text_encoders", "civkit_other", "text_encoders"),
    "UNet": ("diffusion_models", "checkpoints", "checkpoints"),
    "CLIPVision": ("clip_vision", "civkit_other", "civkit_other"),
    "Poses": ("civkit_other", "civkit_other", "civkit_other"),
    "Wildcards": ("civkit_other", "civkit_other", "civkit_other"),
    "Workflows": ("civkit_other", "civkit_other", "civkit_other"),
    "ComfyWorkflows": ("civkit_other", "civkit_other", "civkit_other"),
    "Detection": ("civkit_other", "adetailer", "adetailer"),
    "VisionLanguage": ("civkit_other", "civkit_other", "civkit_other"),
    "CLIP": ("text_encoders", "civkit_other", "text_encoders"),
    "LLM": ("civkit_other", "civkit_other", "civkit_other"),
    "Other": ("civkit_other", "civkit_other", "civkit_other"),
    "SomethingNew2027": ("civkit_other", "civkit_other", "civkit_other"),
}

WEBUI_PATHS = {
    "checkpoints": "models/Stable-diffusion", "embeddings": "embeddings", "hypernetworks": "models/hypernetworks",
    "loras": "models/Lora", "controlnet": "models/ControlNet", "upscale_models": "models/ESRGAN",
    "vae": "models/VAE", "text_encoders": "models/text_encoder", "adetailer": "models/adetailer",
}


def test_table_covers_all_23_types():
    assert len(MODEL_TYPES) == 23
    assert set(MODEL_TYPES) <= set(TABLE)


@pytest.mark.parametrize("model_type", sorted(TABLE))
def test_every_type_on_every_layout(model_type, tmp_path):
    comfy, a1111, forge = TABLE[model_type]
    assert folder_key_for(model_type, "comfyui") == comfy
    assert folder_key_for(model_type, "a1111") == a1111
    assert folder_key_for(model_type, "forge") == forge
    models = tmp_path / "models"
    got = folder_for(model_type, "comfyui", models)
    if comfy == "civkit_other":
        assert got == models / "civkit_other" / model_type
    else:
        assert got == models / comfy
    for layout, key in (("a1111", a1111), ("forge", forge)):
        got = folder_for(model_type, layout, models)
        if key == "civkit_other":
            assert got == models / "civkit_other" / model_type
        else:
            assert got == tmp_path / WEBUI_PATHS[key]
    plain = folder_for(model_type, "plain", models)
    assert models in plain.parents  # every plain folder stays inside the models folder


def test_locon_never_goes_to_lycoris(tmp_path):
    for layout in LAYOUTS:
        assert "LyCORIS" not in str(folder_for("LoCon", layout, tmp_path / "models"))


def test_a1111_embeddings_live_beside_models(tmp_path):
    assert folder_for("TextualInversion", "a1111", tmp_path / "models") == tmp_path / "embeddings"


def test_file_type_overrides(tmp_path):
    m = tmp_path / "models"
    assert folder_for("Checkpoint", "comfyui", m, "VAE") == m / "vae"
    assert folder_for("Checkpoint", "a1111", m, "VAE") == m / "VAE"
    assert folder_for("TextualInversion", "comfyui", m, "Negative") == m / "embeddings"
    assert folder_for("Checkpoint", "comfyui", m, "Diffusion Model") == m / "diffusion_models"
    assert folder_for("Checkpoint", "forge", m, "Diffusion Model") == m / "Stable-diffusion"
    assert folder_for("Checkpoint", "comfyui", m, "Text Encoder") == m / "text_encoders"
    # A1111 has no text encoder folder: the encoder must not land in the checkpoint list
    assert folder_for("Checkpoint", "a1111", m, "Text Encoder") == m / "civkit_other" / "Checkpoint"
    assert folder_for("LORA", "comfyui", m, "Training Data") == m / "civkit_other" / "LORA"
    assert folder_for("LORA", "comfyui", m, "Model") == m / "loras"


def test_optional_host_keys(tmp_path):
    m = tmp_path / "models"
    ad = tmp_path / "custom" / "animatediff_models"
    assert folder_for("MotionModule", "comfyui", m, extras={"animatediff_models": ad}) == ad
    assert folder_key_for("Detection", "comfyui", extras={"ultralytics_bbox"}) == "ultralytics_bbox"
    assert folder_for("Wildcards", "a1111", m, extras={"wildcards": tmp_path / "wc"}) == tmp_path / "wc"


def test_type_names_are_case_insensitive():
    assert folder_key_for("lora", "comfyui") == "loras"
    assert folder_key_for(None, "comfyui") == "civkit_other"


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="comfyui"):
        folder_key_for("LORA", "invokeai")


def test_notes():
    assert "cannot load UNet" in folder_note("UNet", "a1111")
    assert folder_note("LORA", "comfyui") is None
    assert "civkit_other" in folder_note("Poses", "comfyui")


def test_guess_layout(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert guess_layout(empty) == "comfyui"
    assert guess_layout(tmp_path / "missing") == "comfyui"
    comfy = tmp_path / "comfy"
    for name in ("checkpoints", "loras", "vae", "embeddings"):
        (comfy / name).mkdir(parents=True)
    assert guess_layout(comfy) == "comfyui"
    webui = tmp_path / "webui" / "models"
    for name in ("Stable-diffusion", "Lora", "VAE"):
        (webui / name).mkdir(parents=True)
    assert guess_layout(webui) == "a1111"
    (webui.parent / "modules_forge").mkdir()
    assert guess_layout(webui) == "forge"


def test_subfolder_template_is_sanitised(tmp_path):
    assert render_subfolder("{base_model}/{type}", base_model="SDXL 1.0", type="LORA") == Path("SDXL 1.0/LORA")
    assert render_subfolder("") == Path()
    hostile = render_subfolder("../../{base_model}/{type}", base_model="../../etc", type="/abs")
    assert ".." not in hostile.parts and not hostile.is_absolute()
    assert render_subfolder("{nope}/x") == Path("unknown/x")
    assert render_subfolder("{base_model}", base_model="C:\\Windows") == Path("C__Windows")
    inside = join_inside(tmp_path, hostile)
    assert tmp_path.resolve() in inside.resolve().parents
    with pytest.raises(ValueError):
        join_inside(tmp_path, "../outside")


def test_standalone_host(tmp_path):
    from civkit.hosts import StandaloneHost

    models = tmp_path / "models"
    host = StandaloneHost(models)  # empty -> ComfyUI layout
    assert host.layout == "comfyui" and host.name == "standalone"
    assert host.folder_for("LoCon") == models / "loras"
    assert host.folder_for("Poses") == models / "civkit_other" / "Poses"
    keys = host.folder_keys()
    assert keys["loras"] == [models / "loras"] and keys["civkit_other"] == [models / "civkit_other"]
    assert set(host.model_roots()) >= {models / "loras", models / "checkpoints", models / "civkit_other"}
    assert host.folder_for_key("vae") == models / "vae"
    with pytest.raises(KeyError):
        host.folder_for_key("nope")
    templated = StandaloneHost(models, "comfyui", subfolder_template="{base_model}/{type}")
    assert templated.target_folder("LORA", base_model="SDXL 1.0") == models / "loras" / "SDXL 1.0" / "LORA"
    assert templated.target_folder("LORA", folder_key="vae", base_model="../x") == models / "vae" / "_x" / "LORA"
    with pytest.raises(ValueError, match="unknown model folder"):
        templated.target_folder("LORA", folder_key="nope")


def test_standalone_host_a1111_and_exact_target(tmp_path):
    from civkit.hosts import StandaloneHost

    models = tmp_path / "webui" / "models"
    (models / "Stable-diffusion").mkdir(parents=True)
    (models / "Lora").mkdir()
    host = StandaloneHost(models)
    assert host.layout == "a1111"
    assert host.folder_for("TextualInversion") == tmp_path / "webui" / "embeddings"
    assert tmp_path / "webui" / "embeddings" in host.model_roots()
    exact = StandaloneHost(models, target=tmp_path / "here")
    assert exact.folder_for("Checkpoint") == exact.folder_for("VAE") == tmp_path / "here"
    with pytest.raises(ValueError, match="unknown layout"):
        StandaloneHost(models, "invokeai")
