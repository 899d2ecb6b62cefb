"""Whole-library listings without an object per file (issue 14): ``LibraryIndex.records`` and
``json_lines``, and ``civkit --json scan`` printing exactly what it printed before from them."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from civkit.cli.library import SCAN_JSON_KEYS
from civkit.cli.main import main
from civkit.library import LibraryEntry, LibraryIndex
from civkit.library.index import LIST_COLUMNS

ODD_NAMES = ['quote " and \\ backslash', "new\nline\ttab\x01ctl\x7fdel", "Ünïcödé 模型 🎨", "plain"]


def _entry(path, i, **kw) -> LibraryEntry:
    base = dict(path=str(path), size=1000 + i, mtime_ns=i, inode=i, sha256=f"{i:064X}", autov2=f"{i:010X}",
                status="linked" if i % 3 else "unknown", model_id=i or None, version_id=(i * 10) or None,
                model_name=ODD_NAMES[i % len(ODD_NAMES)], version_name=f"v{i}", base_model="SD 1.5",
                trained_words=[ODD_NAMES[(i + 1) % len(ODD_NAMES)], "word"] if i % 2 else [],
                checked_at=1.5, header={"metadata": {}}, version_json={"id": i})
    base.update(kw)
    return LibraryEntry(**base)


def _old_record(entry, keys) -> dict:
    """What the listing used to build per file: the entry's JSON, cut to ``keys``."""
    data = entry.to_json()
    return {k: data.get(k) for k in keys}


@pytest.fixture
def index(tmp_path):
    with LibraryIndex(tmp_path / "index.sqlite3") as idx:
        yield idx


def _fill(index, root, n, start=0) -> list:
    entries = [_entry(root / f"d{i % 7}" / f"{ODD_NAMES[i % 4][:5]}_{i}.safetensors", i) for i in range(start, start + n)]
    index.upsert_many(entries)
    return entries


def _damage_words(index, path, text) -> None:
    with index._conn:
        index._conn.execute("UPDATE files SET trained_words=? WHERE path=?", (text, str(path)))


@pytest.mark.parametrize("n", [40, 2300])  # a few paths (IN lists) and many (one range of the index)
@pytest.mark.parametrize("sqlite_json", [True, False])
def test_json_lines_are_the_old_json_dumps_of_each_entry(index, tmp_path, n, sqlite_json):
    root = tmp_path / "models"
    entries = _fill(index, root, n)
    _fill(index, tmp_path / "other", 30, start=n)                      # another library: never listed
    _fill(index, tmp_path / "models.bak", 5, start=n + 30)             # sorts just before "models/"
    _damage_words(index, entries[1].path, "not json [")                # a damaged row shows no words
    _damage_words(index, entries[3].path, '{"not": "a list"}')
    wanted = [e.path for e in entries if e.size % 5]                     # not every file under the root
    if not sqlite_json:
        index._json_ok = False                                         # as on a SQLite without JSON functions
    chunks = list(index.json_lines(reversed(wanted), SCAN_JSON_KEYS, chunk=500))
    lines = [line for chunk in chunks for line in chunk]
    assert n < 2000 or len(chunks) > 1                                 # streamed in pieces
    by_path = {e.path: e for e in index.entries_for(wanted)}
    expected = [json.dumps(_old_record(by_path[p], SCAN_JSON_KEYS), ensure_ascii=False) for p in sorted(wanted)]
    assert lines == expected
    decoded = {json.loads(line)["path"]: json.loads(line) for line in lines}
    assert decoded[entries[1].path]["trained_words"] == [] and decoded[entries[3].path]["trained_words"] == []


def test_records_are_the_listing_columns_sorted_with_words_decoded(index, tmp_path):
    entries = _fill(index, tmp_path / "models", 2100)
    wanted = [e.path for e in entries[::2]] + [str(tmp_path / "models" / "not-indexed.ckpt")]
    got = [r for chunk in index.records(wanted, LIST_COLUMNS) for r in chunk]
    assert [r["path"] for r in got] == sorted(e.path for e in entries[::2])
    by_path = {e.path: e for e in entries}
    for r in got:
        assert list(r) == list(LIST_COLUMNS)
        assert r == {k: getattr(by_path[r["path"]], k) for k in LIST_COLUMNS}
    few = [r for chunk in index.records(wanted[:3], ("model_name", "trained_words")) for r in chunk]
    assert [list(r) for r in few] == [["path", "model_name", "trained_words"]] * 3


def test_listings_refuse_unknown_or_non_text_columns(index):
    with pytest.raises(ValueError):
        next(index.records(["x"], ("path", "no_such_column")))
    with pytest.raises(ValueError):
        next(index.json_lines(["x"], ("path", "checked_at")))


def test_entries_read_in_bulk_are_the_entries_written(index, tmp_path):
    entries = _fill(index, tmp_path / "models", 12)
    _fill(index, tmp_path / "elsewhere", 3, start=12)
    assert index.entries(tmp_path / "models") == sorted(entries, key=lambda e: e.path)
    assert index.get(entries[5].path) == entries[5]
    assert index.by_sha256(entries[7].sha256) == [entries[7]]


def test_scan_json_prints_what_it_printed_before(fake_civitai, tmp_path, capsys, civkit_home):
    lib = tmp_path / "models"
    (lib / "sub").mkdir(parents=True)
    for fid in (10110, 10600):
        shutil.copy(fake_civitai.catalog.files[fid], lib / "sub" / fake_civitai.catalog.files[fid].name)
    (lib / 'odd "name"\tü.ckpt').write_bytes(b"my merge")
    code = main(["--api-base", fake_civitai.base_url, "--json", "scan", str(lib), "--no-sidecars"])
    out, err = capsys.readouterr()
    assert code == 0, err
    with LibraryIndex(civkit_home / "library.sqlite3") as idx:
        entries = idx.entries(str(lib))
    assert len(entries) == 3 and any(e.status == "linked" and e.trained_words for e in entries)
    assert out.splitlines() == [json.dumps(_old_record(e, SCAN_JSON_KEYS), ensure_ascii=False) for e in entries]
    # a rescan of the unchanged files prints the same
    assert main(["--api-base", fake_civitai.base_url, "--json", "scan", str(lib), "--no-sidecars"]) == 0
    assert capsys.readouterr().out == out


def test_text_scan_lists_only_the_files_it_read(tmp_path, capsys, civkit_home):
    lib = tmp_path / "models"
    lib.mkdir()
    for i in range(3):
        (lib / f"m{i}.ckpt").write_bytes(b"x" * (i + 1))
    assert main(["scan", "--no-lookup", str(lib)]) == 0
    first = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in first[:-1]] == [str(lib / f"m{i}.ckpt") for i in range(3)]
    (lib / "m1.ckpt").write_bytes(b"changed")
    os.utime(lib / "m1.ckpt", ns=(1, 1))
    assert main(["scan", "--no-lookup", str(lib)]) == 0
    again = capsys.readouterr().out.splitlines()
    assert again == [f"hashed     not looked up  {lib / 'm1.ckpt'}", "3 model files: 0 new, 1 changed, 2 unchanged"]
