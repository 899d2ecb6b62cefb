"""Scanning folders into the index, without Civitai: walking, hashing, rescans, sidecars, failures."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from civkit.library import LibraryIndex, ScanProgress, scan
from civkit.testing.files import safetensors_bytes


def _lib(tmp_path):
    lib = tmp_path / "models"
    (lib / "loras" / "sub").mkdir(parents=True)
    (lib / "checkpoints").mkdir()
    files = {
        "loras/a.safetensors": safetensors_bytes({"ss_output_name": "a"}, 1000, "a"),
        "loras/sub/b.safetensors": safetensors_bytes(None, 3000, "b"),
        "checkpoints/c.ckpt": b"ckpt" * 600_000,  # 2.4 MB: has an AutoV1
        "checkpoints/d.gguf": b"gguf-bytes",
    }
    for rel, data in files.items():
        (lib / rel).write_bytes(data)
    # not models: sidecars, partial downloads, hidden files, other extensions
    (lib / "loras" / "a.civitai.info").write_text("{}")
    (lib / "loras" / "a.json").write_text("{}")
    (lib / "loras" / "e.safetensors.part").write_bytes(b"partial")
    (lib / "loras" / ".hidden.safetensors").write_bytes(b"x")
    (lib / "loras" / "notes.txt").write_text("hi")
    return lib, {str(lib / rel): data for rel, data in files.items()}


def _index(tmp_path):
    return LibraryIndex(tmp_path / "index.sqlite3")


def test_first_scan_indexes_model_files_with_correct_hashes(tmp_path):
    lib, files = _lib(tmp_path)
    index = _index(tmp_path)
    report = scan([lib], index, lookup=False)
    assert report.errors == []
    assert (report.files, report.new, report.hashed) == (4, 4, 4)
    assert sorted(e.path for e in report.entries) == sorted(files)
    for path, data in files.items():
        e = index.get(path)
        sha = hashlib.sha256(data).hexdigest().upper()
        # a.civitai.info is "{}": Civitai Helper's "not on Civitai", as of its mtime
        status = "not_found" if path.endswith("a.safetensors") else "unknown"
        assert (e.sha256, e.autov2, e.size, e.status) == (sha, sha[:10], len(data), status)
    ckpt = index.get(str(lib / "checkpoints" / "c.ckpt"))
    assert ckpt.autov1 == hashlib.sha256(files[ckpt.path][0x100000:0x110000]).hexdigest()[:8].upper()
    header = index.get(str(lib / "loras" / "a.safetensors")).header
    assert header["metadata"] == {"ss_output_name": "a"} and header["tensor_count"] >= 1


def test_rescan_of_unchanged_files_reads_nothing(tmp_path):
    lib, files = _lib(tmp_path)
    index = _index(tmp_path)
    scan([lib], index, lookup=False)
    report = scan([lib], index, lookup=False)
    assert (report.unchanged, report.new, report.changed, report.hashed) == (4, 0, 0, 0)
    assert len(report.entries) == 4


def test_changed_removed_and_moved_files(tmp_path):
    lib, files = _lib(tmp_path)
    index = _index(tmp_path)
    scan([lib], index, lookup=False)
    a = lib / "loras" / "a.safetensors"
    a.write_bytes(safetensors_bytes({"ss_output_name": "a2"}, 1000, "a2"))
    (lib / "checkpoints" / "d.gguf").unlink()
    old_c = index.get(str(lib / "checkpoints" / "c.ckpt"))
    os.rename(lib / "checkpoints" / "c.ckpt", lib / "loras" / "c-moved.ckpt")
    report = scan([lib], index, lookup=False)
    assert (report.changed, report.removed, report.moved, report.hashed) == (1, 1, 1, 1)
    assert index.get(str(a)).sha256 == hashlib.sha256(a.read_bytes()).hexdigest().upper()
    assert index.get(str(lib / "checkpoints" / "d.gguf")) is None
    moved = index.get(str(lib / "loras" / "c-moved.ckpt"))
    assert moved.sha256 == old_c.sha256 and index.get(old_c.path) is None


def test_a_valid_sidecar_hash_is_used_instead_of_reading_the_file(tmp_path):
    lib, files = _lib(tmp_path)
    b = lib / "loras" / "sub" / "b.safetensors"
    claimed = "AB" * 32  # not the real hash: proves the file was not read
    (lib / "loras" / "sub" / "b.sha256").write_text(claimed.lower() + "\n")
    index = _index(tmp_path)
    report = scan([lib], index, lookup=False)
    assert report.from_sidecars == 1 and report.hashed == 3
    assert index.get(str(b)).sha256 == claimed


def test_a_stale_sidecar_is_not_trusted(tmp_path):
    lib, files = _lib(tmp_path)
    b = lib / "loras" / "sub" / "b.safetensors"
    side = lib / "loras" / "sub" / "b.sha256"
    side.write_text("AB" * 32)
    old = side.stat().st_mtime_ns - 3600 * 10**9
    os.utime(side, ns=(old, old))
    index = _index(tmp_path)
    scan([lib], index, lookup=False)
    assert index.get(str(b)).sha256 == hashlib.sha256(b.read_bytes()).hexdigest().upper()


def test_bad_files_are_reported_and_the_scan_goes_on(tmp_path):
    lib, files = _lib(tmp_path)
    (lib / "loras" / "corrupt.safetensors").write_bytes(b"\xff" * 8 + b"not json at all")
    (lib / "loras" / "notjson.safetensors").write_bytes(b"\x05\0\0\0\0\0\0\0hello" + b"\0" * 20)
    full = safetensors_bytes(None, 5000, "t")
    (lib / "loras" / "truncated.safetensors").write_bytes(full[: len(full) - 1000])
    vanish = lib / "checkpoints" / "vanish.ckpt"
    vanish.write_bytes(b"v" * 100)
    becomes_dir = lib / "checkpoints" / "weird.pt"
    becomes_dir.write_bytes(b"w" * 100)

    def progress(p: ScanProgress):
        if p.phase == "hash" and p.path is None:  # after the walk and headers, before hashing
            vanish.unlink()
            becomes_dir.unlink()
            becomes_dir.mkdir()

    index = _index(tmp_path)
    report = scan([lib], index, lookup=False, progress=progress)
    errors = dict(report.errors)
    assert "not a valid safetensors file" in errors[str(lib / "loras" / "corrupt.safetensors")]
    assert "not a valid safetensors file" in errors[str(lib / "loras" / "notjson.safetensors")]
    assert "download is probably incomplete" in errors[str(lib / "loras" / "truncated.safetensors")]
    assert errors[str(vanish)] == "the file vanished during the scan"
    assert errors[str(becomes_dir)].startswith("cannot read the file")
    assert index.get(str(lib / "loras" / "corrupt.safetensors")).status == "error"
    assert index.get(str(vanish)) is None
    for path in files:  # everything else was indexed
        assert index.get(path).sha256
    # the corrupt file untouched
    assert (lib / "loras" / "corrupt.safetensors").read_bytes().startswith(b"\xff" * 8)


def test_a_missing_root_is_reported_and_forgets_nothing(tmp_path):
    lib, files = _lib(tmp_path)
    index = _index(tmp_path)
    scan([lib], index, lookup=False)
    moved_away = tmp_path / "elsewhere"
    shutil.move(str(lib), str(moved_away))  # e.g. an unmounted drive
    report = scan([lib], index, lookup=False)
    assert report.errors == [(str(lib), "not a folder (or it does not exist)")]
    assert index.count() == 4


def test_symlinked_folders_are_followed_once(tmp_path):
    lib, files = _lib(tmp_path)
    os.symlink(lib / "loras", lib / "checkpoints" / "link-to-loras")
    os.symlink(lib, lib / "loras" / "loop")
    report = scan([lib], _index(tmp_path), lookup=False)
    assert report.files == 4 and report.errors == []


def test_progress_reports_phases(tmp_path):
    lib, _ = _lib(tmp_path)
    seen = []
    scan([lib], _index(tmp_path), lookup=False, progress=lambda p: seen.append((p.phase, p.done, p.total)))
    phases = [s[0] for s in seen]
    assert phases[0] == "walk" and phases[-1] == "done" and "hash" in phases
    assert ("hash", 4, 4) in seen


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from civkit.library import LibraryIndex, scan
    def slow(p):
        if p.phase == "hash" and p.path:
            time.sleep(0.05)
    scan([sys.argv[1]], LibraryIndex(sys.argv[2]), lookup=False, progress=slow, workers=1)
    """
)


