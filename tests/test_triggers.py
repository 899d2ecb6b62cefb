"""Trigger words: where they come from, and how they go into a prompt."""

from __future__ import annotations

import json
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civkit.library import LibraryEntry, LibraryIndex
from civkit.triggers import _item_key, insert_triggers, trigger_words_for, words_from_metadata

# -- insert_triggers: examples ----------------------------------------------------------------------


def test_append_to_a_prompt_keeps_the_users_text_and_spacing():
    assert insert_triggers("a photo of a cat,  best quality", ["mychar"]) == "a photo of a cat,  best quality, mychar"


def test_prepend():
    assert insert_triggers("a photo", ["mychar", "blue hair"], "prepend") == "mychar, blue hair, a photo"


def test_empty_prompt_gets_just_the_words():
    assert insert_triggers("", ["a", "b"]) == "a, b"
    assert insert_triggers("", ["a"], "prepend") == "a"


def test_no_words_leaves_the_prompt_alone():
    assert insert_triggers("x,  y ", []) == "x,  y "


def test_never_inserted_twice_case_insensitive_whole_items():
    assert insert_triggers("MyChar, smile", ["mychar"]) == "MyChar, smile"
    # "mychar" inside another item is not the item itself
    assert insert_triggers("mychar2, smile", ["mychar"]) == "mychar2, smile, mychar"


def test_weighted_words_count_as_present():
    assert insert_triggers("(mychar:1.2), smile", ["mychar"]) == "(mychar:1.2), smile"
    assert insert_triggers("((mychar)), smile", ["mychar"]) == "((mychar)), smile"
    assert insert_triggers("smile", ["(mychar:1.2)"]) == "smile, (mychar:1.2)"
    assert insert_triggers("mychar, smile", ["(mychar:1.2)"]) == "mychar, smile"


def test_trailing_comma_and_whitespace():
    assert insert_triggers("a, b,", ["c"]) == "a, b, c"
    assert insert_triggers("a, b, ", ["c"]) == "a, b, c "
    assert insert_triggers("a\n", ["c"]) == "a, c\n"
    assert insert_triggers("  a", ["c"], "prepend") == "  c, a"


def test_lora_tags_are_left_alone_and_do_not_hide_words():
    prompt = "a cat <lora:whimsy:0.8>"
    assert insert_triggers(prompt, ["ppWhimsy"]) == "a cat <lora:whimsy:0.8>, ppWhimsy"
    # A1111 puts activation text after the tag with a space: that counts as present
    assert insert_triggers("<lora:whimsy:0.8> ppWhimsy, a cat", ["ppwhimsy"]) == "<lora:whimsy:0.8> ppWhimsy, a cat"


def test_a_trained_word_that_is_a_list_is_compared_per_item():
    assert insert_triggers("blue hair", ["mychar, blue hair"]) == "blue hair, mychar"


def test_duplicates_in_the_word_list_are_inserted_once():
    assert insert_triggers("x", ["a", "A", " a "]) == "x, a"


def test_bad_position_is_refused():
    with pytest.raises(ValueError, match="append"):
        insert_triggers("x", ["a"], "middle")


# -- insert_triggers: properties --------------------------------------------------------------------

_word = st.text(alphabet="abcXYZ _-019", min_size=1, max_size=12)
_item = st.one_of(
    _word,
    st.builds(lambda w, n: f"({w}:{n})", _word, st.sampled_from(["1.2", "0.8", "1"])),
    st.builds(lambda w, n: f"<lora:{w}:{n}>", _word, st.sampled_from(["1", "0.5"])),
)
_sep = st.sampled_from([",", ", ", " ,", ",  ", ",\n"])


@st.composite
def prompts(draw):
    items = draw(st.lists(_item, max_size=6))
    seps = draw(st.lists(_sep, min_size=len(items), max_size=len(items)))
    lead = draw(st.sampled_from(["", " ", "\n"]))
    tail = draw(st.sampled_from(["", " ", ",", ", ", "\n"]))
    body = "".join(item + (seps[n] if n < len(items) - 1 else "") for n, item in enumerate(items))
    return lead + body + tail


