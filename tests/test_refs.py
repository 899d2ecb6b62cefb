"""parse_ref: everything a person may paste to name a Civitai model, version or file."""

import pytest

from civkit.refs import Ref, RefError, parse_ref


@pytest.mark.parametrize(
    "text, model_id, version_id",
    [
        ("https://civitai.com/models/1231067", 1231067, None),
        ("https://civitai.com/models/1231067/vivid-impressions-storybook-style", 1231067, None),
        ("https://civitai.com/models/1231067/vivid?modelVersionId=1387174", 1231067, 1387174),
        ("https://civitai.com/models/1231067?modelVersionId=1387174", 1231067, 1387174),
        ("https://www.civitai.com/models/5", 5, None),
        ("https://civitai.red/models/5/x?modelVersionId=6", 5, 6),
        ("https://civitai.green/models/5", 5, None),
        ("http://www.civitai.green/models/5/", 5, None),
        ("civitai.com/models/5?modelVersionId=6", 5, 6),
        ("  https://civitai.com/models/5  ", 5, None),
        ("https://civitai.com/model-versions/1255556", None, 1255556),
        ("https://civitai.com/api/v1/models/77", 77, None),
        ("https://civitai.com/api/v1/model-versions/78", None, 78),
        ("123@456", 123, 456),
        ("123 @ 456", 123, 456),
    ],
)
def test_urls_and_pairs(text, model_id, version_id):
    ref = parse_ref(text)
    assert (ref.model_id, ref.version_id, ref.file_id, ref.bare) == (model_id, version_id, None, False)


def test_download_urls_with_and_without_file_id():
    assert parse_ref("https://civitai.com/api/download/models/1255556") == Ref(None, 1255556)
    ref = parse_ref("https://civitai.com/api/download/models/1255556?fileId=1160774")
    assert (ref.version_id, ref.file_id) == (1255556, 1160774)
    ref = parse_ref("https://civitai.com/api/download/models/9?type=Model&format=SafeTensor")
    assert (ref.version_id, ref.file_id, ref.format) == (9, None, "SafeTensor")


def test_bare_number_is_a_model_id_flagged_bare_and_can_be_read_as_a_version():
    ref = parse_ref("4384")
    assert ref == Ref(model_id=4384, version_id=None, bare=True)
    assert ref.as_version() == Ref(model_id=None, version_id=4384)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("urn:air:flux1:lora:civitai:1117241@1255556", (1117241, 1255556, None, None, "flux1", "lora")),
        ("urn:air:sdxl:checkpoint:civitai:827184@2514310+2402203", (827184, 2514310, 2402203, None, "sdxl", "checkpoint")),
        ("URN:AIR:SD1:CHECKPOINT:CIVITAI:4384@128713", (4384, 128713, None, None, "SD1", "CHECKPOINT")),
        ("air:sdxl:lora:civitai:1@2", (1, 2, None, None, "sdxl", "lora")),
        ("civitai:1@2", (1, 2, None, None, None, None)),
        ("civitai:1", (1, None, None, None, None, None)),
        ("urn:air:sdxl:lora:civitai:1@2+3.safetensors", (1, 2, 3, "safetensors", "sdxl", "lora")),
    ],
)
def test_air_urns(text, expected):
    ref = parse_ref(text)
    assert (ref.model_id, ref.version_id, ref.file_id, ref.format, ref.ecosystem, ref.air_type) == expected


def test_air_quirk_two_segments_means_ecosystem_not_type():
    # §8: the grammar fills ecosystem before type, so "lora" lands in the ecosystem slot.
    ref = parse_ref("lora:civitai:1@2")
    assert (ref.ecosystem, ref.air_type, ref.model_id, ref.version_id) == ("lora", None, 1, 2)


def test_air_quirk_format_stays_in_the_version_and_is_split_off_sensibly():
    # §8: the grammar gives version "2.safetensors"; civkit reads it as version 2, format safetensors.
    ref = parse_ref("civitai:1@2.safetensors")
    assert (ref.model_id, ref.version_id, ref.format, ref.file_id) == (1, 2, "safetensors", None)


def test_extra_hosts_accept_the_configured_api_base():
    ref = parse_ref("http://127.0.0.1:8765/models/3?modelVersionId=4", extra_hosts=("127.0.0.1:8765",))
    assert (ref.model_id, ref.version_id) == (3, 4)
    assert parse_ref("127.0.0.1:8765/model-versions/4", extra_hosts=("127.0.0.1:8765",)).version_id == 4
    with pytest.raises(RefError):
        parse_ref("http://127.0.0.1:8765/models/3")


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "it is empty"),
        ("anime girl", None),
        ("https://huggingface.co/models/5", "huggingface.co is not a Civitai site"),
        ("https://evil.example/civitai.com/models/5", "evil.example is not a Civitai site"),
        ("https://civitai.com/images/12345", "that is a Civitai image page, not a model"),
        ("https://civitai.com/user/someone", "that is a Civitai user page, not a model"),
        ("https://civitai.com/", "not a model, version or download address"),
        ("urn:air:flux1:lora:huggingface:org/repo@main", "the AIR names a huggingface resource"),
        ("civitai:abc@2", "model id 'abc' is not a number"),
        ("civitai:1@v2", "version id 'v2' is not a number"),
        ("0", "id 0 is out of range"),
        ("12@", None),
    ],
)
def test_anything_else_is_refused_with_a_message_listing_what_is_accepted(text, why):
    with pytest.raises(RefError) as info:
        parse_ref(text)
    message = str(info.value)
    assert message.startswith("Cannot tell which Civitai model")
    assert "123@456 (model@version)" in message and "urn:air:" in message and "/model-versions/" in message
    if why:
        assert f"({why}" in message
    assert isinstance(info.value, ValueError)


def test_ref_str_is_compact():
    assert str(parse_ref("1@2")) == "1@2"
    assert str(parse_ref("7")) == "7"
    assert str(parse_ref("https://civitai.com/api/download/models/9?fileId=3")) == "@9+3"
