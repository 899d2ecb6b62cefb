"""The gradio UI builds, and its handlers work against the Civitai emulator.

Runs unchanged under gradio 3.41.2 (A1111), 4.40 (Forge) and the current gradio:
``python tests/gradio_matrix.py`` runs this file in the pinned venvs.
"""

from __future__ import annotations

import json
import os
import stat

import gradio as gr
import pytest

from civkit.config import load_config
from civkit.hosts.standalone import StandaloneHost
from civkit.service import CivkitService
from civkit.ui import cards
from civkit.ui.app import build_ui


@pytest.fixture
def models_dir(tmp_path):
    path = tmp_path / "models"
    (path / "Lora").mkdir(parents=True)
    (path / "Stable-diffusion").mkdir()
    return path


@pytest.fixture
def service(fake_civitai, models_dir, civkit_home):
    config = load_config(env={}, home=civkit_home, api_base=fake_civitai.base_url)
    svc = CivkitService(config, StandaloneHost(models_dir, "a1111"))
    yield svc
    svc.close()


@pytest.fixture
def ui(service):
    return build_ui(service)


def _elem_ids(blocks) -> set:
    return {getattr(b, "elem_id", None) for b in blocks.blocks.values()} - {None}


def _drain(gen) -> list:
    return list(gen)


def test_blocks_build_standalone_with_every_view(ui):
    assert isinstance(ui.blocks, gr.Blocks)
    ids = _elem_ids(ui.blocks)
    for wanted in ("civkit_query", "civkit_results", "civkit_more_btn", "civkit_details", "civkit_download_btn",
                   "civkit_downloads", "civkit_dl_cancel", "civkit_dl_retry", "civkit_scan_btn", "civkit_library",
                   "civkit_api_key", "civkit_key_status", "civkit_set_nsfw"):
        assert wanted in ids, wanted
    # Standalone has no WebUI prompt to send to.
    assert "civkit_send_txt2img" not in ids


def test_blocks_build_for_the_webui_with_prompt_buttons(service):
    ui = build_ui(service, webui=True)
    ids = _elem_ids(ui.blocks)
    assert {"civkit_send_txt2img", "civkit_send_img2img"} <= ids
    assert "civkit_set_nsfw" not in ids  # those settings live in the WebUI's Settings → civkit


def test_api_key_field_is_write_only(ui, service, civkit_home):
    assert "No API key is set" in ui.settings.key_status()
    field, status = ui.settings.save_key("  my-secret-key-123  ")
    assert field == ""
    assert "An API key is set" in status and "my-secret-key-123" not in status
    assert service.api_key_is_set()
    config_file = civkit_home / "config.json"
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o600
    field, status = ui.settings.save_key("has a space")
    assert field == "" and "does not look like a Civitai API key" in status
    field, status = ui.settings.forget_key()
    assert "No API key is set" in status and not service.api_key_is_set()


def test_search_cards_and_more_paging(ui):
    ui.search.page_size = 2
    status, html, picker, more, items, cursor = ui.search.search("", "Any", "Any", "Most Downloaded", "AllTime", True)
    assert len(items) == 2 and cursor
    assert status.startswith("Found 2 models.") and "More are available" in status
    assert html.count('class="civkit-card"') == 2
    assert more["interactive"] is True
    assert [cards.id_from_label(c) for c in picker["choices"]] == [i["id"] for i in items]
    status, html, picker, more, items2, cursor2 = ui.search.more("", "Any", "Any", "Most Downloaded", "AllTime",
                                                                 True, items, cursor)
    assert len(items2) == 4 and items2[:2] == items
    assert html.count('class="civkit-card"') == 4


def test_nsfw_previews_are_blurred_unless_the_setting_allows(ui, service):
    item = {"id": 9, "name": "x", "type": "LORA", "preview": {"url": "https://example.invalid/a.jpg", "nsfw": True}}
    assert "civkit-nsfw" in cards.result_cards([item], show_nsfw=ui.ctx.show_nsfw)
    service.update_settings(persist=False, nsfw_previews=True)
    assert "civkit-nsfw" not in cards.result_cards([item], show_nsfw=ui.ctx.show_nsfw)


def test_search_failure_is_shown_in_plain_words(ui, fake_civitai):
    fake_civitai.faults.region_blocked = True
    status, html, picker, more, items, cursor = ui.search.search("anime", "Any", "Any", "Highest Rated", "AllTime", False)
    assert status.startswith("**Problem:**") and "region" in status.lower()
    assert items == [] and picker["choices"] == []


