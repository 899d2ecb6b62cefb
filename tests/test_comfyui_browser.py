"""The civkit sidebar in headless Chromium, against the real routes and the Civitai emulator.

The page is a minimal ComfyUI stand-in (``tests/comfy_standins/web``): ``/scripts/app.js`` and
``/scripts/api.js`` give the public frontend APIs civkit uses, ``/api/extensions`` lists every
``.js`` under the pack's web directory (the frontend imports each one), and a websocket carries
``send_sync`` events as ComfyUI's socket does. The pack is served under a folder name with a dash,
so nothing may hard-code ``/extensions/civkit/``.

Screenshots go to ``$CIVKIT_SCREENSHOTS`` (default: the test's tmp_path).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web
from comfyui_harness import REPO, STANDINS, comfy_fixture, install_service, load_pack_into, mount_comfy_routes  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PACK_URL = "/extensions/civkit-pack"
WEB = REPO / "javascript" / "comfyui"


def _page_app(env) -> web.Application:
    app = web.Application()
    mount_comfy_routes(env, app)
    sockets: set = set()
    loop = asyncio.get_running_loop()

    def forward(event, data, sid):  # called from worker threads, like ComfyUI's send_sync
        text = json.dumps({"type": event, "data": data})
        loop.call_soon_threadsafe(lambda: [loop.create_task(ws.send_str(text)) for ws in list(sockets)])

    env.server.add_listener(forward)

    async def index(request):
        return web.FileResponse(STANDINS / "web" / "index.html")

    async def script(request):
        return web.FileResponse(STANDINS / "web" / request.match_info["name"],
                                headers={"Content-Type": "text/javascript"})

    async def extensions(request):
        # ComfyUI globs **/*.js in each WEB_DIRECTORY and the frontend imports every hit.
        files = sorted(p.relative_to(WEB).as_posix() for p in WEB.rglob("*.js"))
        return web.json_response([f"{PACK_URL}/{f}" for f in files])

    async def ws_handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            sockets.discard(ws)
        return ws

    app.router.add_get("/", index)
    app.router.add_get("/scripts/{name}", script)
    app.router.add_get("/api/extensions", extensions)
    app.router.add_get("/ws", ws_handler)
    app.router.add_static(PACK_URL, WEB)
    return app


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("CIVKIT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def browser_page(comfy, fake_civitai, aiohttp_server):
    from playwright.async_api import async_playwright

    pack = load_pack_into(comfy)
    comfy.service = install_service(comfy, pack, fake_civitai.base_url)
    comfy.fake = fake_civitai
    server = await aiohttp_server(_page_app(comfy))
    base = f"http://127.0.0.1:{server.port}"
    allowed = (base, fake_civitai.base_url)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1100, "height": 860}, color_scheme="dark")
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page = await context.new_page()
        errors: list = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

        async def only_loopback(route):  # nothing leaves the machine, not even an image
            if route.request.url.startswith(allowed):
                await route.continue_()
            else:
                errors.append(f"blocked request to {route.request.url}")
                await route.abort()

        await page.route("**/*", only_loopback)
        await page.goto(base + "/")
        await page.wait_for_function("window.__ready === true")
        comfy.page, comfy.errors, comfy.base_url = page, errors, base
        try:
            yield comfy
        finally:
            await browser.close()


async def test_search_download_with_progress_then_library_with_trigger_words(browser_page, shots):
    env, page = browser_page, browser_page.page
    # every module under the web directory was imported; only the entry registered anything
    assert await page.evaluate("window.__app.extensions.map(e => e.name)") == ["civkit.sidebar"]
    await page.click("#sidebar-civkit")
    await page.wait_for_selector(".civkit-panel")

    # --- search (with NSFW on: the mature "Anime Lineart Style" is the one we download)
    await page.fill("input[aria-label='Search Civitai']", "anime")
    await page.check("input[aria-label='Include NSFW']")
    await page.press("input[aria-label='Search Civitai']", "Enter")
    await page.wait_for_function("document.querySelectorAll('.civkit-card').length >= 3")
    names = await page.eval_on_selector_all(".civkit-card .civkit-name", "els => els.map(e => e.textContent)")
    assert "Anime Lineart Style" in names and "Pony Anime Shading" in names
    card = page.locator(".civkit-card", has_text="Anime Lineart Style")
    link = card.locator("a.civkit-name")
    assert await link.get_attribute("href") == f"{env.fake.base_url}/models/101"  # the configured site
    assert await link.get_attribute("rel") == "noopener noreferrer"
    await card.locator(".civkit-thumb img").evaluate(
        "i => i.complete && i.naturalWidth > 0 || new Promise(ok => i.addEventListener('load', ok))")
    await page.screenshot(path=str(shots / "comfyui-1-search.png"))

    # --- file picker lists the version's files (details fetched on demand)
    await card.locator("select[aria-label='File']").focus()
    await page.wait_for_function(
        "[...document.querySelectorAll('.civkit-card')].find(c => c.textContent.includes('Anime Lineart Style'))"
        ".querySelector(\"select[aria-label='File']\").textContent.includes('anime_lineart_v2.safetensors')")

    # --- download, slowed down so the progress bar has something to show
    env.fake.faults.chunk_size = 256 * 1024
    env.fake.faults.chunk_delay = 0.12
    await page.evaluate("""() => {
        window.__pcts = [];
        new MutationObserver(() => document.querySelectorAll('.civkit-progress[aria-valuenow]')
            .forEach(el => window.__pcts.push(Number(el.getAttribute('aria-valuenow')))))
          .observe(document.body, {subtree: true, childList: true, attributes: true});
    }""")
    await card.get_by_role("button", name="Download").click()
    await page.wait_for_function("window.__pcts.some(p => p > 0 && p < 100)")
    await page.screenshot(path=str(shots / "comfyui-2-downloading.png"))
    await card.get_by_role("button", name="✓ In library").wait_for()
    assert max(await page.evaluate("window.__pcts")) == 100
    path = Path(env.folder_paths.get_folder_paths("loras")[0]) / "anime_lineart_v2.safetensors"
    assert path.is_file()
    # the frontend was asked to reload node definitions so the LoRA shows in loader combos
    await page.wait_for_function("window.__app.extensionManager.commands.includes('Comfy.RefreshNodeDefinitions')")
    await page.wait_for_function("window.__app.extensionManager.toasts.some(t => t.summary === 'Download finished')")
    await page.screenshot(path=str(shots / "comfyui-3-downloaded.png"))

    # --- the Library view lists it with link status and its trigger words
    await page.click(".civkit-tab[data-tab='library']")
    entry = page.locator(".civkit-entry", has_text="anime_lineart_v2.safetensors")
    await entry.wait_for()
    assert "linked to Civitai" in await entry.inner_text()
    assert "SD 1.5" in await entry.inner_text()
    words = await entry.locator(".civkit-word").all_inner_texts()
    assert words == ["animelineart", "clean lineart"]
    await entry.locator(".civkit-word", has_text="clean lineart").click()
    await page.wait_for_function("window.__app.extensionManager.toasts.some(t => t.summary === 'Copied')")
    assert await page.evaluate("navigator.clipboard.readText()") == "clean lineart"
    await page.screenshot(path=str(shots / "comfyui-4-library.png"))
    await _check_executed_event_records_the_model_in_the_workflow(env, page)
    assert env.errors == []


async def _check_nsfw_previews_are_blurred_until_clicked(page, shots):
    await page.fill("input[aria-label='Search Civitai']", "boudoir")
    await page.check("input[aria-label='Include NSFW']")
    await page.press("input[aria-label='Search Civitai']", "Enter")
    thumb = page.locator(".civkit-card", has_text="Midnight Boudoir").locator(".civkit-thumb")
    await thumb.wait_for()
    assert await thumb.get_attribute("class") == "civkit-thumb nsfw"
    assert await thumb.locator("img").evaluate("i => getComputedStyle(i).filter") == "blur(14px)"
    await page.screenshot(path=str(shots / "comfyui-7-nsfw-blurred.png"))
    await thumb.click()
    assert await thumb.get_attribute("class") == "civkit-thumb"
    assert await thumb.locator("img").evaluate("i => getComputedStyle(i).filter") == "none"
    await page.uncheck("input[aria-label='Include NSFW']")


async def test_nsfw_blur_key_needed_download_retry_paging_and_error_toasts(browser_page, shots, civkit_home):
    env, page = browser_page, browser_page.page
    await page.click("#sidebar-civkit")
    await _check_nsfw_previews_are_blurred_until_clicked(page, shots)

    # a model that needs an API key: the download fails with the CLI's sentence, shown on the card
    await page.fill("input[aria-label='Search Civitai']", "pony")
    await page.press("input[aria-label='Search Civitai']", "Enter")
    card = page.locator(".civkit-card", has_text="Pony Anime Shading")
    await card.get_by_role("button", name="Download").click()
    await card.get_by_role("button", name="Retry download").wait_for()
    message = await card.locator(".civkit-error").inner_text()
    assert message.startswith("This model needs a Civitai API key")
    toast = await page.evaluate("window.__app.extensionManager.toasts.find(t => t.severity === 'error')")
    assert toast["detail"] == message
    await page.screenshot(path=str(shots / "comfyui-5-needs-key.png"))

    # the key goes in once, write-only
    await page.click(".civkit-tab[data-tab='settings']")
    await page.wait_for_function("document.querySelector('.civkit-settings .civkit-badge').textContent === 'not set'")
    await page.fill("input[aria-label='Civitai API key']", env.fake.api_key)
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_function("document.querySelector('.civkit-settings .civkit-badge').textContent === 'set'")
    assert await page.input_value("input[aria-label='Civitai API key']") == ""
    assert json.loads((civkit_home / "config.json").read_text())["api_key"] == env.fake.api_key
    assert env.fake.api_key not in await page.content()
    await page.screenshot(path=str(shots / "comfyui-6-settings.png"))

    # ... and the retry now works
    await page.click(".civkit-tab[data-tab='search']")
    await card.get_by_role("button", name="Retry download").click()
    await card.get_by_role("button", name="✓ In library").wait_for()
    assert (Path(env.folder_paths.get_folder_paths("loras")[0]) / "pony_anime_shading.safetensors").is_file()

    # browsing without a query pages with "Load more"
    await page.fill("input[aria-label='Search Civitai']", "")
    await page.press("input[aria-label='Search Civitai']", "Enter")
    more = page.get_by_role("button", name="Load more")
    await more.wait_for()
    first = await page.locator(".civkit-card").count()
    await more.click()
    await page.wait_for_function(f"document.querySelectorAll('.civkit-card').length > {first}")
    ids = await page.eval_on_selector_all(".civkit-card", "els => els.map(e => e.dataset.modelId)")
    assert len(ids) == len(set(ids))  # the next page, not the first one again

    # a search Civitai refuses: a toast with the CLI's plain message, no stack trace
    env.fake.faults.region_blocked = True
    await page.click(".civkit-tab[data-tab='search']")
    await page.fill("input[aria-label='Search Civitai']", "anime")
    await page.press("input[aria-label='Search Civitai']", "Enter")
    await page.wait_for_function("window.__app.extensionManager.toasts.some(t => t.summary === 'Search failed')")
    toast = await page.evaluate("window.__app.extensionManager.toasts.find(t => t.summary === 'Search failed')")
    expected = env.service.error_message(_region_blocked_error(env))
    assert toast["detail"] == expected and "Traceback" not in expected
    assert await page.inner_text(".civkit-search .civkit-note") == expected
    await page.screenshot(path=str(shots / "comfyui-8-error-toast.png"))


def _region_blocked_error(env):
    """The exception the service's own client raises for this fault (what the CLI would print)."""
    try:
        env.service.search("anime")
    except Exception as exc:  # the typed Civitai error
        return exc
    raise AssertionError("the emulator fault did not fail the search")