def test_a_scan_killed_halfway_keeps_what_it_indexed(tmp_path):
    lib = tmp_path / "many"
    lib.mkdir()
    for i in range(200):
        (lib / f"m{i:03}.ckpt").write_bytes(f"model {i}".encode())
    db = tmp_path / "index.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(lib), str(db)])
    try:
        deadline = time.monotonic() + 60
        count = 0
        while time.monotonic() < deadline:
            if db.exists():
                try:
                    conn = sqlite3.connect(db, timeout=5)
                    count = conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
                    conn.close()
                except sqlite3.OperationalError:
                    count = 0
            if count >= 20:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the scan finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert 20 <= count < 200
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = conn.execute("SELECT COUNT(*) FROM files WHERE sha256 IS NOT NULL").fetchone()[0]
    conn.close()
    assert kept >= count
    index = LibraryIndex(db)
    report = scan([lib], index, lookup=False)
    assert report.unchanged == kept and report.new == 200 - kept
    assert index.count() == 200
    row = index.get(str(lib / "m007.ckpt"))
    assert row.sha256 == hashlib.sha256(b"model 7").hexdigest().upper()


def test_index_survives_json_round_trip_of_entries(tmp_path):
    lib, _ = _lib(tmp_path)
    report = scan([lib], _index(tmp_path), lookup=False)
    data = json.loads(json.dumps([e.to_json() for e in report.entries]))
    assert {d["status"] for d in data} == {"unknown", "not_found"}
