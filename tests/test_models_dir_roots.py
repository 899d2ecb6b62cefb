"""Issue 13 item 19: ``--models-dir`` pointed at a host's root folder instead of its models folder."""

from __future__ import annotations

import pytest

from civkit.cli.main import main
from civkit.hosts import StandaloneHost


def comfy_root(tmp_path):
    root = tmp_path / "ComfyUI"
    (root / "models" / "checkpoints").mkdir(parents=True)
    (root / "models" / "loras").mkdir()
    (root / "custom_nodes").mkdir()
    (root / "main.py").write_text("# ComfyUI\n")
    return root


def webui_root(tmp_path, forge=False):
    root = tmp_path / "stable-diffusion-webui"
    (root / "models").mkdir(parents=True)  # a fresh install may have no Lora/ yet
    (root / "webui.py").write_text("# webui\n")
    (root / "launch.py").write_text("# webui\n")
    if forge:
        (root / "modules_forge").mkdir()
    return root


def test_a_comfyui_root_uses_its_models_folder(tmp_path):
    root = comfy_root(tmp_path)
    host = StandaloneHost(root)
    assert host.models_dir == root / "models" and host.layout == "comfyui"
    assert host.folder_for("LORA") == root / "models" / "loras"
    assert "ComfyUI" in host.layout_note and str(root / "models") in host.layout_note


@pytest.mark.parametrize("forge, layout", [(False, "a1111"), (True, "forge")])
def test_a_webui_root_uses_models_and_embeddings_beside_it(tmp_path, forge, layout):
    root = webui_root(tmp_path, forge)
    host = StandaloneHost(root)
    assert host.models_dir == root / "models" and host.layout == layout
    assert host.folder_for("LORA") == root / "models" / "Lora"
    assert host.folder_for("TextualInversion") == root / "embeddings"
    assert "WebUI" in host.layout_note


def test_a_models_folder_is_used_as_it_is_and_says_which_layout(tmp_path):
    models = comfy_root(tmp_path) / "models"
    host = StandaloneHost(models)
    assert host.models_dir == models and host.layout == "comfyui"
    assert "ComfyUI" in host.layout_note


def test_a_folder_that_looks_like_neither_keeps_todays_layout_and_says_so(tmp_path):
    plain = tmp_path / "stuff"
    plain.mkdir()
    host = StandaloneHost(plain)
    assert host.models_dir == plain and host.layout == "comfyui"
    assert "assum" in host.layout_note and "--layout" in host.layout_note


def test_an_explicit_layout_is_not_second_guessed(tmp_path):
    root = comfy_root(tmp_path)
    host = StandaloneHost(root, "plain")
    assert host.models_dir == root and host.layout == "plain"


def test_cli_download_into_a_comfyui_root(fake_civitai, tmp_path, capsys):
    root = comfy_root(tmp_path)
    code = main(["--api-base", fake_civitai.base_url, "download", "1011", "--models-dir", str(root)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (root / "models" / "loras" / "anime_lineart_v2.safetensors").is_file()
    assert not (root / "loras").exists()
    assert "ComfyUI folder" in captured.err and str(root / "models") in captured.err


def test_cli_download_into_a_webui_root(fake_civitai, tmp_path, capsys):
    root = webui_root(tmp_path)
    code = main(["--api-base", fake_civitai.base_url, "download", "1011", "109", "--models-dir", str(root)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (root / "models" / "Lora" / "anime_lineart_v2.safetensors").is_file()
    assert list((root / "embeddings").iterdir())
    assert not (root / "loras").exists() and not (root / "Lora").exists()


def test_cli_says_which_layout_it_assumed_for_an_unknown_folder(fake_civitai, tmp_path, capsys):
    plain = tmp_path / "stuff"
    plain.mkdir()
    code = main(["--api-base", fake_civitai.base_url, "download", "1011", "--models-dir", str(plain)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (plain / "loras" / "anime_lineart_v2.safetensors").is_file()  # today's behaviour
    assert "assum" in captured.err and "ComfyUI" in captured.err
