"""Delete in the gradio Library (``civkit ui --demo`` in headless Chromium): the confirmation names the
sidecars, the file is gone from the list and present in the trash, and a restore brings it back."""

from __future__ import annotations

import os
import re

import pytest
from test_ui_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOTS,
    WAIT_MS,
    _app_python,
    _free_port,
    _pick,
    _serving,
    _tab,
    _wait_text,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_with_a_lora(tmp_path):
    home = tmp_path / "home"
    lora = home / "demo" / "models" / "Lora"
    lora.mkdir(parents=True)
    (lora / "my_style.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"\0" * 64)
    (lora / "my_style.json").write_text('{"notes": "mine"}')
    (lora / "my_style.preview.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    env = dict(os.environ, CIVKIT_HOME=str(home), GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    for name in ("CIVITAI_API_KEY", "CIVITAI_TOKEN", "CIVKIT_API_BASE"):
        env.pop(name, None)
    cmd = [_app_python(), "-m", "civkit.cli.main", "ui", "--demo", "--port", str(_free_port())]
    with _serving(cmd, "civkit UI: ", "civkit ui --demo printed no URL", cwd=tmp_path, env=env) as url:
        yield url, lora


def test_delete_in_the_library_goes_to_the_trash(demo_with_a_lora):
    from playwright.sync_api import sync_playwright

    url, lora = demo_with_a_lora
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.goto(url)
        page.wait_for_selector("#civkit_query textarea, #civkit_query input", timeout=WAIT_MS)
        _tab(page, "Library")
        page.locator("#civkit_scan_btn").click()
        _wait_text(page, "#civkit_library", "my_style.safetensors")
        _pick(page, "civkit_lib_pick", "my_style.safetensors")
        _wait_text(page, "#civkit_care_card", "my_style.json")
        page.locator("#civkit_care_delete").click()
        _wait_text(page, "#civkit_care_message", "my_style.preview.png")
        message = page.locator("#civkit_care_message").first.inner_text()
        assert "my_style.json" in message and "trash" in message
        assert (lora / "my_style.safetensors").exists()  # nothing happens before the confirmation
        page.screenshot(path=str(SHOTS / "care-1-confirm.png"), full_page=True)
        page.locator("#civkit_care_confirm").click()
        _wait_text(page, "#civkit_care_message", "Moved to the trash as")
        page.wait_for_function(
            "() => !document.querySelector('#civkit_library').innerText.includes('my_style.safetensors')",
            timeout=WAIT_MS)
        _wait_text(page, "#civkit_trash", "my_style.safetensors")
        page.screenshot(path=str(SHOTS / "care-2-trashed.png"), full_page=True)
        assert not (lora / "my_style.safetensors").exists() and not (lora / "my_style.json").exists()
        trashed = sorted(p.name for p in (lora / ".civkit-trash").rglob("*.civkit-trashed"))
        assert trashed == ["00-my_style.safetensors.civkit-trashed", "01-my_style.json.civkit-trashed",
                           "02-my_style.preview.png.civkit-trashed"]
        item_id = re.search(r"trash as (\S+)", page.locator("#civkit_care_message").first.inner_text()).group(1)
        page.locator("#civkit_trash_id textarea, #civkit_trash_id input").first.fill(item_id)
        page.locator("#civkit_trash_restore").click()
        _wait_text(page, "#civkit_care_message", "Restored")
        _wait_text(page, "#civkit_library", "my_style.safetensors")
        assert (lora / "my_style.json").read_text() == '{"notes": "mine"}'
        browser.close()
