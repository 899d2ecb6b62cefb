"""scripts/civkit_tab.py inside a stand-in A1111/Forge (tests/a1111_standins: real signatures)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).resolve().parent / "a1111_standins"


def _forget_standins():
    for name in list(sys.modules):
        if name == "modules" or name.startswith("modules.") or name == "launch":
            del sys.modules[name]


@pytest.fixture
def webui(tmp_path, monkeypatch):
    """A WebUI data folder, fresh stand-in modules, and the civkit script loaded the way A1111 does."""
    monkeypatch.syspath_prepend(str(STANDINS))
    _forget_standins()
    import modules.paths_internal as paths
    import modules.script_callbacks as callbacks
    import modules.shared as shared

    data = tmp_path / "webui"
    (data / "models").mkdir(parents=True)
    paths.data_path, paths.models_path, paths.script_path = str(data), str(data / "models"), str(data)
    shared.cmd_opts = shared.fresh_cmd_opts()
    shared.opts = shared.Options()
    callbacks.clear_callbacks()
    # A1111 loads each script with spec_from_file_location(basename) + exec_module.
    spec = importlib.util.spec_from_file_location("civkit_tab.py", REPO / "scripts" / "civkit_tab.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    yield SimpleNamespace(shared=shared, callbacks=callbacks, script=script, data=data)
    service = script._state.get("service")
    if service is not None:
        service.close()
    _forget_standins()


def _elem_ids(blocks) -> set:
    return {getattr(b, "elem_id", None) for b in blocks.blocks.values()} - {None}


def test_script_registers_one_tab_settings_and_app_routes(webui):
    cmap = webui.callbacks.callback_map
    assert [len(cmap[k]) for k in ("callbacks_ui_tabs", "callbacks_ui_settings", "callbacks_app_started")] == [1, 1, 1]


def test_settings_section_has_the_four_options_and_no_api_key(webui):
    webui.callbacks.ui_settings_callback()
    labels = webui.shared.opts.data_labels
    civkit = {k: v for k, v in labels.items() if k.startswith("civkit")}
    assert set(civkit) == {"civkit_api_base", "civkit_nsfw_previews", "civkit_write_sidecars",
                           "civkit_subfolder_template"}
    assert all(info.section == ("civkit", "civkit") for info in civkit.values())
    for key, info in labels.items():
        assert "key" not in key.replace("civkit_", "") and "token" not in key
        assert "api key" not in info.label.lower()
    assert webui.shared.opts.civkit_write_sidecars is True and webui.shared.opts.civkit_nsfw_previews is False


def test_tab_is_built_with_prompt_buttons(webui):
    import gradio as gr

    webui.callbacks.ui_settings_callback()
    tabs = webui.callbacks.ui_tabs_callback()
    assert len(tabs) == 1
    blocks, title, elem_id = tabs[0]
    assert isinstance(blocks, gr.Blocks) and (title, elem_id) == ("Civitai", "civkit")
    assert {"civkit_send_txt2img", "civkit_send_img2img", "civkit_api_key"} <= _elem_ids(blocks)


def test_folders_come_from_cmd_opts_and_host_defaults(webui, tmp_path):
    webui.shared.cmd_opts.lora_dir = str(tmp_path / "MyLoras")
    webui.shared.cmd_opts.vae_dir = str(tmp_path / "vaes")
    host = webui.script.civkit_service().host
    assert host.name == "a1111"
    for mtype in ("LORA", "LoCon", "DoRA"):
        assert host.folder_for(mtype) == tmp_path / "MyLoras"
    assert host.folder_for("VAE") == tmp_path / "vaes"
    assert host.folder_for("Checkpoint") == webui.data / "models" / "Stable-diffusion"
    assert host.folder_for("TextualInversion") == webui.data / "embeddings"
    assert host.folder_for("TextEncoder") == webui.data / "models" / "civkit_other" / "TextEncoder"
    assert tmp_path / "MyLoras" in host.model_roots()


def test_forge_is_detected_and_locon_never_goes_to_lycoris(webui):
    (webui.data / "modules_forge").mkdir()
    host = webui.script.civkit_service().host
    assert (host.name, host.layout) == ("forge", "forge")
    assert host.folder_for("LoCon") == webui.data / "models" / "Lora"
    assert host.folder_for("TextEncoder") == webui.data / "models" / "text_encoder"


def test_option_changes_reach_the_running_service(webui):
    webui.callbacks.ui_settings_callback()
    service = webui.script.civkit_service()
    assert service.config.nsfw_previews is False
    webui.shared.opts.set("civkit_nsfw_previews", True)
    webui.shared.opts.set("civkit_subfolder_template", "{base_model}")
    webui.shared.opts.set("civkit_api_base", "http://127.0.0.1:9/api/v1")
    assert service.config.nsfw_previews is True
    assert service.config.subfolder_template == "{base_model}"
    assert service.config.api_base == "http://127.0.0.1:9"
    webui.shared.opts.set("civkit_api_base", "")  # emptied: back to civkit's own default
    assert service.config.api_base == "https://civitai.com"


def test_download_through_the_tab_lands_in_the_webui_lora_folder(webui, fake_civitai, tmp_path):
    from civkit.ui.app import build_ui

    webui.shared.cmd_opts.lora_dir = str(tmp_path / "loras")
    webui.callbacks.ui_settings_callback()
    webui.shared.opts.set("civkit_api_base", fake_civitai.base_url)
    ui = build_ui(webui.script.civkit_service(), webui=True)
    details, versions, files, model, status = ui.search.open_model(None, "101")
    steps = list(ui.search.download(model, versions["value"], files["value"]))
    assert steps[-1].startswith("**Done.**"), steps
    lora = tmp_path / "loras"
    assert (lora / "anime_lineart_v2.safetensors").is_file()
    assert json.loads((lora / "anime_lineart_v2.json").read_text())["activation text"] == "animelineart, clean lineart"
    assert (lora / "anime_lineart_v2.civitai.info").is_file()
    assert list(lora.glob("anime_lineart_v2.preview.*"))


def test_routes_return_plain_dicts_and_honour_api_auth(webui):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    webui.shared.cmd_opts.api_auth = "alice:s3cret"
    app = FastAPI()
    webui.callbacks.app_started_callback(None, app)
    client = TestClient(app)
    assert client.get("/civkit/status").status_code == 401
    assert client.get("/civkit/status", auth=("alice", "wrong")).status_code == 401
    answer = client.get("/civkit/status", auth=("alice", "s3cret"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["api_key_set"] is False and body["host"] == "a1111" and "loras" in body["folders"]
    assert client.get("/civkit/downloads", auth=("alice", "s3cret")).json() == {"downloads": []}


def test_routes_without_api_auth_are_open(webui):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    webui.callbacks.app_started_callback(None, app)
    client = TestClient(app)
    assert client.get("/civkit/library").json() == {"items": [], "total": 0, "offset": 0, "limit": 200}
    refused = client.get("/civkit/library", params={"limit": 5000})
    assert refused.status_code == 400 and refused.json()["detail"] == "limit must be a whole number from 1 to 1000."
    bad_status = client.get("/civkit/library", params={"status": "weird"})
    assert bad_status.status_code == 400 and "Unknown library status 'weird'" in bad_status.json()["detail"]


def test_script_imports_civkit_while_the_extension_folder_is_on_sys_path():
    """A1111 restores sys.path after loading a script; later imports must go through civkit.__path__."""
    import ast

    tree = ast.parse((REPO / "scripts" / "civkit_tab.py").read_text(encoding="utf-8"))
    top = [alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names]
    assert "civkit" in top


def test_webui_loads_the_same_style_sheet_as_the_standalone_app():
    assert (REPO / "style.css").read_text(encoding="utf-8") == (REPO / "civkit" / "ui" / "style.css").read_text(
        encoding="utf-8")


def test_the_packaged_page_script_is_the_webui_one():
    """A1111/Forge load javascript/civkit.js; a wheel install of `civkit ui` has only the package's copy."""
    assert (REPO / "javascript" / "civkit.js").read_text(encoding="utf-8") == (
        REPO / "civkit" / "ui" / "civkit.js").read_text(encoding="utf-8")
