"""Segmented downloads (issue 14): one large file over several Range connections, on the emulator.

Real sockets, real files, real subprocesses for the kill and lock cases. The emulator's storage log
(``fake.storage_ranges()``: start, end, bytes sent of every storage response) shows what was fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from civkit.api import CivitaiClient
from civkit.download import HashMismatch, choose_file, download_file, segments
from civkit.download.segstate import Ranges, state_path
from civkit.testing import FakeCivitai

MIB = 1024 * 1024
SIZE = 40 * MIB + 12345  # above segments.MIN_SEGMENTED_SIZE: 4 MiB pieces, not a multiple of them


@pytest.fixture(scope="module")
def fake_module(tmp_path_factory):
    with FakeCivitai(files_dir=tmp_path_factory.mktemp("seg-catalog")) as fake:
        model = fake.catalog.add_large_file_model(SIZE, seed="segments")
        small = fake.catalog.add_large_file_model(3 * MIB, seed="segments-small")
        fake.set_baseline()
        fake.large_version = model["modelVersions"][0]["id"]
        fake.small_version = small["modelVersions"][0]["id"]
        yield fake


@pytest.fixture
def fake(fake_module):
    fake_module.reset()
    yield fake_module
    fake_module.reset()


@pytest.fixture
def dest(tmp_path):
    path = tmp_path / "dl"
    path.mkdir()
    return path


@pytest.fixture
def client(fake):
    with CivitaiClient(fake.base_url, fake.api_key, rate_per_second=None) as c:
        yield c


def fetch(client, version_id, dest, **kw):
    version = client.get_version(version_id)
    file = choose_file(version)
    kw.setdefault("retry_delay", 0)
    return file, download_file(client, version, file, dest, **kw)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(4 * MIB), b""):
            h.update(block)
    return h.hexdigest().upper()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".safetensors"))


def covered(ranges) -> Ranges:
    done = Ranges()
    for start, _end, sent in ranges:
        done.add(start, start + sent)
    return done


def test_large_file_comes_over_several_ranges_and_verifies(fake, client, dest):
    file, result = fetch(client, fake.large_version, dest)
    assert result.sha256 == file.sha256 == sha256_of(result.path)
    assert result.bytes == SIZE and result.resumed_from == 0
    ranges = fake.storage_ranges()
    assert len(ranges) >= 10  # 4 MiB pieces, each its own bounded request
    assert all(end - start <= segments.PIECE_MAX for start, end, _sent in ranges)
    assert covered(ranges).spans == [[0, SIZE]]
    assert leftovers(dest) == []  # no .part, .part.segments or .part.lock left behind
    # Each connection carries piece after piece (keep-alive): a new TCP and TLS handshake per piece
    # would cost real storage hosts far more than the request. One more than the connections: the
    # API calls' own connection may carry a piece too; and a piece split at the end (work stealing,
    # seen as a range starting inside another) loses its connection, whose response is cut short.
    splits = sum(1 for a in ranges for b in ranges if a[0] < b[0] < a[1])
    assert fake.storage_connections() <= segments.DEFAULT_CONNECTIONS + 1 + splits < len(ranges)


def test_one_connection_and_small_files_use_one_request(fake, client, dest):
    fetch(client, fake.large_version, dest / "a", connections=1)
    assert fake.storage_ranges() == [(0, SIZE, SIZE)]
    fake.reset()
    file, result = fetch(client, fake.small_version, dest / "b")  # below MIN_SEGMENTED_SIZE
    assert result.sha256 == file.sha256
    assert len(fake.storage_ranges()) == 1


def test_server_ignoring_range_falls_back_to_one_connection(fake, client, dest):
    fake.faults.ignore_range = True
    file, result = fetch(client, fake.large_version, dest)
    assert result.sha256 == file.sha256 == sha256_of(result.path)
    log = fake.storage_log
    assert {e["status"] for e in log} == {200}
    assert log[-1]["sent"] == SIZE  # the whole file over one connection after the first 200
    assert sum(1 for e in log if e["sent"] == SIZE) == 1
    assert leftovers(dest) == []


def test_a_piece_whose_connection_drops_twice_resumes_where_it_stopped(fake, client, dest):
    cut = 3 * segments.PIECE_MIN + 777_777  # inside the fourth piece
    fake.faults.drop_at_offset, fake.faults.drop_count = cut, 2
    file, result = fetch(client, fake.large_version, dest)
    assert result.sha256 == file.sha256 == sha256_of(result.path)
    through = [(s, e, sent) for s, e, sent in fake.storage_ranges() if s <= cut < e]
    assert len(through) == 3
    first, second, third = through
    assert first[0] + first[2] == cut  # dropped just before the cut
    assert second[0] == cut and second[2] == 0  # asked again from the cut, dropped again
    assert third[0] == cut and third[2] == third[1] - third[0]  # the third try finished the piece
    assert not any(s < cut < s + sent for s, _e, sent in fake.storage_ranges()[1:] if s != first[0])
    assert leftovers(dest) == []


def test_a_corrupt_byte_in_one_piece_fails_and_leaves_nothing(fake, client, dest):
    fake.faults.corrupt_bytes, fake.faults.corrupt_offset = True, 2 * segments.PIECE_MIN + 4321
    with pytest.raises(HashMismatch) as info:
        fetch(client, fake.large_version, dest)
    assert "corrupt" in info.value.message and "nothing was saved under the final name" in info.value.message
    assert list(dest.iterdir()) == []  # no .part, no state file, no lock, nothing under the final name


def test_storage_url_expiry_mid_download_gets_a_fresh_url(fake, client, dest):
    fake.faults.expire_after_bytes = 6 * MIB
    file, result = fetch(client, fake.large_version, dest)
    assert result.sha256 == file.sha256 == sha256_of(result.path)
    assert fake.downloads_counted == 2  # resolved once more, not once per connection or per piece
    serials = {target.split("X-Serial=")[1].split("&")[0] for _m, target, _a in fake.request_log
               if target.startswith("/storage/")}
    assert len(serials) == 2
    assert leftovers(dest) == []


def test_a_stalled_connection_does_not_set_the_pace(fake, client, dest, monkeypatch):
    monkeypatch.setattr(segments, "STALL_SECONDS", 1.0)
    stall = segments.PIECE_MIN + 100_000  # in the second piece
    fake.faults.stall_at_offset, fake.faults.stall_seconds, fake.faults.stall_count = stall, 120.0, 1
    file, result = fetch(client, fake.large_version, dest)
    assert result.sha256 == file.sha256 == sha256_of(result.path)
    stalled = next((s, e, sent) for s, e, sent in fake.storage_ranges() if s <= stall < e)
    assert stalled[0] + stalled[2] == stall  # it never sent past the stall ...
    later = [(s, e, sent) for s, e, sent in fake.storage_ranges() if s <= stall < s + sent]
    assert later  # ... another connection (a split or a restart) fetched those bytes


def _stealing(latency, *pieces):
    """A transfer's stealing state with these (start, end, pos, rate or None) pieces in flight."""
    from types import SimpleNamespace

    now = time.monotonic()
    active = set()
    for start, end, pos, rate in pieces:
        piece = segments._Piece(start, end)
        piece.pos = pos
        if rate is not None:  # flowing for one second at ``rate``
            piece.flowing_since, piece.flowing_from = now - 1.0, pos - int(rate)
        active.add(piece)
    return SimpleNamespace(active=active, latency=latency, steals=0)


