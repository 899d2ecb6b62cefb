"""Hostile or unlucky files in the model folders (issue 13, items 1-4): one bad file never stops a
scan, never poisons a batch of index rows, and a stale sidecar never lends its hash to a new file."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import time

import pytest

from civkit.api.records import parse_model, parse_version
from civkit.library import LibraryIndex, read_sidecar_facts, scan
from civkit.library.index import LibraryEntry
from civkit.safetensors_header import HeaderError, parse_header
from civkit.testing.files import safetensors_bytes
from civkit.triggers import trigger_words_for, words_from_metadata

SHA = "3202778C3EBE5CF7EBE5FC51561DEAE8611F4362036EB7C02EFA033C705E6240"


def _folder(tmp_path, n_good=3):
    lib = tmp_path / "models" / "loras"
    lib.mkdir(parents=True)
    good = {}
    for i in range(n_good):
        data = safetensors_bytes({"ss_output_name": f"g{i}"}, 512, f"g{i}")
        (lib / f"good{i}.safetensors").write_bytes(data)
        good[str(lib / f"good{i}.safetensors")] = hashlib.sha256(data).hexdigest().upper()
    return lib, good


def _st(header: bytes) -> bytes:
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header


# -- item 1: sidecars with wrong types, deep nesting, huge numbers ---------------------------------

HOSTILE_SIDECARS = {
    "files_is_a_number": ("civitai.info", json.dumps({"id": 1, "modelId": 2, "files": 5})),
    "words_is_a_number": ("civitai.info", json.dumps({
        "id": 1, "modelId": 2, "trainedWords": 7,
        "files": [{"name": "x.safetensors", "sizeKB": 0.5, "hashes": {"SHA256": SHA}}]})),
    "hashes_is_a_list": ("civitai.info", json.dumps({"id": 1, "files": [{"sizeKB": 0.5, "hashes": [SHA]}]})),
    "huge_size": ("civitai.info", '{"id": 1, "files": [{"sizeKB": 1' + "0" * 400 + '}]}'),
    "huge_size_float": ("civitai.info", '{"id": 1, "files": [{"sizeKB": 1e999}]}'),
    "deep_nesting": ("civitai.info", "[" * 100_000 + "]" * 100_000),
    "cm_words_object": ("cm-info.json", json.dumps({"Hashes": {"SHA256": SHA}, "TrainedWords": {"a": 1}})),
    "cm_hashes_list": ("cm-info.json", json.dumps({"Hashes": [SHA]})),
    "lm_civitai_list": ("metadata.json", json.dumps({
        "sha256": SHA, "hash_status": "completed", "size": 0, "civitai": [1, 2]})),
    "rg_raw_civitai_files": ("safetensors.rgthree-info.json", json.dumps({
        "sha256": SHA, "raw": {"civitai": {"id": 3, "files": {"name": 1}}}, "trainedWords": "abc"})),
    "version_with_wrong_shapes": ("civitai.info", json.dumps({
        "id": "x", "modelId": [1], "model": [], "images": 3, "stats": "no",
        "files": [{"name": "bad.safetensors", "sizeKB": 0, "hashes": {"SHA256": SHA}, "metadata": 4}]})),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SIDECARS))
def test_a_hostile_sidecar_never_stops_a_scan(tmp_path, case):
    suffix, text = HOSTILE_SIDECARS[case]
    lib, good = _folder(tmp_path)
    bad = lib / "bad.safetensors"
    data = safetensors_bytes(None, 512, "bad")
    bad.write_bytes(data)
    (lib / f"bad.{suffix}").write_text(text)
    index = LibraryIndex(tmp_path / "index.sqlite3")
    report = scan([lib.parent], index, lookup=False)
    for path, sha in good.items():  # every other file was indexed
        assert index.get(path).sha256 == sha
    entry = index.get(str(bad))
    assert entry is not None
    # the sidecar was ignored (the file hashed), its valid hash taken, or the file carries the error
    assert entry.sha256 in (hashlib.sha256(data).hexdigest().upper(), SHA) or entry.status == "error"
    if entry.status == "error":
        assert any(p == str(bad) for p, _ in report.errors)
    # and the next scan goes through as well
    scan([lib.parent], index, lookup=False)
    assert read_sidecar_facts(bad) is not None  # never raises
    assert isinstance(trigger_words_for(str(bad)), list)


def test_an_unexpected_failure_on_one_file_becomes_its_error(tmp_path, monkeypatch):
    """Whatever goes wrong while handling one file is that file's error; the scan goes on."""
    from civkit.library import sidecar_read  # the scan imports its reader from here when it runs

    lib, good = _folder(tmp_path)
    cursed = lib / "cursed.safetensors"
    cursed.write_bytes(safetensors_bytes(None, 512, "cursed"))
    (lib / "cursed.sha256").write_text(SHA)
    real = sidecar_read.read_sidecar_facts

    def explode(path, st=None):
        if str(path).endswith("cursed.safetensors"):
            raise MemoryError("simulated: a reader blew up")
        return real(path, st)

    monkeypatch.setattr(sidecar_read, "read_sidecar_facts", explode)
    index = LibraryIndex(tmp_path / "index.sqlite3")
    report = scan([lib.parent], index, lookup=False)
    errors = dict(report.errors)
    assert "simulated: a reader blew up" in errors[str(cursed)]
    assert index.get(str(cursed)).status == "error"
    for path, sha in good.items():
        assert index.get(path).sha256 == sha


