"""Names, trigger words, file names and server messages from Civitai or from disk never become markup
in the gradio views (issue 13 item 11): status lines are gr.Markdown, which renders HTML, images and
links. The browser test serves the app with a model whose name carries an ``<img>`` tracking pixel
and a Markdown image, both pointing at a pixel server that counts requests."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from civkit.ui import cards

MarkdownIt = pytest.importorskip("markdown_it").MarkdownIt

HOSTILE = 'Evil <img src="http://127.0.0.1:{port}/pixel-html"> ![x](http://127.0.0.1:{port}/pixel-md) `tick` *bold*'


def _render(markdown: str) -> str:
    """CommonMark with raw HTML on, as gradio's Markdown renders it."""
    return MarkdownIt("commonmark", {"html": True}).render(markdown)


def _no_markup(markdown: str, *texts) -> None:
    html = _render(markdown)
    for tag in ("<img", "<a ", "<em", "<code>tick"):
        assert tag not in html, (markdown, html)
    for text in texts:
        assert text in html.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


def test_md_escapes_every_markdown_and_html_construct():
    text = HOSTILE.format(port=1)
    _no_markup(cards.md(text), text)
    _no_markup(cards.md("# heading\n- item\n1. one\n> quote"), "# heading")
    assert cards.md(None) == ""


def test_md_code_survives_backticks():
    path = "/models/a`b``c/<img src=x>.safetensors"
    html = _render(f"Saved to {cards.md_code(path)}.")
    assert "<img" not in html and "<code>" in html


def test_download_status_lines_are_escaped():
    from civkit.ui.views_search import task_status_text

    name = HOSTILE.format(port=1)
    base = {"model_name": name, "trained_words": [name], "path": f"/m/{name}.safetensors",
            "companions": [{"kind": "vae", "path": f"/m/{name}.vae.pt"}]}
    for state in ("done", "skipped", "failed", "cancelled", "downloading"):
        _no_markup(task_status_text(dict(base, state=state, message=name, total=10, bytes=5)), "Evil")


def test_scan_summary_and_problems_are_escaped():
    from civkit.ui.views_library import _scan_summary

    name = HOSTILE.format(port=1)
    report = {"files": 3, "errors": [{"path": f"/m/{name}", "message": name}], "lookup_error": name,
              "update_error": name}
    _no_markup(_scan_summary(report), "Evil")


class _Failing:
    config = type("C", (), {"api_key": None})()

    def __init__(self, text):
        self.text = text

    def trigger_words(self, path):
        raise RuntimeError(self.text)

    def library_page(self, **kw):
        return {"items": [], "total": 0}


def test_trigger_word_problems_in_html_are_escaped():
    from civkit.ui.context import UiContext
    from civkit.ui.views_library import LibraryView

    view = LibraryView(UiContext(_Failing(HOSTILE.format(port=1))))
    view._shown = {"x": {"path": "/m/x.safetensors", "name": "x"}}
    html, _ = view.pick("x")
    assert "<img" not in html and "&lt;img" in html


# -- in a browser ---------------------------------------------------------------------------------------

class _Pixel(BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802 - http.server's name
        _Pixel.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.end_headers()
        self.wfile.write(b"GIF89a")

    def log_message(self, *args):
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
def test_a_hostile_model_name_renders_as_text_and_fires_no_pixel(fake_civitai, tmp_path):
    pytest.importorskip("gradio")
    pytest.importorskip("playwright.sync_api")  # the gradio3/gradio4 venvs have no Playwright
    from playwright.sync_api import sync_playwright
    from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS

    from civkit.config import load_config
    from civkit.hosts.standalone import StandaloneHost
    from civkit.service import CivkitService
    from civkit.ui.app import launch_ui

    pixel = ThreadingHTTPServer(("127.0.0.1", 0), _Pixel)
    threading.Thread(target=pixel.serve_forever, daemon=True).start()
    _Pixel.hits.clear()
    name = HOSTILE.format(port=pixel.server_address[1])
    model = fake_civitai.catalog.model(101)
    saved = (model["name"], [dict(v) for v in model["modelVersions"]])
    model["name"] = name
    for v in model["modelVersions"]:
        v["trainedWords"] = [name]
    models = tmp_path / "models"
    models.mkdir()
    service = CivkitService(load_config(api_base=fake_civitai.base_url), StandaloneHost(models))
    ui, url = launch_ui(service, port=_free_port(), block=False)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(url)
            page.locator("#civkit_ref textarea, #civkit_ref input").first.fill("101")
            page.locator("#civkit_open_btn").first.click()
            page.wait_for_function("() => document.querySelector('#civkit_details').innerText.includes('Evil <img')",
                                   timeout=WAIT_MS)
            page.locator("#civkit_download_btn").first.click()
            page.wait_for_function(
                "() => document.querySelector('#civkit_download_status').innerText.includes('Done.')", timeout=WAIT_MS)
            status = page.locator("#civkit_download_status")
            text = status.inner_text()
            assert "Evil <img src=" in text and "![x](http://127.0.0.1:" in text and "`tick` *bold*" in text
            assert status.locator("img").count() == 0 and status.locator("a").count() == 0
            page.screenshot(path=str(tmp_path / "hostile-name.png"))
            browser.close()
    finally:
        ui.blocks.close()
        service.close()
        model["name"], model["modelVersions"] = saved[0], saved[1]
        pixel.shutdown()
    assert _Pixel.hits == []



class _CareService(_Failing):
    def bundle_info(self, path):
        name = HOSTILE.format(port=1)
        return {"name": name, "sidecars": [name + ".json"]}

    def rename_file(self, path, new_name):
        raise RuntimeError(HOSTILE.format(port=1))


def test_library_care_lines_are_escaped():
    """The care view (rename, move, delete, restore) shows file names and messages as text too."""
    from types import SimpleNamespace

    from civkit.ui.context import UiContext
    from civkit.ui.views_care import CareView

    library = SimpleNamespace(_shown={"x": {"path": "/m/x.safetensors", "name": "x"}}, _find=lambda label: None)
    view = CareView(UiContext(_CareService("unused")), library)
    question, _ = view.ask_delete("x")
    _no_markup(question, "Evil")
    _no_markup(view.rename("x", "y", "")[0], "Evil")
