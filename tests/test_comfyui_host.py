"""ComfyUIHost: folders from folder_paths (extra_model_paths roots, is_default ordering), the
civkit_other key, and what happens after a download (cache dropped, browser told to refresh)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from comfyui_harness import comfy_fixture  # noqa: F401 - fixture

from civkit.config import load_config
from civkit.hosts.comfyui import ComfyUIHost
from civkit.service import CivkitService


@pytest.fixture
def host(comfy):
    return ComfyUIHost()


def test_first_root_is_the_download_target_and_is_default_wins(comfy, host, tmp_path):
    fp = comfy.folder_paths
    models = Path(fp.models_dir)
    assert host.folder_for("LORA") == models / "loras"
    # extra_model_paths.yaml: a plain section appends, an is_default section goes first
    extra = tmp_path / "nas" / "loras"
    default = tmp_path / "fast-ssd" / "loras"
    fp.add_model_folder_path("loras", str(extra))
    assert host.folder_for("LORA") == models / "loras"
    fp.add_model_folder_path("loras", str(default), is_default=True)
    assert host.folder_for("LoCon") == default
    assert host.folder_keys()["loras"] == [default, models / "loras", extra]
    assert {default, extra} <= set(host.model_roots())


def test_types_without_a_comfy_loader_go_to_civkit_other(comfy, host):
    fp = comfy.folder_paths
    assert "civkit_other" in fp.folder_names_and_paths
    assert fp.get_folder_paths("civkit_other") == [os.path.join(fp.models_dir, "civkit_other")]
    assert host.folder_for("Workflows") == Path(fp.models_dir) / "civkit_other" / "Workflows"
    assert host.folder_for("Checkpoint", "VAE") == Path(fp.models_dir) / "vae"
    assert host.folder_for("TextEncoder") == Path(fp.models_dir) / "text_encoders"


def test_keys_of_other_packs_are_used_and_custom_nodes_is_never_a_model_folder(comfy, host, tmp_path):
    comfy.folder_paths.add_model_folder_path("animatediff_models", str(tmp_path / "ad"))
    assert host.folder_for("MotionModule") == tmp_path / "ad"
    assert "custom_nodes" not in host.folder_keys()
    with pytest.raises(KeyError):
        host.folder_for_key("custom_nodes")


def test_locate_and_resolve_name_stay_inside_the_roots(comfy, host):
    clip_root = Path(comfy.folder_paths.get_folder_paths("text_encoders")[1])  # models/clip
    clip_root.mkdir(parents=True)
    (clip_root / "t5.safetensors").write_bytes(b"x")
    assert host.locate(clip_root / "t5.safetensors") == ("text_encoders", "t5.safetensors")
    assert host.locate("/etc/passwd") is None
    assert host.resolve_name("text_encoders", "t5.safetensors") == clip_root / "t5.safetensors"
    assert host.resolve_name("loras", "../../../../etc/passwd") is None
    assert host.resolve_name("custom_nodes", "x") is None


def test_after_download_drops_the_cache_and_tells_the_browser(comfy, host):
    fp = comfy.folder_paths
    loras = Path(fp.get_folder_paths("loras")[0])
    (loras / "sub").mkdir()
    assert fp.get_filename_list("loras") == []
    assert "loras" in fp.filename_list_cache
    new = loras / "sub" / "new.safetensors"
    new.write_bytes(b"x")
    host.after_download(new)
    assert "loras" not in fp.filename_list_cache
    assert fp.get_filename_list("loras") == [os.path.join("sub", "new.safetensors")]
    assert comfy.server.events("civkit.refresh") == [{"folder_key": "loras", "name": os.path.join("sub", "new.safetensors")}]


def test_a_service_download_lands_in_the_is_default_root(comfy, fake_civitai, tmp_path):
    target = tmp_path / "fast-ssd" / "loras"
    comfy.folder_paths.add_model_folder_path("loras", str(target), is_default=True)
    service = CivkitService(load_config(api_base=fake_civitai.base_url), ComfyUIHost())
    try:
        snap = service.wait_download(service.start_download("101@1010"), timeout=60)
    finally:
        service.close()
    assert snap["state"] == "done", snap
    assert Path(snap["path"]).parent == target
    assert "anime_lineart_v1.safetensors" in comfy.folder_paths.get_filename_list("loras")