# -- item 2: safetensors headers built to hurt ------------------------------------------------------

@pytest.mark.parametrize("header, reason", [
    (b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", "nested too deeply"),
    (b'{"t": {"dtype": "F16", "shape": [18446744073709551616], "data_offsets": [0, 2]}}', "shape"),
    (b'{"t": {"dtype": "F16", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 2]}}', "shape"),
    (b'{"t": {"dtype": "F16", "shape": [1.5], "data_offsets": [0, 2]}}', "shape"),
    (b'{"t": {"dtype": "F16", "shape": [-1], "data_offsets": [0, 2]}}', "shape"),
    (b'{"t": {"dtype": "F16", "shape": [true], "data_offsets": [0, 2]}}', "shape"),
    (b'{"t": {"dtype": "F16", "shape": [1' + b"0" * 5000 + b'], "data_offsets": [0, 2]}}', "number"),
    (b'{"t": {"dtype": "F16", "shape": [1], "data_offsets": [0, 18446744073709551616]}}', "data_offsets"),
], ids=["deep", "u64+1", "product", "float", "negative", "bool", "5000-digits", "offset"])
def test_hostile_headers_are_header_errors(header, reason):
    with pytest.raises(HeaderError) as caught:
        parse_header(_st(header))
    assert reason in str(caught.value)


def test_a_header_of_millions_of_tiny_values_is_refused_before_parsing():
    """~28x the header size in memory when parsed: refused by counting, not by parsing."""
    body = b'{"t": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2], "x": [' + b"0," * 3_000_000 + b"0]}}"
    with pytest.raises(HeaderError) as caught:
        parse_header(_st(body))
    assert "too many values" in str(caught.value)


def test_big_but_valid_headers_still_parse():
    tensors = {f"t{i}": {"dtype": "F16", "shape": [64, 64], "data_offsets": [i * 8192, (i + 1) * 8192]}
               for i in range(5000)}
    tensors["__metadata__"] = {"ss_tag_frequency": json.dumps({"1_x": {f"tag{i}": i for i in range(20000)}})}
    h = parse_header(_st(json.dumps(tensors).encode()))
    assert h.tensor_count == 5000 and h.parameter_count == 5000 * 64 * 64


def test_hostile_headers_never_stop_a_scan(tmp_path):
    lib, good = _folder(tmp_path)
    deep = lib / "deep.safetensors"
    deep.write_bytes(_st(b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"))
    huge = lib / "huge.safetensors"
    huge.write_bytes(_st(b'{"t": {"dtype": "F16", "shape": [1' + b"0" * 5000 + b'], "data_offsets": [0, 2]}}') + b"\0\0")
    index = LibraryIndex(tmp_path / "index.sqlite3")
    report = scan([lib.parent], index, lookup=False)
    errors = dict(report.errors)
    assert "nested too deeply" in errors[str(deep)]
    assert "not a valid safetensors file" in errors[str(huge)]
    for path, sha in good.items():
        assert index.get(path).sha256 == sha
    assert trigger_words_for(str(deep)) == []


def test_nested_training_metadata_strings_are_ignored():
    deep = "[" * 100_000 + "]" * 100_000
    assert words_from_metadata({"ss_tag_frequency": deep, "ss_dataset_dirs": deep}) == []
    from civkit.safetensors_header import tag_frequency

    assert tag_frequency({"ss_tag_frequency": deep}) == {}


# -- item 3: lone surrogates and out-of-range numbers from Civitai ---------------------------------

def _version_json(vid, name):
    return {"id": vid, "modelId": vid * 10, "name": name, "trainedWords": [name],
            "model": {"name": name, "type": "LORA"}, "files": []}


def test_lone_surrogates_are_scrubbed_when_parsing():
    raw = json.loads('{"id": 5, "modelId": 6, "name": "v\\ud800", "trainedWords": ["w\\udfff"],'
                     ' "model": {"name": "M\\ud83d", "type": "LORA"}}')
    v = parse_version(raw)
    for text in (v.name, v.trained_words[0], v.model_name):
        text.encode("utf-8")  # no UnicodeEncodeError
        assert "\ufffd" in text
    m = parse_model(json.loads('{"id": 1, "name": "a\\udc00b", "tags": ["t\\ud800"], "creator": {"username": "u\\ud800"}}'))
    assert m.name == "a\ufffdb" and m.tags == ("t\ufffd",) and m.creator.username == "u\ufffd"


def test_out_of_range_ids_are_not_ids():
    v = parse_version({"id": 2**70, "modelId": -(2**70), "name": "x"})
    assert v.id == 0 and v.model_id is None


def test_one_bad_row_never_loses_a_batch(tmp_path):
    index = LibraryIndex(tmp_path / "index.sqlite3")
    entries = []
    for i in range(5):
        e = LibraryEntry(path=f"/m/{i}.safetensors", size=i, mtime_ns=i, inode=i, sha256=f"{i:064X}", status="linked",
                         model_name=f"model {i}", version_json={"name": f"v{i}"}, trained_words=[f"w{i}"])
        entries.append(e)
    # what an older parser let through: lone surrogates everywhere, and a number SQLite cannot hold
    entries[1].model_name = "bad\ud800name"
    entries[1].trained_words = ["w\udfff"]
    entries[1].version_json = {"name": "v\ud800"}
    entries[3].version_id = 2**70
    failed: list = []
    written = index.upsert_many(entries, failed=failed)
    assert written == 4
    assert [p for p, _ in failed] == ["/m/3.safetensors"]
    assert "too large" in failed[0][1]
    for i in (0, 1, 2, 4):
        assert index.get(f"/m/{i}.safetensors").status == "linked"
    assert index.get("/m/1.safetensors").model_name == "bad\ufffdname"
    assert index.get("/m/1.safetensors").trained_words == ["w\ufffd"]


def test_a_linked_batch_with_a_surrogate_is_kept_by_the_scan(tmp_path):
    """Files linked from their .civitai.info in one batch: one lone surrogate must not unlink the others."""
    lib, good = _folder(tmp_path)
    for i, (path, sha) in enumerate(sorted(good.items())):
        name = "Model \\ud800 bad" if i == 1 else f"Model {i}"
        size = os.path.getsize(path)
        version = {"id": 100 + i, "modelId": 10 + i, "name": "v1", "model": {"name": "@NAME@", "type": "LORA"},
                   "trainedWords": [f"w{i}"],
                   "files": [{"name": os.path.basename(path), "sizeKB": size / 1024, "hashes": {"SHA256": sha}}]}
        text = json.dumps(version).replace("@NAME@", name)  # a raw "\\ud800" escape, as Civitai may send
        (lib / (os.path.basename(path)[: -len(".safetensors")] + ".civitai.info")).write_text(text)
    index = LibraryIndex(tmp_path / "index.sqlite3")
    report = scan([lib.parent], index, lookup=False)
    assert report.from_sidecars == 3 and report.errors == []
    entries = [index.get(p) for p in sorted(good)]
    assert [e.status for e in entries] == ["linked"] * 3
    assert entries[1].model_name == "Model \ufffd bad"
    assert scan([lib.parent], index, lookup=False).unchanged == 3


def test_a_file_name_that_is_not_utf8_is_reported_not_fatal(tmp_path):
    lib, good = _folder(tmp_path)
    raw = os.fsencode(str(lib)) + b"/bad\xff.safetensors"
    with open(raw, "wb") as fh:
        fh.write(safetensors_bytes(None, 512, "x"))
    index = LibraryIndex(tmp_path / "index.sqlite3")
    report = scan([lib.parent], index, lookup=False)
    for path, sha in good.items():
        assert index.get(path).sha256 == sha
    messages = [m for _, m in report.errors]
    assert any("not valid UTF-8" in m for m in messages)
    for path, message in report.errors:
        (path + message).encode("utf-8")  # printable as it is


# -- item 4: a replaced model file never inherits its old sidecar's hash ---------------------------

def _copy_keeping_mtime(src, dst):
    subprocess.run(["cp", "-p", str(src), str(dst)], check=True)


@pytest.mark.parametrize("sidecar", ["sha256", "cm-info.json"])
def test_a_model_replaced_with_an_older_mtime_is_hashed_again(tmp_path, sidecar):
    lib, _ = _folder(tmp_path, n_good=0)
    model = lib / "m.safetensors"
    old = safetensors_bytes(None, 512, "old")
    model.write_bytes(old)
    old_sha = hashlib.sha256(old).hexdigest().upper()
    side = lib / f"m.{sidecar}"
    side.write_text(old_sha if sidecar == "sha256" else json.dumps({"Hashes": {"SHA256": old_sha}}))
    written = model.stat().st_ctime_ns  # as if the sidecar had been written right after the model
    os.utime(side, ns=(written, written))
    assert read_sidecar_facts(model).hashes["SHA256"] == old_sha  # valid for the file it describes
    # a different file (same size), made before the sidecar, copied over the model with `cp -p`
    new = tmp_path / "new.safetensors"
    new_data = safetensors_bytes(None, 512, "new")
    new.write_bytes(new_data)
    t = side.stat().st_mtime_ns - 3600 * 10**9
    os.utime(new, ns=(t, t))
    _copy_keeping_mtime(new, model)
    assert model.stat().st_mtime_ns < side.stat().st_mtime_ns  # the old mtime test alone would trust it
    assert read_sidecar_facts(model).hashes == {}
    index = LibraryIndex(tmp_path / "index.sqlite3")
    scan([lib.parent], index, lookup=False)
    assert index.get(str(model)).sha256 == hashlib.sha256(new_data).hexdigest().upper()


def test_a_model_overwritten_in_place_with_its_old_size_and_mtime_is_hashed_again(tmp_path):
    """`cp -p` over an indexed file writes into the same inode and puts an mtime back: size, mtime and
    inode all look unchanged, and only the ctime (which nobody can set) tells. Before, the index kept
    the old hash, and a download of that name said "already downloaded (same SHA256)"."""
    lib, _ = _folder(tmp_path, n_good=0)
    model = lib / "m.safetensors"
    model.write_bytes(safetensors_bytes(None, 512, "old"))
    index = LibraryIndex(tmp_path / "index.sqlite3")
    scan([lib.parent], index, lookup=False)
    before = model.stat()
    new = tmp_path / "new.safetensors"
    new_data = safetensors_bytes(None, 512, "new")
    new.write_bytes(new_data)
    os.utime(new, ns=(before.st_atime_ns, before.st_mtime_ns))
    time.sleep(0.05)  # file times tick in jiffies: make sure the copy lands in a later one
    _copy_keeping_mtime(new, model)
    after = model.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert index.lookup_valid(str(model), after) is None  # what a download asks before saying "already there"
    report = scan([lib.parent], index, lookup=False)
    assert report.changed == 1 and report.unchanged == 0
    assert index.get(str(model)).sha256 == hashlib.sha256(new_data).hexdigest().upper()
    assert index.lookup_valid(str(model), model.stat()) is not None


def test_an_index_from_before_ctimes_learns_them_on_the_next_rescan(tmp_path):
    lib, good = _folder(tmp_path, n_good=2)
    index = LibraryIndex(tmp_path / "index.sqlite3")
    scan([lib.parent], index, lookup=False)
    for entry in index.entries():  # as an older civkit wrote them
        entry.ctime_ns = None
        index.upsert(entry)
    report = scan([lib.parent], index, lookup=False)
    assert report.unchanged == 2 and report.hashed == 0  # nothing is hashed again for it
    for path in good:
        assert index.get(path).ctime_ns == os.stat(path).st_ctime_ns
