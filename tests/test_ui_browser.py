"""Headless Chromium drives ``civkit ui --demo``: search, open a model, download, see it in the Library.

Debian's chromium (/usr/bin/chromium) through Playwright; no browser download. Screenshots of
every view land in tests/artifacts/ui/ so a person can look at them. The app runs under the
current gradio; ``CIVKIT_UI_PYTHON=.venvs/gradio4/bin/python`` (or gradio3) serves it from a
``tests/gradio_matrix.py`` venv instead, to check the same flow on the hosts' gradio.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "tests" / "artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _app_python() -> str:
    """The Python that serves the page: this one, or CIVKIT_UI_PYTHON (e.g. .venvs/gradio3/bin/python)."""
    chosen = os.environ.get("CIVKIT_UI_PYTHON")
    return str(REPO / chosen) if chosen else sys.executable


@contextlib.contextmanager
def _serving(cmd, prefix: str, failure: str, **popen):
    """Run a page server in a subprocess until it prints ``<prefix><url>``; yield the URL, stop it after."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen = []
    try:
        while True:
            try:
                line = lines.get(timeout=180)
            except queue.Empty:
                pytest.fail(f"{failure}:\n" + "".join(seen))
            seen.append(line)
            if line.startswith(prefix):
                break
        yield line.split(": ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def demo_app(tmp_path):
    """``civkit ui --demo`` in a subprocess; yields its URL and its CIVKIT_HOME."""
    home = tmp_path / "home"
    env = dict(os.environ, CIVKIT_HOME=str(home), GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    for name in ("CIVITAI_API_KEY", "CIVITAI_TOKEN", "CIVKIT_API_BASE"):
        env.pop(name, None)
    port = _free_port()
    cmd = [_app_python(), "-m", "civkit.cli.main", "ui", "--demo", "--port", str(port)]
    with _serving(cmd, "civkit UI: ", "civkit ui --demo printed no URL", cwd=tmp_path, env=env) as url:
        yield url, home


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1300, "height": 1000})
        finally:
            browser.close()


def _text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def _wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([sel, txt]) => { const el = document.querySelector(sel); return !!el && el.innerText.includes(txt); }",
        arg=[selector, text], timeout=WAIT_MS)


