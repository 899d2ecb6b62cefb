"""Issue 13 item 17 in the ComfyUI sidebar (real Chromium): a file Civitai lists no hash for is
shown "unverified" on its card and in a warning toast, never as a plain verified download."""

from __future__ import annotations

from pathlib import Path

from comfyui_harness import comfy_fixture  # noqa: F401 - fixture
from test_comfyui_browser import browser_page, shots  # noqa: F401 - fixtures
from test_unverified import _publish


async def test_the_sidebar_marks_a_download_without_hashes_unverified(browser_page, shots, tmp_path):  # noqa: F811
    env, page = browser_page, browser_page.page
    _publish(env.fake, tmp_path, "Fresh Upload Lora", {})
    await page.click("#sidebar-civkit")
    await page.fill("input[aria-label='Search Civitai']", "fresh upload")
    await page.press("input[aria-label='Search Civitai']", "Enter")
    card = page.locator(".civkit-card", has_text="Fresh Upload Lora")
    await card.get_by_role("button", name="Download").click()
    done = card.get_by_role("button", name="✓ In library (unverified)")
    await done.wait_for()
    note = await card.locator(".civkit-unverified").inner_text()
    assert "no hash" in note and "size" in note
    await page.wait_for_function(
        "window.__app.extensionManager.toasts.some(t => t.summary === 'Downloaded, not verified')")
    toasts = await page.evaluate("window.__app.extensionManager.toasts.map(t => [t.severity, t.summary])")
    assert ["warn", "Downloaded, not verified"] in toasts and not any(s == "Download finished" for _, s in toasts)
    assert (Path(env.folder_paths.get_folder_paths("loras")[0]) / "fresh_upload_lora.safetensors").is_file()
    await page.screenshot(path=str(shots / "comfyui-unverified.png"))
    assert env.errors == []
