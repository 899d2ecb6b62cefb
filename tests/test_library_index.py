"""The SQLite library index."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from civkit.config import load_config
from civkit.library import IndexUnavailable, LibraryEntry, LibraryIndex
from civkit.library.index import NOT_FOUND_RETRY_SECONDS, SCHEMA_VERSION


def _entry(path, **kw) -> LibraryEntry:
    base = dict(path=str(path), size=10, mtime_ns=123, inode=7, sha256="AB" * 32, autov2="AB" * 5)
    base.update(kw)
    return LibraryEntry(**base)


def test_index_lives_under_civkit_home_in_wal_mode(civkit_home):
    index = LibraryIndex(load_config().index_path)
    assert index.db_path.parent == civkit_home
    conn = sqlite3.connect(index.db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_round_trip_of_every_field(tmp_path):
    index = LibraryIndex(tmp_path / "db.sqlite3")
    e = _entry(
        "/m/a.safetensors", status="linked", model_id=1, version_id=2, model_name="Model ✓", version_name="v1",
        model_type="LORA", base_model="SDXL 1.0", trained_words=["a", "b c"], air="urn:air:sdxl:lora:civitai:1@2",
        checked_at=1000.5, header={"tensor_count": 3, "metadata": {"k": "v"}}, version_json={"id": 2, "x": [1]},
        autov1="12345678", autov3="ABCDEF123456",
    )
    index.upsert(e)
    assert index.get("/m/a.safetensors") == e
    assert index.get("/m/missing") is None


def test_upsert_replaces(tmp_path):
    index = LibraryIndex(tmp_path / "db.sqlite3")
    index.upsert(_entry("/m/a"))
    index.upsert(_entry("/m/a", size=20, status="not_found", checked_at=5.0))
    assert index.count() == 1
    got = index.get("/m/a")
    assert (got.size, got.status, got.checked_at) == (20, "not_found", 5.0)


def test_lookup_valid_needs_the_same_size_mtime_and_inode(tmp_path):
    f = tmp_path / "m.ckpt"
    f.write_bytes(b"x" * 10)
    st = f.stat()
    index = LibraryIndex(tmp_path / "db.sqlite3")
    index.upsert(_entry(f, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino))
    assert index.lookup_valid(str(f), st) is not None
    f.write_bytes(b"y" * 11)
    assert index.lookup_valid(str(f), f.stat()) is None


def test_entries_by_root_and_by_sha256(tmp_path):
    index = LibraryIndex(tmp_path / "db.sqlite3")
    index.upsert_many([_entry("/a/x"), _entry("/a/sub/y", sha256="CD" * 32), _entry("/ab/z"), _entry("/b/w")])
    assert [e.path for e in index.entries("/a")] == ["/a/sub/y", "/a/x"]
    assert [e.path for e in index.entries(["/a", "/b"])] == ["/a/sub/y", "/a/x", "/b/w"]
    assert [e.path for e in index.by_sha256("ab" * 32)] == ["/a/x", "/ab/z", "/b/w"]
    assert [e.path for e in index.entries_for(["/b/w", "/nope", "/a/x"])] == ["/b/w", "/a/x"]


def test_entries_by_version(tmp_path):
    index = LibraryIndex(tmp_path / "db.sqlite3")
    index.upsert_many([_entry("/a/x", status="linked", version_id=5), _entry("/b/y", status="linked", version_id=6),
                       _entry("/a/w", status="linked", version_id=5), _entry("/c/z")])
    assert [e.path for e in index.by_version(5)] == ["/a/w", "/a/x"]
    assert index.by_version(7) == []


def test_version_paths(tmp_path):
    index = LibraryIndex(tmp_path / "db.sqlite3")
    index.upsert_many([
        _entry("/a/x", status="linked", version_id=5), _entry("/a/y", status="linked", version_id=5),
        _entry("/b/z", status="linked", version_id=6), _entry("/a/n", status="not_found"),
    ])
    assert index.version_paths() == {5: ["/a/x", "/a/y"], 6: ["/b/z"]}
    assert index.version_paths(["/b"]) == {6: ["/b/z"]}
    assert index.version_paths("/a") == {5: ["/a/x", "/a/y"]}


def test_stat_map_in_one_query(tmp_path):
    index = LibraryIndex(tmp_path / "db.sqlite3")
    index.upsert(_entry("/a/x", status="not_found", checked_at=3.0))
    assert index.stat_map() == {"/a/x": (10, 123, 7, "not_found", 3.0, 1, None)}  # no ctime recorded


def test_remove_missing(tmp_path):
    keep = tmp_path / "keep.ckpt"
    keep.write_bytes(b"1")
    index = LibraryIndex(tmp_path / "db.sqlite3")
    index.upsert_many([_entry(keep), _entry(tmp_path / "gone.ckpt"), _entry("/elsewhere/x.ckpt")])
    assert index.remove_missing([tmp_path]) == 1
    assert sorted(e.path for e in index.entries()) == sorted([str(keep), "/elsewhere/x.ckpt"])
    assert index.remove_missing([tmp_path], seen=set()) == 1


def test_needs_lookup_rules():
    now = time.time()
    assert _entry("/x", status="unknown").needs_lookup(now)
    assert not _entry("/x", status="linked").needs_lookup(now)
    assert _entry("/x", status="linked").needs_lookup(now, refresh=True)
    assert not _entry("/x", status="not_found", checked_at=now - 60).needs_lookup(now)
    assert _entry("/x", status="not_found", checked_at=now - NOT_FOUND_RETRY_SECONDS - 1).needs_lookup(now)
    assert not _entry("/x", status="error").needs_lookup(now, refresh=True)
    assert not _entry("/x", sha256=None).needs_lookup(now)


def test_thread_safe_writers_and_readers(tmp_path):
    index = LibraryIndex(tmp_path / "db.sqlite3")
    errors = []

    def work(n):
        try:
            for i in range(50):
                index.upsert(_entry(f"/t{n}/{i}"))
                index.get(f"/t{n}/{i}")
                index.stat_map()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert index.count() == 200


def test_a_newer_schema_is_refused_with_a_message(tmp_path):
    path = tmp_path / "db.sqlite3"
    LibraryIndex(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(IndexUnavailable, match="newer civkit"):
        LibraryIndex(path)


def test_a_file_that_is_not_a_database_gives_a_message_and_is_not_touched(tmp_path):
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not sqlite, " * 100)
    with pytest.raises(IndexUnavailable, match="delete the file to rebuild it"):
        LibraryIndex(path)
    assert path.read_bytes() == b"this is not sqlite, " * 100


def test_to_json_is_json_safe(tmp_path):
    import json

    e = _entry("/x", trained_words=["w"], version_json={"big": 1}, header={"h": 1})
    data = e.to_json()
    assert "version_json" not in data and "header" not in data
    assert json.loads(json.dumps(data))["trained_words"] == ["w"]