def _tab(page, name: str) -> None:
    """gradio 5+ tabs have role=tab; gradio 3 and 4 tabs are plain buttons in the tab bar."""
    page.locator("[role=tab], .tab-nav button", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")).first.click()


def _pick(page, dropdown_id: str, option_text: str) -> None:
    """Choose a dropdown entry (gradio 4+ options have role=option; 3.x lists plain items)."""
    page.locator(f"#{dropdown_id} input").first.click()
    page.locator(f"[role=option], #{dropdown_id} ul.options li", has_text=option_text).first.click()


def _card(page, model_id: int):
    return page.locator(f'#civkit_results [data-civkit-model-id="{model_id}"]').first


def _wait_enabled(page, selector: str, enabled: bool) -> None:
    page.wait_for_function(
        "([sel, on]) => { const el = document.querySelector(sel); return !!el && el.disabled === !on; }",
        arg=[selector, enabled], timeout=WAIT_MS)


def test_demo_search_open_download_library(demo_app, page):
    url, home = demo_app
    page.goto(url)
    page.wait_for_selector("#civkit_query textarea, #civkit_query input", timeout=WAIT_MS)

    # Search, with NSFW models included: cards appear, an NSFW preview is blurred.
    page.locator("#civkit_query textarea, #civkit_query input").first.fill("")
    page.locator("#civkit_nsfw input").check()
    page.locator("#civkit_search_btn").click()
    page.wait_for_function("document.querySelectorAll('#civkit_results .civkit-card').length > 1", timeout=WAIT_MS)
    assert "Anime Lineart Style" in _text(page, "#civkit_results")
    assert page.locator("#civkit_results img.civkit-nsfw").count() >= 1
    page.wait_for_timeout(500)  # let preview images paint
    page.screenshot(path=str(SHOTS / "1-search.png"), full_page=True)

    # Open a result from the picker: a checkpoint with a VAE and a config offers both.
    _pick(page, "civkit_pick", "Dreamforge XL — Checkpoint (#107)")
    _wait_text(page, "#civkit_details", "Dreamforge XL")
    _wait_enabled(page, "#civkit_with_vae input", True)
    _wait_enabled(page, "#civkit_with_config input", True)

    # Open a result by clicking its card: versions, files and trigger words show; a LoRA has no
    # VAE or config, so those boxes are greyed out.
    _card(page, 101).click()
    _wait_text(page, "#civkit_details", "animelineart")
    assert "SD 1.5" in _text(page, "#civkit_details") and "Anime Lineart Style" in _text(page, "#civkit_details")
    assert page.locator("#civkit_ref textarea, #civkit_ref input").first.input_value() == "101"
    _wait_enabled(page, "#civkit_with_vae input", False)
    _wait_enabled(page, "#civkit_with_config input", False)
    page.screenshot(path=str(SHOTS / "2-details.png"), full_page=True)

    # Download: the status line ends in plain words.
    page.locator("#civkit_download_btn").click()
    _wait_text(page, "#civkit_download_status", "Done.")
    status = _text(page, "#civkit_download_status")
    assert "anime_lineart_v2.safetensors" in status and "animelineart" in status
    page.screenshot(path=str(SHOTS / "3-downloaded.png"), full_page=True)
    lora = home / "demo" / "models" / "Lora"
    assert (lora / "anime_lineart_v2.safetensors").is_file()
    assert (lora / "anime_lineart_v2.json").is_file() and (lora / "anime_lineart_v2.civitai.info").is_file()

    # The picker was emptied by the card's click, so it opens the result it showed before again.
    _pick(page, "civkit_pick", "Dreamforge XL — Checkpoint (#107)")
    _wait_text(page, "#civkit_details", "Dreamforge XL")

    # A card opens from the keyboard too (Tab to it, Enter); its VAE comes along when ticked.
    _card(page, 101).focus()
    page.keyboard.press("Enter")
    _wait_text(page, "#civkit_details", "Anime Lineart Style")
    _card(page, 107).focus()
    page.keyboard.press("Enter")
    _wait_text(page, "#civkit_details", "Dreamforge XL")
    _wait_enabled(page, "#civkit_with_vae input", True)
    page.locator("#civkit_with_vae input").check()
    page.screenshot(path=str(SHOTS / "3b-checkpoint-details.png"), full_page=True)
    page.locator("#civkit_download_btn").click()
    _wait_text(page, "#civkit_download_status", "Done.")
    assert "Its VAE:" in _text(page, "#civkit_download_status")
    models = home / "demo" / "models"
    assert (models / "Stable-diffusion" / "dreamforgeXL_v10.safetensors").is_file()
    assert (models / "VAE" / "dreamforgeXL_v10.vae.safetensors").is_file()
    assert not (models / "Stable-diffusion" / "dreamforgeXL_v10.yaml").exists()  # config was not ticked

    # The Downloads tab lists it as done.
    _tab(page, "Downloads")
    _wait_text(page, "#civkit_downloads", "done")
    assert "Anime Lineart Style" in _text(page, "#civkit_downloads")
    page.screenshot(path=str(SHOTS / "4-downloads.png"), full_page=True)

    # Library: scan, then the file is there with its trigger words and its prompt text.
    _tab(page, "Library")
    page.locator("#civkit_scan_btn").click()
    _wait_text(page, "#civkit_scan_status", "Scan finished")
    table = _text(page, "#civkit_library")
    assert "anime_lineart_v2.safetensors" in table and "animelineart" in table and "on Civitai" in table
    _pick(page, "civkit_lib_pick", "anime_lineart_v2.safetensors — Anime Lineart Style")
    page.wait_for_function(
        "() => { const t = document.querySelector('#civkit_prompt_text textarea');"
        " return !!t && t.value.includes('<lora:anime_lineart_v2:1>'); }", timeout=WAIT_MS)
    assert page.locator("#civkit_prompt_text textarea").input_value() == (
        "<lora:anime_lineart_v2:1> animelineart, clean lineart")
    page.screenshot(path=str(SHOTS / "5-library.png"), full_page=True)

    # Settings: the key field is write-only; afterwards only "set" shows.
    _tab(page, "Settings")
    key_box = page.locator("#civkit_api_key input, #civkit_api_key textarea").first
    key_box.fill("test-key-123")
    page.locator("#civkit_save_key").click()
    _wait_text(page, "#civkit_key_status", "An API key is set")
    assert key_box.input_value() == ""
    assert "test-key-123" not in page.content()
    page.screenshot(path=str(SHOTS / "6-settings.png"), full_page=True)


def test_civkit_js_sends_to_the_prompt_once_through_update_input(page):
    """javascript/civkit.js on a page shaped like the WebUI's prompt boxes."""
    page.set_content(
        "<div id='txt2img_prompt'><textarea>a cat</textarea></div>"
        "<div id='img2img_prompt'><textarea></textarea></div>"
        "<script>window.updates = []; function gradioApp() { return document; }"
        " function updateInput(el) { window.updates.push(el.parentElement.id + '=' + el.value); }</script>")
    page.add_script_tag(path=str(REPO / "javascript" / "civkit.js"))
    text = "<lora:anime_lineart_v2:1> animelineart, clean lineart"
    first = page.evaluate("(t) => civkitSendToPrompt('txt2img', t)", text)
    second = page.evaluate("(t) => civkitSendToPrompt('txt2img', t)", text)
    third = page.evaluate("(t) => civkitSendToPrompt('img2img', t)", text)
    assert (first, second, third) == (True, False, True)
    assert page.locator("#txt2img_prompt textarea").input_value() == f"a cat {text}"
    assert page.locator("#img2img_prompt textarea").input_value() == text
    assert page.evaluate("window.updates") == [f"txt2img_prompt=a cat {text}", f"img2img_prompt={text}"]
    assert page.evaluate("civkitSendToPrompt('txt2img', '')") is False


@pytest.fixture
def webui_page(tmp_path):
    """tests/a1111_standins/webui_page.py: the civkit tab rendered inside a WebUI-shaped page."""
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", WEBUI_PAGE_SECONDS="600")
    cmd = [_app_python(), str(REPO / "tests" / "a1111_standins" / "webui_page.py"), str(port), str(tmp_path)]
    with _serving(cmd, "webui page: ", "the WebUI-shaped page did not start", env=env) as url:
        yield url


def test_send_to_txt2img_prompt_inside_a_webui_shaped_page(webui_page, page):
    page.goto(webui_page)
    page.wait_for_selector("#txt2img_prompt textarea", timeout=WAIT_MS)
    page.locator("#txt2img_prompt textarea").fill("a lighthouse")
    _tab(page, "Civitai")
    # In the WebUI too, a click on a result card opens it (civkit.js is the page's classic script).
    page.locator("#civkit_search_btn").click()
    page.wait_for_function("document.querySelectorAll('#civkit_results .civkit-card').length > 1", timeout=WAIT_MS)
    _card(page, 110).click()
    _wait_text(page, "#civkit_details", "EasyNegative Plus")
    _tab(page, "Library")
    page.locator("#civkit_lib_refresh").click()
    _wait_text(page, "#civkit_library", "anime_lineart_v2.safetensors")
    _pick(page, "civkit_lib_pick", "anime_lineart_v2.safetensors — Anime Lineart Style")
    page.wait_for_function(
        "() => { const t = document.querySelector('#civkit_prompt_text textarea');"
        " return !!t && t.value.includes('animelineart'); }", timeout=WAIT_MS)
    page.screenshot(path=str(SHOTS / "7-webui-library.png"), full_page=True)
    send = page.locator("#civkit_send_txt2img")
    send.click()
    expected = "a lighthouse <lora:anime_lineart_v2:1> animelineart, clean lineart"
    page.wait_for_function(
        "(want) => document.querySelector('#txt2img_prompt textarea').value === want", arg=expected,
        timeout=WAIT_MS)
    _tab(page, "Civitai")
    send.click()  # a second press adds nothing
    _tab(page, "txt2img")
    page.locator("#echo_btn").click()
    page.wait_for_function(
        "(want) => document.querySelector('#echo textarea').value === want", arg=expected, timeout=WAIT_MS)
    assert page.locator("#txt2img_prompt textarea").input_value() == expected
    page.screenshot(path=str(SHOTS / "8-webui-txt2img.png"), full_page=True)
