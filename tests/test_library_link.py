"""Linking files to Civitai (the emulator): bulk lookups, AutoV3 fallback, sidecars and previews."""

from __future__ import annotations

import json
import shutil
import struct
import time

import pytest

from civkit.api import CivitaiClient
from civkit.library import LibraryIndex, scan
from civkit.library.index import NOT_FOUND_RETRY_SECONDS
from civkit.testing import FakeCivitai
from civkit.testing.bulk import publish_bulk


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """An emulator of our own: these tests publish extra models, which must not leak into others."""
    with FakeCivitai(files_dir=tmp_path_factory.mktemp("link-catalog")) as emulator:
        yield emulator


@pytest.fixture
def emu(fake):
    fake.reset()
    yield fake
    fake.reset()


def _client(emu, **kw):
    return CivitaiClient(emu.base_url, max_attempts=1, rate_per_second=None, **kw)


def _copy(emu, tmp_path, file_ids, folder="lib"):
    lib = tmp_path / folder
    lib.mkdir(exist_ok=True)
    for fid in file_ids:
        src = emu.catalog.files[fid]
        shutil.copy(src, lib / src.name)
    return lib


def _index(tmp_path):
    return LibraryIndex(tmp_path / "index.sqlite3")


def _api(emu):
    return [p.split("?")[0] for _m, p, _a in emu.request_log if p.startswith("/api/")]


def test_scan_links_files_with_two_bulk_requests(emu, tmp_path):
    lib = _copy(emu, tmp_path, [10100, 10110, 10500, 10600])
    index = _index(tmp_path)
    report = scan([lib], index, _client(emu), previews=False)
    assert report.lookup_error is None and report.errors == []
    assert _api(emu) == ["/api/v1/model-versions/by-hash/ids", "/api/v1/model-versions/by-hash"]
    assert report.requests == 2 and report.linked == 4
    e = index.get(str(lib / emu.catalog.files[10110].name))
    assert (e.status, e.model_id, e.version_id, e.model_name, e.version_name) == (
        "linked", 101, 1011, "Anime Lineart Style", "v2.0")
    assert e.model_type == "LORA" and e.base_model == "SD 1.5" and e.trained_words and e.air
    assert e.version_json["id"] == 1011  # the raw JSON, for later re-reading
    # a rescan asks nothing
    emu.reset()
    again = scan([lib], index, _client(emu))
    assert again.requests == 0 and emu.request_log == [] and again.unchanged == 4


def test_sidecars_and_preview_after_linking(emu, tmp_path):
    lib = _copy(emu, tmp_path, [10110])
    base = lib / emu.catalog.files[10110].name.rsplit(".", 1)[0]
    report = scan([lib], _index(tmp_path), _client(emu, api_key=emu.api_key))
    info = json.loads((base.parent / (base.name + ".civitai.info")).read_text(encoding="utf-8"))
    assert info["id"] == 1011 and info["modelId"] == 101 and info["extensions"]["civkit"]["version"]
    a1111 = json.loads((base.parent / (base.name + ".json")).read_text(encoding="utf-8"))
    assert a1111["activation text"] == ", ".join(info["trainedWords"]) and a1111["sd version"] == "SD1"
    previews = list(lib.glob("*.preview.*"))
    assert report.previews == previews and previews[0].suffix == ".png"
    assert previews[0].read_bytes().startswith(b"\x89PNG")
    # the image host never sees the Civitai key
    image_requests = [(p, auth) for _m, p, auth in emu.request_log if p.startswith("/images/")]
    assert image_requests and not any(auth for _p, auth in image_requests)


def test_no_sidecars_when_turned_off(emu, tmp_path):
    lib = _copy(emu, tmp_path, [10110])
    before = sorted(p.name for p in lib.iterdir())
    report = scan([lib], _index(tmp_path), _client(emu), write_sidecars=False)
    assert report.linked == 1
    assert sorted(p.name for p in lib.iterdir()) == before


def test_an_existing_preview_is_kept(emu, tmp_path):
    lib = _copy(emu, tmp_path, [10110])
    mine = lib / (emu.catalog.files[10110].name.rsplit(".", 1)[0] + ".png")
    mine.write_bytes(b"my own preview")
    report = scan([lib], _index(tmp_path), _client(emu))
    assert report.previews == [] and mine.read_bytes() == b"my own preview"
    assert not list(lib.glob("*.preview.*"))


def test_nsfw_previews_only_when_allowed(emu, tmp_path):
    # 123 Midnight Boudoir: every image is rated X or XXX
    lib = _copy(emu, tmp_path, [12300])
    report = scan([lib], _index(tmp_path), _client(emu))
    assert report.linked == 1 and report.previews == [] and not list(lib.glob("*.preview.*"))
    lib2 = _copy(emu, tmp_path, [12300], folder="lib2")
    report = scan([lib2], LibraryIndex(tmp_path / "other.sqlite3"), _client(emu), nsfw_previews=True)
    assert len(report.previews) == 1 and report.previews[0].exists()