async def _check_executed_event_records_the_model_in_the_workflow(env, page):
    """A loader node's {"ui": {"civkit_models": ...}} lands in the node's properties.models."""
    entry = {"name": "anime_lineart_v2.safetensors", "url": "https://civitai.com/api/download/models/1011?token=x",
             "hash": "ab" * 32, "hash_type": "sha256", "directory": "loras", "air": "urn:air:sd1:lora:civitai:101@1011"}
    env.server.send_sync("executed", {"node": "7", "display_node": "7", "output": {"civkit_models": [entry]}})
    await page.wait_for_function("(window.__app.graph.getNodeById(7).properties.models || []).length === 1")
    models = await page.evaluate("window.__app.graph.getNodeById(7).properties.models")
    assert models == [{"name": "anime_lineart_v2.safetensors", "url": "https://civitai.com/api/download/models/1011",
                       "hash": "ab" * 32, "hash_type": "sha256", "directory": "loras"}]
    assert await page.evaluate("window.__app.graph.extra.civkit_air") == ["urn:air:sd1:lora:civitai:101@1011"]


async def test_a_large_library_pages_with_show_more_and_filters_on_the_server(browser_page, shots):
    from civkit.library import LibraryEntry

    env, page = browser_page, browser_page.page
    loras = Path(env.folder_paths.get_folder_paths("loras")[0])
    env.service.index.upsert_many([
        LibraryEntry(path=str(loras / f"style_{i:04d}.safetensors"), size=10, mtime_ns=i, inode=i,
                     sha256=f"{i:064X}", status="linked", model_name="Watercolor" if i % 50 == 0 else f"Style {i}",
                     base_model="SD 1.5", trained_words=[f"word{i}"])
        for i in range(450)])
    await page.click("#sidebar-civkit")
    await page.click(".civkit-tab[data-tab='library']")
    count = ".civkit-lib-count"
    await page.wait_for_function(f"document.querySelector('{count}').textContent === '200 of 450 files'")
    assert await page.locator(".civkit-entry").count() == 200
    more = page.get_by_role("button", name="Show more")
    await more.click()
    await page.wait_for_function(f"document.querySelector('{count}').textContent === '400 of 450 files'")
    await more.click()
    await page.wait_for_function(f"document.querySelector('{count}').textContent === '450 of 450 files'")
    assert await page.locator(".civkit-entry").count() == 450 and not await more.is_visible()
    names = await page.eval_on_selector_all(".civkit-entry .civkit-name", "els => els.map(e => e.textContent)")
    assert names == sorted(names) and len(set(names)) == 450  # pages joined in order, none twice

    # typing filters on the server (debounced): only the matching files, counted
    await page.fill("input[aria-label='Filter the library']", "WATERCOL")
    await page.wait_for_function(f"document.querySelector('{count}').textContent === '9 of 9 matching files'")
    assert await page.locator(".civkit-entry").count() == 9 and not await more.is_visible()
    await page.screenshot(path=str(shots / "comfyui-9-library-filter.png"))
    await page.fill("input[aria-label='Filter the library']", "no such model")
    await page.locator(".civkit-empty", has_text="No file in the library matches that filter.").wait_for()
    await page.fill("input[aria-label='Filter the library']", "")
    await page.wait_for_function(f"document.querySelector('{count}').textContent === '200 of 450 files'")
    assert await more.is_visible()
    assert env.errors == []