def test_an_idle_connection_takes_a_share_that_ends_with_the_victim():
    # 8 MiB left at 4 MiB/s, 50 ms per request: the thief waits 50 ms, then both end together.
    state = _stealing(0.05, (0, 16 * MIB, 8 * MIB, 4 * MIB))
    stolen = segments.SegmentedTransfer._steal(state)
    (victim,) = [p for p in state.active if p is not stolen]
    share = stolen.end - stolen.start
    assert stolen.end == 16 * MIB and victim.end == stolen.start and state.steals == 1
    assert share == int((8 * MIB - 4 * MIB * 0.05) / 2) // segments.STEAL_ALIGN * segments.STEAL_ALIGN
    victim_seconds = (victim.end - victim.pos) / (4 * MIB)
    thief_seconds = 0.05 + share / (4 * MIB)
    assert abs(victim_seconds - thief_seconds) < 0.02


def test_stealing_picks_the_piece_with_the_most_time_left_and_never_a_pointless_one():
    slow_small = (0, 4 * MIB, 1 * MIB, 1 * MIB)      # 3 MiB left at 1 MiB/s: ~3 s
    fast_big = (4 * MIB, 20 * MIB, 4 * MIB, 16 * MIB)  # 16 MiB left at 16 MiB/s: ~1 s
    state = _stealing(0.01, slow_small, fast_big)
    stolen = segments.SegmentedTransfer._steal(state)
    assert 1 * MIB < stolen.start < stolen.end == 4 * MIB  # from the slow one
    # a request that takes longer than half of what is left would end later: no steal
    assert segments.SegmentedTransfer._steal(_stealing(1.0, (0, 4 * MIB, 0, 4 * MIB))) is None
    # too little left to share
    assert segments.SegmentedTransfer._steal(_stealing(0.0, (0, 700 * 1024, 0, MIB))) is None
    # a piece that just started (no rate yet) is left alone; a stalled one (rate 0) is split in halves
    assert segments.SegmentedTransfer._steal(_stealing(0.05, (0, 8 * MIB, 2 * MIB, None))) is None
    stolen = segments.SegmentedTransfer._steal(_stealing(0.05, (0, 8 * MIB, 2 * MIB, 0)))
    assert stolen.end == 8 * MIB and stolen.end - stolen.start == 3 * MIB


