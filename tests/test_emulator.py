"""The Civitai emulator, checked over real sockets with plain `requests` against CIVITAI_API.md."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from safetensors import safe_open

from civkit.testing import FakeCivitai, build_demo_catalog

REPO = Path(__file__).resolve().parents[1]
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"


def get(fake, path, key=None, **kw):
    headers = kw.pop("headers", {})
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.get(fake.base_url + path, headers=headers, allow_redirects=False, timeout=30, **kw)


def resolve(fake, version_id, key=None, query=""):
    r = get(fake, f"/api/download/models/{version_id}{query}", key)
    assert r.status_code == 307, r.text
    assert r.text == r.headers["Location"]
    return r.headers["Location"]


def all_files(fake):
    for m in fake.catalog.models:
        for v in m["modelVersions"]:
            yield from ((m, v, f) for f in v["files"])


# ---------------------------------------------------------------- catalog


def test_catalog_hashes_equal_the_served_bytes(fake_civitai):
    checked = 0
    for _m, v, f in all_files(fake_civitai):
        if f["id"] >= 200000 or v["status"] != "Published":
            continue
        r = get(fake_civitai, f"/api/download/models/{v['id']}?fileId={f['id']}")
        if r.status_code != 307:
            continue
        body = requests.get(r.headers["Location"], timeout=30).content
        assert hashlib.sha256(body).hexdigest().upper() == f["hashes"]["SHA256"]
        assert f["hashes"]["AutoV2"] == f["hashes"]["SHA256"][:10]
        assert abs(f["sizeKB"] * 1024 - len(body)) < 1
        checked += 1
    assert checked >= 20


def test_catalog_safetensors_headers_parse(fake_civitai):
    seen_meta = 0
    for path in fake_civitai.catalog.files.values():
        if path.suffix != ".safetensors":
            continue
        raw = path.read_bytes()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
        assert max(ends) == len(raw) - 8 - n
        with safe_open(str(path), framework="numpy") as st:
            assert list(st.keys())
            meta = st.metadata() or {}
        if "ss_tag_frequency" in meta:
            json.loads(meta["ss_tag_frequency"])
            assert meta["ss_base_model_version"] and meta["modelspec.architecture"]
            seen_meta += 1
    assert seen_meta >= 8


def test_catalog_covers_autov1_and_correct_and_wrong_sshs_hashes(fake_civitai):
    cat = fake_civitai.catalog
    _m, _v, big = cat.find_file(10110)
    _m, _v, small = cat.find_file(10100)
    assert big["sizeKB"] * 1024 >= 2 * 1024 * 1024 and len(big["hashes"]["AutoV1"]) == 8
    assert "AutoV1" not in small["hashes"]

    def sshs(fid):
        with safe_open(str(cat.files[fid]), framework="numpy") as st:
            return st.metadata()["sshs_model_hash"]

    assert sshs(10110)[:12].upper() == big["hashes"]["AutoV3"]
    _m, _v, wrong = cat.find_file(10200)
    assert sshs(10200)[:12].upper() != wrong["hashes"]["AutoV3"]


def test_rebuilding_in_the_same_folder_reuses_files(tmp_path):
    first = build_demo_catalog(tmp_path)
    stamps = {fid: p.stat().st_mtime_ns for fid, p in first.files.items()}
    second = build_demo_catalog(tmp_path)
    assert {fid: p.stat().st_mtime_ns for fid, p in second.files.items()} == stamps
    assert second.find_file(10700)[2]["hashes"] == first.find_file(10700)[2]["hashes"]


def test_added_models_are_served_and_found_by_hash(fake_civitai, tmp_path):
    path = tmp_path / "my_lora.safetensors"
    path.write_bytes(struct.pack("<Q", 2) + b"{}" + b"hello world")
    model = fake_civitai.add_model(path, name="My Test LoRA", trained_words=["mytrigger"])
    vid = model["modelVersions"][0]["id"]
    hit = get(fake_civitai, "/api/v1/model-versions/by-hash/B94D27B9934D").json()  # AutoV3 of "hello world"
    assert hit["id"] == vid and hit["trainedWords"] == ["mytrigger"]
    assert requests.get(resolve(fake_civitai, vid), timeout=10).content == path.read_bytes()


def test_large_file_model_hashes_match(fake_civitai):
    model = fake_civitai.catalog.add_large_file_model(5 * 1024 * 1024 + 3, seed="test")
    v = model["modelVersions"][0]
    body = requests.get(resolve(fake_civitai, v["id"]), timeout=30).content
    assert len(body) == 5 * 1024 * 1024 + 3
    assert hashlib.sha256(body).hexdigest().upper() == v["files"][0]["hashes"]["SHA256"]
    assert v["files"][0]["hashes"]["AutoV3"]


# ---------------------------------------------------------------- /models validation (§4.1, §1.5)


@pytest.mark.parametrize("query, status, body", [
    ("favorites=false", 401, {"error": "Unauthorized"}),
    ("hidden=true", 401, {"error": "Unauthorized"}),
    ("page=11&limit=100", 429, {"error": "You've requested too many pages, please use cursors instead"}),
    ("query=x&page=1", 400, {"error": "Cannot use page param with query search. Use cursor-based pagination."}),
    ("username=nobody_here", 404, {"message": "User not found"}),
    ("cursor=5", 400, {"message": "Invalid cursor: expected 3 value(s) for this sort, received 1"}),
])
def test_models_rules(fake_civitai, query, status, body):
    r = get(fake_civitai, "/api/v1/models?" + query)
    assert (r.status_code, r.json()) == (status, body)
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"


def test_models_limit_too_big_exact_body(fake_civitai):
    r = get(fake_civitai, "/api/v1/models?limit=500")
    assert r.status_code == 400
    assert r.json() == {"error": {"name": "ZodError", "message": (
        '[\n  {\n    "origin": "number",\n    "code": "too_big",\n    "maximum": 100,\n    "inclusive": true,\n'
        '    "path": [\n      "limit"\n    ],\n    "message": "Too big: expected number to be <=100"\n  }\n]')}}


@pytest.mark.parametrize("query, path", [
    ("sort=bad", ["sort"]), ("types=LORA,VAE", ["types", 0]), ("allowNoCredit=true", ["allowNoCredit"]),
    ("browsingLevel=1", ["browsingLevel"]), ("nsfw=maybe", ["nsfw"]), ("limit=abc", ["limit"]),
    ("limit=-1", ["limit"]), ("page=0", ["page"]),
])
def test_models_validation_is_a_zod_error(fake_civitai, query, path):
    r = get(fake_civitai, "/api/v1/models?" + query)
    assert r.status_code == 400
    issues = json.loads(r.json()["error"]["message"])
    assert r.json()["error"]["name"] == "ZodError" and issues[0]["path"] == path
    if query == "sort=bad":
        assert issues[0]["code"] == "invalid_value" and len(issues[0]["values"]) == 8


def test_models_filters(fake_civitai):
    def ids(query, key=None):
        return [m["id"] for m in get(fake_civitai, "/api/v1/models?limit=100&" + query, key).json()["items"]]

    everything = ids("")
    assert 123 not in everything and 125 not in everything and 124 in everything  # PG bit only (§3)
    assert 123 in ids("nsfw=true")
    assert ids("tag=no-such-tag") == everything  # an unknown tag drops the filter
    assert set(ids("tag=ANIME")) == {101, 102, 103, 121, 124}
    assert set(ids("types=LORA&types=LoCon")) == {101, 102, 103, 104, 105, 118, 119, 121, 122}
    assert get(fake_civitai, "/api/v1/models?username=Pixel Fox").status_code == 404  # "pixel_fox"
    assert set(ids("username=PixelFox")) == {102, 103, 121, 124}
    assert set(ids("favorites=true", fake_civitai.api_key)) == {101, 107}
    assert set(ids("hidden=1", fake_civitai.api_key)) == {124}
    assert 124 not in ids("", fake_civitai.api_key)
    assert ids("ids=105,101") == [105, 101]  # Highest Rated order
    assert set(ids("checkpointType=Merge&types=Checkpoint")) == {108, 120, 124}


def test_models_narrowing_and_image_filter(fake_civitai):
    items = get(fake_civitai, "/api/v1/models?ids=101&baseModels=SD%201.5&modelVersionIds=1010").json()["items"]
    assert [v["id"] for v in items[0]["modelVersions"]] == [1010]
    assert get(fake_civitai, "/api/v1/models?ids=101&baseModels=SD%201.5,SDXL%201.0").json()["items"] == []
    m107 = get(fake_civitai, "/api/v1/models?ids=107&primaryFileOnly=true").json()["items"][0]
    assert [f["id"] for f in m107["modelVersions"][0]["files"]] == [10700]
    m101 = get(fake_civitai, "/api/v1/models?ids=101").json()["items"][0]
    assert [v["id"] for v in m101["modelVersions"]] == [1011, 1010]  # the draft is never listed
    assert all(i["nsfwLevel"] == 1 for v in m101["modelVersions"] for i in v["images"])
    nsfw = get(fake_civitai, "/api/v1/models?ids=101&nsfw=true").json()["items"][0]
    assert any(i["nsfwLevel"] == 4 for i in nsfw["modelVersions"][0]["images"])
    files = nsfw["modelVersions"][0]["files"]
    assert files[0]["primary"] is True and files[0]["downloadUrl"].endswith("/api/download/models/1011")


@pytest.mark.parametrize("sort", ["Highest Rated", "Most Downloaded", "Newest", "Oldest", "Most Discussed"])
def test_models_cursor_paging_walks_everything_once(fake_civitai, sort):
    expected = [m["id"] for m in get(fake_civitai, "/api/v1/models", params={"sort": sort}).json()["items"]]
    seen, params = [], {"sort": sort, "limit": 4}
    while True:
        r = get(fake_civitai, "/api/v1/models", params=params)
        data = r.json()
        seen += [m["id"] for m in data["items"]]
        assert "currentPage" not in data["metadata"]
        if "nextCursor" not in data["metadata"]:
            assert "nextPage" not in data["metadata"]
            break
        assert data["metadata"]["nextPage"].startswith(fake_civitai.base_url)
        params["cursor"] = data["metadata"]["nextCursor"]
    assert seen == expected
    if sort == "Newest":  # a cursor belongs to its sort
        cursor = get(fake_civitai, "/api/v1/models?limit=2").json()["metadata"]["nextCursor"]
        r = get(fake_civitai, "/api/v1/models", params={"sort": "Newest", "cursor": cursor})
        assert r.status_code == 400 and r.json()["message"].startswith("Invalid cursor: ")


def test_models_page_paging_metadata(fake_civitai):
    data = get(fake_civitai, "/api/v1/models?limit=5&page=2").json()
    assert data["metadata"]["currentPage"] == 2 and data["metadata"]["pageSize"] == 5
    assert "cursor=" in data["metadata"]["nextPage"] and "page=2" in data["metadata"]["nextPage"]
    follow = requests.get(data["metadata"]["nextPage"], timeout=10).json()
    page3 = get(fake_civitai, "/api/v1/models?limit=5&page=3").json()
    assert [m["id"] for m in follow["items"]] == [m["id"] for m in page3["items"]]
    assert "currentPage" not in follow["metadata"]


def test_query_search_pages_by_offset_cursor(fake_civitai):
    first = get(fake_civitai, "/api/v1/models?query=anime&limit=2").json()
    assert len(first["items"]) == 2 and first["metadata"]["nextCursor"] == "2"
    rest = get(fake_civitai, "/api/v1/models?query=anime&limit=50&cursor=2").json()
    names = [m["name"] for m in first["items"] + rest["items"]]
    assert all("anime" in n.lower() or n in ("Character Trainer LORA", "Spicy Anime Mix") for n in names)
    assert "nextCursor" not in rest["metadata"]


def test_post_to_models_is_405(fake_civitai):
    r = requests.post(fake_civitai.base_url + "/api/v1/models", timeout=10)
    assert (r.status_code, r.json()) == (405, {"error": "Method not allowed"})


@pytest.fixture(scope="module")
def bulk_fake(tmp_path_factory):
    with FakeCivitai(files_dir=tmp_path_factory.mktemp("bulk"), extra_models=1200) as fake:
        yield fake


def test_paging_past_the_page_cap_needs_cursors(bulk_fake):
    assert get(bulk_fake, "/api/v1/models?limit=100&page=10").status_code == 200
    assert get(bulk_fake, "/api/v1/models?limit=100&page=11").status_code == 429
    seen, cursor = set(), None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        data = get(bulk_fake, "/api/v1/models", params=params).json()
        seen.update(m["id"] for m in data["items"])
        cursor = data["metadata"].get("nextCursor")
        if cursor is None:
            break
    assert len(seen) >= 1200 + 20


# ---------------------------------------------------------------- /models/:id and versions


@pytest.mark.parametrize("path, status, body", [
    ("/api/v1/models/abc", 400, {"error": "✖ Invalid input: expected number, received NaN\n  → at id"}),
    ("/api/v1/models/0", 400, {"error": "✖ Too small: expected number to be >0\n  → at id"}),
    ("/api/v1/models/99999999999", 400, {"error": "✖ Too big: expected number to be <=2147483647\n  → at id"}),
    ("/api/v1/models/1.5", 400, {"error": "✖ Invalid input: expected int, received number\n  → at id"}),
    ("/api/v1/models/999999", 404, {"error": "No model with id 999999"}),
    ("/api/v1/model-versions/abc", 400, {"error": "✖ Invalid input: expected number, received NaN\n  → at id"}),
    ("/api/v1/model-versions/0", 400, {"error": "Missing modelVersionId"}),
    ("/api/v1/model-versions/999999", 404, {"error": "Model not found"}),
    ("/api/v1/model-versions/1012", 404, {"error": "Model not found"}),  # draft
    ("/api/v1/model-versions/1250", 404, {"error": "Model not found"}),  # level 0
    ("/api/v1/model-versions/by-hash/ABCDEF", 404, {"error": "Model not found"}),
])
def test_id_routes_errors(fake_civitai, path, status, body):
    r = get(fake_civitai, path)
    assert (r.status_code, r.json()) == (status, body)


def test_model_by_id_is_cleaned(fake_civitai):
    m = get(fake_civitai, "/api/v1/models/101").json()
    for v in m["modelVersions"]:
        assert all(val is not None and val != [] for val in v.values())
        assert "supportsGeneration" not in v and v["status"] == "Published" and "covered" in v
        assert all("id" not in i for i in v["images"])
        assert all(None not in f["metadata"].values() for f in v["files"])
    archived = get(fake_civitai, "/api/v1/models/118").json()
    assert archived["mode"] == "Archived"
    assert "files" not in archived["modelVersions"][0] and "downloadUrl" not in archived["modelVersions"][0]
    taken = get(fake_civitai, "/api/v1/models/122").json()
    assert taken["mode"] == "TakenDown" and "images" not in taken["modelVersions"][0]


def test_version_route_shape(fake_civitai):
    v = get(fake_civitai, "/api/v1/model-versions/1070").json()
    assert v["modelId"] == 107 and v["model"]["type"] == "Checkpoint" and v["air"].endswith(":107@1070")
    assert [f["primary"] for f in v["files"]] == [True, False, False, False]
    assert v["files"][2]["downloadUrl"].endswith("?fileId=10702") or "type=VAE" in v["files"][2]["downloadUrl"]
    assert "creator" not in v and "id" not in v["images"][0] and v["licensingFee"] is None
    ea = get(fake_civitai, "/api/v1/model-versions/1040").json()
    assert ea["earlyAccessEndsAt"] and ea["earlyAccessTimeFrame"] == 30


def test_by_hash_matches_all_six_kinds_case_insensitive(fake_civitai):
    _m, _v, f = fake_civitai.catalog.find_file(10500)
    for kind, value in f["hashes"].items():
        r = get(fake_civitai, f"/api/v1/model-versions/by-hash/{value.lower()}")
        assert r.status_code == 200, kind
        assert r.json()["id"] == 1050
        assert r.json()["files"][0]["overrideName"] == "DetailTweaker-LoCon-by-inkbrush.safetensors"
    assert get(fake_civitai, f"/api/v1/model-versions/by-hash/{f['hashes']['SHA256'][:20]}").status_code == 404
    _m, _v, pending = fake_civitai.catalog.find_file(12500)
    assert get(fake_civitai, f"/api/v1/model-versions/by-hash/{pending['hashes']['SHA256']}").json()["id"] == 1250


def _post(fake, path, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(fake.base_url + path, data=data, headers=headers, timeout=30)


def test_bulk_by_hash_errors(fake_civitai):
    r = _post(fake_civitai, "/api/v1/model-versions/by-hash", ["abc"])
    assert r.status_code == 400
    assert r.json() == {"error": 'Request must include an array of SHA256 Hashes. [\n  {\n    "code": "custom",\n'
                                 '    "path": [\n      0\n    ],\n    "message": "Invalid hash"\n  }\n]'}
    r = _post(fake_civitai, "/api/v1/model-versions/by-hash", json.dumps(["A" * 64]), content_type="text/plain")
    assert r.status_code == 400 and "expected array, received string" in r.json()["error"]
    r = _post(fake_civitai, "/api/v1/model-versions/by-hash", b"", content_type=None)
    assert "expected array, received undefined" in r.json()["error"]
    r = _post(fake_civitai, "/api/v1/model-versions/by-hash", ["A" * 64] * 101)
    assert r.status_code == 400 and '"maximum": 100' in r.json()["error"] and "Too many hashes" in r.json()["error"]
    r = _post(fake_civitai, "/api/v1/model-versions/by-hash/ids", ["A" * 64] * 10001)
    assert r.status_code == 400 and '"maximum": 10000' in r.json()["error"]
    assert all(x.json()["error"].startswith("Request must include an array of SHA256 Hashes.") for x in [r])


def test_bulk_by_hash_matches(fake_civitai):
    cat = fake_civitai.catalog
    shas = [cat.find_file(fid)[2]["hashes"]["SHA256"] for fid in (10700, 10110, 10500)]
    autov2 = cat.find_file(10900)[2]["hashes"]["AutoV2"]
    r = _post(fake_civitai, "/api/v1/model-versions/by-hash", [s.lower() for s in shas] + ["0" * 64])
    assert r.status_code == 200 and sorted(v["id"] for v in r.json()) == [1011, 1050, 1070]
    assert all(v["downloadUrl"].startswith(fake_civitai.base_url) for v in r.json())
    ids = _post(fake_civitai, "/api/v1/model-versions/by-hash/ids", shas).json()
    assert {(i["modelVersionId"], i["modelId"]) for i in ids} == {(1070, 107), (1011, 101), (1050, 105)}
    assert _post(fake_civitai, "/api/v1/model-versions/by-hash", [autov2]).status_code == 400
    fake_civitai.faults.undefined_bulk_urls = True
    r = _post(fake_civitai, "/api/v1/model-versions/by-hash", shas[:1])
    assert r.json()[0]["downloadUrl"] == "https://undefined/api/download/models/1070"


# ---------------------------------------------------------------- downloads (§5.2)


@pytest.mark.parametrize("path, key, status, body", [
    ("/api/download/models/1030", None, 401, {"error": "Unauthorized", "message":
                                              "The creator of this asset requires you to be logged in to download it"}),
    ("/api/download/models/1030", "not-a-real-key", 401, {"error": "Unauthorized", "message":
                                                          "The creator of this asset requires you to be logged in to "
                                                          "download it"}),
    ("/api/download/models/1190", "KEY", 401, {"error": "Unauthorized", "message":
                                               "The creator of this asset has disabled downloads on this file"}),
    ("/api/download/models/1180", "KEY", 410, {"error": "Model archived, not available for download"}),
    ("/api/download/models/1220", "KEY", 404, {"error": "File not found"}),
    ("/api/download/models/999999", None, 404, {"error": "File not found"}),
    ("/api/download/models/1012", "KEY", 404, {"error": "File not found"}),
    ("/api/download/models/1070?fileId=10110", None, 404, {"error": "File not found"}),
    ("/api/download/models/1070?type=Negative", None, 404, {"error": "File not found"}),
    ("/api/download/models/1070?fileId=10700&fp=fp32", None, 404, {"error": "File not found"}),
    ("/api/download/models/abc", None, 400, {"error": "✖ Invalid input: expected number, received NaN\n  → at id"}),
])
def test_download_errors_for_programs(fake_civitai, path, key, status, body):
    r = get(fake_civitai, path, fake_civitai.api_key if key == "KEY" else key)
    assert (r.status_code, r.json()) == (status, body)
    assert r.headers["Cache-Control"] == "no-store, max-age=0"


def test_download_bad_selector_is_json_even_for_browsers(fake_civitai):
    r = get(fake_civitai, "/api/download/models/1070?format=Zip", headers={"User-Agent": BROWSER_UA})
    assert r.status_code == 400 and r.json()["error"].startswith("✖ Invalid option") and "→ at format" in r.text


def test_early_access_is_403_with_a_future_deadline(fake_civitai):
    r = get(fake_civitai, "/api/download/models/1040", fake_civitai.api_key)
    assert r.status_code == 403
    data = r.json()
    assert data["error"] == "Early Access" and data["message"].startswith("This asset is in Early Access")
    assert data["deadline"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def test_browser_user_agents_get_text_and_redirects(fake_civitai):
    ua = {"User-Agent": BROWSER_UA}
    r = get(fake_civitai, "/api/download/models/999999", headers=ua)
    assert (r.status_code, r.text) == (404, "File not found") and r.headers["Content-Type"].startswith("text/plain")
    r = get(fake_civitai, "/api/download/models/1030", headers=ua)
    assert r.status_code == 307
    assert r.headers["Location"] == "/login?returnUrl=%2Fmodel-versions%2F1030&reason=download-auth"
    r = get(fake_civitai, "/api/download/models/1040", headers=ua)
    assert (r.status_code, r.headers["Location"]) == (307, "/model-versions/1040")
    followed = requests.get(fake_civitai.base_url + "/api/download/models/1030", headers=ua, timeout=10)
    assert followed.status_code == 200 and followed.headers["Content-Type"].startswith("text/html")


def test_download_success_redirects_to_signed_storage(fake_civitai):
    key = fake_civitai.api_key
    for query, file_id in [("", 10700), ("?type=VAE", 10702), ("?fileId=10701", 10701), ("?fp=fp32", 10701),
                           ("?type=Config", 10703)]:
        location = resolve(fake_civitai, 1070, key, query)
        assert location.startswith(f"{fake_civitai.base_url}/storage/{file_id}/")
    r = requests.get(resolve(fake_civitai, 1030, key), timeout=10)  # login-gated, with a key
    assert r.status_code == 200
    r = requests.get(resolve(fake_civitai, 1050), timeout=10)
    assert r.headers["Content-Disposition"] == 'attachment; filename="DetailTweaker-LoCon-by-inkbrush.safetensors"'
    r = requests.get(resolve(fake_civitai, 1100), timeout=10)
    assert r.headers["Content-Disposition"] == 'attachment; filename="easynegplus-neg.safetensors"'
    assert fake_civitai.downloads_counted == 8


# ---------------------------------------------------------------- storage (§5.4)


def test_storage_ranges(fake_civitai):
    url = resolve(fake_civitai, 1011)
    full = requests.get(url, timeout=10)
    size = len(full.content)
    assert full.headers["Accept-Ranges"] == "bytes" and int(full.headers["Content-Length"]) == size
    r = requests.get(url, headers={"Range": "bytes=100-"}, timeout=10)
    assert r.status_code == 206 and r.content == full.content[100:]
    assert r.headers["Content-Range"] == f"bytes 100-{size - 1}/{size}"
    r = requests.get(url, headers={"Range": "bytes=-10"}, timeout=10)
    assert r.status_code == 206 and r.content == full.content[-10:]
    r = requests.get(url, headers={"Range": f"bytes={size}-"}, timeout=10)
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{size}"
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == size


def test_storage_refuses_extra_credentials_and_bad_signatures(fake_civitai):
    url = resolve(fake_civitai, 1011)
    assert requests.get(url, headers={"Authorization": f"Bearer {fake_civitai.api_key}"}, timeout=10).status_code == 403
    assert requests.get(url + "&token=abc", timeout=10).status_code == 403
    forged = url.replace("X-Signature=", "X-Signature=0")
    assert requests.get(forged, timeout=10).status_code == 403
    other_file = url.replace("/storage/10110/", "/storage/10700/")
    assert requests.get(other_file, timeout=10).status_code == 403
    fake_civitai.faults.storage_ttl = -1
    expired = resolve(fake_civitai, 1011)
    r = requests.get(expired, timeout=10)
    assert r.status_code == 403 and "expired" in r.text
    # a client following the 307 with its Authorization header still on is refused, as B2/S3 do
    r = requests.get(fake_civitai.base_url + "/api/download/models/1011",
                     headers={"Authorization": f"Bearer {fake_civitai.api_key}"}, timeout=10)
    assert r.status_code == 403


# ---------------------------------------------------------------- faults


def test_fault_drop_connection_three_times(fake_civitai):
    url = resolve(fake_civitai, 1011)
    expected = requests.get(url, timeout=10).content
    fake_civitai.faults.drop_after_bytes = 50_000
    fake_civitai.faults.drop_count = 3
    got = b""
    drops = 0
    while len(got) < len(expected):
        headers = {"Range": f"bytes={len(got)}-"} if got else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=10) as r:
                for chunk in r.iter_content(8192):
                    got += chunk
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
            drops += 1
    assert drops == 3 and got == expected


def test_fault_ignore_range_and_corrupt(fake_civitai):
    url = resolve(fake_civitai, 1010)
    good = requests.get(url, timeout=10).content
    fake_civitai.faults.ignore_range = True
    r = requests.get(url, headers={"Range": "bytes=10-"}, timeout=10)
    assert r.status_code == 200 and r.content == good
    fake_civitai.faults.ignore_range = False
    fake_civitai.faults.corrupt_bytes = True
    bad = requests.get(url, timeout=10).content
    assert len(bad) == len(good) and bad != good
    assert sum(a != b for a, b in zip(bad, good, strict=True)) == 1


def test_fault_storage_error_then_recovers(fake_civitai):
    url = resolve(fake_civitai, 1010)
    fake_civitai.faults.storage_error_count = 1
    assert requests.get(url, timeout=10).status_code == 503
    assert requests.get(url, timeout=10).status_code == 200


def test_fault_slow_storage_still_serves_correct_bytes(fake_civitai):
    url = resolve(fake_civitai, 1010)
    good = requests.get(url, timeout=10).content
    fake_civitai.faults.chunk_delay = 0.001
    fake_civitai.faults.chunk_size = 64 * 1024
    assert requests.get(url, timeout=10).content == good


def test_fault_busy_then_recovers(fake_civitai):
    fake_civitai.faults.busy_count = 2
    for _ in range(2):
        r = get(fake_civitai, "/api/v1/models?limit=1")
        assert r.status_code == 503 and r.headers["Retry-After"] == "2"
        assert r.json() == {"error": "Model search is temporarily overloaded — please retry."}
    assert get(fake_civitai, "/api/v1/models?limit=1").status_code == 200
    fake_civitai.faults.busy_count = 1
    assert get(fake_civitai, "/api/v1/images").json() == {
        "error": "Image search is temporarily overloaded — please retry."}
    fake_civitai.faults.busy_count = 1
    r = get(fake_civitai, "/api/download/models/1011")
    assert (r.status_code, r.json()) == (503, {"error": "Server busy, please retry shortly."})
    fake_civitai.faults.error_count, fake_civitai.faults.error_status = 1, 502
    assert get(fake_civitai, "/api/v1/models/101").status_code == 502


@pytest.mark.parametrize("status", [403, 429])
def test_fault_cloudflare_html(fake_civitai, status):
    fake_civitai.faults.cloudflare_status = status
    fake_civitai.faults.cloudflare_count = 1
    r = get(fake_civitai, "/api/download/models/1011")
    assert r.status_code == status and r.headers["Content-Type"].startswith("text/html")
    assert "cloudflare" in r.text.lower()
    assert get(fake_civitai, "/api/download/models/1011").status_code == 307


def test_fault_quota_region_blocklist(fake_civitai):
    fake_civitai.faults.download_quota = True
    r = get(fake_civitai, "/api/download/models/1011")
    assert r.status_code == 429 and r.json()["error"].startswith("We've noticed an unusual amount of downloading")
    assert "Retry-After" not in r.headers
    fake_civitai.faults.download_quota = False
    fake_civitai.faults.blocklisted = True
    assert get(fake_civitai, "/api/download/models/1011").json() == {"error": "Forbidden"}
    fake_civitai.faults.region_blocked = True
    r = get(fake_civitai, "/api/v1/models/101")
    assert r.status_code == 451 and r.json()["code"] == "REGION_BLOCKED"


def test_fault_non_primary_redirect_drops_the_header(fake_civitai):
    fake_civitai.faults.non_primary_redirect = True
    r = get(fake_civitai, "/api/download/models/1030", fake_civitai.api_key)
    assert r.status_code == 307 and r.headers["Location"].startswith(f"http://localhost:{fake_civitai.port}/")
    followed = requests.get(fake_civitai.base_url + "/api/download/models/1030",
                            headers={"Authorization": f"Bearer {fake_civitai.api_key}"}, timeout=10)
    assert followed.status_code == 401  # requests drops Authorization on the cross-host hop


def test_fault_login_required_sitewide(fake_civitai):
    fake_civitai.faults.login_required_sitewide = True
    assert get(fake_civitai, "/api/download/models/1011").status_code == 401
    assert get(fake_civitai, "/api/download/models/1011", fake_civitai.api_key).status_code == 307


def test_fault_legacy_shapes(fake_civitai):
    fake_civitai.faults.legacy_shapes = True
    data = get(fake_civitai, "/api/v1/models?limit=3").json()
    assert isinstance(data["metadata"]["nextCursor"], int) and data["metadata"]["totalItems"] > 3
    assert data["metadata"]["totalPages"] >= 2
    uses = {m["id"]: m["allowCommercialUse"] for m in data["items"]}
    assert all(isinstance(u, str) for u in uses.values())
    assert get(fake_civitai, "/api/v1/models/108").json()["allowCommercialUse"] == "Rent"
    assert get(fake_civitai, "/api/v1/models/101").json()["allowCommercialUse"] == "{Image,RentCivit,Rent,Sell}"
    nxt = get(fake_civitai, f"/api/v1/models?limit=3&cursor={data['metadata']['nextCursor']}").json()
    assert not {m["id"] for m in nxt["items"]} & set(uses)


def test_etag_and_304(fake_civitai):
    r = get(fake_civitai, "/api/v1/models/101")
    tag = r.headers["ETag"]
    again = get(fake_civitai, "/api/v1/models/101", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    fake_civitai.faults.etag = False
    assert "ETag" not in get(fake_civitai, "/api/v1/models/101").headers


def test_faults_reset(fake_civitai):
    fake_civitai.faults.region_blocked = True
    fake_civitai.faults.busy_count = 4
    fake_civitai.reset()
    assert get(fake_civitai, "/api/v1/models/101").status_code == 200


# ---------------------------------------------------------------- auth, log, other routes


def test_auth_header_or_token_and_redacted_log(fake_civitai):
    key = fake_civitai.api_key
    assert get(fake_civitai, "/api/v1/me").json() == {"error": "Unauthorized"}
    assert get(fake_civitai, "/api/v1/me", "wrong-key").status_code == 401
    assert get(fake_civitai, "/api/v1/me", key).json()["username"] == "tester"
    assert get(fake_civitai, f"/api/v1/me?token={key}").status_code == 200
    # the query token is read only when there is no header
    assert get(fake_civitai, f"/api/v1/me?token={key}", "wrong-key").status_code == 401
    assert get(fake_civitai, "/api/v1/me", headers={"Authorization": f"Token {key}"}).status_code == 200
    assert all(key not in path for _m, path, _a in fake_civitai.request_log)
    assert ("GET", "/api/v1/me?token=***", False) in fake_civitai.request_log
    assert fake_civitai.count("/api/v1/me") == 6 and fake_civitai.count("/api/v1/models") == 0


def test_images_route(fake_civitai):
    data = get(fake_civitai, "/api/v1/images?modelVersionId=1011").json()
    assert [i["nsfwLevel"] for i in data["items"]] == ["None", "None"] and data["items"][0]["meta"] is None
    data = get(fake_civitai, "/api/v1/images?modelVersionId=1011&nsfw=X&withMeta=true").json()
    assert len(data["items"]) == 3 and data["items"][0]["meta"]["prompt"]
    assert {i["nsfwLevel"] for i in get(fake_civitai, "/api/v1/images?nsfw=true").json()["items"]} <= {
        "Mature", "X", "Blocked"}
    legacy = get(fake_civitai, "/api/v1/images?modelId=101&withMeta=true").json()["items"][0]["meta"]
    assert set(legacy) == {"id", "meta"}
    paged = get(fake_civitai, "/api/v1/images?limit=2").json()
    nxt = requests.get(paged["metadata"]["nextPage"], timeout=10).json()
    assert not {i["id"] for i in paged["items"]} & {i["id"] for i in nxt["items"]}
    assert get(fake_civitai, "/api/v1/images?limit=201").status_code == 400
    assert get(fake_civitai, "/api/v1/images?limit=200&page=6").status_code == 429
    assert get(fake_civitai, "/api/v1/images?baseModels=Nope").status_code == 400
    r = get(fake_civitai, "/api/v1/images?cursor=bogus")
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
    img = requests.get(data["items"][0]["url"], timeout=10)
    assert img.status_code == 200 and img.content.startswith(b"\x89PNG")


def test_creators_and_tags(fake_civitai):
    data = get(fake_civitai, "/api/v1/creators?limit=2").json()
    assert data["metadata"]["totalItems"] == 6 and data["metadata"]["totalPages"] == 3
    assert "nextPage" in data["metadata"] and "prevPage" not in data["metadata"]
    assert data["items"][0]["link"].endswith(f"/api/v1/models?username={data['items'][0]['username']}")
    found = get(fake_civitai, "/api/v1/creators?query=FOX").json()
    assert [c["username"] for c in found["items"]] == ["pixelfox"] and found["metadata"]["hasMore"] is False
    r = get(fake_civitai, "/api/v1/creators?limit=0")
    assert r.status_code == 400 and isinstance(r.json(), list)
    tags = get(fake_civitai, "/api/v1/tags?query=an&limit=5").json()
    assert tags["items"][0]["name"] == "anime"
    assert tags["metadata"] == {"totalItems": 0, "currentPage": 1, "pageSize": 5, "totalPages": 1}
    top = get(fake_civitai, "/api/v1/tags?limit=200").json()["items"]
    assert "nsfw" not in {t["name"] for t in top}


def test_enums(fake_civitai):
    data = get(fake_civitai, "/api/v1/enums").json()
    assert "LORA" in data["ModelType"] and len(data["ModelType"]) == 23
    assert "Flux.1 D" in data["ActiveBaseModel"] and set(data["ActiveBaseModel"]) < set(data["BaseModel"])


def test_command_line_server(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "civkit.testing.fake_civitai", "--port", "0",
                             "--files-dir", str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        line = proc.stdout.readline()
        assert line.startswith("Fake Civitai at http://127.0.0.1:")
        base = line.split(" at ")[1].strip()
        assert proc.stdout.readline().strip() == "API key: test-key-123"
        assert requests.get(base + "/api/v1/models/101", timeout=10).json()["id"] == 101
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_commercial_use_encodings(fake_civitai):
    listed = get(fake_civitai, "/api/v1/models?ids=101").json()["items"][0]
    assert listed["allowCommercialUse"] == "{Image,RentCivit,Rent,Sell}"  # list path: Postgres literal (§11.1)
    assert get(fake_civitai, "/api/v1/models/101").json()["allowCommercialUse"] == ["Image", "RentCivit", "Rent",
                                                                                    "Sell"]


def test_custom_catalog(tmp_path):
    from civkit.testing import Catalog

    catalog = Catalog(tmp_path / "files")
    path = tmp_path / "only.ckpt"
    path.write_bytes(b"not really a checkpoint" * 100)
    catalog.add_file_model(path, name="Only Model", model_type="Checkpoint", creator="solo", model_id=5,
                           version_id=6, file_id=7, requires_login=True)
    with FakeCivitai(catalog=catalog) as fake:
        items = get(fake, "/api/v1/models?username=solo").json()["items"]
        assert [m["id"] for m in items] == [5]
        assert items[0]["modelVersions"][0]["files"][0]["metadata"]["format"] == "PickleTensor"
        assert get(fake, "/api/download/models/6").status_code == 401
        body = requests.get(resolve(fake, 6, fake.api_key), timeout=10).content
        assert body == path.read_bytes()
        fake.add_model(path, name="Added Later")
        assert len(get(fake, "/api/v1/models").json()["items"]) == 2
        fake.reset()
        assert len(get(fake, "/api/v1/models").json()["items"]) == 1


def test_options_and_cors(fake_civitai):
    r = requests.options(fake_civitai.base_url + "/api/v1/models", timeout=10)
    assert r.status_code == 200 and r.content == b"" and r.headers["Access-Control-Allow-Origin"] == "*"
    r = get(fake_civitai, "/api/v1/models?limit=1", fake_civitai.api_key)
    assert r.headers["Cache-Control"] == "max-age=0, private, no-cache"
    assert get(fake_civitai, "/api/v1/models?limit=1").headers["Cache-Control"].startswith("public")
