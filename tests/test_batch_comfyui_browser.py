"""Batches in the ComfyUI sidebar (issue 11), in headless Chromium against the real routes and the emulator:
Library → Updates (a checklist, all ticked, one "Download N updates" button, then per-file and overall
progress), and a search card's "all files" / "all versions" plan."""

from __future__ import annotations

import hashlib

import pytest
from comfyui_harness import comfy_fixture  # noqa: F401 - fixture
from test_comfyui_browser import browser_page, shots  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


def _download_old_versions(env):
    service = env.service
    for ref, file_id in (("101@1010", None), ("126@1260", 12600), ("126@1260", 12601)):
        snap = service.wait_download(service.start_download(ref, file_id=file_id), timeout=60)
        assert snap["state"] == "done", snap
    service.scan_library(lookup=True)


async def test_library_updates_checklist_then_progress(browser_page, shots):  # noqa: F811
    env, page = browser_page, browser_page.page
    env.fake.catalog.add_batch_models()
    _download_old_versions(env)
    env.fake.request_log.clear()
    loras = env.base / "models" / "loras"
    await page.click("#sidebar-civkit")
    await page.click(".civkit-tab[data-tab='library']")
    await page.click("button:has-text('Updates')")
    await page.wait_for_selector(".civkit-plan-go")
    rows = page.locator(".civkit-plan-row")
    assert await rows.count() == 3
    assert await page.locator(".civkit-plan-row input[type=checkbox]:checked").count() == 3  # all ticked
    names = await page.eval_on_selector_all(".civkit-plan-row .civkit-name", "els => els.map(e => e.textContent)")
    assert sorted(names) == ["anime_lineart_v2.safetensors", "pixel_art_kit_v2.safetensors",
                             "pixel_art_kit_v2_fp32.safetensors"]
    button = page.locator(".civkit-plan-go")
    assert (await button.text_content()).startswith("Download 3 updates (2.7 MB)")
    assert "nothing is downloaded" not in (await page.locator(".civkit-updates").text_content())
    assert env.fake.count("/storage/") == 0  # the plan fetched nothing
    await page.screenshot(path=str(shots / "comfyui-batch-1-updates-plan.png"))

    await page.uncheck("input[aria-label='Download pixel_art_kit_v2_fp32.safetensors']")
    assert (await button.text_content()).startswith("Download 2 updates")
    await button.click()
    overall = page.locator(".civkit-batch-overall .label")
    await page.wait_for_function(
        "document.querySelector('.civkit-batch-overall .label')?.textContent.startsWith('2 / 2 files')",
        timeout=60000)
    assert "2 / 2 files" in await overall.text_content()
    states = await page.eval_on_selector_all(".civkit-batch-file", "els => els.map(e => e.dataset.state)")
    assert states == ["done", "done"]
    await page.screenshot(path=str(shots / "comfyui-batch-2-updates-done.png"))
    assert (loras / "anime_lineart_v2.safetensors").exists() and (loras / "pixel_art_kit_v2.safetensors").exists()
    assert not (loras / "pixel_art_kit_v2_fp32.safetensors").exists()  # unticked
    assert (loras / "anime_lineart_v1.safetensors").exists()  # the old one stays (no replace from here)
    assert env.errors == []


async def test_search_card_all_versions_all_files_shows_the_plan_first(browser_page, shots):  # noqa: F811
    env, page = browser_page, browser_page.page
    env.fake.catalog.add_batch_models()
    snap = env.service.wait_download(env.service.start_download("126@1260"), timeout=60)
    assert snap["state"] == "done"
    await page.click("#sidebar-civkit")
    await page.fill("input[aria-label='Search Civitai']", "pixel")
    await page.press("input[aria-label='Search Civitai']", "Enter")
    card = page.locator(".civkit-card", has_text="Pixel Art Kit")
    await card.wait_for()
    await card.locator("input[aria-label='all files']").check()
    await card.locator("input[aria-label='all versions']").check()
    await card.locator("button:has-text('Plan download')").click()
    await card.locator(".civkit-plan-go").wait_for()
    actions = await card.locator(".civkit-plan-row").evaluate_all("els => els.map(e => e.dataset.action)")
    assert actions == ["download", "download", "have", "download"]  # v2 fp16, v2 fp32, v1 fp16 (have), v1 fp32
    assert "already in library" in await card.locator(".civkit-plan-row.have").text_content()
    assert (await card.locator(".civkit-plan-go").text_content()).startswith("Download 3 files")
    await card.screenshot(path=str(shots / "comfyui-batch-3-card-plan.png"))
    await card.locator(".civkit-plan-go").click()
    await page.wait_for_function(
        "[...document.querySelectorAll('.civkit-batch-overall .label')].some(e => e.textContent.startsWith('3 / 3'))",
        timeout=60000)
    loras = env.base / "models" / "loras"
    for name in ("pixel_art_kit_v2.safetensors", "pixel_art_kit_v2_fp32.safetensors",
                 "pixel_art_kit_v1_fp32.safetensors"):
        f = next(f for v in env.fake.catalog.model(126)["modelVersions"] for f in v["files"] if f["name"] == name)
        assert sha256_of(loras / name) == f["hashes"]["SHA256"]
    await card.screenshot(path=str(shots / "comfyui-batch-4-card-done.png"))
    assert env.errors == []


async def test_plan_route_refuses_paths_and_unknown_kinds(browser_page):  # noqa: F811
    page = browser_page.page
    for body, words in (({"kind": "updates", "path": "/etc"}, "takes no path"),
                        ({"kind": "favorites"}, "kind must be one of"),
                        ({"kind": "refs", "refs": ["https://evil.example/models/1"]}, "Civitai"),
                        ({"kind": "refs", "refs": []}, "refs must be")):
        answer = await page.evaluate("""async (body) => {
            const r = await fetch('/api/civkit/batches/plan', {method: 'POST', body: JSON.stringify(body),
                                                                headers: {'Content-Type': 'application/json'}});
            return [r.status, (await r.json()).error];
        }""", body)
        assert answer[0] == 400 and words in answer[1], answer
