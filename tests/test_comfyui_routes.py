"""civkit's ComfyUI routes on a bare aiohttp app, against the Civitai emulator.

The pack is loaded as ComfyUI loads it; the routes it declared on the stand-in
``PromptServer.instance.routes`` are mounted twice (as written and under /api), like ComfyUI does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from aiohttp import web
from comfyui_harness import comfy_fixture, install_service, load_pack_into, mount_comfy_routes  # noqa: F401 - fixture


@pytest.fixture
async def civkit(comfy, fake_civitai, aiohttp_client):
    pack = load_pack_into(comfy)
    service = install_service(comfy, pack, fake_civitai.base_url)
    app = mount_comfy_routes(comfy, web.Application())
    client = await aiohttp_client(app)
    comfy.client = client
    comfy.service = service
    comfy.fake = fake_civitai
    comfy.loras = Path(comfy.folder_paths.get_folder_paths("loras")[0])
    return comfy


def _tree(root: Path) -> list:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


async def _wait_download(env, task_id):
    for _ in range(600):
        resp = await env.client.get("/api/civkit/downloads")
        tasks = {t["id"]: t for t in (await resp.json())["downloads"]}
        if tasks[task_id]["state"] in ("done", "skipped", "failed", "cancelled"):
            return tasks[task_id]
        await asyncio.sleep(0.05)
    raise AssertionError("download did not finish")


async def test_search_pages_with_cursors_on_both_mounts(civkit):
    params = {"query": "anime", "limit": "1", "nsfw": "true"}
    resp = await civkit.client.get("/api/civkit/search", params=params)
    assert resp.status == 200
    first = await resp.json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    resp = await civkit.client.get("/civkit/search", params={**params, "cursor": first["next_cursor"]})
    second = await resp.json()
    assert second["items"] and second["items"][0]["id"] != first["items"][0]["id"]
    names = {i["name"] for i in first["items"] + second["items"]}
    assert all("anime" in n.lower() for n in names)


async def test_strict_sfw_search_leaves_out_mature_models(civkit):
    resp = await civkit.client.get("/api/civkit/search", params={"query": "anime", "limit": "20"})
    items = (await resp.json())["items"]
    assert items and all(not i["nsfw"] for i in items)
    assert "Spicy Anime Mix" not in {i["name"] for i in items}


async def test_search_filters_reach_civitai(civkit):
    resp = await civkit.client.get("/api/civkit/search", params={"types": "Checkpoint", "limit": "20"})
    items = (await resp.json())["items"]
    assert items and {i["type"] for i in items} == {"Checkpoint"}


async def test_model_details_lists_versions_and_files(civkit):
    resp = await civkit.client.get("/api/civkit/model", params={"ref": "101"})
    assert resp.status == 200
    model = await resp.json()
    assert model["name"] == "Anime Lineart Style"
    v2 = next(v for v in model["versions"] if v["id"] == 1011)
    assert v2["trained_words"] == ["animelineart", "clean lineart"]
    assert v2["files"][0]["name"] == "anime_lineart_v2.safetensors"


async def test_model_details_of_unknown_model_is_a_plain_404(civkit):
    resp = await civkit.client.get("/api/civkit/model", params={"ref": "999999"})
    assert resp.status == 404
    assert "error" in await resp.json()


async def test_download_into_loras_with_progress_events_and_refresh(civkit):
    civkit.folder_paths.get_filename_list("loras")  # warm ComfyUI's cache, as the UI would have
    resp = await civkit.client.post("/api/civkit/downloads", json={"ref": "101@1011", "folder_key": "loras"})
    assert resp.status == 202, await resp.text()
    task_id = (await resp.json())["id"]
    task = await _wait_download(civkit, task_id)
    assert task["state"] == "done", task
    path = civkit.loras / "anime_lineart_v2.safetensors"
    assert Path(task["path"]).resolve() == path.resolve()
    expected = civkit.fake.catalog.files[10110]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(Path(expected).read_bytes()).hexdigest()
    assert not list(civkit.loras.glob("*.part"))

    events = civkit.server.events("civkit.download")
    mine = [e for e in events if e["id"] == task_id]
    assert mine[-1]["state"] == "done" and mine[-1]["bytes"] == mine[-1]["total"]
    assert {"downloading", "done"} <= {e["state"] for e in mine}
    assert all("test-key" not in json.dumps(e) for e in events)
    refresh = civkit.server.events("civkit.refresh")
    assert {"folder_key": "loras", "name": "anime_lineart_v2.safetensors"} in refresh
    # ComfyUI's file list shows the new LoRA at once (its cache was dropped).
    assert "anime_lineart_v2.safetensors" in civkit.folder_paths.get_filename_list("loras")

    listing = await (await civkit.client.get("/civkit/downloads")).json()
    assert [t["id"] for t in listing["downloads"]] == [task_id]
    assert listing["downloads"][0]["trained_words"] == ["animelineart", "clean lineart"]


async def test_a_civitai_page_url_is_accepted(civkit):
    resp = await civkit.client.post("/api/civkit/downloads",
                                    json={"ref": "https://civitai.com/models/101?modelVersionId=1010"})
    assert resp.status == 202, await resp.text()
    task = await _wait_download(civkit, (await resp.json())["id"])
    assert task["state"] == "done", task
    assert Path(task["path"]).parent.resolve() == civkit.loras.resolve()


async def test_a_model_that_needs_a_key_fails_with_the_cli_message_then_works_with_one(civkit):
    resp = await civkit.client.post("/api/civkit/downloads", json={"ref": "103@1030"})
    task = await _wait_download(civkit, (await resp.json())["id"])
    assert task["state"] == "failed"
    assert task["message"].startswith("This model needs a Civitai API key")
    assert [p for p in _tree(civkit.loras) if not p.endswith(".part")] == []  # nothing under a final name
    resp = await civkit.client.post("/api/civkit/api-key", json={"key": civkit.fake.api_key})
    assert await resp.json() == {"set": True}
    resp = await civkit.client.post(f"/api/civkit/downloads/{task['id']}/retry", json={})
    assert resp.status == 200
    task = await _wait_download(civkit, task["id"])
    assert task["state"] == "done", task
    assert (civkit.loras / "pony_anime_shading.safetensors").is_file()
    assert all(civkit.fake.api_key not in json.dumps(e) for e in civkit.server.messages)


@pytest.mark.parametrize("body, reason", [
    ({"ref": "https://evil.example.com/api/download/models/1011"}, "Civitai"),
    ({"ref": "https://civitai.com.evil.example/models/101"}, "civitai.com.evil.example is neither"),
    ({"ref": "ftp://civitai.com/models/101"}, "http(s)"),
    ({"ref": "101@1011", "folder_key": "../../etc"}, "Unknown model folder '../../etc'"),
    ({"ref": "101@1011", "folder_key": "custom_nodes"}, "Unknown model folder 'custom_nodes'"),
    ({"ref": "101@1011", "path": "/tmp/evil.safetensors"}, "send a folder_key instead of path"),
    ({"ref": "101@1011", "dest_dir": "/tmp"}, "send a folder_key instead of dest_dir"),
    ({"ref": "101@1011", "filename": "../../x.safetensors"}, "instead of filename"),
    ({"ref": ""}, "Say what to download"),
    ({"ref": "not a reference"}, ""),
])
async def test_refused_downloads_say_why_and_touch_nothing(civkit, body, reason):
    before = _tree(civkit.base)
    requests_before = civkit.fake.count("/api/download")
    resp = await civkit.client.post("/api/civkit/downloads", json=body)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert reason in error
    await asyncio.sleep(0.1)
    assert _tree(civkit.base) == before
    assert civkit.fake.count("/api/download") == requests_before
    assert (await (await civkit.client.get("/civkit/downloads")).json())["downloads"] == []


async def test_a_body_that_is_not_json_is_refused(civkit):
    resp = await civkit.client.post("/api/civkit/downloads", data=b"{not json",
                                    headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"] == "The request body is not valid JSON."


async def test_api_key_is_write_only_and_kept_owner_only(civkit, civkit_home):
    resp = await civkit.client.get("/api/civkit/api-key")
    assert await resp.json() == {"set": False}
    resp = await civkit.client.post("/api/civkit/api-key", json={"key": "abcdef0123456789"})
    assert await resp.json() == {"set": True}
    config_file = civkit_home / "config.json"
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o600
    assert json.loads(config_file.read_text())["api_key"] == "abcdef0123456789"
    for path in ("/api/civkit/api-key", "/api/civkit/settings", "/api/civkit/downloads", "/api/civkit/library"):
        text = await (await civkit.client.get(path)).text()
        assert "abcdef0123456789" not in text
    settings = await (await civkit.client.get("/api/civkit/settings")).json()
    assert settings["api_key_set"] is True and "loras" in settings["folder_keys"]
    # never through the settings route, and never into ComfyUI's user folder
    resp = await civkit.client.post("/api/civkit/settings", json={"api_key": "x"})
    assert resp.status == 400
    assert not list(civkit.base.rglob("comfy.settings.json"))
    resp = await civkit.client.delete("/api/civkit/api-key", json={})
    assert await resp.json() == {"set": False}
    assert "api_key" not in json.loads(config_file.read_text())


async def test_settings_route_changes_only_harmless_settings(civkit, civkit_home):
    resp = await civkit.client.post("/api/civkit/settings", json={"nsfw_previews": True})
    assert resp.status == 200 and (await resp.json())["nsfw_previews"] is True
    assert json.loads((civkit_home / "config.json").read_text())["nsfw_previews"] is True
    resp = await civkit.client.post("/api/civkit/settings", json={"api_base": "https://evil.example.com"})
    assert resp.status == 400
    assert "api_base cannot be changed from the browser" in (await resp.json())["error"]
    assert civkit.service.config.api_base == civkit.fake.base_url


async def test_library_scan_status_list_and_trigger_words(civkit):
    resp = await civkit.client.post("/api/civkit/downloads", json={"ref": "101@1011", "folder_key": "loras"})
    await _wait_download(civkit, (await resp.json())["id"])
    # a file the user put there by hand, found by the scan
    extra = civkit.fake.catalog.files[10300]
    (civkit.loras / "copied_by_hand.safetensors").write_bytes(Path(extra).read_bytes())

    resp = await civkit.client.post("/api/civkit/library/scan", json={})
    assert resp.status == 202
    for _ in range(600):
        status = await (await civkit.client.get("/api/civkit/library/status")).json()
        if not status["running"]:
            break
        await asyncio.sleep(0.05)
    assert status["error"] is None
    assert any(e.get("state") == "done" for e in civkit.server.events("civkit.scan"))

    page = await (await civkit.client.get("/api/civkit/library")).json()
    assert (page["total"], page["offset"], page["limit"]) == (2, 0, 200)
    by_name = {e["comfy_name"]: e for e in page["items"]}
    assert by_name["anime_lineart_v2.safetensors"]["status"] == "linked"
    assert by_name["anime_lineart_v2.safetensors"]["folder_key"] == "loras"
    assert by_name["copied_by_hand.safetensors"]["status"] == "linked"
    assert by_name["copied_by_hand.safetensors"]["trained_words"] == ["anime shading", "cel shading"]

    resp = await civkit.client.get("/api/civkit/triggers", params={"name": "anime_lineart_v2.safetensors"})
    assert (await resp.json())["trigger_words"] == ["animelineart", "clean lineart"]
    resp = await civkit.client.get("/api/civkit/triggers", params={"name": "../../../etc/passwd"})
    assert resp.status == 404
    resp = await civkit.client.get("/api/civkit/triggers", params={"name": "x", "folder_key": "nope"})
    assert resp.status == 400


async def test_library_route_pages_and_filters(civkit):
    for ref in ("101@1011", "102"):
        resp = await civkit.client.post("/api/civkit/downloads", json={"ref": ref, "folder_key": "loras"})
        await _wait_download(civkit, (await resp.json())["id"])
    everything = await (await civkit.client.get("/api/civkit/library")).json()
    names = [e["comfy_name"] for e in everything["items"]]
    assert everything["total"] == len(names) == 2 and names == sorted(names)

    first = await (await civkit.client.get("/api/civkit/library", params={"limit": "1"})).json()
    second = await (await civkit.client.get("/api/civkit/library", params={"limit": "1", "offset": "1"})).json()
    assert [e["comfy_name"] for e in first["items"] + second["items"]] == names
    assert first["total"] == second["total"] == 2 and (second["offset"], second["limit"]) == (1, 1)

    found = await (await civkit.client.get("/api/civkit/library", params={"q": "LINEART"})).json()
    assert [e["comfy_name"] for e in found["items"]] == ["anime_lineart_v2.safetensors"] and found["total"] == 1
    linked = await (await civkit.client.get("/api/civkit/library", params={"status": "linked"})).json()
    assert linked["total"] == 2
    none = await (await civkit.client.get("/api/civkit/library", params={"status": "not_found"})).json()
    assert none["items"] == [] and none["total"] == 0


@pytest.mark.parametrize("params, reason", [
    ({"limit": "5000"}, "limit must be between 1 and 1000, got 5000."),
    ({"limit": "0"}, "limit must be between 1 and 1000, got 0."),
    ({"limit": "lots"}, "limit must be a number, got 'lots'."),
    ({"offset": "-3"}, "offset must be 0 or more, got -3."),
    ({"offset": "1.5"}, "offset must be a number, got '1.5'."),
    ({"status": "linkd"}, "status must be one of linked, not_found, unknown, error, got 'linkd'."),
])
async def test_library_route_refuses_bad_paging_with_a_reason(civkit, params, reason):
    resp = await civkit.client.get("/api/civkit/library", params=params)
    assert resp.status == 400
    assert await resp.json() == {"error": reason}


async def test_scan_refuses_a_path(civkit):
    resp = await civkit.client.post("/api/civkit/library/scan", json={"path": "/etc"})
    assert resp.status == 400
    assert "takes no path" in (await resp.json())["error"]


async def test_cancel_of_an_unknown_download_is_404(civkit):
    resp = await civkit.client.post("/api/civkit/downloads/nope/cancel", json={})
    assert resp.status == 404
    assert (await resp.json())["error"]


async def test_a_checkpoint_with_its_vae_lands_in_both_folders(civkit):
    resp = await civkit.client.post("/api/civkit/downloads", json={"ref": "107", "with_vae": True})
    assert resp.status == 202, await resp.text()
    task = await _wait_download(civkit, (await resp.json())["id"])
    assert task["state"] == "done", task
    checkpoints = Path(civkit.folder_paths.get_folder_paths("checkpoints")[0])
    vae = Path(civkit.folder_paths.get_folder_paths("vae")[0])
    assert Path(task["path"]).parent.resolve() == checkpoints.resolve()
    assert [p.suffix for p in vae.iterdir() if p.suffix == ".safetensors"] == [".safetensors"]


async def test_download_flags_must_be_json_booleans(civkit):
    resp = await civkit.client.post("/api/civkit/downloads", json={"ref": "107", "with_vae": "yes", "shell": 1})
    assert resp.status == 400
    assert "Unknown field(s) shell" in (await resp.json())["error"]
