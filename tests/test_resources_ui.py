"""The gradio "From an image" panel's handlers (run under gradio 3.41 / 4.40 by tests/gradio_matrix.py)."""

from __future__ import annotations

import pytest

gr = pytest.importorskip("gradio")

from civkit.config import load_config  # noqa: E402
from civkit.hosts import StandaloneHost  # noqa: E402
from civkit.service import CivkitService  # noqa: E402
from civkit.testing.images import png_with_text  # noqa: E402
from civkit.ui.app import build_ui  # noqa: E402
from civkit.ui.views_resources import needs_html  # noqa: E402


@pytest.fixture
def ui(fake_civitai, tmp_path):
    service = CivkitService(load_config(env={}, home=tmp_path / "home", api_base=fake_civitai.base_url),
                            StandaloneHost(tmp_path / "models", "comfyui"))
    built = build_ui(service, webui=False)
    yield built, fake_civitai, tmp_path
    service.close()


def test_standalone_has_no_send_button_but_says_why(ui):
    built, _fake, _ = ui
    config = built.blocks.get_config_file() if hasattr(built.blocks, "get_config_file") else built.blocks.config
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert "civkit_res_send" not in ids and "civkit_res_send_note" in ids and "civkit_res_download" in ids
    assert built.resources.paste_registered is False


def test_link_check_download_and_recheck(ui):
    built, fake, tmp_path = ui
    view = built.resources
    table, summary, infotext, state, button = view.check(None, f"{fake.base_url}/images/7904", False, None)
    assert "0 of 2 on disk" in summary and "2 missing" in summary
    assert button["interactive"] is True and button["value"].startswith("Download missing (2 files")
    assert "Steps" in infotext or "animelineart" in infotext
    steps = list(view.download(state))
    final_table, final_summary, final_button, final_state = steps[-1]
    assert final_summary == "2 of 2 on disk" and final_button["interactive"] is False
    assert (tmp_path / "models" / "loras" / "anime_lineart_v2.safetensors").is_file()
    assert (tmp_path / "models" / "checkpoints" / "dreamforgeXL_v10.safetensors").is_file()
    assert any("downloading" in s[0] for s in steps[:-1])


def test_uploads_and_errors_are_shown_as_sentences(ui):
    built, fake, tmp_path = ui
    png = tmp_path / "plain.png"
    png.write_bytes(png_with_text({"Software": "paint"}))
    table, summary, infotext, state, button = built.resources.check(str(png), "", False, None)
    assert "no generation data in plain.png" in table and state is None and button["interactive"] is False
    table, *_ = built.resources.check(None, "", False, None)
    assert "Drop an image" in table


def test_hostile_text_is_escaped():
    html = needs_html([{"kind": "lora", "name": "<img src=x onerror=alert(1)>", "status": "unresolved",
                        "message": "<script>x</script>"}])
    assert "<img" not in html and "<script>" not in html and "&lt;img" in html
