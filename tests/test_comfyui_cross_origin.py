"""A web page the user visits must not be able to drive civkit's ComfyUI routes (issue 13 item 9).

ComfyUI's own Host/Origin check is gone with ``--enable-cors-header`` (and does nothing against DNS
rebinding), and a cross-origin ``text/plain`` POST needs no CORS preflight. So civkit defends itself:
mutating routes take only ``application/json``, refuse requests whose ``Origin`` or
``Sec-Fetch-Site`` names another site, and refuse a ``Host`` that is not loopback on a loopback socket.

The routes are mounted on an aiohttp app with the CORS middleware that ``--enable-cors-header``
adds in ComfyUI's ``server.py`` (copied here, "*" as its default origin); real ComfyUI is not
installed on this machine. The hostile page is served from a second origin (``localhost`` on
another port) and opened in headless Chromium.
"""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest
from aiohttp import web
from comfyui_harness import comfy_fixture, install_service, load_pack_into, mount_comfy_routes  # noqa: F401 - fixture

KEY = "legit-key-0123456789"


def comfyui_cors_middleware(allowed_origin: str = "*"):
    """ComfyUI server.py ``create_cors_middleware`` (what ``--enable-cors-header`` installs)."""

    @web.middleware
    async def cors_middleware(request: web.Request, handler):
        if request.method == "OPTIONS":
            response = web.Response()  # pre-flight request: reply successfully
        else:
            response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = allowed_origin
        response.headers["Access-Control-Allow-Methods"] = "POST, GET, DELETE, PUT, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    return cors_middleware


def _recorder(seen: list):
    @web.middleware
    async def record(request, handler):
        response = await handler(request)
        if "/civkit/" in request.path:
            seen.append((request.method, request.path, response.status, request.headers.get("Origin"),
                         request.headers.get("Sec-Fetch-Site")))
        return response

    return record


@pytest.fixture
async def civkit(comfy, fake_civitai, aiohttp_client, civkit_home):
    pack = load_pack_into(comfy)
    comfy.service = install_service(comfy, pack, fake_civitai.base_url)
    comfy.service.set_api_key(KEY)
    comfy.seen = []
    app = mount_comfy_routes(comfy, web.Application(middlewares=[comfyui_cors_middleware(), _recorder(comfy.seen)]))
    comfy.app = app
    comfy.client = await aiohttp_client(app)
    comfy.fake = fake_civitai
    comfy.home = civkit_home
    return comfy


def _state(env) -> dict:
    """Everything a hostile request could change: the stored key, settings, downloads, a scan, files."""
    config = json.loads((env.home / "config.json").read_text())
    base = Path(env.folder_paths.get_folder_paths("loras")[0]).parent
    return {"config": config, "downloads": env.service.downloads(), "storage_gets": env.fake.count("/api/download"),
            "files": sorted(str(p) for p in base.rglob("*"))}


JSON = {"Content-Type": "application/json"}


async def test_a_text_plain_post_changes_nothing(civkit):
    before = _state(civkit)
    for path, body in (("/api/civkit/api-key", {"key": "attacker"}), ("/civkit/settings", {"nsfw_previews": True}),
                       ("/api/civkit/downloads", {"ref": "101@1011", "folder_key": "loras"}),
                       ("/api/civkit/library/scan", {})):
        resp = await civkit.client.post(path, data=json.dumps(body), headers={"Content-Type": "text/plain"})
        assert resp.status == 415, path
        assert (await resp.json())["error"] == "civkit only takes JSON here: send Content-Type: application/json."
    await asyncio.sleep(0.2)
    assert _state(civkit) == before
    assert (await (await civkit.client.get("/civkit/library/status")).json())["started_at"] is None


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},            # another port on the same machine is another origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
], ids=["origin", "null-origin", "other-port", "cross-site", "same-site", "both"])
async def test_a_cross_site_request_is_refused_whatever_comfyui_allows(civkit, headers):
    before = _state(civkit)
    for method, path, body in (
        ("POST", "/api/civkit/api-key", {"key": "attacker"}),
        ("DELETE", "/api/civkit/api-key", {}),
        ("POST", "/api/civkit/settings", {"subfolder_template": "pwned/{type}"}),
        ("POST", "/api/civkit/downloads", {"ref": "106@1061", "folder_key": "checkpoints", "allow_unsafe": True}),
        ("POST", "/api/civkit/library/scan", {}),
        ("POST", "/api/civkit/downloads/dl-1/retry", {}),
        # the library-care routes (issue 12) go through the same guard
        ("POST", "/api/civkit/library/delete", {"folder_key": "loras", "name": "x.safetensors"}),
        ("POST", "/api/civkit/library/rename", {"folder_key": "loras", "name": "x.safetensors", "new_name": "y"}),
        ("POST", "/api/civkit/trash/restore", {"id": "1"}),
        # the batch routes (issue 11) too
        ("POST", "/api/civkit/batches/plan", {"kind": "refs", "refs": ["101"], "all_versions": True}),
        ("POST", "/api/civkit/batches", {"plan_id": "plan-1"}),
        ("POST", "/api/civkit/batches/batch-1/cancel", {}),
    ):
        resp = await civkit.client.request(method, path, json=body, headers=headers)
        assert resp.status == 403, (method, path)
        assert "another web site" in (await resp.json())["error"]
    await asyncio.sleep(0.2)
    assert _state(civkit) == before