def test_cancel_keeps_the_pieces_and_the_next_run_fetches_only_the_rest(fake, client, dest):
    import threading

    cancel = threading.Event()
    fake.faults.throttle_bps = 4 * MIB

    def progress(state, done, total):
        if state == "downloading" and done >= 8 * MIB:
            cancel.set()

    from civkit.download import Cancelled

    with pytest.raises(Cancelled):
        fetch(client, fake.large_version, dest, progress=progress, cancel=cancel)
    part = dest / f"large-segments-{SIZE}.safetensors.part"
    state = json.loads(state_path(part).read_text())
    done = Ranges(state["done"])
    assert done.total() >= 8 * MIB and len(done.spans) >= 1
    fake.reset()
    file, result = fetch(client, fake.large_version, dest)
    assert result.sha256 == file.sha256 == sha256_of(result.path)
    assert result.resumed_from == done.total()
    fetched = covered(fake.storage_ranges())
    for start, end in done.spans:  # nothing recorded as done was fetched again
        assert all(e <= start or s >= end for s, e in fetched.spans)
    assert leftovers(dest) == []


@pytest.mark.parametrize("state", [
    b"not json at all",
    b'{"civkit_segments": 1, "version_id": 1, "file_id": 2, "size": 5, "sha256": null, "done": [[0, 5]]}',
    b'{"civkit_segments": 1, "done": [["x", 1]]}',
])
def test_a_foreign_or_damaged_state_file_starts_over_safely(fake, client, dest, state):
    version = client.get_version(fake.large_version)
    file = choose_file(version)
    part = dest / (file.name + ".part")
    part.write_bytes(b"\0" * SIZE)  # a preallocated .part full of holes
    state_path(part).write_bytes(state)
    _f, result = fetch(client, fake.large_version, dest)
    assert result.sha256 == file.sha256 == sha256_of(result.path)
    assert covered(fake.storage_ranges()).spans == [[0, SIZE]]
    assert leftovers(dest) == []


