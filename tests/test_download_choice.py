"""Choosing the file of a version (CIVITAI_API.md §5.3, HOSTS.md §3), on the emulator's catalog."""

from __future__ import annotations

import pytest

from civkit.api import CivitaiClient
from civkit.download import DownloadError, UnsafeFile, choose_file
from civkit.download.choice import is_pickle


@pytest.fixture
def client(fake_civitai):
    return CivitaiClient(fake_civitai.base_url, fake_civitai.api_key, sleep=lambda s: None)


def test_primary_file_by_default(client):
    version = client.get_version(1070)  # Dreamforge XL: fp16 pruned primary, fp32 full, a VAE, a config
    chosen = choose_file(version)
    assert chosen.primary and chosen.fp == "fp16"


def test_pick_by_file_id_format_size_fp(client):
    version = client.get_version(1070)
    files = {f.type: f for f in version.files}
    assert choose_file(version, file_id=files["VAE"].id).type == "VAE"
    full = choose_file(version, size="full")
    assert full.size == "full" and full.fp == "fp32"
    assert choose_file(version, fp="FP32").fp == "fp32"  # case does not matter
    with pytest.raises(DownloadError) as info:
        choose_file(version, fp="nf4")
    assert "no file with fp=nf4" in info.value.message and "Its files:" in info.value.message
    with pytest.raises(DownloadError, match="no file with id 999"):
        choose_file(version, file_id=999)


def test_danger_scan_is_always_refused(client):
    version = client.get_version(1200)  # Suspicious Merge: pickle scan says Danger
    for allow in (False, True):
        with pytest.raises(UnsafeFile) as info:
            choose_file(version, allow_unsafe=allow)
        assert "scan of this file says Danger" in info.value.message


def test_pickle_needs_allow_unsafe(client):
    version = client.get_version(1080)  # Retro Dream: only a PickleTensor .ckpt
    with pytest.raises(UnsafeFile) as info:
        choose_file(version)
    assert "PickleTensor" in info.value.message and "--allow-unsafe" in info.value.message
    assert is_pickle(choose_file(version, allow_unsafe=True))


def test_training_data_only_when_asked(client):
    version = client.get_version(1210)  # a LoRA with its Training Data zip
    assert choose_file(version).type == "Model"
    archive = next(f for f in version.files if f.type == "Training Data")
    with pytest.raises(DownloadError, match="no file with format=Other .*--include-training-data"):
        choose_file(version, format="Other")
    assert choose_file(version, format="Other", include_training_data=True).id == archive.id
    assert choose_file(version, file_id=archive.id).id == archive.id  # an explicit id is asking


def test_safetensor_preferred_over_pickle():
    from civkit.api.records import ModelFile, ModelVersion

    ckpt = ModelFile(id=1, name="m.ckpt", type="Model", primary=True, format="PickleTensor", fp="fp16",
                     size="pruned", hashes={"SHA256": "A" * 64})
    st = ModelFile(id=2, name="m.safetensors", type="Model", format="SafeTensor", fp="fp16", size="pruned",
                   hashes={"SHA256": "B" * 64})
    version = ModelVersion(id=5, files=(ckpt, st))
    assert choose_file(version).id == 2
    assert choose_file(version, file_id=1, allow_unsafe=True).id == 1
    with pytest.raises(DownloadError, match="no files"):
        choose_file(ModelVersion(id=6, files=()))


# -- issue 13 item 7: a file is a pickle if either its extension or Civitai's format says so ------------------

@pytest.mark.parametrize("name, fmt", [
    ("model.ckpt", "SafeTensor"), ("model.ckpt", "Other"), ("model.pt", "Other"), ("model.PTH", "GGUF"),
    ("embedding.bin", "Other"), ("x.pkl", None), ("model.safetensors", "PickleTensor"), ("model.ckpt ", "SafeTensor"),
])
def test_a_pickle_by_extension_or_format_needs_allow_unsafe(name, fmt):
    from civkit.api.records import ModelFile
    from civkit.download.choice import check_safety

    f = ModelFile(id=1, name=name, type="Model", primary=True, format=fmt)
    assert is_pickle(f)
    with pytest.raises(UnsafeFile):
        check_safety(f)
    check_safety(f, allow_unsafe=True)


def test_a_safetensors_file_listed_as_safetensor_is_not_a_pickle():
    from civkit.api.records import ModelFile

    assert not is_pickle(ModelFile(id=1, name="m.safetensors", type="Model", format="SafeTensor"))
    assert not is_pickle(ModelFile(id=1, name="m.gguf", type="Model", format="GGUF"))
