"""The gradio "From an image" panel in headless Chromium, inside a WebUI-shaped page (issue 10):
drop a PNG, download what is missing, send to txt2img through the WebUI's own paste.

Runs under the current gradio; ``CIVKIT_UI_PYTHON=.venvs/gradio3/bin/python`` (or gradio4) serves the
page from a ``tests/gradio_matrix.py`` venv. Screenshots land in tests/artifacts/ui/.
"""

from __future__ import annotations

import os

import pytest
from test_ui_browser import REPO, SHOTS, WAIT_MS, _app_python, _free_port, _serving, _tab, _wait_text, page  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
def resources_page(tmp_path):
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", WEBUI_PAGE_SECONDS="600")
    cmd = [_app_python(), str(REPO / "tests" / "a1111_standins" / "webui_resources_page.py"), str(port), str(tmp_path)]
    with _serving(cmd, "webui page: ", "the WebUI-shaped page did not start", env=env) as url:
        yield url, tmp_path


def test_drop_a_png_download_missing_send_to_txt2img(resources_page, page):  # noqa: F811 - fixture
    url, work = resources_page
    page.goto(url)
    page.wait_for_selector("#txt2img_prompt textarea", timeout=WAIT_MS)
    _tab(page, "Civitai")
    _tab(page, "From an image")
    page.locator("#civkit_res_file input[type=file]").set_input_files(str(work / "shared.png"))
    page.wait_for_function("document.querySelectorAll('#civkit_res_table tr.civkit-need').length === 2",
                           timeout=WAIT_MS)
    statuses = page.eval_on_selector_all("#civkit_res_table tr.civkit-need", "els => els.map(e => e.dataset.status)")
    assert statuses == ["missing", "missing"]
    _wait_text(page, "#civkit_res_download", "Download missing (2 files, 5.3 MB)")
    page.screenshot(path=str(SHOTS / "9-from-an-image.png"), full_page=True)

    page.locator("#civkit_res_download").click()
    page.wait_for_function(
        "() => { const rows = [...document.querySelectorAll('#civkit_res_table tr.civkit-need')];"
        " return rows.length === 2 && rows.every(r => r.dataset.status === 'present'); }", timeout=WAIT_MS)
    assert (work / "webui" / "models" / "Lora" / "anime_lineart_v2.safetensors").is_file()
    assert (work / "webui" / "models" / "Stable-diffusion" / "dreamforgeXL_v10.safetensors").is_file()
    _wait_text(page, "#civkit_res_summary", "2 of 2 on disk")
    page.screenshot(path=str(SHOTS / "10-from-an-image-downloaded.png"), full_page=True)

    page.locator("#civkit_res_send").click()  # the WebUI's own paste, then its switch to txt2img
    want = "a lighthouse at dawn, animelineart <lora:anime_lineart_v2:0.7>"
    page.wait_for_function("(w) => document.querySelector('#txt2img_prompt textarea').value === w", arg=want,
                           timeout=WAIT_MS)
    assert page.locator("#txt2img_neg_prompt textarea").input_value() == "lowres, blurry"
    _tab(page, "txt2img")  # (the WebUI's switch_to_txt2img does this; the stand-in page may not)
    page.locator("#echo_btn").click()  # what gradio itself has, not only the DOM
    page.wait_for_function(
        "(w) => document.querySelector('#echo textarea').value === w",
        arg=f"{want} | lowres, blurry | 23 | 4242", timeout=WAIT_MS)
    page.screenshot(path=str(SHOTS / "11-sent-to-txt2img.png"), full_page=True)
