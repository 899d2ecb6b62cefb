"""The one tolerant parser: every shape drift of CIVITAI_API.md §11 gives a sensible record."""

from datetime import datetime, timedelta, timezone

import pytest

from civkit.api.records import (
    Model,
    filename_from_disposition,
    fix_download_url,
    normalise_commercial_use,
    normalise_nsfw_level,
    parse_file,
    parse_hash_matches,
    parse_image,
    parse_model,
    parse_page,
    parse_version,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Rent", {"Rent"}),
        (["Image", "RentCivit", "Rent", "Sell"], {"Image", "RentCivit", "Rent", "Sell"}),
        ("{Image,RentCivit}", {"Image", "RentCivit"}),
        ('{"Image", "Sell"}', {"Image", "Sell"}),
        ("{}", set()),
        ("None", {"None"}),
        (None, set()),
        ([], set()),
        (7, {"7"}),
    ],
)
def test_commercial_use_three_encodings(value, expected):
    assert normalise_commercial_use(value) == frozenset(expected)


@pytest.mark.parametrize(
    "value, nsfw, expected",
    [(31, None, 31), ("None", None, 1), ("Soft", None, 2), ("Mature", None, 4), ("X", None, 8),
     ("Blocked", None, 32), ("12", None, 12), (None, False, 1), (None, True, 4), (None, None, 0),
     ("Weird", None, 0), (True, None, 4)],
)
def test_nsfw_level_normalised_to_a_bitmask(value, nsfw, expected):
    assert normalise_nsfw_level(value, nsfw) == expected


def test_a_model_with_almost_nothing_parses():
    m = parse_model({"id": 5})
    assert isinstance(m, Model)
    assert (m.id, m.name, m.type, m.versions, m.creator, m.tags, m.nsfw_level) == (5, "", "Other", (), None, (), 0)
    assert m.stats.download_count is None and m.allow_commercial_use == frozenset()
    assert parse_model(None).id == 0  # not even a dict


def test_unknown_keys_ignored_unknown_enums_kept_raw_kept():
    d = {"id": 1, "name": "n", "type": "BrandNewType", "cosmetic": {"x": 1}, "flags": [1], "nsfw": True,
         "modelVersions": [{"id": 2, "baseModel": "Future Model 9", "covered": True,
                            "files": [{"id": 3, "type": "Enhancement LoRA", "metadata": {"format": "Weird"}}]}]}
    m = parse_model(d)
    assert m.type == "BrandNewType" and m.raw is d and m.nsfw_level == 4
    v = m.versions[0]
    assert v.base_model == "Future Model 9" and v.files[0].type == "Enhancement LoRA"
    assert v.files[0].format == "Weird" and v.model_nsfw is True and v.model_type == "BrandNewType"


def test_removed_when_empty_version_and_nulls():
    v = parse_version({"id": 9, "name": "v", "files": None, "images": None, "trainedWords": None,
                       "stats": None, "model": None, "baseModelType": None})
    assert (v.files, v.images, v.trained_words, v.primary_file) == ((), (), (), None)
    assert v.stats.thumbs_up == 0 and v.model_name is None


def test_primary_absent_means_false_and_primary_file_falls_back():
    v = parse_version({"id": 1, "files": [{"id": 10, "type": "Training Data"}, {"id": 11, "type": "Model"}]})
    assert [f.primary for f in v.files] == [False, False]
    assert v.primary_file.id == 11
    v = parse_version({"id": 1, "files": [{"id": 10, "type": "Model"}, {"id": 11, "primary": True}]})
    assert v.primary_file.id == 11


def test_hash_keys_spelled_as_civitai_and_values_upper_case():
    f = parse_file({"id": 1, "hashes": {"sha256": "abc", "autov2": "de", "BLAKE3": None, "Other": "x"}})
    assert f.hashes == {"SHA256": "ABC", "AutoV2": "DE", "Other": "X"}
    assert f.sha256 == "ABC"


def test_trained_words_are_trimmed_and_blank_ones_dropped():
    v = parse_version({"id": 1, "trainedWords": [" a ", "", None, "b"]})
    assert v.trained_words == ("a", "b")


