"""The light library listing (``LibraryIndex.list_rows``) and the service's ``library``/``library_page``
built on it: the same rows and keys as the old full-entry path, plus filter, status, paging and totals."""

from __future__ import annotations

import pytest

from civkit.config import load_config
from civkit.hosts.standalone import StandaloneHost
from civkit.library import LibraryEntry, LibraryIndex
from civkit.service import CivkitService, ServiceError
from civkit.summaries import entry_dict


@pytest.fixture
def models_dir(tmp_path):
    path = tmp_path / "models"
    (path / "loras" / "anime").mkdir(parents=True)
    (path / "checkpoints").mkdir()
    return path


@pytest.fixture
def service(models_dir, civkit_home):
    svc = CivkitService(load_config(home=civkit_home), StandaloneHost(models_dir, layout="comfyui"))
    yield svc
    svc.close()


def _entry(path, i, **kw) -> LibraryEntry:
    base = dict(path=str(path), size=1000 + i, mtime_ns=i, inode=i, sha256=f"{i:064X}", status="linked",
                model_id=10 + i, version_id=100 + i, model_name=f"Model {i}", version_name="v1.0",
                model_type="LORA", base_model="SD 1.5", trained_words=[f"word{i}"], checked_at=5.0 + i,
                air=f"urn:air:sd1:lora:civitai:{10 + i}@{100 + i}", header={"tensor_count": 3},
                version_json={"id": 100 + i, "description": "x" * 3000, "trainedWords": [f"word{i}"]})
    base.update(kw)
    return LibraryEntry(**base)


def _fill(index: LibraryIndex, models_dir, outside) -> list:
    loras, ckpts = models_dir / "loras", models_dir / "checkpoints"
    entries = [
        _entry(loras / "anime" / "plain_style.safetensors", 1, model_name="Über Style",
               trained_words=["ÜBERSTIL", "soft light"]),
        _entry(loras / "anime_lineart_v2.safetensors", 2, base_model="Illustrious"),
        _entry(loras / "copy_of_lineart.safetensors", 3, sha256=f"{2:064X}"),  # a duplicate of #2
        _entry(loras / "mystery.safetensors", 4, status="not_found", model_id=None, version_id=None,
               model_name=None, version_name=None, model_type=None, base_model=None, trained_words=[],
               air=None, version_json=None),
        _entry(ckpts / "dreamy.ckpt", 5, status="error", sha256=None, error="cannot read the file",
               model_type="Checkpoint", trained_words=[], version_json=None),
        _entry(ckpts / "pony_realism.safetensors", 6, base_model="Pony", model_type="Checkpoint",
               trained_words=["score_9", "anime screencap"]),
        _entry(outside / "elsewhere.safetensors", 7, sha256=f"{2:064X}"),  # outside the roots
    ]
    index.upsert_many(entries)
    return entries


def _names(rows) -> list:
    return [row["name"] for row in rows]


def test_light_rows_are_the_old_rows_with_copies_added(service, models_dir, tmp_path):
    _fill(service.index, models_dir, tmp_path / "outside")
    roots = service.root_forms()
    old = [entry_dict(e) for e in service.index.entries(roots)]
    new = service.library()
    assert len(new) == len(old) == 6  # the file outside the model folders is never listed
    for old_row, new_row in zip(old, new, strict=True):
        assert set(new_row) == set(old_row)
        assert {k: v for k, v in new_row.items() if k != "copies"} == {k: v for k, v in old_row.items()
                                                                         if k != "copies"}
    copies = {row["name"]: row["copies"] for row in new}
    assert copies == {"plain_style.safetensors": 1, "anime_lineart_v2.safetensors": 2,
                      "copy_of_lineart.safetensors": 2, "mystery.safetensors": 1, "dreamy.ckpt": None,
                      "pony_realism.safetensors": 1}
    (styled,) = [row for row in new if row["name"] == "plain_style.safetensors"]
    assert styled["trained_words"] == ["ÜBERSTIL", "soft light"] and styled["model_name"] == "Über Style"