def test_a_file_with_a_rewritten_header_is_found_by_autov3(emu, tmp_path):
    src = emu.catalog.files[10100].read_bytes()
    (n,) = struct.unpack("<Q", src[:8])
    header = json.loads(src[8 : 8 + n])
    header["__metadata__"] = dict(header.get("__metadata__", {}), edited_by="a metadata editor")
    raw = json.dumps(header).encode()
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "edited.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + src[8 + n :])
    index = _index(tmp_path)
    report = scan([lib], index, _client(emu), write_sidecars=False)
    e = index.get(str(lib / "edited.safetensors"))
    assert (e.status, e.version_id) == ("linked", 1010)
    # by-hash/ids finds nothing (the SHA256 changed), then one GET by AutoV3, which did not
    assert _api(emu) == ["/api/v1/model-versions/by-hash/ids", f"/api/v1/model-versions/by-hash/{e.autov3}"]
    assert report.requests == 2


def test_an_empty_payload_autov3_is_never_looked_up(emu, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    raw = b'{"__metadata__":{"a":"b"}}'
    (lib / "empty.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    index = _index(tmp_path)
    report = scan([lib], index, _client(emu))
    assert _api(emu) == ["/api/v1/model-versions/by-hash/ids"]  # no GET by-hash/E3B0C44298FC
    assert report.not_found == 1 and index.entries()[0].status == "not_found"


def test_unknown_files_are_not_found_and_asked_again_only_after_a_day(emu, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "mine.ckpt").write_bytes(b"my own merge")
    index = _index(tmp_path)
    client = _client(emu)
    report = scan([lib], index, client)
    assert report.not_found == 1 and report.requests == 1  # a .ckpt has no AutoV3 to try
    e = index.get(str(lib / "mine.ckpt"))
    assert e.status == "not_found" and e.checked_at
    assert scan([lib], index, client).requests == 0
    e.checked_at = time.time() - NOT_FOUND_RETRY_SECONDS - 1
    index.upsert(e)
    assert scan([lib], index, client).requests == 1
    assert scan([lib], index, client, refresh=True).requests == 1


def test_offline_the_scan_completes_and_links_later(emu, tmp_path):
    lib = _copy(emu, tmp_path, [10100])
    index = _index(tmp_path)
    dead = CivitaiClient("http://127.0.0.1:9", max_attempts=1, rate_per_second=None)
    report = scan([lib], index, dead)
    assert report.lookup_error and report.errors == []
    assert index.entries()[0].status == "unknown"
    report = scan([lib], index, _client(emu), write_sidecars=False)
    assert report.linked == 1 and index.entries()[0].status == "linked"


def test_a_conflicting_civitai_info_is_reported_not_replaced(emu, tmp_path):
    lib = _copy(emu, tmp_path, [10110])
    base = lib / emu.catalog.files[10110].name.rsplit(".", 1)[0]
    info = base.parent / (base.name + ".civitai.info")
    info.write_text(json.dumps({"id": 999, "modelId": 5, "files": []}))
    report = scan([lib], _index(tmp_path), _client(emu), previews=False)
    assert [r.status for r in report.conflicts] == ["conflict"]
    assert "describes version 999" in report.conflicts[0].message
    assert json.loads(info.read_text())["id"] == 999


def test_a_civitai_info_that_matches_links_without_any_request(emu, tmp_path):
    lib = _copy(emu, tmp_path, [10110])
    scan([lib], _index(tmp_path), _client(emu), previews=False)  # writes the .civitai.info
    emu.reset()
    index = LibraryIndex(tmp_path / "fresh.sqlite3")
    report = scan([lib], index, _client(emu))
    assert report.requests == 0 and report.hashed == 0 and report.from_sidecars == 1
    assert index.entries()[0].version_id == 1011


# -- 1,000 files in at most 12 requests ---------------------------------------------------------------


def test_a_thousand_files_are_identified_in_at_most_twelve_requests(tmp_path):
    from civkit.testing import Catalog

    catalog = Catalog(tmp_path / "catalog")
    publish_bulk(catalog, tmp_path / "lib", 1000)
    with FakeCivitai(catalog=catalog) as emu:
        index = _index(tmp_path)
        report = scan([tmp_path / "lib"], index, _client(emu), write_sidecars=False)
        assert report.linked == 1000 and report.errors == []
        assert emu.count("/api/") == report.requests <= 12
        assert {e.status for e in index.entries()} == {"linked"}