@pytest.mark.parametrize(
    "meta, expected",
    [(None, None), ({"prompt": "p"}, {"prompt": "p"}), ({"id": 5, "meta": {"prompt": "p"}}, {"prompt": "p"}),
     ({"id": 5, "meta": None}, None), ("not a dict", None)],
)
def test_image_meta_flat_wrapped_or_null(meta, expected):
    assert parse_image({"url": "u", "meta": meta}).meta == expected


def test_image_without_id_and_video_detection():
    img = parse_image({"url": "https://image.civitai.com/a/b/original=true/123.mp4", "nsfwLevel": "Mature"})
    assert img.id is None and img.is_video and img.nsfw_level == 4
    assert parse_image({"url": "x.jpeg", "type": "video"}).is_video


@pytest.mark.parametrize(
    "metadata, cursor",
    [({"nextCursor": "75363|932023|257749"}, "75363|932023|257749"), ({"nextCursor": 101}, "101"),
     ({"nextCursor": None}, None), ({}, None), ({"nextCursor": ""}, None)],
)
def test_next_cursor_string_number_null_or_absent(metadata, cursor):
    page = parse_page({"items": [{"id": 1}], "metadata": metadata}, parse_model)
    assert page.next_cursor == cursor and page.has_more == (cursor is not None)


def test_legacy_list_metadata_with_totals():
    page = parse_page({"items": [{"id": 1}, "junk"], "metadata": {"totalItems": 10, "currentPage": 1,
                       "pageSize": 1, "totalPages": 10, "nextPage": "https://civitai.com/api/v1/models?page=2"}},
                      parse_model)
    assert len(page.items) == 1 and page.total_items == 10 and page.total_pages == 10 and page.has_more
    assert parse_page(None, parse_model).items == ()


def test_undefined_bulk_download_urls_are_rebuilt_from_the_version_id():
    v = parse_version({"id": 7, "downloadUrl": "https://undefined/api/download/models/7",
                       "files": [{"id": 3, "downloadUrl": "https://undefined/api/download/models/7?type=VAE"}]})
    assert v.download_url == "https://civitai.com/api/download/models/7"
    assert v.files[0].download_url == "https://civitai.com/api/download/models/7?fileId=3"
    assert fix_download_url("https://civitai.com/api/download/models/7", 7) == "https://civitai.com/api/download/models/7"
    assert fix_download_url("https://undefined/x", 7, None, "http://127.0.0.1:9") == "http://127.0.0.1:9/api/download/models/7"


def test_early_access_encodings():
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    future = (now + timedelta(days=2)).isoformat()
    past = (now - timedelta(days=2)).isoformat()
    assert parse_version({"id": 1, "earlyAccessDeadline": future}).early_access_active(now)
    assert parse_version({"id": 1, "earlyAccessEndsAt": future}).early_access_active(now)
    assert not parse_version({"id": 1, "earlyAccessEndsAt": past}).early_access_active(now)
    assert parse_version({"id": 1, "paidAccess": {"permanent": True, "endsAt": None}}).early_access_active(now)
    assert parse_version({"id": 1, "availability": "EarlyAccess"}).early_access_active(now)
    assert parse_version({"id": 1, "earlyAccessTimeFrame": 5,
                          "publishedAt": (now - timedelta(days=1)).isoformat()}).early_access_active(now)
    assert not parse_version({"id": 1, "earlyAccessTimeFrame": 5,
                              "publishedAt": (now - timedelta(days=9)).isoformat()}).early_access_active(now)
    assert parse_version({"id": 1, "earlyAccessDeadline": future}).early_access_deadline == future


def test_hash_matches_with_and_without_model_id():
    matches = parse_hash_matches([{"modelVersionId": 1, "modelId": 2, "hash": "ab"}, {"modelVersionId": 3},
                                  {"hash": "no id"}, "junk"])
    assert [(m.model_version_id, m.model_id, m.hash) for m in matches] == [(1, 2, "AB"), (3, None, "")]


def test_records_are_frozen():
    v = parse_version({"id": 1})
    with pytest.raises(AttributeError):
        v.id = 2


@pytest.mark.parametrize(
    "value, name",
    [('attachment; filename="a b.safetensors"', "a b.safetensors"),
     ("attachment; filename=plain.ckpt", "plain.ckpt"),
     ("attachment; filename*=UTF-8''caf%C3%A9.safetensors; filename=\"cafe.safetensors\"", "café.safetensors"),
     ("attachment", None), (None, None)],
)
def test_filename_from_disposition(value, name):
    assert filename_from_disposition(value) == name
