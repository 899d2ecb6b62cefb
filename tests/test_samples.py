"""Every real Civitai payload in ../shared/civitai-samples/ parses into records with the right values."""

import json
from pathlib import Path

import pytest

from civkit.api.records import (
    Enums,
    Page,
    parse_creators,
    parse_enums,
    parse_image,
    parse_model,
    parse_page,
    parse_tags,
    parse_version,
)


def _samples_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / ".." / "shared" / "civitai-samples"
    return here.resolve() if here.is_dir() else Path("/work/shared/civitai-samples")


SAMPLES = _samples_dir()
PARSERS = {
    "enums.json": parse_enums,
    "models_id__1231067.json": parse_model,
    "model-versions_id__v1255556.json": parse_version,
    "legacy_wiki__model-versions_1318.json": parse_version,
    "legacy_wiki__images_limit1.json": lambda d: parse_page(d, parse_image),
    "legacy_wiki__creators_limit3.json": parse_creators,
    "legacy_wiki__tags_limit3.json": parse_tags,
}


def load(name):
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def test_the_samples_folder_is_there_and_every_file_has_a_parser():
    files = sorted(p.name for p in SAMPLES.glob("*.json"))
    assert len(files) >= 7
    assert set(files) <= set(PARSERS), f"new sample(s) without a parser: {set(files) - set(PARSERS)}"


@pytest.mark.parametrize("name", sorted(p.name for p in _samples_dir().glob("*.json")))
def test_every_sample_parses(name):
    record = PARSERS[name](load(name))
    assert isinstance(record, (Enums, Page)) or record.raw == load(name)


def test_model_by_id_sample():
    m = parse_model(load("models_id__1231067.json"))
    assert (m.id, m.name, m.type, m.nsfw, m.nsfw_level, m.poi) == (1231067, "Vivid Impressions Storybook Style",
                                                                   "LORA", False, 1, False)
    assert m.creator.username == "PixelPawsAI"
    assert m.tags == ("style", "illustration", "storybook")
    assert m.allow_commercial_use == frozenset({"Image", "RentCivit", "Rent", "Sell"})
    assert m.stats.download_count == 2183 and m.stats.thumbs_up == 416
    (v,) = m.versions
    assert (v.id, v.name, v.base_model, v.trained_words) == (1387174, "v1.0", "Flux.1 D", ("ppstorybook",))
    # versions inherit the model's identity
    assert (v.model_id, v.model_name, v.model_type, v.model_nsfw) == (1231067, m.name, "LORA", False)
    assert v.description is None  # removed-when-empty on /models/:id
    f = v.primary_file
    assert f.id == 1289799 and f.primary and f.format == "SafeTensor" and f.fp is None and f.size is None
    assert f.sha256 == "9753338AB693CA82BF89ED77A5D1912879E40051463EC6E330FB9866CE798668"
    assert f.hashes["AutoV3"] == "34A22376739D"
    assert f.size_bytes == round(18829.1484375 * 1024)
    (img,) = v.images
    assert img.id is None and img.nsfw_level == 1 and img.meta is None and not img.is_video


def test_version_sample_2025():
    v = parse_version(load("model-versions_id__v1255556.json"))
    assert (v.id, v.model_id, v.model_name, v.model_type) == (1255556, 1117241, "Enchanted Whimsy style (Flux)", "LORA")
    assert v.air == "urn:air:flux1:lora:civitai:1117241@1255556"
    assert v.usage_control == "Download" and v.early_access_deadline is None and not v.early_access_active()
    assert v.nsfw_level == 0  # absent on this era's version route
    assert v.stats.thumbs_up == 26 and v.stats.thumbs_down == 0 and v.stats.rating == 0.0
    assert v.primary_file.name == "pp-enchanted-whimsy.safetensors"
    assert set(v.primary_file.hashes) == {"AutoV1", "AutoV2", "AutoV3", "SHA256", "CRC32", "BLAKE3"}
    assert v.images[0].meta == {"prompt": load("model-versions_id__v1255556.json")["images"][0]["meta"]["prompt"]}


def test_legacy_version_sample_2022():
    v = parse_version(load("legacy_wiki__model-versions_1318.json"))
    assert (v.id, v.model_id, v.base_model, v.air) == (1318, 1244, "SD 1.5", None)
    f = v.primary_file
    assert (f.format, f.size, f.fp, f.pickle_scan) == ("PickleTensor", "full", "fp16", "Success")
    assert "AutoV3" not in f.hashes and f.hashes["AutoV1"] == "5F06AA6F"
    assert v.stats.rating == 5.0 and v.stats.rating_count == 1
    assert len(v.images) == 10
    assert all(i.nsfw_level == 1 and i.id is None for i in v.images)  # nsfw: false only
    assert not v.early_access_active()  # earlyAccessTimeFrame 0


def test_legacy_images_sample():
    page = parse_page(load("legacy_wiki__images_limit1.json"), parse_image)
    assert page.next_cursor == "101"  # numeric in 2023
    assert (page.current_page, page.page_size) == (1, 100)
    (img,) = page.items
    assert img.id == 469632 and img.nsfw_level == 1 and img.meta["Clip skip"] == "2"


def test_legacy_creators_and_tags_samples():
    creators = parse_creators(load("legacy_wiki__creators_limit3.json"))
    assert [c.username for c in creators.items] == ["Civitai", "JustMaier", "maxhulker"]
    assert creators.items[0].model_count == 848 and creators.items[0].image is None
    assert (creators.total_items, creators.total_pages) == (46, 16) and creators.next_page.endswith("page=2")
    tags = parse_tags(load("legacy_wiki__tags_limit3.json"))
    assert [t.name for t in tags.items] == ["Pepe Larraz", "comic book", "style"]
    assert tags.items[2].model_count == 91


def test_enums_sample():
    e = parse_enums(load("enums.json"))
    assert len(e.model_types) == 16 and "LORA" in e.model_types
    assert len(e.active_base_models) == 50 and len(e.base_models) == 77
    assert e.base_model_types == ("Standard", "Inpainting", "Refiner", "Pix2Pix")
    assert "Training Data" in e.file_types
