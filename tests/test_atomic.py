"""Whole-file-or-nothing writes: the helper config, sidecars and previews share."""

from __future__ import annotations

import os
import stat

import pytest

from civkit.atomic import existing_mode, write_atomic


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "models"
    path.mkdir()
    return path


def test_private_mode_is_set_and_no_temp_file_is_left(folder):
    target = folder / "config.json"
    assert write_atomic(target, b"{}", mode=0o600, fsync=True) is True
    assert target.read_bytes() == b"{}"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert os.listdir(folder) == ["config.json"]


def test_a_refusal_before_replace_keeps_the_old_file(folder):
    target = folder / "x.preview.png"
    target.write_bytes(b"old")
    assert write_atomic(target, b"new", before_replace=lambda: False) is False
    assert target.read_bytes() == b"old" and os.listdir(folder) == ["x.preview.png"]


def test_a_failed_write_keeps_the_old_file_whole(folder):
    target = folder / "model.json"
    target.write_text('{"activation text": "mine"}', encoding="utf-8")
    os.chmod(target, 0o640)

    def boom():
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        write_atomic(target, b"{}", mode=existing_mode(target), before_replace=boom)
    assert target.read_text(encoding="utf-8") == '{"activation text": "mine"}'
    assert os.listdir(folder) == ["model.json"] and existing_mode(target) == 0o640
