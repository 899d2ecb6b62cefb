"""The ComfyUI sidebar shows creator-written names as text (issue 13 item 11): a model whose name and
trigger words carry an ``<img>`` tracking pixel and a Markdown image fires no request."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest
from comfyui_harness import comfy_fixture  # noqa: F401 - fixture
from test_comfyui_browser import browser_page  # noqa: F401 - fixture
from test_ui_escaping import HOSTILE, _Pixel


@pytest.mark.browser
async def test_the_comfyui_sidebar_shows_a_hostile_name_as_text(browser_page, fake_civitai):  # noqa: F811
    pixel = ThreadingHTTPServer(("127.0.0.1", 0), _Pixel)
    threading.Thread(target=pixel.serve_forever, daemon=True).start()
    _Pixel.hits.clear()
    name = HOSTILE.format(port=pixel.server_address[1])
    model = fake_civitai.catalog.model(101)
    saved = (model["name"], [dict(v) for v in model["modelVersions"]])
    model["name"] = name
    for v in model["modelVersions"]:
        v["trainedWords"] = [name]
    page = browser_page.page
    try:
        await page.click("#sidebar-civkit")
        await page.fill("input[aria-label='Search Civitai']", "anime")
        await page.check("input[aria-label='Include NSFW']")
        await page.press("input[aria-label='Search Civitai']", "Enter")
        card = page.locator(".civkit-card", has_text="Evil <img")
        await card.wait_for()
        assert name in await card.locator(".civkit-name").inner_text()
        assert await page.locator(".civkit-panel img[src*='pixel']").count() == 0
        assert await page.locator(".civkit-panel a[href*='pixel']").count() == 0
    finally:
        model["name"], model["modelVersions"] = saved
        pixel.shutdown()
    assert _Pixel.hits == []
    # the loopback-only router of the fixture would also have reported a request to the pixel port
    assert [e for e in browser_page.errors if "pixel" in e] == []
