"""Rename a LoRA in the ComfyUI sidebar (headless Chromium) and it shows under its new name in the
LoraLoader dropdown, which the stand-in frontend refills from /api/object_info as ComfyUI's does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiohttp import web
from comfyui_harness import comfy_fixture, install_service, load_pack_into  # noqa: F401 - fixture
from test_comfyui_browser import CHROMIUM, CHROMIUM_ARGS, _page_app

pytestmark = pytest.mark.browser


@pytest.fixture
def shots(tmp_path):
    import os

    folder = Path(os.environ.get("CIVKIT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_rename_in_the_sidebar_reaches_the_lora_loader_dropdown(comfy, fake_civitai, aiohttp_server, shots):
    from playwright.async_api import async_playwright

    pack = load_pack_into(comfy)
    service = install_service(comfy, pack, fake_civitai.base_url)
    loras = Path(comfy.folder_paths.get_folder_paths("loras")[0])
    shutil.copy(fake_civitai.catalog.files[10110], loras / "anime_lineart_v2.safetensors")
    service.scan_library()
    app = _page_app(comfy)

    async def object_info(request):  # what ComfyUI's core LoraLoader.INPUT_TYPES gives the frontend
        return web.json_response({"LoraLoader": {"input": {"required": {
            "lora_name": [comfy.folder_paths.get_filename_list("loras")]}}}})

    app.router.add_get("/api/object_info", object_info)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 900}, color_scheme="dark")
        errors: list = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        async def only_loopback(route):
            if route.request.url.startswith((base, fake_civitai.base_url)):
                await route.continue_()
            else:
                errors.append(f"blocked {route.request.url}")
                await route.abort()

        await page.route("**/*", only_loopback)
        await page.goto(base + "/")
        await page.wait_for_function("window.__ready === true")
        await page.evaluate("window.__objectInfo = true; window.__refreshCombos()")
        dropdown = page.locator("#combo-lora_name")
        assert await dropdown.locator("option").all_inner_texts() == ["anime_lineart_v2.safetensors"]

        page.on("dialog", lambda dialog: dialog.dismiss())
        await page.click("#sidebar-civkit")
        await page.click(".civkit-tab[data-tab='library']")
        entry = page.locator(".civkit-entry", has_text="anime_lineart_v2.safetensors")
        await entry.get_by_role("button", name="Manage").click()
        await entry.locator(".civkit-care").wait_for()
        groups = await entry.locator(".civkit-care-group").all_inner_texts()
        assert [g.strip() for g in groups] == ["animelineart", "clean lineart"]
        await page.screenshot(path=str(shots / "comfyui-care-1-card.png"))
        await entry.locator("input[aria-label='New name']").fill("lineart-ink")
        await entry.get_by_role("button", name="Rename").click()
        await page.wait_for_function("window.__app.extensionManager.toasts.some(t => t.summary === 'Renamed')")
        # the server told the frontend to reload the node definitions; the dropdown has the new name
        await page.wait_for_function(
            "[...document.querySelectorAll('#combo-lora_name option')].map(o => o.value).join() === 'lineart-ink.safetensors'")
        await page.locator(".civkit-entry", has_text="lineart-ink.safetensors").wait_for()
        assert not await page.locator(".civkit-entry", has_text="anime_lineart_v2.safetensors").count()
        await page.screenshot(path=str(shots / "comfyui-care-2-renamed.png"))
        assert (loras / "lineart-ink.safetensors").is_file() and (loras / "lineart-ink.civitai.info").is_file()
        assert not (loras / "anime_lineart_v2.safetensors").exists()
        await browser.close()
    assert errors == []
