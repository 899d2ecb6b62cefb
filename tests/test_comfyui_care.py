"""Library care through ComfyUI (issue 12): the routes the sidebar uses, and the nodes' use of the
chosen trigger-word groups and the preferred weight. Stand-in host, real pack, emulator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiohttp import web
from comfyui_harness import comfy_fixture, install_service, load_pack_into, mount_comfy_routes  # noqa: F401 - fixture

LINEART = "anime_lineart_v2.safetensors"


@pytest.fixture
async def care(comfy, fake_civitai, aiohttp_client):
    pack = load_pack_into(comfy)
    comfy.service = install_service(comfy, pack, fake_civitai.base_url)
    comfy.client = await aiohttp_client(mount_comfy_routes(comfy, web.Application()))
    comfy.nodes = pack.NODE_CLASS_MAPPINGS
    comfy.loras = Path(comfy.folder_paths.get_folder_paths("loras")[0])
    shutil.copy(fake_civitai.catalog.files[10110], comfy.loras / LINEART)
    comfy.service.scan_library()
    return comfy


async def _post(env, path, body):
    resp = await env.client.post(path, json=body)
    return resp.status, await resp.json()


async def test_rename_move_delete_restore_through_routes(care):
    loras = care.loras
    stem = LINEART[: -len(".safetensors")]
    assert care.folder_paths.get_filename_list("loras") == [LINEART]
    resp = await care.client.get("/civkit/library/bundle", params={"folder_key": "loras", "name": LINEART})
    info = await resp.json()
    assert f"{stem}.civitai.info" in info["sidecars"] and f"{stem}.json" in info["sidecars"]
    assert "path" not in info
    status, data = await _post(care, "/api/civkit/library/rename",
                               {"folder_key": "loras", "name": LINEART, "new_name": "lineart-renamed"})
    assert status == 200, data
    assert data["status"] == "renamed" and data["name"] == "lineart-renamed.safetensors"
    assert care.folder_paths.get_filename_list("loras") == ["lineart-renamed.safetensors"]
    assert care.server.events("civkit.refresh")
    status, data = await _post(care, "/civkit/library/move",
                               {"folder_key": "loras", "name": "lineart-renamed.safetensors", "subfolder": "style/anime"})
    assert status == 200, data
    assert data["name"] == "style/anime/lineart-renamed.safetensors"
    assert (loras / "style" / "anime" / "lineart-renamed.civitai.info").is_file()
    status, data = await _post(care, "/civkit/library/delete",
                               {"folder_key": "loras", "name": "style/anime/lineart-renamed.safetensors"})
    assert status == 200 and data["status"] == "trashed" and data["trash_id"]
    assert care.folder_paths.get_filename_list("loras") == []
    resp = await care.client.get("/civkit/trash")
    (item,) = (await resp.json())["items"]
    assert item["id"] == data["trash_id"] and "folder" not in item
    status, restored = await _post(care, "/civkit/trash/restore", {"id": item["id"]})
    assert status == 200 and restored["name"] == "style/anime/lineart-renamed.safetensors"


@pytest.mark.parametrize("body, reason", [
    ({"folder_key": "loras", "name": LINEART, "new_name": "../../escape"}, "not a plain file name"),
    ({"folder_key": "loras", "name": LINEART, "subfolder": "../../etc"}, "subfolder must be a folder inside"),
    ({"folder_key": "loras", "name": LINEART, "subfolder": "/etc"}, "subfolder must be a folder inside"),
    ({"folder_key": "loras", "name": "../../../etc/passwd", "new_name": "x"}, "No file"),
    ({"folder_key": "nope", "name": LINEART, "new_name": "x"}, "Unknown model folder"),
    ({"folder_key": "loras", "name": LINEART, "new_name": "x", "path": "/tmp/x"}, "Unknown field"),
])
async def test_hostile_care_requests_are_refused_and_nothing_moves(care, body, reason):
    before = sorted(p.name for p in care.loras.rglob("*"))
    action = "move" if "subfolder" in body else "rename"
    status, data = await _post(care, f"/civkit/library/{action}", body)
    assert status in (400, 403, 404) and reason in data["error"]
    assert sorted(p.name for p in care.loras.rglob("*")) == before


async def test_card_groups_weight_and_the_nodes_use_them(care):
    import comfy.sd as sd

    status, card = await _post(care, "/civkit/library/triggers",
                               {"folder_key": "loras", "name": LINEART, "groups": [2], "weight": 0.6})
    assert status == 200, card
    assert [g["on"] for g in card["groups"]] == [False, True] and card["preferred_weight"] == 0.6
    assert card["model_name"] == "Anime Lineart Style" and "path" not in card
    words = care.nodes["CivkitTriggerWords"]().words(LINEART)
    assert words == ("clean lineart",)
    sd.CALLS.clear()
    out = care.nodes["CivkitLoraLoader"]().load(sd.StandinModel(), sd.StandinClip(), LINEART, 1.0, 0.3)
    result = out["result"] if isinstance(out, dict) else out
    assert result[2] == "clean lineart"
    assert sd.CALLS[-1][2:] == (0.6, 0.3)  # the default strength follows the preferred weight
    care.nodes["CivkitLoraLoader"]().load(sd.StandinModel(), sd.StandinClip(), LINEART, 0.9, 1.0)
    assert sd.CALLS[-1][2:] == (0.9, 0.6)
    status, card = await _post(care, "/civkit/library/triggers",
                               {"folder_key": "loras", "name": LINEART, "all": True, "weight": None})
    assert [g["on"] for g in card["groups"]] == [True, True] and card["preferred_weight"] is None
    status, data = await _post(care, "/civkit/library/triggers",
                               {"folder_key": "loras", "name": LINEART, "groups": ["1; rm"]})
    assert status == 400 and "group numbers" in data["error"]
