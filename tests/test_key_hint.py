"""Issue 13 item 16: a keyless 401 on a download says plainly that Civitai now wants a key for many
downloads, even of public models, and says where the key goes in the UI the user is in: the CLI
(CIVITAI_API_KEY, --api-key -, civkit's config file), ComfyUI (the civkit sidebar's Settings),
A1111/Forge (the Civitai tab's Settings) and ``civkit ui`` (its Settings tab). None of them names a
"Settings → civkit" that holds no key field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from comfyui_harness import comfy_fixture  # noqa: F401 - fixture

from civkit.config import load_config
from civkit.hosts.a1111 import A1111Host
from civkit.hosts.standalone import StandaloneHost
from civkit.service import CivkitService

REPO = Path(__file__).resolve().parents[1]
PUBLIC_LORA = "101@1011"  # a public model: only the site-wide "log in to download" rule needs a key
PLAIN = "many downloads, even of public models"
NOT_THERE = "Settings → civkit"


@pytest.fixture
def sitewide_login(fake_civitai):
    fake_civitai.faults.login_required_sitewide = True
    return fake_civitai


def _nothing_saved(folder: Path) -> None:
    assert [p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".part")] == []


# ----------------------------------------------------------------------------------- CLI


def _cli(fake, models, *args, stdin=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("CIVITAI_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "civkit.cli.main", "--api-base", fake.base_url, *args,
                           "download", PUBLIC_LORA, "--models-dir", str(models)],
                          capture_output=True, text=True, env=env, input=stdin, timeout=120)


def test_cli_says_a_key_is_needed_and_where_it_goes(sitewide_login, tmp_path, civkit_home):
    models = tmp_path / "models"
    models.mkdir()
    proc = _cli(sitewide_login, models)
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert "This model needs a Civitai API key" in err and PLAIN in err
    assert "CIVITAI_API_KEY" in err and "--api-key -" in err
    assert str(civkit_home / "config.json") in err  # the config file the key can be stored in
    assert NOT_THERE not in err and "sidebar" not in err
    _nothing_saved(models)


def test_cli_json_carries_the_same_words(sitewide_login, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    proc = _cli(sitewide_login, models, "--json")
    assert proc.returncode == 1
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["state"] == "failed"
    assert PLAIN in line["error"] and "--api-key -" in line["error"] and NOT_THERE not in line["error"]


def test_cli_a_rejected_key_says_so_and_where_to_put_a_new_one(sitewide_login, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    proc = _cli(sitewide_login, models, "--api-key", "-", stdin="not-a-real-key\n")
    assert proc.returncode == 1
    assert "rejected your API key" in proc.stderr and "--api-key -" in proc.stderr
    assert NOT_THERE not in proc.stderr and "not-a-real-key" not in proc.stderr


def test_cli_with_the_key_downloads(sitewide_login, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    proc = _cli(sitewide_login, models, "--api-key", "-", stdin=sitewide_login.api_key + "\n")
    assert proc.returncode == 0, proc.stderr
    assert (models / "loras" / "anime_lineart_v2.safetensors").is_file()


# ------------------------------------------------------------------------ service per host


def _failed_download(service) -> dict:
    try:
        snap = service.wait_download(service.start_download(PUBLIC_LORA), timeout=60)
    finally:
        service.close()
    assert snap["state"] == "failed", snap
    assert snap["message"] == snap["error"]
    return snap


def test_comfyui_host_points_at_the_sidebar_settings(comfy, sitewide_login):
    from civkit.hosts.comfyui import ComfyUIHost

    service = CivkitService(load_config(api_base=sitewide_login.base_url), ComfyUIHost())
    message = _failed_download(service)["message"]
    assert message.startswith("This model needs a Civitai API key") and PLAIN in message
    assert "civkit sidebar" in message and "Settings" in message
    assert NOT_THERE not in message and "--api-key" not in message


def test_a1111_host_points_at_the_civitai_tab_settings(sitewide_login, tmp_path):
    data = tmp_path / "webui"
    (data / "models").mkdir(parents=True)
    host = A1111Host(cmd_opts=SimpleNamespace(), data_path=data, models_path=data / "models", script_path=data,
                     forge=False)
    service = CivkitService(load_config(api_base=sitewide_login.base_url), host)
    message = _failed_download(service)["message"]
    assert PLAIN in message and "Civitai tab" in message and "Settings" in message
    assert NOT_THERE not in message and "--api-key" not in message
    _nothing_saved(data / "models")


def test_civkit_ui_points_at_its_own_settings_tab(sitewide_login, tmp_path):
    from civkit.cli.ui import ui_host

    models = tmp_path / "models"
    models.mkdir()
    service = CivkitService(load_config(api_base=sitewide_login.base_url),
                            ui_host(SimpleNamespace(layout=None, demo=False), models))
    message = _failed_download(service)["message"]
    assert PLAIN in message and "Settings tab" in message
    assert NOT_THERE not in message and "--api-key" not in message and "sidebar" not in message


def test_the_same_hint_in_error_message_and_check_api_key(sitewide_login, tmp_path):
    from civkit.api import CivitaiClient
    from civkit.api.errors import AuthRequired

    data = tmp_path / "webui"
    (data / "models").mkdir(parents=True)
    host = A1111Host(cmd_opts=SimpleNamespace(), data_path=data, models_path=data / "models", script_path=data,
                     forge=False)
    service = CivkitService(load_config(api_base=sitewide_login.base_url), host)
    try:
        with pytest.raises(AuthRequired) as info:
            CivitaiClient(sitewide_login.base_url, None).me()
        words = service.error_message(info.value)
        assert "Civitai tab" in words and NOT_THERE not in words
        check = service.check_api_key()
        assert check["ok"] is False and "Civitai tab" in check["message"] and NOT_THERE not in check["message"]
    finally:
        service.close()


def test_without_a_face_the_words_name_no_settings_that_do_not_exist(sitewide_login, tmp_path):
    service = CivkitService(load_config(api_base=sitewide_login.base_url), StandaloneHost(tmp_path / "m"))
    message = _failed_download(service)["message"]
    assert PLAIN in message and "CIVITAI_API_KEY" in message and NOT_THERE not in message


# ------------------------------------------------------------------------- ComfyUI route


async def test_comfyui_download_route_json_names_the_sidebar(comfy, sitewide_login, aiohttp_client):
    import asyncio

    from aiohttp import web
    from comfyui_harness import install_service, load_pack_into, mount_comfy_routes

    pack = load_pack_into(comfy)
    install_service(comfy, pack, sitewide_login.base_url)
    client = await aiohttp_client(mount_comfy_routes(comfy, web.Application()))
    resp = await client.post("/api/civkit/downloads", json={"ref": PUBLIC_LORA})
    assert resp.status == 202, await resp.text()
    task_id = (await resp.json())["id"]
    for _ in range(600):
        tasks = {t["id"]: t for t in (await (await client.get("/api/civkit/downloads")).json())["downloads"]}
        if tasks[task_id]["state"] in ("done", "skipped", "failed", "cancelled"):
            break
        await asyncio.sleep(0.05)
    task = tasks[task_id]
    assert task["state"] == "failed"
    assert PLAIN in task["message"] and "civkit sidebar" in task["message"] and NOT_THERE not in task["message"]