def test_details_render_description_safely():
    model = {"id": 1, "name": "<b>x</b>", "type": "LORA", "creator": {"username": "me"},
             "description_html": '<p>ok</p><script>alert(1)</script><img src=x onerror="alert(2)">'
                                 '<a href="javascript:alert(3)">link</a>'}
    html = cards.details_html(model, None)
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<p>ok</p>" in html


def test_search_open_download_and_library_against_the_emulator(ui, service, models_dir):
    # Details of a LoRA, with its versions and files.
    details, versions, files, model, status = ui.search.open_model(None, "101")
    assert model["id"] == 101 and status == ""
    assert "Anime Lineart Style" in details and "animelineart" in details
    assert versions["value"] == cards.version_label(model["versions"][0])
    assert cards.id_from_label(files["value"]) == model["versions"][0]["files"][0]["id"]

    # Another version updates the file list.
    older = cards.version_label(model["versions"][1])
    details2, files2 = ui.search.pick_version(older, model)
    assert "v1.0" in details2 and "anime_lineart_v1" in files2["value"]

    # Download the newest version: progress streams, and ends in plain words.
    steps = _drain(ui.search.download(model, versions["value"], files["value"]))
    assert steps[-1].startswith("**Done.** Downloaded"), steps
    lora = models_dir / "Lora" / "anime_lineart_v2.safetensors"
    assert lora.is_file()
    user_json = json.loads((models_dir / "Lora" / "anime_lineart_v2.json").read_text(encoding="utf-8"))
    assert user_json["activation text"] == "animelineart, clean lineart"
    info = json.loads((models_dir / "Lora" / "anime_lineart_v2.civitai.info").read_text(encoding="utf-8"))
    assert info["id"] == 1011
    assert list((models_dir / "Lora").glob("anime_lineart_v2.preview.*"))

    # The details now say where the file is.
    details3, model3 = ui.search.refresh_details(model, versions["value"])
    assert "Already in your library" in details3 and "anime_lineart_v2.safetensors" in details3

    # The Downloads view lists it as done.
    table, picker = ui.downloads.snapshot()
    assert "anime_lineart_v2.safetensors" in table or "Anime Lineart Style" in table
    assert "civkit-state-done" in table
    assert picker["value"] and "done" in picker["value"]
    assert "already finished" in ui.downloads.cancel(picker["value"])
    assert "cannot be retried" in ui.downloads.retry(picker["value"])

    # Library scan streams progress and then lists the file with its trigger words.
    steps = _drain(ui.library.scan(""))
    assert steps[0][2].startswith("Scanning")
    table, lib_picker, summary = steps[-1]
    assert summary.startswith("Scan finished"), summary
    assert "anime_lineart_v2.safetensors" in table and "animelineart" in table
    label = next(c for c in lib_picker["choices"] if "anime_lineart_v2" in c)
    words_html, prompt = ui.library.pick(label)
    assert "clean lineart" in words_html
    assert prompt == "<lora:anime_lineart_v2:1> animelineart, clean lineart"


def test_failed_download_says_why_and_retry_is_offered(ui, fake_civitai, models_dir):
    details, versions, files, model, status = ui.search.open_model(None, "103")  # needs a login
    steps = _drain(ui.search.download(model, versions["value"], files["value"]))
    assert steps[-1].startswith("**Download failed:**")
    assert "API key" in steps[-1]
    assert not (models_dir / "Lora" / "pony_anime_shading.safetensors").exists()  # no file under the final name
    table, picker = ui.downloads.snapshot()
    assert "civkit-state-failed" in table and "API key" in table
    assert "queued again" in ui.downloads.retry(picker["value"])


def test_bad_reference_and_empty_picks_do_not_raise(ui):
    details, versions, files, model, status = ui.search.open_model(None, "not a model at all ::")
    assert status.startswith("**Problem:**") and model is None
    assert ui.search.open_model(None, "") == tuple(gr.update() for _ in range(5))
    assert ui.search.open_details(None, "") == tuple(gr.update() for _ in range(7))
    assert ui.search.pick_version_details("x (#1)", None) == tuple(gr.update() for _ in range(4))
    assert ui.search.open_ref("  ") == tuple(gr.update() for _ in range(8))
    *_, model, status, vae, config = ui.search.open_details(None, "not a model at all ::")
    assert model is None and status.startswith("**Problem:**")
    assert vae["interactive"] is False and config["interactive"] is False
    assert _drain(ui.search.download(None, None, None)) == ["Pick a model first."]
    assert ui.downloads.cancel(None) == "Pick a download in the list first."
    assert ui.library.pick(None) == ("", "")


