"""A ``?token=`` pasted with a Civitai link is removed, the user is told, and it is stored nowhere
(issue 13 item 12): not in the workflow's ``models`` list, not in a download task, not in an error."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from aiohttp import web
from comfyui_harness import comfy_fixture, install_service, load_pack_into, mount_comfy_routes  # noqa: F401 - fixture
from test_comfyui_browser import browser_page  # noqa: F401 - fixture

from civkit.refs import TOKEN_REMOVED, Ref, RefError, clean_ref_text, parse_ref

SECRET = "c0ffee0123456789abcdef"


@pytest.mark.parametrize("text, clean", [
    (f"https://civitai.com/api/download/models/1011?token={SECRET}",
     "https://civitai.com/api/download/models/1011"),
    (f"https://civitai.com/api/download/models/1011?type=Model&format=SafeTensor&Token={SECRET}",
     "https://civitai.com/api/download/models/1011?type=Model&format=SafeTensor"),
    (f"civitai.com/models/101?modelVersionId=1011&api_key={SECRET}", "civitai.com/models/101?modelVersionId=1011"),
    (f"https://user:{SECRET}@civitai.com/models/101", "https://civitai.com/models/101"),
    ("https://civitai.com/models/101?modelVersionId=1011", "https://civitai.com/models/101?modelVersionId=1011"),
    ("101@1011", "101@1011"),
])
def test_clean_ref_text(text, clean):
    cleaned, removed = clean_ref_text(text)
    assert cleaned == clean
    assert removed == (text != clean)
    assert SECRET not in cleaned


def test_parse_ref_drops_the_token_and_says_so():
    ref = parse_ref(f"https://civitai.com/api/download/models/1011?fileId=7&token={SECRET}")
    assert (ref.version_id, ref.file_id) == (1011, 7)
    assert ref.secret_removed is True
    assert SECRET not in repr(ref) and SECRET not in str(ref)
    assert parse_ref("https://civitai.com/api/download/models/1011").secret_removed is False
    assert parse_ref("101@1011") == Ref(model_id=101, version_id=1011)
    assert "token" in TOKEN_REMOVED and "API key" in TOKEN_REMOVED


def test_a_refused_ref_never_echoes_its_token():
    with pytest.raises(RefError) as caught:
        parse_ref(f"https://civitai.com/images/5?token={SECRET}")
    assert SECRET not in str(caught.value)


# -- ComfyUI: the node and the route ------------------------------------------------------------------

@pytest.fixture
def nodes_env(comfy, fake_civitai):
    pack = load_pack_into(comfy)
    comfy.service = install_service(comfy, pack, fake_civitai.base_url, api_key=fake_civitai.api_key)
    comfy.nodes = pack.NODE_CLASS_MAPPINGS
    comfy.fake = fake_civitai
    import comfy.sd as sd

    comfy.sd = sd
    return comfy


def test_the_loader_refuses_to_queue_a_ref_with_a_token(nodes_env):
    """Refused at queue time, so it never reaches /history or an image's metadata."""
    lora = nodes_env.nodes["CivkitLoraLoader"]
    message = lora.VALIDATE_INPUTS(lora_name="", civitai_ref=f"https://civitai.com/api/download/models/1011?token={SECRET}")
    assert isinstance(message, str) and "token" in message and SECRET not in message
    assert "saved in the workflow" in message
    ckpt = nodes_env.nodes["CivkitCheckpointLoader"]
    assert isinstance(ckpt.VALIDATE_INPUTS(ckpt_name="", civitai_ref=f"civitai.com/models/107?token={SECRET}"), str)
    assert lora.IS_CHANGED(lora_name="", civitai_ref="101@1011") == "ref:101@1011"


def test_a_linked_ref_with_a_token_loads_but_the_token_goes_nowhere(nodes_env, caplog):
    """A linked input skips validation: the node strips the token itself and keeps it out of its output."""
    sd = nodes_env.sd
    node = nodes_env.nodes["CivkitLoraLoader"]()
    ref = f"https://civitai.com/models/101?modelVersionId=1011&token={SECRET}"
    out = node.load(sd.StandinModel(), sd.StandinClip(), "", 1.0, 1.0, civitai_ref=ref, unique_id="3")
    assert out["result"][2] == "animelineart, clean lineart"
    assert SECRET not in json.dumps(out["ui"])
    assert SECRET not in json.dumps(nodes_env.service.downloads())
    assert SECRET not in json.dumps([m for m in nodes_env.server.messages], default=str)
    assert SECRET not in caplog.text
    assert any("token" in r.getMessage() for r in caplog.records)