async def test_dns_rebinding_a_loopback_server_is_refused(civkit):
    """evil.example resolved to 127.0.0.1: Origin and Host agree, but Host is not a loopback name."""
    port = civkit.client.server.port
    headers = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}", "Sec-Fetch-Site": "same-origin"}
    resp = await civkit.client.post("/api/civkit/api-key", json={"key": "attacker"}, headers=headers)
    assert resp.status == 403
    assert "evil.example" in (await resp.json())["error"]
    assert json.loads((civkit.home / "config.json").read_text())["api_key"] == KEY


async def test_same_origin_and_non_browser_clients_still_work(civkit):
    port = civkit.client.server.port
    same = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
    resp = await civkit.client.post("/api/civkit/settings", json={"nsfw_previews": True}, headers=same)
    assert resp.status == 200 and (await resp.json())["nsfw_previews"] is True
    localhost = {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
    resp = await civkit.client.post("/api/civkit/settings", json={"nsfw_previews": False}, headers=localhost)
    assert resp.status == 200
    # a script or curl sends no Origin at all (ComfyUI's own frontend sends JSON, same-origin)
    resp = await civkit.client.post("/api/civkit/api-key", json={"key": "new-key-0123456789"})
    assert resp.status == 200
    assert json.loads((civkit.home / "config.json").read_text())["api_key"] == "new-key-0123456789"
    resp = await civkit.client.post("/api/civkit/downloads/nope/cancel", json={})
    assert resp.status == 404  # reached the route: the guard let it through
    resp = await civkit.client.post("/api/civkit/api-key", data=b'{"key": "x"}',
                                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert resp.status == 200


async def test_body_less_mutations_need_json_too(civkit):
    for method, path in (("POST", "/api/civkit/downloads/dl-1/cancel"), ("POST", "/api/civkit/downloads/dl-1/retry"),
                         ("DELETE", "/api/civkit/api-key")):
        resp = await civkit.client.request(method, path)
        assert resp.status == 415, path
    assert json.loads((civkit.home / "config.json").read_text())["api_key"] == KEY


async def test_reads_stay_open_to_the_page_itself(civkit):
    resp = await civkit.client.get("/api/civkit/settings")
    assert resp.status == 200 and (await resp.json())["api_key_set"] is True


async def test_triggers_of_a_file_with_a_hostile_sidecar_answer_not_500(civkit):
    """Issue 13 item 1 at the route: a sidecar with wrong JSON types is ignored."""
    from civkit.testing.files import safetensors_bytes

    loras = Path(civkit.folder_paths.get_folder_paths("loras")[0])
    (loras / "odd.safetensors").write_bytes(safetensors_bytes({"modelspec.trigger_phrase": "oddword"}, 256, "o"))
    (loras / "odd.civitai.info").write_text(json.dumps({"id": 1, "modelId": 2, "files": 5, "trainedWords": 3}))
    (loras / "odd.cm-info.json").write_text("[" * 100_000 + "]" * 100_000)
    resp = await civkit.client.get("/api/civkit/triggers", params={"name": "odd.safetensors"})
    assert resp.status == 200
    assert (await resp.json())["trigger_words"] == ["oddword"]


# -- a real cross-origin page in Chromium -------------------------------------------------------------

HOSTILE_PAGE = """<!doctype html><meta charset="utf-8"><title>cute cats</title>
<iframe name="sink" style="display:none"></iframe>
<form id="csrf" method="POST" enctype="text/plain" target="sink" action="{target}/api/civkit/api-key">
  <input name='{{"key":"form-attacker","x":"' value='"}}'>
</form>
<script>
const T = "{target}";
async function attack() {{
  const out = [];
  const hit = async (path, init) => {{
    try {{ const r = await fetch(T + path, init); out.push([path, init.mode || "cors", r.type, r.status]); }}
    catch (e) {{ out.push([path, init.mode || "cors", "error", String(e)]); }}
  }};
  const plain = (body) => ({{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
                             body: JSON.stringify(body)}});
  await hit("/api/civkit/api-key", plain({{key: "attacker-key"}}));
  await hit("/api/civkit/settings", plain({{nsfw_previews: true, subfolder_template: "pwned"}}));
  await hit("/api/civkit/downloads", plain({{ref: "106@1061", folder_key: "checkpoints", allow_unsafe: true}}));
  await hit("/api/civkit/library/scan", plain({{lookup: true}}));
  // --enable-cors-header answers the preflight, so a JSON request goes through the browser too
  const json = (method, body) => ({{method, headers: {{"Content-Type": "application/json"}},
                                    body: JSON.stringify(body)}});
  await hit("/api/civkit/api-key", json("POST", {{key: "attacker-key-2"}}));
  await hit("/api/civkit/api-key", json("DELETE", {{}}));
  await hit("/api/civkit/downloads", json("POST", {{ref: "106@1061", folder_key: "checkpoints", allow_unsafe: true}}));
  await hit("/api/civkit/settings", json("POST", {{write_sidecars: false}}));
  window.__results = out;
  document.getElementById("csrf").submit();
  window.__done = true;
}}
attack();
</script>"""

SAME_ORIGIN_PAGE = """<!doctype html><meta charset="utf-8"><title>civkit panel</title><script>
fetch("/api/civkit/settings", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({nsfw_previews: true})}).then(r => { window.__status = r.status; });
</script>"""


@pytest.mark.browser
async def test_a_hostile_page_in_chromium_changes_nothing(civkit, aiohttp_server, fake_civitai):
    from playwright.async_api import async_playwright
    from test_comfyui_browser import CHROMIUM, CHROMIUM_ARGS

    async def same_origin_page(request):
        return web.Response(text=SAME_ORIGIN_PAGE, content_type="text/html")

    comfy_app = mount_comfy_routes(civkit, web.Application(
        middlewares=[comfyui_cors_middleware(), _recorder(civkit.seen)]))
    comfy_app.router.add_get("/panel", same_origin_page)
    comfy_server = await aiohttp_server(comfy_app)
    target = f"http://127.0.0.1:{comfy_server.port}"

    form_posts: list = []

    async def hostile_page(request):
        return web.Response(text=HOSTILE_PAGE.format(target=target), content_type="text/html")

    hostile_app = web.Application()
    hostile_app.router.add_get("/", hostile_page)
    hostile_server = await aiohttp_server(hostile_app)
    hostile_url = f"http://localhost:{hostile_server.port}/"  # another site than 127.0.0.1

    before = _state(civkit)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            blocked: list = []

            async def only_loopback(route):
                url = route.request.url
                if url.startswith((target, hostile_url.rstrip("/"), fake_civitai.base_url)):
                    if route.request.method == "POST" and url.endswith("/api/civkit/api-key") and \
                            route.request.resource_type == "document":
                        form_posts.append(route.request.post_data)
                    await route.continue_()
                else:
                    blocked.append(url)
                    await route.abort()

            await page.route("**/*", only_loopback)
            await page.goto(hostile_url)
            await page.wait_for_function("window.__done === true")
            results = await page.evaluate("window.__results")
            # the form post arrives too
            for _ in range(100):
                if sum(1 for s in civkit.seen if s[1].endswith("/api-key") and s[0] == "POST") >= 3:
                    break
                await asyncio.sleep(0.05)
            # control: the page of the ComfyUI origin itself still works
            own = await browser.new_page()
            await own.goto(target + "/panel")
            await own.wait_for_function("window.__status !== undefined")
            assert await own.evaluate("window.__status") == 200
        finally:
            await browser.close()

    await asyncio.sleep(0.3)
    after = _state(civkit)
    # only the same-origin control changed a setting
    assert after["config"].pop("nsfw_previews") is True
    before["config"].pop("nsfw_previews", None)
    assert after == before
    assert after["config"]["api_key"] == KEY
    assert civkit.service.downloads() == [] and civkit.fake.count("/api/download") == before["storage_gets"]
    assert (await (await civkit.client.get("/civkit/library/status")).json())["started_at"] is None
    assert blocked == []
    # every hostile request reached civkit and was refused by it (not lost on the way)
    hostile = [s for s in civkit.seen if s[3] and s[3].startswith("http://localhost:")]
    assert len(hostile) >= 9, (results, civkit.seen)
    assert {s[2] for s in hostile} <= {403, 415}, hostile
    assert all(s[4] in (None, "cross-site") for s in hostile)
    assert any(s[0] == "DELETE" for s in hostile) and any(s[2] == 403 for s in hostile)
    assert form_posts and "form-attacker" in form_posts[0]
    assert stat.S_IMODE((civkit.home / "config.json").stat().st_mode) == 0o600
