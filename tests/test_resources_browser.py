"""The "This workflow" view of the civkit sidebar in headless Chromium (issue 10).

A workflow that needs a LoRA and a VAE that are not on disk is loaded: a toast says so, the view
lists them as missing, "Download missing" fetches them into the model folders, the LoRA loader's
widget takes the downloaded file's name, and the prompt then queues (the stand-in's /prompt checks
every loader's file against folder_paths like ComfyUI does). Screenshots go to $CIVKIT_SCREENSHOTS.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from aiohttp import web
from comfyui_harness import comfy_fixture, install_service, load_pack_into  # noqa: F401 - fixture
from test_comfyui_browser import CHROMIUM, CHROMIUM_ARGS, _page_app

from civkit.testing.images import png_with_text

pytestmark = pytest.mark.browser

LOADERS = {"CheckpointLoaderSimple": ("ckpt_name", "checkpoints"), "LoraLoader": ("lora_name", "loras"),
           "VAELoader": ("vae_name", "vae")}


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("CIVKIT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _prompt_route(env):
    async def prompt(request):  # ComfyUI validates combo values against the folder lists
        body = await request.json()
        errors = {}
        for node_id, node in body["prompt"].items():
            if node["class_type"] in LOADERS:
                widget, key = LOADERS[node["class_type"]]
                if node["inputs"][widget] not in env.folder_paths.get_filename_list(key):
                    errors[node_id] = f"Value not in list: {widget}: '{node['inputs'][widget]}'"
        if errors:
            return web.json_response({"error": "Prompt outputs failed validation", "node_errors": errors}, status=400)
        return web.json_response({"prompt_id": "p-1", "number": 0})

    return prompt


def workflow(fake):
    def entry(file_id, version_id, directory):
        f = fake.catalog.find_file(file_id)[2]
        return {"name": f["name"], "url": f"{fake.base_url}/api/download/models/{version_id}?fileId={file_id}",
                "hash": f["hashes"]["SHA256"].lower(), "hash_type": "sha256", "directory": directory}

    lora = entry(10600, 1060, "loras")
    lora["name"] = "styles/cinematic.safetensors"  # the sharer's own name for it: the widget gets fixed
    return {"nodes": [
        {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["dreamforgeXL_v10.safetensors"]},
        {"id": 10, "type": "LoraLoader", "widgets_values": ["styles/cinematic.safetensors", 0.6, 0.6],
         "properties": {"models": [lora]}},
        {"id": 11, "type": "VAELoader", "widgets_values": ["clear_vae_xl.safetensors"],
         "properties": {"models": [entry(11100, 1110, "vae")]}},
        {"id": 6, "type": "CLIPTextEncode", "widgets_values": ["cinematic lighting, a lighthouse"]},
        {"id": 7, "type": "CLIPTextEncode", "widgets_values": ["lowres"]},
        {"id": 3, "type": "KSampler", "widgets_values": [5, "fixed", 20, 7, "euler", "normal", 1]},
        {"id": 5, "type": "EmptyLatentImage", "widgets_values": [512, 512, 1]},
        {"id": 8, "type": "VAEDecode", "widgets_values": []},
        {"id": 9, "type": "SaveImage", "widgets_values": ["ComfyUI"]},
    ], "links": [], "version": 0.4}


@pytest.fixture
async def page_env(comfy, fake_civitai, aiohttp_server):
    from playwright.async_api import async_playwright

    pack = load_pack_into(comfy)
    comfy.service = install_service(comfy, pack, fake_civitai.base_url)
    comfy.fake = fake_civitai
    app = _page_app(comfy)
    app.router.add_post("/api/prompt", _prompt_route(comfy))
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await (await browser.new_context(viewport={"width": 1100, "height": 860}, color_scheme="dark")).new_page()
        errors: list = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

        async def only_loopback(route):
            if route.request.url.startswith((base, fake_civitai.base_url)):
                await route.continue_()
            else:
                errors.append(f"blocked request to {route.request.url}")
                await route.abort()

        await page.route("**/*", only_loopback)
        await page.goto(base + "/")
        await page.wait_for_function("window.__ready === true")
        comfy.page, comfy.errors = page, errors
        try:
            yield comfy
        finally:
            await browser.close()


async def test_load_workflow_download_missing_then_queue(page_env, shots):
    env, page = page_env, page_env.page
    ckpt_dir = env.folder_paths.get_folder_paths("checkpoints")[0]
    shutil.copy(env.fake.catalog.files[10700], f"{ckpt_dir}/dreamforgeXL_v10.safetensors")  # already there

    await page.evaluate("wf => window.__app.loadGraphData(wf)", workflow(env.fake))
    await page.wait_for_function("window.__app.extensionManager.toasts.some(t => /needs 2 model files/.test(t.summary))")
    toast = await page.evaluate("window.__app.extensionManager.toasts.at(-1)")
    assert "This workflow" in toast["detail"] and "2 files" in toast["detail"]
    before = await page.evaluate("window.__app.queuePrompt()")
    assert before["status"] == 400 and set(before["body"]["node_errors"]) == {"10", "11"}
    assert len(env.errors) == 1 and "400" in env.errors[0]  # Chromium logs the refused POST
    env.errors.clear()

    await page.click("#sidebar-civkit")
    await page.click(".civkit-tab[data-tab='workflow']")
    await page.wait_for_selector(".civkit-need[data-kind='vae']")
    status = await page.eval_on_selector_all(".civkit-need", "els => els.map(e => [e.dataset.kind, e.dataset.status])")
    assert sorted(status) == [["checkpoint", "present"], ["lora", "missing"], ["vae", "missing"]]
    button = page.locator(".civkit-resources .civkit-btn.primary")
    assert await button.inner_text() == "Download missing (2 files, 2.1 MB)"
    await page.screenshot(path=str(shots / "comfyui-resources-1-missing.png"))

    await button.click()
    await page.wait_for_function(
        "[...document.querySelectorAll('.civkit-need')].length === 3 && "
        "[...document.querySelectorAll('.civkit-need')].every(e => e.dataset.status === 'present')", timeout=60000)
    assert await button.inner_text() == "Everything is on disk"
    await page.wait_for_function("window.__app.extensionManager.toasts.some(t => t.summary === 'Models downloaded')")
    # the LoRA arrived under Civitai's name: the widget now names it, and the node records its source
    lora = await page.evaluate("window.__app.graph.getNodeById(10)")
    assert lora["widgets"][0]["value"] == "cinematic_light_dora.safetensors"
    sha = env.fake.catalog.find_file(10600)[2]["hashes"]["SHA256"].lower()
    assert {"name": "cinematic_light_dora.safetensors", "directory": "loras", "hash": sha, "hash_type": "sha256",
            "url": f"{env.fake.base_url}/api/download/models/1060?fileId=10600"} in lora["properties"]["models"]
    vae = await page.evaluate("window.__app.graph.getNodeById(11)")
    assert all(m.get("url") for m in vae["properties"]["models"])
    await page.screenshot(path=str(shots / "comfyui-resources-2-present.png"))

    queued = await page.evaluate("window.__app.queuePrompt()")
    assert queued == {"status": 200, "body": {"prompt_id": "p-1", "number": 0}}
    assert env.errors == []


async def test_a_dropped_image_and_an_ambiguous_choice(page_env, shots, tmp_path):
    env, page = page_env, page_env.page
    await page.click("#sidebar-civkit")
    await page.click(".civkit-tab[data-tab='workflow']")
    # a ComfyUI PNG whose VAE is named only: a choice, then a download
    import json

    from civkit.testing.demo_images import comfy_workflow

    prompt, wf = comfy_workflow(env.fake.catalog, env.fake.base_url)
    png = tmp_path / "shared.png"
    png.write_bytes(png_with_text({"prompt": json.dumps(prompt), "workflow": json.dumps(wf)}))
    await page.set_input_files(".civkit-resources input[type=file]", str(png))
    await page.wait_for_selector(".civkit-need[data-status='ambiguous']")
    assert await page.locator(".civkit-res-source").inner_text() == "shared.png"
    await page.screenshot(path=str(shots / "comfyui-resources-3-image.png"))
    row = page.locator(".civkit-need[data-status='ambiguous']")
    assert "Clear VAE XL" in await row.locator("select").inner_text()
    await row.get_by_role("button", name="Use this").click()
    await page.wait_for_selector(".civkit-need[data-kind='vae'][data-status='missing']")
    button = page.locator(".civkit-resources .civkit-btn.primary")
    assert (await button.inner_text()).startswith("Download missing (4 files")
    await button.click()
    await page.wait_for_function("[...document.querySelectorAll('.civkit-need')]"
                                 ".every(e => e.dataset.status === 'downloaded')", timeout=60000)
    vae_dir = env.folder_paths.get_folder_paths("vae")[0]
    assert (env.fake.catalog.files[11100].read_bytes() == open(f"{vae_dir}/clear_vae_xl.safetensors", "rb").read())
    await page.screenshot(path=str(shots / "comfyui-resources-4-image-downloaded.png"))
    assert env.errors == []