@settings(max_examples=300, deadline=None, database=None)
@given(prompts(), st.lists(_word, max_size=5), st.sampled_from(["append", "prepend"]))
def test_properties(prompt, words, position):
    out = insert_triggers(prompt, words, position)
    # idempotent: never twice
    assert insert_triggers(out, words, position) == out
    # every word is there afterwards, as a whole item
    keys = {_item_key(p) for p in out.split(",")}
    for w in words:
        if _item_key(w):
            assert _item_key(w) in keys
    # the user's text is untouched: it survives as one piece
    if position == "append":
        assert out.startswith(prompt.rstrip())
        assert out.endswith(prompt[len(prompt.rstrip()):])
    else:
        assert out.endswith(prompt.lstrip())
        assert out.startswith(prompt[: len(prompt) - len(prompt.lstrip())])
    # <lora:...> tags are all still there
    assert re.findall(r"<[^<>]*>", out) == re.findall(r"<[^<>]*>", prompt)
    if out != prompt:
        assert len(out) > len(prompt)


# -- words from training metadata ---------------------------------------------------------------------


def test_words_from_tag_frequency_folder_names_then_most_frequent_tags():
    meta = {
        "ss_tag_frequency": json.dumps(
            {"10_mychar woman": {"1girl": 5, "smile": 30, "solo": 12}, "img": {"solo": 20, "outdoors": 2}}
        )
    }
    assert words_from_metadata(meta) == ["mychar woman", "solo", "smile", "1girl", "outdoors"]
    assert words_from_metadata(meta, limit=2) == ["mychar woman", "solo"]


def test_words_from_metadata_tolerates_garbage():
    assert words_from_metadata({}) == []
    assert words_from_metadata({"ss_tag_frequency": "not json"}) == []
    assert words_from_metadata({"ss_tag_frequency": json.dumps({"5_x": {"a": "many"}})}) == ["x", "a"]
    assert words_from_metadata(None) == []


def test_modelspec_trigger_phrase_comes_first():
    meta = {"modelspec.trigger_phrase": "zzstyle, painterly", "ss_dataset_dirs": json.dumps({"3_zz": {}})}
    assert words_from_metadata(meta) == ["zzstyle", "painterly", "zz"]


# -- trigger_words_for --------------------------------------------------------------------------------


def _safetensors(path, metadata: dict) -> None:
    header = json.dumps({"__metadata__": metadata, "w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})
    raw = header.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0\0\0\0")


def test_trigger_words_prefer_the_index(tmp_path):
    f = tmp_path / "lora.safetensors"
    _safetensors(f, {"ss_tag_frequency": json.dumps({"1_fromheader": {"x": 1}})})
    st_ = f.stat()
    index = LibraryIndex(tmp_path / "i.sqlite3")
    index.upsert(LibraryEntry(path=str(f.resolve()), size=st_.st_size, mtime_ns=st_.st_mtime_ns, inode=st_.st_ino,
                              sha256="A" * 64, status="linked", trained_words=["fromcivitai"]))
    assert trigger_words_for(f, index) == ["fromcivitai"]


def test_trigger_words_fall_back_to_the_header_offline(tmp_path):
    f = tmp_path / "lora.safetensors"
    _safetensors(f, {"ss_tag_frequency": json.dumps({"10_mychar": {"blonde": 3, "mychar": 9}})})
    assert trigger_words_for(f) == ["mychar", "blonde"]


def test_trigger_words_from_a_valid_sidecar(tmp_path):
    f = tmp_path / "lora.safetensors"
    _safetensors(f, {})
    info = {"id": 5, "modelId": 4, "trainedWords": ["sidecarword"],
            "files": [{"name": f.name, "sizeKB": f.stat().st_size / 1024, "hashes": {"SHA256": "B" * 64}}]}
    (tmp_path / "lora.civitai.info").write_text(json.dumps(info))
    assert trigger_words_for(f) == ["sidecarword"]


def test_trigger_words_for_a_plain_file_without_metadata_is_empty(tmp_path):
    f = tmp_path / "model.ckpt"
    f.write_bytes(b"\0" * 100)
    assert trigger_words_for(f) == []