async def test_a_pickle_only_model_downloads_after_an_explicit_choice(browser_page, shots):
    env, page = browser_page, browser_page.page
    await page.click("#sidebar-civkit")
    await page.fill("input[aria-label='Search Civitai']", "retro")
    await page.press("input[aria-label='Search Civitai']", "Enter")
    card = page.locator(".civkit-card", has_text="Retro Dream")
    await card.get_by_role("button", name="Download").click()
    anyway = card.get_by_role("button", name="Download anyway")
    await anyway.wait_for()
    message = await card.locator(".civkit-error").inner_text()
    assert "can run code when it is loaded" in message and "--allow-unsafe" not in message
    checkpoints = Path(env.folder_paths.get_folder_paths("checkpoints")[0])
    assert not [p for p in checkpoints.iterdir() if p.suffix == ".ckpt"]  # refused: nothing written
    await page.screenshot(path=str(shots / "comfyui-9-pickle-choice.png"))
    await anyway.click()
    await card.get_by_role("button", name="✓ In library").wait_for()
    assert [p.suffix for p in checkpoints.iterdir() if p.suffix == ".ckpt"] == [".ckpt"]


async def test_search_says_how_many_results_strict_sfw_hid(browser_page, shots):
    """Issue 13 item 20: not a bare "No models match" when the SFW filter hid everything."""
    page = browser_page.page
    await page.click("#sidebar-civkit")
    await page.wait_for_selector(".civkit-panel")
    await page.fill("input[aria-label='Search Civitai']", "Anime Eyes")  # only 102: PG | X
    await page.press("input[aria-label='Search Civitai']", "Enter")
    await page.wait_for_function("document.querySelector('.civkit-search .civkit-note').textContent.includes('hidden')")
    status = await page.text_content(".civkit-search .civkit-note")
    assert "1 model hidden by the strict SFW filter" in status and "Show NSFW" in status
    assert await page.locator(".civkit-card").count() == 0
    await page.screenshot(path=str(shots / "comfyui-sfw-hidden.png"))
    await page.check("input[aria-label='Include NSFW']")
    await page.wait_for_function("document.querySelectorAll('.civkit-card').length == 1")
    assert "hidden" not in await page.text_content(".civkit-search .civkit-note")