@pytest.fixture
async def routes(comfy, fake_civitai, aiohttp_client):
    pack = load_pack_into(comfy)
    comfy.service = install_service(comfy, pack, fake_civitai.base_url)
    comfy.client = await aiohttp_client(mount_comfy_routes(comfy, web.Application()))
    comfy.fake = fake_civitai
    return comfy


async def test_the_download_route_strips_the_token_and_says_so(routes):
    ref = f"{routes.fake.base_url}/api/download/models/1011?token={SECRET}"
    resp = await routes.client.post("/api/civkit/downloads", json={"ref": ref, "folder_key": "loras"})
    assert resp.status == 202
    body = await resp.json()
    assert body["notice"] == TOKEN_REMOVED
    for _ in range(400):
        tasks = (await (await routes.client.get("/api/civkit/downloads")).json())["downloads"]
        if tasks and tasks[0]["state"] in ("done", "failed", "skipped"):
            break
        await asyncio.sleep(0.05)
    assert tasks[0]["state"] == "done"
    assert SECRET not in json.dumps(tasks)
    assert SECRET not in json.dumps(routes.server.messages, default=str)
    resp = await routes.client.get("/api/civkit/model", params={"ref": f"civitai.com/models/101?token={SECRET}"})
    assert resp.status == 200 and (await resp.json())["notice"] == TOKEN_REMOVED


# -- the command line ------------------------------------------------------------------------------

def test_cli_download_strips_the_token_and_says_so(fake_civitai, tmp_path, civkit_home):
    ref = f"{fake_civitai.base_url}/api/download/models/1011?token={SECRET}"
    models = tmp_path / "models"
    models.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "civkit.cli.main", "--api-base", fake_civitai.base_url, "download", ref,
         "--models-dir", str(models)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert TOKEN_REMOVED in proc.stderr


def test_cli_show_strips_the_token_and_says_so(fake_civitai):
    proc = subprocess.run(
        [sys.executable, "-m", "civkit.cli.main", "--api-base", fake_civitai.base_url, "show",
         f"{fake_civitai.base_url}/models/101?token={SECRET}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert TOKEN_REMOVED in proc.stderr


# -- the browser sides ------------------------------------------------------------------------------

@pytest.mark.browser
async def test_the_comfyui_widget_drops_a_pasted_token(browser_page):  # noqa: F811 - the fixture
    from test_comfyui_browser import PACK_URL

    result = await browser_page.page.evaluate("""async ([pack, secret]) => {
      const m = await import(pack + '/lib/refs.js');
      const notes = [];
      const seen = [];
      const node = {widgets: [{name: 'civitai_ref', value: '', callback: (v) => seen.push(v)}]};
      m.guardRefWidget(node, (text) => notes.push(text));
      const w = node.widgets[0];
      w.value = 'https://civitai.com/api/download/models/1011?type=Model&token=' + secret;
      w.callback(w.value);
      const typed = w.value;
      w.value = 'https://civitai.com/models/101?modelVersionId=1011&api_key=' + secret;  // a loaded workflow
      node.onConfigure({});
      return {typed, loaded: w.value, seen, notes, plain: m.stripSecrets('101@1011'),
              keep: m.stripSecrets('https://civitai.com/models/101?modelVersionId=1011')};
    }""", [PACK_URL, SECRET])
    assert result["typed"] == "https://civitai.com/api/download/models/1011?type=Model"
    assert result["loaded"] == "https://civitai.com/models/101?modelVersionId=1011"
    assert result["seen"] == ["https://civitai.com/api/download/models/1011?type=Model"]  # the node saw no token
    assert result["notes"] == [TOKEN_REMOVED, TOKEN_REMOVED]  # the same words as the Python side
    assert result["plain"] == {"text": "101@1011", "removed": False}
    assert result["keep"]["removed"] is False
    assert browser_page.errors == []


def test_the_gradio_open_box_strips_the_token_and_says_so(fake_civitai, tmp_path):
    from civkit.config import load_config
    from civkit.hosts.standalone import StandaloneHost
    from civkit.service import CivkitService
    from civkit.ui.context import UiContext
    from civkit.ui.views_search import SearchView

    pytest.importorskip("gradio")
    service = CivkitService(load_config(api_base=fake_civitai.base_url), StandaloneHost(tmp_path))
    try:
        out = SearchView(UiContext(service)).open_ref(f"{fake_civitai.base_url}/models/101?token={SECRET}")
        assert out[3]["id"] == 101
        assert out[4] == TOKEN_REMOVED
    finally:
        service.close()
