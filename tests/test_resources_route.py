"""``POST /civkit/resources`` on a bare aiohttp app mounted like ComfyUI does, against the emulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from comfyui_harness import comfy_fixture, install_service, load_pack_into, mount_comfy_routes  # noqa: F401 - fixture

from civkit.testing.demo_images import comfy_workflow
from civkit.testing.images import png_with_text


@pytest.fixture
async def civkit(comfy, fake_civitai, aiohttp_client):
    pack = load_pack_into(comfy)
    comfy.service = install_service(comfy, pack, fake_civitai.base_url)
    comfy.client = await aiohttp_client(mount_comfy_routes(comfy, web.Application()))
    comfy.fake = fake_civitai
    return comfy


async def post(env, body, **kw):
    resp = await env.client.post("/api/civkit/resources", json=body, **kw)
    return resp.status, await resp.json()


async def test_a_workflow_lists_its_needs(civkit):
    prompt, workflow = comfy_workflow(civkit.fake.catalog, civkit.fake.base_url)
    status, body = await post(civkit, {"workflow": workflow})
    assert status == 200 and body["kind"] == "comfyui"
    by_kind = {n["kind"]: n for n in body["needs"]}
    assert by_kind["checkpoint"]["status"] == "missing" and by_kind["checkpoint"]["folder_key"] == "checkpoints"
    assert by_kind["lora"]["node_id"] == "10" and by_kind["lora"]["widget"] == "lora_name"
    assert by_kind["vae"]["status"] == "ambiguous" and by_kind["vae"]["candidates"]
    assert body["summary"]["missing_files"] == 3 and body["summary"]["missing_bytes"] > 3_000_000
    status, body = await post(civkit, {"prompt": prompt})
    assert status == 200 and {n["kind"] for n in body["needs"]} == {"checkpoint", "lora", "vae", "embedding"}


async def test_download_missing_then_everything_is_present(civkit):
    _, workflow = comfy_workflow(civkit.fake.catalog, civkit.fake.base_url)
    _, body = await post(civkit, {"workflow": workflow})
    missing = [n for n in body["needs"] if n["status"] == "missing"]
    for need in missing:  # what the sidebar's "Download missing" sends
        resp = await civkit.client.post("/api/civkit/downloads", json={
            "model_id": need["model_id"], "version_id": need["version_id"], "file_id": need["file_id"],
            "folder_key": need["folder_key"]})
        assert resp.status == 202
        task = (await resp.json())["id"]
        for _ in range(400):
            snap = civkit.service.download(task)
            if snap["state"] in ("done", "skipped", "failed"):
                break
            await asyncio.sleep(0.05)
        assert snap["state"] == "done", snap
    _, body = await post(civkit, {"workflow": workflow})
    statuses = {n["kind"]: n["status"] for n in body["needs"]}
    assert statuses == {"checkpoint": "present", "lora": "present", "embedding": "present", "vae": "ambiguous"}
    ckpt = next(n for n in body["needs"] if n["kind"] == "checkpoint")
    assert ckpt["comfy_name"] == "dreamforgeXL_v10.safetensors" and ckpt["verified"] is True
    assert Path(ckpt["path"]).is_file()


async def test_an_image_upload_and_an_image_link(civkit):
    lora = civkit.fake.catalog.find_file(10110)[2]["hashes"]["AutoV3"]
    png = png_with_text({"parameters": f'a cat <lora:anime_lineart_v2:0.6>\nSteps: 20, Seed: 5, '
                                       f'Lora hashes: "anime_lineart_v2: {lora}"'})
    form = aiohttp.FormData()
    form.add_field("image", png, filename="../../cat.png", content_type="image/png")
    resp = await civkit.client.post("/api/civkit/resources", data=form)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["source"] == "cat.png" and body["needs"][0]["version_id"] == 1011
    assert body["needs"][0]["weight"] == 0.6 and "Steps: 20" in body["infotext"]
    status, body = await post(civkit, {"url": f"{civkit.fake.base_url}/images/7902"})
    assert status == 200 and {n["version_id"] for n in body["needs"]} == {1070, 1011, 1100}


@pytest.mark.parametrize("body, status, message", [
    ({}, 400, "exactly one of"),
    ({"workflow": {}, "url": "x"}, 400, "exactly one of"),
    ({"workflow": "nope"}, 400, "must be a JSON object"),
    ({"workflow": {"nodes": "x"}}, 400, "not a ComfyUI workflow"),
    ({"url": "https://evil.example/images/1"}, 400, "Civitai image link"),
    ({"text": "hello"}, 400, "no generation data"),
    ({"text": "x", "path": "/etc"}, 400, "Unknown field"),
])
async def test_bad_requests_get_a_reason(civkit, body, status, message):
    got_status, got = await post(civkit, body)
    assert got_status == status and message in got["error"], got


async def test_refusals(civkit):
    resp = await civkit.client.post("/api/civkit/resources", data=json.dumps({"text": "x"}),
                                    headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    status, body = await post(civkit, {"text": "x"}, headers={"Origin": "https://evil.example"})
    assert status == 403 and "another web site" in body["error"]
    form = aiohttp.FormData()
    form.add_field("image", b"not an image", filename="x.png")
    resp = await civkit.client.post("/api/civkit/resources", data=form)
    assert resp.status == 400 and "not a PNG" in (await resp.json())["error"]
    # an upload is a "simple" request any page can send: another site's is refused before it is read
    hostile = aiohttp.FormData()
    hostile.add_field("image", b"\x89PNG\r\n\x1a\n", filename="x.png")
    resp = await civkit.client.post("/api/civkit/resources", data=hostile,
                                    headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert resp.status == 403 and "another web site" in (await resp.json())["error"]
