"""Batches in the gradio app (issue 11), in headless Chromium against ``civkit ui --demo``: a model's
"all versions" plan with a checklist, then Library → Updates with one "Download N updates" button;
both show the plan first and the progress per file and overall."""

from __future__ import annotations

import pytest
from test_ui_browser import SHOTS, WAIT_MS, _card, _tab, _text, _wait_text, demo_app, page  # noqa: F401

pytestmark = pytest.mark.browser


def _button_text(pg, selector: str, text: str) -> None:
    pg.wait_for_function(
        "([sel, txt]) => { const el = document.querySelector(sel); return !!el && el.innerText.startsWith(txt); }",
        arg=[selector, text], timeout=WAIT_MS)


def test_all_versions_plan_then_updates(demo_app, page):  # noqa: F811
    url, home = demo_app
    lora = home / "demo" / "models" / "Lora"
    page.goto(url)
    page.wait_for_selector("#civkit_query textarea, #civkit_query input", timeout=WAIT_MS)
    page.locator("#civkit_query textarea, #civkit_query input").first.fill("anime lineart")
    page.locator("#civkit_nsfw input").check()
    page.locator("#civkit_search_btn").click()
    _card(page, 101).wait_for(timeout=WAIT_MS)
    _card(page, 101).click()
    _wait_text(page, "#civkit_details", "animelineart")

    # "all versions": the plan (sizes, what you already have) before anything is fetched
    page.locator("#civkit_all_versions input").check()
    page.locator("#civkit_plan_many_btn").click()
    _wait_text(page, "#civkit_many_plan", "anime_lineart_v1.safetensors")
    plan = _text(page, "#civkit_many_plan")
    assert "anime_lineart_v2.safetensors" in plan and "2 to download" in plan
    assert page.locator("#civkit_many_checklist input:checked").count() == 2  # all ticked
    _button_text(page, "#civkit_many_go", "Download 2 files (2.6 MB)")
    page.screenshot(path=str(SHOTS / "batch-1-all-versions-plan.png"), full_page=True)
    assert not lora.exists() or not list(lora.glob("anime_lineart_*"))  # nothing fetched yet

    # untick v2.0, download only v1.0: afterwards the Library has an update to offer
    page.locator("#civkit_many_checklist label", has_text="anime_lineart_v2.safetensors").locator("input").uncheck()
    _button_text(page, "#civkit_many_go", "Download 1 file (301 KB)")
    page.locator("#civkit_many_go").click()
    _wait_text(page, "#civkit_many_note", "Finished: 1 of 1 files verified")
    assert "1 / 1 files" in _text(page, "#civkit_many_progress")
    assert "✓ verified" in _text(page, "#civkit_many_progress")
    page.screenshot(path=str(SHOTS / "batch-2-all-versions-done.png"), full_page=True)
    assert (lora / "anime_lineart_v1.safetensors").is_file()
    assert not (lora / "anime_lineart_v2.safetensors").exists()

    # Library → Updates: a checklist (all ticked) and one button
    _tab(page, "Library")
    page.locator("#civkit_updates_btn").click()
    _wait_text(page, "#civkit_updates_plan", "anime_lineart_v2.safetensors")
    assert "1 of 1 linked models have a newer version" in _text(page, "#civkit_updates_plan")
    _button_text(page, "#civkit_updates_go", "Download 1 update (2.3 MB)")
    page.screenshot(path=str(SHOTS / "batch-3-updates-plan.png"), full_page=True)
    page.locator("#civkit_updates_go").click()
    _wait_text(page, "#civkit_updates_note", "Finished: 1 of 1 files verified")
    page.screenshot(path=str(SHOTS / "batch-4-updates-done.png"), full_page=True)
    assert (lora / "anime_lineart_v2.safetensors").is_file() and (lora / "anime_lineart_v1.safetensors").is_file()