def test_the_standalone_app_serves_its_page(service, monkeypatch):
    import socket

    import requests

    from civkit.ui.app import launch_ui

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ui, url = launch_ui(service, host="127.0.0.1", port=port, block=False)
    try:
        assert url.startswith(f"http://127.0.0.1:{port}")
        page = requests.get(url, timeout=30)
        assert page.status_code == 200
        config = requests.get(url.rstrip("/") + "/config", timeout=30).json()
        assert "civkit_query" in json.dumps(config)
    finally:
        ui.blocks.close()


def test_library_shows_an_update_for_an_older_version(ui, models_dir):
    details, versions, files, model, status = ui.search.open_model(None, "101")
    older = cards.version_label(model["versions"][1])  # v1.0; v2.0 is newer
    details, files = ui.search.pick_version(older, model)
    steps = _drain(ui.search.download(model, older, files["value"]))
    assert steps[-1].startswith("**Done.**"), steps
    table, picker, summary = _drain(ui.library.scan(""))[-1]
    assert "1 with an update available" in summary
    assert "update: v2.0" in table
    assert "anime_lineart_v1.safetensors" in table

    # A copy under another name is a duplicate; the filter narrows the table.
    import shutil

    shutil.copy(models_dir / "Lora" / "anime_lineart_v1.safetensors", models_dir / "Lora" / "copy_of_v1.safetensors")
    table, picker, summary = _drain(ui.library.scan(""))[-1]
    assert table.count("duplicate ×2") == 2
    table, picker, summary = ui.library.show("copy_of")
    assert "copy_of_v1.safetensors" in table and "anime_lineart_v1.safetensors" not in table
    assert "No file in the library matches" in ui.library.show("no such thing")[0]


def test_a_large_library_shows_the_first_rows_and_the_filter_narrows(ui, service, models_dir):
    from civkit.library import LibraryEntry
    from civkit.ui.views_library import MAX_ROWS

    lora = models_dir / "Lora"
    service.index.upsert_many([
        LibraryEntry(path=str(lora / f"style_{i:04d}.safetensors"), size=10, mtime_ns=i, inode=i,
                     sha256=f"{i:064X}", status="linked" if i % 2 else "not_found",
                     model_name=f"Watercolor {i}" if i % 100 == 0 else f"Style {i}", trained_words=[f"w{i}"])
        for i in range(MAX_ROWS + 120)])
    table, picker, summary = ui.library.show("")
    assert table.count("<tr data-civkit-path=") == MAX_ROWS
    assert len(picker["choices"]) == MAX_ROWS
    assert summary == ("Library: 620 files, 310 linked to Civitai. "
                       "Showing the first 500; type in Filter to narrow the list.")
    table, picker, summary = ui.library.show("WATERCOLOR")
    assert table.count("<tr data-civkit-path=") == 7 and "style_0600.safetensors" in table
    assert summary == "7 of 620 files match “WATERCOLOR”."
    # a file from a narrowed list can be picked; this one exists only in the index, and says so
    label = next(c if isinstance(c, str) else c[0] for c in picker["choices"])
    assert label.startswith("style_0000.safetensors — Watercolor 0")
    words, prompt = ui.library.pick(label)
    assert words.startswith("**Problem:** No model file") and prompt == ""
    ui.library._shown = {}  # a label another browser session was shown: found again through the index
    assert ui.library.pick(label)[0].startswith("**Problem:** No model file")
    assert ui.library.pick(label.replace("style_0000", "style_9999"))[0] == (
        "This file is no longer in the library; scan again.")
    assert "No file in the library matches" in ui.library.show("nothing like this")[0]


def test_pickle_files_need_the_explicit_allow(ui, models_dir):
    details, versions, files, model, status = ui.search.open_model(None, "108")  # a .ckpt only
    assert "pickle: runs code when loaded" in files["value"]
    refused = _drain(ui.search.download(model, versions["value"], files["value"]))
    assert refused[-1].startswith("**Download failed:**"), refused
    assert 'tick "Allow pickle files"' in refused[-1]
    assert not list((models_dir / "Stable-diffusion").glob("*.ckpt"))
    allowed = _drain(ui.search.download(model, versions["value"], files["value"], True))
    assert allowed[-1].startswith("**Done.**"), allowed
    assert list((models_dir / "Stable-diffusion").glob("*.ckpt"))


