"""Issue 13 item 20: one strict SFW rule everywhere (CLI included), and hidden results are counted."""

from __future__ import annotations

import json

import pytest

from civkit.cli.main import main
from civkit.config import load_config
from civkit.hosts import StandaloneHost
from civkit.service import CivkitService

QUERY = "Anime Eyes"  # only model 102: level 9 (PG | X), which Civitai's nsfw=false still returns


@pytest.fixture
def service(fake_civitai, tmp_path, civkit_home):
    models = tmp_path / "models"
    models.mkdir()
    svc = CivkitService(load_config(api_base=fake_civitai.base_url), StandaloneHost(models, "comfyui"))
    yield svc
    svc.close()


def test_service_counts_what_strict_sfw_hid(service):
    page = service.search(QUERY, nsfw=False)
    assert page["items"] == [] and page["hidden"] == 1
    shown = service.search(QUERY, nsfw=True)
    assert [i["id"] for i in shown["items"]] == [102] and shown["hidden"] == 0


def test_cli_search_hides_what_the_uis_hide_and_says_how_to_show_it(capsys, fake_civitai):
    assert main(["--api-base", fake_civitai.base_url, "search", QUERY]) == 0
    out, err = capsys.readouterr()
    assert "Anime Eyes Detailer" not in out
    assert "1 model hidden by the strict SFW filter" in out + err and "--nsfw" in out + err
    assert main(["--api-base", fake_civitai.base_url, "search", QUERY, "--nsfw"]) == 0
    out, err = capsys.readouterr()
    assert "Anime Eyes Detailer" in out and "hidden" not in out + err


def test_cli_search_json_keeps_stdout_clean_and_tells_stderr(capsys, fake_civitai):
    assert main(["--api-base", fake_civitai.base_url, "--json", "search", "anime", "--limit", "100"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(not (r["nsfwLevel"] & ~3) for r in rows)
    assert 101 not in {r["id"] for r in rows} and 102 not in {r["id"] for r in rows}
    assert "hidden by the strict SFW filter" in err and "--nsfw" in err


def test_cli_search_fills_the_limit_with_safe_models(capsys, fake_civitai):
    assert main(["--api-base", fake_civitai.base_url, "--json", "search", "anime", "--limit", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and all(not (r["nsfwLevel"] & ~3) for r in rows)
