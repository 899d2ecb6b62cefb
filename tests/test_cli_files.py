"""``civkit hash`` and ``civkit info`` as a person (or a script with --json) uses them."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from civkit.cli.main import main

HELLO_SHA = "B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9"
VECTOR2 = struct.pack("<Q", 2) + b"{}" + b"hello world"
KEYS = ["path", "SHA256", "AutoV1", "AutoV2", "AutoV3", "CRC32", "BLAKE3", "size"]


def lora_file(tmp_path, name="char.safetensors", truncate_by=0):
    header = {
        "__metadata__": {
            "ss_network_module": "networks.lora",
            "ss_tag_frequency": json.dumps({"10_mychar": {"mychar": 9, "smile": 2}}),
            "sshs_model_hash": "abc123",
            "ss_dataset_dirs": "x" * 1000,
        },
        "lora_unet_a.lora_down.weight": {"dtype": "F16", "shape": [2, 4], "data_offsets": [0, 16]},
    }
    body = json.dumps(header).encode()
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(body)) + body + b"\1" * (16 - truncate_by))
    return path


def test_hash_prints_a_table(tmp_path, capsys):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world")
    assert main(["hash", str(path)]) == 0
    out, err = capsys.readouterr()
    assert str(path) in out and "(11 bytes)" in out
    assert f"SHA256  {HELLO_SHA}" in out
    assert "CRC32   85114A0D" in out and "AutoV1  -" in out and "AutoV3  -" in out
    assert err == ""  # no progress bar when stderr is not a terminal


def test_hash_json_one_object_per_file_in_the_order_given(tmp_path, capsys):
    a = tmp_path / "a.safetensors"
    a.write_bytes(VECTOR2)
    b = tmp_path / "b.txt"
    b.write_bytes(b"hello world")
    assert main(["--json", "hash", str(b), str(a), str(b)]) == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["path"] for r in records] == [str(b), str(a), str(b)]
    assert all(list(r) == KEYS for r in records)
    assert records[1] == {
        "path": str(a),
        "SHA256": "1321508D33F3CD706BA620772AA91F7DDB96724E7670A8E3F2828DE4514C07FB",
        "AutoV1": None,
        "AutoV2": "1321508D33",
        "AutoV3": "B94D27B9934D",
        "CRC32": "A227D524",
        "BLAKE3": "0E7B1C07126983690D70A07299656C4895CC6F59696DFA51544F5D1759FE08A8",
        "size": 21,
    }


def test_hash_only_computes_and_prints_the_hashes_asked_for(tmp_path, capsys):
    a = tmp_path / "a.safetensors"
    a.write_bytes(VECTOR2)
    assert main(["--json", "hash", "--only", "autov2, sha256", str(a)]) == 0  # any case and order
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record == {"path": str(a), "SHA256": "1321508D33F3CD706BA620772AA91F7DDB96724E7670A8E3F2828DE4514C07FB",
                      "AutoV2": "1321508D33", "size": 21}
    assert main(["hash", "--only", "CRC32", str(a)]) == 0
    out = capsys.readouterr().out
    assert "CRC32   A227D524" in out and "SHA256" not in out and "BLAKE3" not in out


@pytest.mark.parametrize("only", ["MD5", "SHA256,sha1", ",", ""])
def test_hash_only_refuses_unknown_names_before_reading_anything(tmp_path, capsys, only):
    a = tmp_path / "a.bin"
    a.write_bytes(b"hello world")
    assert main(["hash", "--only", only, str(a)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--only takes hash names separated by commas (SHA256, AutoV1, AutoV2, AutoV3, CRC32, BLAKE3)" in err
    assert a.read_bytes() == b"hello world"


def test_hash_names_of_the_cli_are_the_hashing_modules():
    from civkit.cli.files import HASH_NAMES
    from civkit.hashing import ALL_HASHES

    assert HASH_NAMES == ALL_HASHES


def test_hash_goes_on_after_a_bad_file_and_exits_1(tmp_path, capsys):
    good = tmp_path / "good.bin"
    good.write_bytes(b"hello world")
    missing = tmp_path / "missing.safetensors"
    assert main(["--json", "hash", str(missing), str(tmp_path), str(good)]) == 1
    out, err = capsys.readouterr()
    assert [json.loads(line)["SHA256"] for line in out.splitlines()] == [HELLO_SHA]
    assert err.splitlines() == [
        f"civkit: cannot hash {missing}: no such file",
        f"civkit: cannot hash {tmp_path}: is a directory (use `civkit scan DIR` for folders)",
    ]
    assert good.read_bytes() == b"hello world"


def test_info_shows_header_and_metadata(tmp_path, capsys):
    path = lora_file(tmp_path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "kind        LoRA" in out
    assert "tensors     1 (F16), 8 parameters" in out
    assert "ss_network_module" in out and "networks.lora" in out
    assert "1 folder(s): 10_mychar; top tags: mychar (9), smile (2)" in out
    assert "abc123  (written by the trainer, not verified" in out
    assert "(1000 characters; --json shows all)" in out
    assert "WARNING" not in out


def test_info_json_is_one_object(tmp_path, capsys):
    path = lora_file(tmp_path)
    assert main(["--json", "info", str(path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["path"] == str(path) and record["kind"] == "LoRA"
    assert record["tensor_count"] == 1 and record["dtypes"] == ["F16"] and record["parameter_count"] == 8
    assert record["metadata"]["ss_dataset_dirs"] == "x" * 1000
    assert record["tag_frequency"] == {"10_mychar": {"mychar": 9, "smile": 2}}
    assert record["file_size"] == path.stat().st_size and record["truncated"] is False


def test_info_warns_about_an_incomplete_file(tmp_path, capsys):
    path = lora_file(tmp_path, truncate_by=6)
    assert main(["info", str(path)]) == 0
    assert "it is incomplete (interrupted download?)" in capsys.readouterr().out


def test_info_on_files_that_are_not_safetensors(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_bytes(b"hello world, this is not a model")
    assert main(["info", str(text)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"civkit: {text} is not a readable safetensors file: header claims ")
    assert err.strip().endswith("more than the 100 MiB limit") and "Traceback" not in err
    assert text.read_bytes() == b"hello world, this is not a model"

    assert main(["info", str(tmp_path / "gone.safetensors")]) == 1
    assert capsys.readouterr().err == f"civkit: cannot read {tmp_path / 'gone.safetensors'}: no such file\n"

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(struct.pack("<Q", 6) + b"{nope}")
    assert main(["info", str(broken)]) == 1
    assert "header is not JSON" in capsys.readouterr().err


def test_progress_bar_only_on_a_terminal(tmp_path):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world")
    env = dict(os.environ)
    # stderr on a pseudo-terminal: the bar appears there; stdout (a pipe) stays clean
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real terminal has a size
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "civkit.cli.main", "--json", "hash", str(path)],
            stdout=subprocess.PIPE, stderr=slave, env=env, timeout=60, check=False,
        )
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO once the child's side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["SHA256"] == HELLO_SHA
    assert b"hashing" in b"".join(chunks)
    # the same command in a pipe: no bar at all
    piped = subprocess.run(
        [sys.executable, "-m", "civkit.cli.main", "hash", str(path)], capture_output=True, env=env, timeout=60, check=False
    )
    assert piped.returncode == 0 and piped.stderr == b"" and HELLO_SHA.encode() in piped.stdout