def test_filter_is_case_insensitive_over_name_model_base_and_words(service, models_dir, tmp_path):
    _fill(service.index, models_dir, tmp_path / "outside")
    assert _names(service.library(query="LINEART")) == ["anime_lineart_v2.safetensors",
                                                        "copy_of_lineart.safetensors"]
    assert _names(service.library(query="über")) == ["plain_style.safetensors"]  # model name, not ASCII
    assert _names(service.library(query="überstil")) == ["plain_style.safetensors"]  # a trigger word
    assert _names(service.library(query="ÜBER STYLE")) == ["plain_style.safetensors"]
    assert _names(service.library(query="illustrious")) == ["anime_lineart_v2.safetensors"]
    # "anime" is also a folder name: only file names, models and words count, not folders
    assert _names(service.library(query="anime")) == ["pony_realism.safetensors",  # sorted by path
                                                      "anime_lineart_v2.safetensors"]
    assert service.library(query="no such thing") == []
    assert len(service.library(query="  ")) == 6  # blank means everything


def test_status_offset_limit_and_total(service, models_dir, tmp_path):
    _fill(service.index, models_dir, tmp_path / "outside")
    everything = _names(service.library())
    page = service.library_page(limit=2)
    assert (page["total"], page["offset"], page["limit"]) == (6, 0, 2)
    assert _names(page["items"]) == everything[:2]
    page = service.library_page(offset=4, limit=2)
    assert _names(page["items"]) == everything[4:] and page["total"] == 6
    page = service.library_page(offset=10)
    assert page["items"] == [] and page["total"] == 6
    assert service.library_page(limit=0)["total"] == 6
    assert _names(service.library(offset=5)) == everything[5:]

    assert _names(service.library(status="not_found")) == ["mystery.safetensors"]
    linked = service.library_page(status="linked", query="model", limit=1)
    assert linked["total"] == 3 and len(linked["items"]) == 1  # "Über Style" has no "model"
    assert service.library_counts() == {"linked": 4, "not_found": 1, "unknown": 0, "error": 1}


def test_bad_paging_is_refused_with_a_reason(service):
    with pytest.raises(ServiceError) as info:
        service.library_page(status="linkd")
    assert info.value.message == "Unknown library status 'linkd'; use one of: linked, not_found, unknown, error."
    with pytest.raises(ServiceError) as info:
        service.library_page(limit=-1)
    assert info.value.message == "limit must be 0 or more, not -1."
    with pytest.raises(ServiceError) as info:
        service.library(offset="x")
    assert info.value.message == "offset must be a whole number, not 'x'."


def test_list_rows_roots_are_exact_folders_and_damaged_words_do_not_hide_rows(tmp_path):
    index = LibraryIndex(tmp_path / "db.sqlite3")
    index.upsert_many([_entry("/m/lora/a.safetensors", 1), _entry("/m/lora2/b.safetensors", 2),
                       _entry("/m/lora/deep/c.safetensors", 3), _entry("/m/lora", 4)])
    rows, total = index.list_rows(["/m/lora", "/m/lora/deep"])
    assert [r["path"] for r in rows] == ["/m/lora", "/m/lora/a.safetensors", "/m/lora/deep/c.safetensors"]
    assert total == 3
    assert index.list_rows([]) == ([], 0)
    with index._conn:  # an older or damaged row: its words are lost, the listing is not
        index._conn.execute("UPDATE files SET trained_words='[oops' WHERE path='/m/lora/a.safetensors'")
    rows, _ = index.list_rows()
    assert [r["trained_words"] for r in rows] == [["word4"], [], ["word3"], ["word2"]]
    with pytest.raises(ValueError, match="unknown status"):
        index.list_rows(status="gone")
    assert index.status_counts("/m/lora") == {"linked": 3, "not_found": 0, "unknown": 0, "error": 0}