def test_a_state_file_for_a_smaller_file_is_not_trusted(fake, client, dest):
    version = client.get_version(fake.large_version)
    file = choose_file(version)
    part = dest / (file.name + ".part")
    part.write_bytes(b"\0" * (SIZE - 10))
    state_path(part).write_text(json.dumps({"civkit_segments": 1, "version_id": version.id, "file_id": file.id,
                                            "size": SIZE - 10, "sha256": file.sha256, "done": [[0, SIZE - 10]]}))
    _f, result = fetch(client, fake.large_version, dest)
    assert result.sha256 == file.sha256 == sha256_of(result.path)


# ---------------------------------------------------------------------------- real processes
def civkit_cmd(fake, models, *extra):
    return [sys.executable, "-m", "civkit.cli.main", "--api-base", fake.base_url, "--api-key", fake.api_key,
            "download", str(fake.large_version), "--to", str(models), "--no-sidecars", *extra]


def test_killed_with_four_pieces_in_flight_resumes_only_the_missing_ranges(fake, tmp_path):
    models = tmp_path / "models"
    fake.faults.throttle_bps = 2 * MIB  # per connection: the download takes a few seconds
    proc = subprocess.Popen(civkit_cmd(fake, models, "--connections", "4"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    name = f"large-segments-{SIZE}.safetensors"
    part = models / (name + ".part")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "four pieces never ran at once"
            in_flight = [e for e in list(fake.storage_log) if 0 < e["sent"] < e["end"] - e["start"]]
            if len(in_flight) >= 4 and state_path(part).exists() and \
                    Ranges(json.loads(state_path(part).read_text())["done"]).total() > 4 * MIB:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert not (models / name).exists()
    done = Ranges(json.loads(state_path(part).read_text())["done"])
    assert 0 < done.total() < SIZE and part.stat().st_size == SIZE  # preallocated
    fake.reset()
    cmd = civkit_cmd(fake, models, "--connections", "4")
    again = subprocess.run(cmd[:5] + ["--json"] + cmd[5:], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["state"] == "done" and result["sha256"] == sha256_of(models / name)
    fetched = fake.storage_ranges()
    for start, end in done.spans:  # nothing recorded as done was fetched again ...
        assert all(s + sent <= start or s >= end for s, _e, sent in fetched), (done.spans, fetched)
    union = covered(fetched)
    for start, end in done.spans:
        union.add(start, end)
    assert union.spans == [[0, SIZE]]  # ... and every missing range was
    assert sorted(os.listdir(models)) == [name]


def test_two_processes_downloading_the_same_file(fake, tmp_path):
    models = tmp_path / "models"
    fake.faults.throttle_bps = 8 * MIB
    cmd = civkit_cmd(fake, models, "--connections", "4")
    cmd = cmd[:5] + ["--json"] + cmd[5:]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    states = sorted(json.loads(out)["state"] for out, _err in outs)
    assert states == ["done", "skipped"]
    name = f"large-segments-{SIZE}.safetensors"
    assert sorted(os.listdir(models)) == [name]
    assert sha256_of(models / name) == json.loads(outs[0][0])["sha256"]
    # Fetched once, not twice. A piece split at the end is cut short, and what was already on its
    # way past the new end is dropped: a little more than the file, never twice as much.
    assert SIZE <= sum(sent for _s, _e, sent in fake.storage_ranges()) < SIZE * 1.1


# ---------------------------------------------------------------------------- the setting and the flag
def test_connections_setting_and_flag_are_checked(fake, tmp_path, civkit_home, capsys):
    from civkit.cli.main import main
    from civkit.config import load_config, save_settings

    assert main(["download", "1", "--connections", "0", "--to", str(tmp_path)]) == 2
    assert "connections must be from 1 to 8" in capsys.readouterr().err
    with pytest.raises(ValueError, match="whole number"):
        save_settings(civkit_home, connections="many")
    save_settings(civkit_home, connections=2)
    assert load_config().connections == 2
    (civkit_home / "config.json").write_text(json.dumps({"connections": 99}))
    assert load_config().connections == 4  # a bad stored value: the default, with a warning