def test_result_cards_open_on_click_and_keyboard():
    html = cards.result_cards([{"id": 107, "name": "Dreamforge <XL>", "type": "Checkpoint"}])
    assert 'data-civkit-model-id="107"' in html and 'tabindex="0"' in html and 'role="button"' in html
    assert 'aria-label="Open Dreamforge &lt;XL&gt;"' in html


def test_companion_boxes_follow_the_version_and_download_the_vae_and_config(ui, models_dir):
    # A LoRA has neither: both boxes are greyed out and say so.
    *_, model, status, vae, config = ui.search.open_details(None, "101")
    assert model["id"] == 101 and status == ""
    assert vae["interactive"] is False and vae["value"] is False and "has none" in vae["label"]
    assert config["interactive"] is False and "has none" in config["label"]

    # Checkpoint 107 ships a VAE and a config yaml beside its model files. (Open, which a click on
    # its result card presses, also empties the result picker.)
    details, versions, files, model, status, vae, config, picker = ui.search.open_ref("107")
    assert picker["value"] is None
    assert model["id"] == 107 and "dreamforgeXL_v10.safetensors" in files["value"]
    assert vae["interactive"] is True and vae["label"] == "Also download its VAE"
    assert config["interactive"] is True and config["label"] == "Also download its config (.yaml)"
    details2, files2, vae2, config2 = ui.search.pick_version_details(versions["value"], model)
    assert vae2["interactive"] is True and config2["interactive"] is True

    steps = _drain(ui.search.download(model, versions["value"], files["value"], False, True, True))
    ckpt = models_dir / "Stable-diffusion" / "dreamforgeXL_v10.safetensors"
    vae_file = models_dir / "VAE" / "dreamforgeXL_v10.vae.safetensors"
    yaml_file = models_dir / "Stable-diffusion" / "dreamforgeXL_v10.yaml"
    assert steps[-1].startswith("**Done.** Downloaded"), steps
    assert f"Its VAE: `{vae_file}`." in steps[-1] and f"Its config: `{yaml_file}`." in steps[-1]
    assert ckpt.is_file() and vae_file.is_file() and yaml_file.is_file()
    assert not (models_dir / "Stable-diffusion" / vae_file.name).exists()  # the VAE is never beside it
    sidecar = json.loads((models_dir / "Stable-diffusion" / "dreamforgeXL_v10.json").read_text(encoding="utf-8"))
    assert sidecar["vae"] == vae_file.name
    assert not list(models_dir.rglob("*.part"))


def test_unticked_companion_boxes_download_only_the_model(ui, models_dir):
    details, versions, files, model, status, vae, config = ui.search.open_details(None, "107")
    steps = _drain(ui.search.download(model, versions["value"], files["value"], False, False, False))
    assert steps[-1].startswith("**Done.** Downloaded") and "Its VAE" not in steps[-1], steps
    assert (models_dir / "Stable-diffusion" / "dreamforgeXL_v10.safetensors").is_file()
    assert not (models_dir / "VAE").exists() or not list((models_dir / "VAE").iterdir())
    assert not (models_dir / "Stable-diffusion" / "dreamforgeXL_v10.yaml").exists()


def test_scan_progress_is_described_in_words():
    from civkit.library.scan import ScanProgress
    from civkit.ui.progress import describe_progress

    text = describe_progress((ScanProgress("hash", 3, 10, "/m/Lora/x.safetensors", 1 << 20, 5 << 30),), {})
    assert text == "hashing 3 of 10 (1.0 MB of 5.0 GB) — x.safetensors"
    assert describe_progress((ScanProgress("walk"),), {}) == "looking for model files"
    assert describe_progress(("plain words",), {}) == "plain words"


def test_results_hidden_by_strict_sfw_are_counted_with_how_to_show_them(ui):
    """Issue 13 item 20: not a bare "No models found" when the SFW filter hid everything."""
    status, html, picker, more, items, cursor = ui.search.search("Anime Eyes", "Any", "Any", "Highest Rated",
                                                                 "AllTime", False)
    assert items == []
    assert "1 model hidden by the strict SFW filter" in status and "Include NSFW models" in status
    status, html, picker, more, items, cursor = ui.search.search("Anime Eyes", "Any", "Any", "Highest Rated",
                                                                 "AllTime", True)
    assert [i["id"] for i in items] == [102] and "hidden" not in status
    ui.search.page_size = 3
    status, *_rest, items, cursor = ui.search.search("anime", "Any", "Any", "Highest Rated", "AllTime", False)
    assert items and "hidden by the strict SFW filter" in status
