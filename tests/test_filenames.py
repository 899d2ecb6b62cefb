"""Hostile names from a server never escape the chosen folder (HOSTS.md §3 "File names")."""

from __future__ import annotations

import pytest

from civkit.download.names import (
    UnsafeFilename,
    filename_from_disposition,
    safe_filename,
    suffixed_name,
    target_inside,
)

HOSTILE = {
    "../../evil.safetensors": "evil.safetensors",
    "..\\..\\evil.safetensors": "evil.safetensors",
    "/etc/passwd": "passwd",
    "C:\\Windows\\System32\\evil.dll": "evil.dll",
    "C:evil.safetensors": "evil.safetensors",
    "\\\\server\\share\\evil.safetensors": "evil.safetensors",
    "//server/share/evil.safetensors": "evil.safetensors",
    "a\x00b\x1fc\x7f.safetensors": "abc.safetensors",
    "CON.safetensors": "_CON.safetensors",
    "nul": "_nul",
    "com1.txt": "_com1.txt",
    "what?<>|*.safetensors": "what_____.safetensors",
    "trailing. . ": "trailing",
    "lora.safetensors": "lora.safetensors",
    "名前 v2.safetensors": "名前 v2.safetensors",
}


@pytest.mark.parametrize("raw,expected", sorted(HOSTILE.items()))
def test_hostile_names_are_made_safe(raw, expected, tmp_path):
    name = safe_filename(raw)
    assert name == expected
    target = target_inside(tmp_path, name)
    assert target.parent == tmp_path


@pytest.mark.parametrize("raw", ["", "..", ".", "../..", "/", "C:\\", "\x00\x01", "a/..", None])
def test_nothing_usable_left(raw):
    with pytest.raises(UnsafeFilename, match="not a usable file name"):
        safe_filename(raw)


def test_long_names_keep_their_extension():
    name = safe_filename("x" * 400 + ".safetensors")
    assert name.endswith(".safetensors") and len(name.encode()) <= 240


def test_content_disposition():
    assert filename_from_disposition('attachment; filename="plain.safetensors"') == "plain.safetensors"
    assert filename_from_disposition("attachment; filename*=UTF-8''na%C3%AFve%20lora.safetensors; "
                                     'filename="naive.safetensors"') == "naïve lora.safetensors"
    assert filename_from_disposition('attachment; filename="../../evil.safetensors"') == "../../evil.safetensors"
    assert filename_from_disposition(None) is None
    assert filename_from_disposition("attachment") is None


def test_suffixed_name():
    assert suffixed_name("model.safetensors", 1) == "model (1).safetensors"
    assert suffixed_name("README", 2) == "README (2)"
