"""``civkit search`` and ``civkit show`` through ``civkit.cli.main.main`` and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from civkit.cli.main import main

REPO = Path(__file__).resolve().parent.parent


def run(capsys, fake, *args):
    code = main(["--api-base", fake.base_url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# -- search -------------------------------------------------------------------------------------------

def test_search_json_prints_one_object_per_model(capsys, fake_civitai):
    code, out, err = run(capsys, fake_civitai, "--json", "search", "anime", "--type", "LORA", "--nsfw")
    assert code == 0 and err == ""
    models = json_lines(out)
    assert len(models) >= 2
    for m in models:
        assert {"id", "name", "type", "nsfw", "creator", "versions"} <= set(m)
        assert m["type"] == "LORA"
        assert all({"id", "name", "baseModel"} <= set(v) for v in m["versions"])
    assert 101 in [m["id"] for m in models]
    assert all("page=" not in p for _m, p, _a in fake_civitai.request_log)


def test_search_table_for_people(capsys, fake_civitai):
    code, out, err = run(capsys, fake_civitai, "search", "--type", "lora", "--base-model", "SD 1.5", "--sort",
                         "most-downloaded", "--limit", "5", "--nsfw")  # 101 is PG|R: strict SFW hides it
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "TYPE", "BASE", "MODEL", "CREATOR", "DOWNLOADS", "VERSIONS"]
    assert 1 <= len(lines) - 1 <= 5
    assert "Anime Lineart Style" in out
    path = next(p for _m, p, _a in fake_civitai.request_log if p.startswith("/api/v1/models"))
    assert "sort=Most+Downloaded" in path or "sort=Most%20Downloaded" in path


def test_search_with_no_results(capsys, fake_civitai):
    code, out, _ = run(capsys, fake_civitai, "search", "zzzz-no-such-thing")
    assert code == 0 and out.strip() == "No models found."


def test_search_limit_caps_the_output(capsys, fake_civitai):
    code, out, _ = run(capsys, fake_civitai, "--json", "search", "--limit", "3")
    assert code == 0 and len(json_lines(out)) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", "--sort", "best"], "civkit: unknown sort 'best'; use one of: Highest Rated, Most Downloaded, "
                                       "Most Liked, Most Discussed, Most Collected, Most Images, Newest, Oldest"),
        (["search", "--period", "decade"], "civkit: unknown period 'decade'; use one of: AllTime, Year, Month, "
                                           "Week, Day"),
        (["search", "--limit", "0"], "civkit: --limit must be between 1 and 10000"),
        (["search", "--type", "Spaceship"], "civkit: Civitai rejected the request: types.0: Invalid option: "),
    ],
)
def test_bad_search_input_exits_2_with_one_line(capsys, fake_civitai, args, message):
    code, out, err = run(capsys, fake_civitai, *args)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_unknown_user_exits_1(capsys, fake_civitai):
    code, out, err = run(capsys, fake_civitai, "search", "--user", "nobody-here")
    assert (code, out, err) == (1, "", "civkit: Not found on Civitai: User not found.\n")


def test_civitai_unreachable_exits_1_without_traceback(capsys, fake_civitai):
    fake_civitai.faults.region_blocked = True
    code, out, err = run(capsys, fake_civitai, "search", "anime")
    assert code == 1 and out == ""
    assert err == ("civkit: Civitai is not available in your region (Civitai said: Access to this service is not "
                   "available in your region due to legal restrictions.).\n")


# -- show ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "ref, selected",
    [
        ("101", None),
        ("1010", 1010),  # a bare version id: model lookup 404s, then the version is found
        ("101@1010", 1010),
        ("https://civitai.com/models/101/anime-lineart?modelVersionId=1010", 1010),
        ("https://civitai.red/model-versions/1011", 1011),
        ("urn:air:sd1:lora:civitai:101@1011", 1011),
    ],
)
def test_show_json_accepts_every_kind_of_reference(capsys, fake_civitai, ref, selected):
    code, out, err = run(capsys, fake_civitai, "--json", "show", ref)
    assert code == 0 and err == ""
    (obj,) = json_lines(out)
    assert obj["id"] == 101 and obj["name"] == "Anime Lineart Style" and obj["creator"] == "inkbrush"
    assert obj["selectedVersionId"] == selected
    v = next(v for v in obj["versions"] if v["id"] == 1011)
    assert v["files"][0]["id"] == 10110 and len(v["files"][0]["hashes"]["SHA256"]) == 64


def test_show_accepts_the_configured_api_base_in_urls(capsys, fake_civitai):
    code, out, _ = run(capsys, fake_civitai, "--json", "show", f"{fake_civitai.base_url}/models/107")
    assert code == 0 and json_lines(out)[0]["type"] == "Checkpoint"


def test_show_for_people(capsys, fake_civitai):
    code, out, err = run(capsys, fake_civitai, "show", "101@1011")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "Anime Lineart Style  (LORA, model 101)  by inkbrush"
    assert " * version 1011" in out and "file 10110" in out and "trigger words:" in out


@pytest.mark.parametrize(
    "ref, code, message",
    [
        ("not a ref", 2, "civkit: Cannot tell which Civitai model 'not a ref' means. Use a Civitai model URL"),
        ("https://example.com/models/1", 2, "civkit: Cannot tell which Civitai model 'https://example.com/models/1' "
                                            "means (example.com is not a Civitai site)."),
        ("99999", 1, "civkit: Not found on Civitai: no model or version with id 99999."),
        ("99999@1", 1, "civkit: Not found on Civitai: No model with id 99999."),
    ],
)
def test_show_errors(capsys, fake_civitai, ref, code, message):
    got, out, err = run(capsys, fake_civitai, "show", ref)
    assert got == code and out == ""
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


# -- as a real process ---------------------------------------------------------------------------------

def test_search_as_a_subprocess(fake_civitai, tmp_path):
    env = {**os.environ, "CIVKIT_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    env.pop("CIVITAI_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "civkit.cli.main", "--api-base", fake_civitai.base_url, "search", "anime",
         "--type", "LORA", "--json"],
        capture_output=True, text=True, env=env, cwd=str(REPO), timeout=120)
    assert result.returncode == 0, result.stderr
    models = json_lines(result.stdout)
    assert models and all(m["type"] == "LORA" for m in models)
    assert fake_civitai.count("/api/v1/models") >= 1


def test_show_bad_ref_as_a_subprocess_exits_2(fake_civitai, tmp_path):
    env = {**os.environ, "CIVKIT_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "civkit.cli.main", "--api-base", fake_civitai.base_url, "show", "nonsense"],
        capture_output=True, text=True, env=env, cwd=str(REPO), timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("civkit: Cannot tell which Civitai model 'nonsense' means.")
    assert "Traceback" not in result.stderr


# -- paging across the 1000-item cap ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bulk_fake(tmp_path_factory):
    from civkit.testing import FakeCivitai

    with FakeCivitai(files_dir=tmp_path_factory.mktemp("bulk-catalog"), extra_models=1100) as fake:
        yield fake


def _model_requests(fake):
    return [p for _m, p, _a in fake.request_log if p.startswith("/api/v1/models")]


def test_search_limit_250_without_query_pages_by_page(capsys, bulk_fake):
    bulk_fake.reset()
    code, out, err = run(capsys, bulk_fake, "--json", "search", "--limit", "250", "--nsfw")
    assert code == 0 and err == ""
    ids = [m["id"] for m in json_lines(out)]
    assert len(ids) == 250 == len(set(ids))
    paths = _model_requests(bulk_fake)
    assert len(paths) == 3 and all(f"page={n}" in p for n, p in enumerate(paths, 1))


def test_search_limit_past_1000_switches_to_cursors(capsys, bulk_fake):
    bulk_fake.reset()
    code, out, err = run(capsys, bulk_fake, "--json", "search", "--limit", "1100", "--nsfw")
    assert code == 0 and err == ""
    ids = [m["id"] for m in json_lines(out)]
    assert len(ids) == 1100 == len(set(ids))
    paths = _model_requests(bulk_fake)
    assert len(paths) == 11 and "page=10" in paths[9]
    assert "cursor=" in paths[10] and "page=" not in paths[10]  # page 11 would be a 429


def test_search_limit_250_with_a_small_page_size(capsys, bulk_fake):
    bulk_fake.reset()
    code, out, _ = run(capsys, bulk_fake, "--json", "search", "--limit", "250", "--page-size", "50",
                         "--nsfw")
    ids = [m["id"] for m in json_lines(out)]
    assert code == 0 and len(ids) == 250 == len(set(ids)) and len(_model_requests(bulk_fake)) == 5


def test_search_nsfw_includes_models_without_a_pg_level(capsys, fake_civitai):
    _code, out, _ = run(capsys, fake_civitai, "--json", "search", "--limit", "100")
    sfw = {m["id"] for m in json_lines(out)}
    _code, out, _ = run(capsys, fake_civitai, "--json", "search", "--limit", "100", "--nsfw")
    everything = {m["id"] for m in json_lines(out)}
    assert 123 not in sfw and 123 in everything and sfw < everything


def test_search_tag_user_and_period_filters(capsys, fake_civitai):
    code, out, _ = run(capsys, fake_civitai, "--json", "search", "--user", "inkbrush", "--tag", "style",
                       "--period", "alltime")
    models = json_lines(out)
    assert code == 0 and models and all(m["creator"] == "inkbrush" and "style" in m["tags"] for m in models)
    path = next(p for _m, p, _a in fake_civitai.request_log if p.startswith("/api/v1/models"))
    assert "username=inkbrush" in path and "tag=style" in path and "period=AllTime" in path
