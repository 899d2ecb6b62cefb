"""Issue 13 item 8: every name civkit makes fits in one path component (255 bytes), with room for
what it adds beside it (``.part``, ``.part.lock``, the segment state file and its atomic temp
name) and for `` (NNN)`` suffixes; long names are cut on a character boundary, extension kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from civkit.atomic import write_atomic
from civkit.config import load_config
from civkit.download.names import safe_filename, suffixed_name
from civkit.folders import render_subfolder, safe_component
from civkit.hosts.standalone import StandaloneHost
from civkit.service import CivkitService

NAME_MAX = 255
# What civkit puts beside a file's name: ".part", ".part.lock", ".part.segments", and the atomic temp
# name of that state file ("." + name + ".part.segments" + ".XXXXXXXX.tmp" = name + 28 bytes).
DERIVED = (".part", ".part.lock", ".part.segments")
ATOMIC_EXTRA = len(".") + len(".XXXXXXXX.tmp")

LONG_CJK = "模型名字很长" * 40  # 720 bytes of UTF-8
LONG_LATIN = "ü" * 200  # 400 bytes


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def every_name_beside(name: str) -> list:
    names = [name] + [name + s for s in DERIVED]
    names.append("." + name + ".part.segments" + ".XXXXXXXX.tmp")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    for sidecar in (".civitai.info", ".preview.png", ".preview.jpeg", ".json"):
        names.append(stem + sidecar)
        names.append("." + stem + sidecar + ".XXXXXXXX.tmp")
    return names


@pytest.mark.parametrize("raw", [LONG_CJK + ".safetensors", LONG_LATIN + ".safetensors", "x" * 400, LONG_CJK + ".pt"],
                         ids=["cjk", "latin", "no-extension", "cjk-pt"])
@pytest.mark.parametrize("n", [None, 1, 10, 100, 999])
def test_a_long_file_name_and_everything_beside_it_fit(raw, n):
    name = safe_filename(raw)
    if n is not None:
        name = suffixed_name(name, n)
        assert f" ({n})" in name
    for other in every_name_beside(name):
        assert nbytes(other) <= NAME_MAX, (nbytes(other), other)
    assert name.encode("utf-8").decode("utf-8") == name  # cut on a character boundary
    if "." in raw:
        assert name.endswith("." + raw.rsplit(".", 1)[1])


def test_a_short_name_is_left_alone():
    assert safe_filename("model.safetensors") == "model.safetensors"
    assert suffixed_name("model.safetensors", 100) == "model (100).safetensors"


def test_subfolder_template_components_are_capped_in_bytes(tmp_path):
    sub = render_subfolder("{base_model}/{model_name}/{creator}", base_model="SDXL 1.0", model_name=LONG_CJK,
                           creator=LONG_LATIN)
    assert sub.parts[0] == "SDXL 1.0"
    for part in sub.parts:
        assert nbytes(part) <= NAME_MAX - 32, (nbytes(part), part)
        assert part.encode("utf-8").decode("utf-8") == part
    assert sub.parts[1].startswith("模型名字很长")
    (tmp_path / sub).mkdir(parents=True)  # ENAMETOOLONG before the cap
    assert nbytes(safe_component(LONG_CJK)) <= NAME_MAX - 32


def test_atomic_temp_name_fits_for_a_long_final_name(tmp_path):
    """A sidecar whose own name fits must not fail because its temp name is longer."""
    folder = tmp_path / "lora"
    folder.mkdir()
    target = folder / ("ä" * 120 + ".json")  # 245 bytes: fits; ".<name>.XXXXXXXX.tmp" would not
    assert write_atomic(target, b"{}")
    assert target.read_bytes() == b"{}"
    assert [p.name for p in folder.iterdir()] == [target.name]


@pytest.fixture
def long_named_model(fake_civitai, tmp_path):
    """A LoRA on the emulator whose model name and file name are long and multibyte."""
    path = tmp_path / "src" / "long.safetensors"
    path.parent.mkdir()
    src = Path(fake_civitai.catalog.files[next(iter(fake_civitai.catalog.files))])
    path.write_bytes(src.read_bytes())
    model = fake_civitai.add_model(path, name=LONG_CJK, file_name=LONG_CJK + ".safetensors", model_type="LORA")
    return model


def _service(fake_civitai, models_dir, home, template=""):
    config = load_config(api_base=fake_civitai.base_url, home=home).with_changes(subfolder_template=template)
    return CivkitService(config, StandaloneHost(models_dir, layout="comfyui"))


def test_a_download_with_a_long_multibyte_model_name_in_the_template(fake_civitai, long_named_model, tmp_path,
                                                                   civkit_home):
    models = tmp_path / "models"
    models.mkdir()
    service = _service(fake_civitai, models, civkit_home, "{base_model}/{model_name}")
    try:
        vid = long_named_model["modelVersions"][0]["id"]
        snap = service.wait_download(service.start_download(f"{long_named_model['id']}@{vid}"), timeout=60)
    finally:
        service.close()
    assert snap["state"] == "done", snap
    path = Path(snap["path"])
    assert path.is_file() and path.parent.parent.name == "SD 1.5"
    assert path.name.endswith(".safetensors") and path.parent.name.startswith("模型名字很长")
    for part in path.relative_to(models).parts:
        assert nbytes(part) <= NAME_MAX - 32
    assert snap["warnings"] == []  # the .civitai.info, .json and preview beside it were written too
    stem = path.name[: -len(".safetensors")]
    assert (path.parent / (stem + ".civitai.info")).is_file()
    assert not [p for p in path.parent.iterdir() if p.name.endswith((".part", ".lock", ".tmp"))]


def test_the_hundredth_suffix_of_a_long_name_still_downloads(fake_civitai, long_named_model, tmp_path):
    """on_conflict=suffix with 'name (1)' ... 'name (99)' taken: 'name (100)' and its lock must fit."""
    from civkit.api import CivitaiClient
    from civkit.download import choose_file, download_file

    client = CivitaiClient(fake_civitai.base_url, fake_civitai.api_key, sleep=lambda s: None)
    version = client.get_version(long_named_model["modelVersions"][0]["id"])
    file = choose_file(version)
    dest = tmp_path / "loras"
    dest.mkdir()
    name = safe_filename(file.name)
    taken = [name] + [suffixed_name(name, n) for n in range(1, 100)]
    for other in taken:
        (dest / other).write_bytes(b"someone else's file")
    result = download_file(client, version, file, dest, on_conflict="suffix", retry_delay=0)
    assert result.path.name == suffixed_name(name, 100)
    assert result.path.stat().st_size == file.size_bytes
    assert all((dest / other).read_bytes() == b"someone else's file" for other in taken)
    assert sorted(os.listdir(dest)) == sorted(taken + [result.path.name])


def test_civkit_rename_refuses_a_name_whose_bundle_would_not_fit(fake_civitai, tmp_path, capsys):
    """`civkit rename` (issue 12) takes the user's name as it is, but never one that, with the model's
    extension added, leaves no room for its sidecars: refused before anything moves."""
    import shutil

    from civkit.cli.main import main

    root = tmp_path / "models"
    (root / "loras").mkdir(parents=True)
    model = root / "loras" / "lineart.safetensors"
    shutil.copy(fake_civitai.catalog.files[10110], model)
    assert main(["--api-base", fake_civitai.base_url, "scan", str(root)]) == 0
    before = sorted(p.name for p in (root / "loras").iterdir())
    capsys.readouterr()
    assert main(["rename", str(model), "ü" * 125]) == 2  # 250 bytes, 262 with ".safetensors"
    err = capsys.readouterr().err
    assert "too long" in err and str(NAME_MAX - 32) in err and "Traceback" not in err
    assert sorted(p.name for p in (root / "loras").iterdir()) == before
    assert main(["rename", str(model), "ü" * 100]) == 0  # 212 bytes with the extension: fine
    assert (root / "loras" / ("ü" * 100 + ".safetensors")).is_file()
    assert (root / "loras" / ("ü" * 100 + ".civitai.info")).is_file()
