"""Reading what a source needs (civkit/resources, pure): A1111 parameters, image metadata, ComfyUI."""

from __future__ import annotations

import io
import json
import struct

import pytest

from civkit.resources.a1111 import needs_from_meta, needs_from_parameters, parse_parameters
from civkit.resources.imagemeta import MAX_TEXT, read_image_text
from civkit.resources.needs import Need, dedupe, safe_parts
from civkit.resources.sources import SourceError, from_image, from_json, from_text, image_id_from_link
from civkit.testing.files import png_bytes
from civkit.testing.images import jpeg_with_exif, png_chunk, png_with_text, webp_with_exif

INFOTEXT = (
    "a castle at dusk <lora:add_detail:0.6> <lyco:pixelArt_v3:1>, easynegative, (sparkle:1.2)\n"
    "Negative prompt: lowres, easynegative\n"
    'Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, '
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, VAE: vae-ft-mse.safetensors, '
    'Lora hashes: "add_detail: 7c6bad76eb54, pixelArt_v3: 0a1b2c3d4e5f", TI hashes: "easynegative: c74b4e810b03", '
    'Hashes: {"model": "6ce0161689", "lora:add_detail": "7c6bad76eb54", "embed:easynegative": "c74b4e810b"}, '
    'Civitai resources: [{"type": "lora", "modelVersionId": 1011, "weight": 0.8, "modelVersionName": "v2.0"}], '
    "Version: v1.10.1"
)


def by_name(needs):
    return {n.name: n for n in needs}


def test_a1111_parameters_every_key():
    params = parse_parameters(INFOTEXT)
    assert params.prompt.startswith("a castle at dusk") and params.negative_prompt == "lowres, easynegative"
    assert params.settings["Steps"] == "25" and params.settings["Lora hashes"].startswith("add_detail:")
    needs, _ = needs_from_parameters(INFOTEXT, "x.png", known_embeddings=["sparkle"])
    needs = dedupe(needs)
    named = by_name(needs)
    ckpt = named["v1-5-pruned-emaonly"]
    assert ckpt.kind == "checkpoint" and ckpt.hashes == {"AutoV2": "6CE0161689"}
    vae = named["vae-ft-mse.safetensors"]
    assert vae.kind == "vae" and vae.hashes == {"AutoV2": "735E4C3A44"}
    lora = named["add_detail"]  # prompt tag, Lora hashes and Hashes: one need
    assert lora.kind == "lora" and lora.weight == 0.6 and lora.hashes == {"AutoV3": "7C6BAD76EB54"}
    lyco = named["pixelArt_v3"]
    assert lyco.kind == "lora" and lyco.weight == 1.0 and lyco.hashes == {"AutoV3": "0A1B2C3D4E5F"}
    emb = named["easynegative"]  # TI hashes: the SHA256's start, looked up as AutoV2
    assert emb.kind == "embedding" and emb.hashes == {"AutoV2": "C74B4E810B"}
    assert named["sparkle"].kind == "embedding"  # a word of the prompt that is a local embedding
    site = [n for n in needs if n.version_id == 1011]
    assert len(site) == 1 and site[0].kind == "lora" and site[0].weight == 0.8
    assert len([n for n in needs if n.kind == "embedding"]) == 2
    assert len(needs) == 7


def test_old_model_hash_is_autov1_and_plain_prompt_has_no_settings():
    needs, _ = needs_from_parameters("a cat\nSteps: 20, Sampler: Euler a, Model hash: 7460a6fa, Model: sd14", "t")
    assert needs[0].hashes == {"AutoV1": "7460A6FA"}
    with pytest.raises(SourceError, match="no generation data in pasted"):
        from_text("just a prompt, no settings", "pasted")


def test_civitai_meta_legacy_wrapper_and_flat_are_the_same():
    meta = {"prompt": "animelineart <lora:anime_lineart_v2:0.7>", "negativePrompt": "easynegplus",
            "Model": "dreamforgeXL_v10", "Model hash": "e81112a6ba",
            "hashes": {"model": "e81112a6ba", "lora:anime_lineart_v2": "b269ba3b04ef"},
            "resources": [{"name": "dreamforgeXL_v10", "type": "model", "hash": "e81112a6ba"},
                          {"name": "easynegplus", "type": "embed", "hash": "da0f1f2a77"}],
            "civitaiResources": [{"type": "checkpoint", "modelVersionId": 1070, "modelVersionName": "v1.0"}]}
    flat = dedupe(needs_from_meta(meta, "img")[0])
    wrapped = dedupe(needs_from_meta({"id": 5, "meta": meta}, "img")[0])
    assert [n.to_json() for n in flat] == [n.to_json() for n in wrapped]
    kinds = sorted((n.kind, n.name) for n in flat)
    assert ("lora", "anime_lineart_v2") in kinds and ("embedding", "easynegplus") in kinds
    assert by_name(flat)["anime_lineart_v2"].weight == 0.7
    assert any(n.version_id == 1070 for n in flat)


@pytest.mark.parametrize("mode", ["tEXt", "zTXt", "iTXt", "iTXt-z"])
def test_png_text_chunks(mode, tmp_path):
    data = png_with_text({"parameters": INFOTEXT}, mode=mode)
    assert read_image_text(data).texts["parameters"] == INFOTEXT
    result = from_image(data, "gen.png")
    assert result.kind == "a1111" and result.parameters.settings["Seed"] == "1234"
    assert len(result.needs) == 6
    pil = pytest.importorskip("PIL.Image")
    assert pil.open(io.BytesIO(data)).text["parameters"] == INFOTEXT  # a real PNG that Pillow reads too


@pytest.mark.parametrize("encoding", ["unicode-be", "unicode-le", "ascii"])
@pytest.mark.parametrize("builder", [jpeg_with_exif, webp_with_exif])
def test_jpeg_and_webp_user_comment(builder, encoding):
    text = INFOTEXT if encoding != "ascii" else INFOTEXT.replace("castle", "house")
    data = builder(text, encoding)
    assert read_image_text(data).texts["UserComment"] == text
    result = from_image(data, "gen")
    assert {n.kind for n in result.needs} == {"checkpoint", "vae", "lora", "embedding"}


def test_an_image_without_generation_data_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match=r"^no generation data in plain\.png\.$"):
        from_image(png_bytes(8, 8, 3), "plain.png")
    with pytest.raises(SourceError, match="not a PNG, JPEG or WebP"):
        from_image(b"GIF89a....", "x.gif")


def test_truncated_and_damaged_chunks_keep_what_was_complete():
    data = png_with_text({"parameters": INFOTEXT, "workflow": json.dumps({"nodes": []})})
    cut = data[: data.index(b"workflow") + 20]  # the second chunk is cut off
    found = read_image_text(cut)
    assert found.texts["parameters"] == INFOTEXT and "workflow" not in found.texts
    assert any("cut off" in s for s in found.skipped)
    bad_crc = png_bytes(8, 8, 1)
    head = 8 + 25
    bad_crc = bad_crc[:head] + png_chunk(b"tEXt", b"parameters\0Steps: 1, Seed: 2, Model: x", crc=1) + bad_crc[head:]
    with pytest.raises(SourceError, match="bad checksum"):
        from_image(bad_crc, "bad.png")
    # a chunk claiming more bytes than the file has
    lying = png_bytes(8, 8, 1)[:head] + struct.pack(">I", 2**31) + b"tEXt" + b"parameters\0x"
    with pytest.raises(SourceError, match="no generation data"):
        from_image(lying, "lying.png")


def test_a_50_mb_text_chunk_is_skipped_not_read(tmp_path):
    huge = "x" * (50 * 1024 * 1024)
    path = tmp_path / "huge.png"
    path.write_bytes(png_with_text({"parameters": huge}))
    assert path.stat().st_size > MAX_TEXT
    with path.open("rb") as fh, pytest.raises(SourceError, match="more than civkit reads"):
        from_image(fh, "huge.png")
    path.write_bytes(png_with_text({"workflow": huge, "parameters": INFOTEXT}))
    with path.open("rb") as fh:
        assert len(from_image(fh, "huge.png").needs) == 6  # the good chunk still counts


def test_zip_bomb_in_ztxt_is_refused():
    import zlib

    bomb = png_bytes(8, 8, 1)
    head = 8 + 25
    body = b"parameters\0\0" + zlib.compress(b"a" * (MAX_TEXT + 10), 9)
    bomb = bomb[:head] + png_chunk(b"zTXt", body) + bomb[head:]
    found = read_image_text(bomb)
    assert "parameters" not in found.texts and found.skipped


# ----------------------------------------------------------------- ComfyUI

def default_graph_ui(extra_nodes=(), models=None) -> dict:
    """ComfyUI's default graph (checkpoint, two prompts, sampler, decode, save) plus extras."""
    nodes = [
        {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["v1-5-pruned-emaonly.safetensors"]},
        {"id": 6, "type": "CLIPTextEncode", "widgets_values": ["beautiful scenery, embedding:sparkle"]},
        {"id": 7, "type": "CLIPTextEncode", "widgets_values": ["text, watermark, (embedding:easynegative:1.2)"]},
        {"id": 3, "type": "KSampler", "widgets_values": [156680208700286, "randomize", 20, 8, "euler", "normal", 1]},
        {"id": 5, "type": "EmptyLatentImage", "widgets_values": [512, 512, 1]},
        {"id": 8, "type": "VAEDecode", "widgets_values": []},
        {"id": 9, "type": "SaveImage", "widgets_values": ["ComfyUI"]},
        *extra_nodes,
    ]
    wf = {"last_node_id": 20, "last_link_id": 9, "nodes": nodes, "links": [], "groups": [], "config": {},
          "extra": {}, "version": 0.4}
    if models is not None:
        wf["models"] = models
    return wf


LORA_VAE_NODES = [
    {"id": 10, "type": "LoraLoader", "widgets_values": ["style/add_detail.safetensors", 0.6, 0.5]},
    {"id": 11, "type": "VAELoader", "widgets_values": ["vae-ft-mse.safetensors"],
     "properties": {"models": [{"name": "vae-ft-mse.safetensors", "url": "https://civitai.com/api/download/models/1110",
                                "hash": "ab" * 32, "hash_type": "sha256", "directory": "vae"}]}},
]


def test_comfy_ui_format_default_graph_with_lora_and_vae():
    result = from_json(default_graph_ui(LORA_VAE_NODES), "wf.json")
    got = {(n.kind, n.name): n for n in result.needs}
    assert set(got) == {("checkpoint", "v1-5-pruned-emaonly.safetensors"), ("embedding", "sparkle"),
                        ("embedding", "easynegative"), ("lora", "style/add_detail.safetensors"),
                        ("vae", "vae-ft-mse.safetensors")}
    lora = got[("lora", "style/add_detail.safetensors")]
    assert lora.weight == 0.6 and lora.node_id == "10" and lora.widget == "lora_name"
    vae = got[("vae", "vae-ft-mse.safetensors")]  # the loader and its models entry: one need
    assert vae.version_id == 1110 and vae.hashes == {"SHA256": "AB" * 32} and vae.node_id == "11"
    assert got[("checkpoint", "v1-5-pruned-emaonly.safetensors")].widget == "ckpt_name"


def test_comfy_api_format_and_other_loaders():
    prompt = {
        "1": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5xxl_fp8.safetensors",
                                                         "clip_name2": "clip_l.safetensors", "type": "flux"}},
        "2": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.sft", "weight_dtype": "default"}},
        "3": {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": "a.safetensors", "strength_model": 0.9,
                                                              "model": ["2", 0]}},
        "4": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x.pth"}},
        "5": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "canny.safetensors"}},
        "6": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "vit.safetensors"}},
        "7": {"class_type": "SomeCustomLoader", "inputs": {"model_file": "custom/thing.gguf", "other": "x.txt"}},
        "8": {"class_type": "CivkitLoraLoader", "inputs": {"lora_name": "", "strength_model": 1.0,
                                                           "civitai_ref": "101@1011"}},
        "9": {"class_type": "StyleModelLoader", "inputs": {"style_model_name": "style.safetensors"}},
    }
    needs = from_json(prompt, "api.json").needs
    got = {(n.kind, n.name): n for n in needs}
    assert ("clip", "t5xxl_fp8.safetensors") in got and ("clip", "clip_l.safetensors") in got
    assert ("unet", "flux1-dev.sft") in got and got[("lora", "a.safetensors")].weight == 0.9
    assert ("upscaler", "4x.pth") in got and ("controlnet", "canny.safetensors") in got
    assert ("clip_vision", "vit.safetensors") in got
    other = got[("other", "custom/thing.gguf")]
    assert other.node_id == "7" and other.widget == "model_file" and other.folder_key is None
    assert got[("other", "style.safetensors")].folder_key == "style_models"
    civkit_node = next(n for n in needs if n.node_id == "8")
    assert civkit_node.version_id == 1011 and civkit_node.model_id == 101
    assert len(needs) == 10


def test_models_lists_in_subgraphs_and_top_level():
    sub = {"id": "sg-1", "nodes": [{"id": 1, "type": "LoraLoader", "widgets_values": ["inner.safetensors", 1, 1]}],
           "models": [{"name": "inner.safetensors", "url": "https://civitai.com/api/download/models/1060",
                       "directory": "loras"}]}
    wf = default_graph_ui(models=[{"name": "top.safetensors", "url": "https://civitai.com/models/107?modelVersionId=1070",
                                   "directory": "checkpoints"}, {"bad": 1}, "junk"])
    wf["definitions"] = {"subgraphs": [sub]}
    needs = from_json(wf, "wf.json").needs
    inner = next(n for n in needs if n.name == "inner.safetensors")
    assert inner.version_id == 1060 and inner.kind == "lora"
    top = next(n for n in needs if n.name == "top.safetensors")
    assert top.version_id == 1070 and top.model_id == 107 and top.kind == "checkpoint"


def test_the_same_model_twice_is_one_need():
    nodes = [{"id": 20, "type": "LoraLoader", "widgets_values": ["style/add_detail.safetensors", 1.0, 1.0]},
             {"id": 21, "type": "LoraLoader", "widgets_values": ["add_detail.safetensors", 0.3, 0.3]}]
    needs = from_json(default_graph_ui(nodes), "wf.json").needs
    loras = [n for n in needs if n.kind == "lora"]
    assert len(loras) == 1 and loras[0].uses == [("20", "lora_name"), ("21", "lora_name")]


def test_invalid_json_and_non_workflows_are_clear_errors():
    with pytest.raises(SourceError, match=r"wf\.json is not valid JSON"):
        from_text('{"nodes": [', "wf.json")
    with pytest.raises(SourceError, match="not a ComfyUI workflow"):
        from_json({"hello": "world"}, "x.json")
    with pytest.raises(SourceError, match="not a ComfyUI workflow"):
        from_json([1, 2, 3], "x.json")


def test_hostile_names_never_become_paths():
    for name in ("../../x.safetensors", "/etc/passwd", "C:\\Windows\\x.ckpt", "a/../../b.pt", "\\\\server\\x.pt"):
        assert safe_parts(name) is None, name
    assert safe_parts("sub/dir\\x.safetensors") == ("sub", "dir", "x.safetensors")
    need = Need("lora", "a\x00b\x1b[31m" + "x" * 2000)
    assert "\x00" not in need.name and "\x1b" not in need.name and len(need.name) <= 512


def test_image_links():
    assert image_id_from_link("https://civitai.com/images/123") == 123
    assert image_id_from_link("https://www.civitai.red/images/45/") == 45
    assert image_id_from_link("civitai.green/images/7") == 7
    assert image_id_from_link("https://evil.example/images/1") is None
    assert image_id_from_link("http://127.0.0.1:9/images/8", extra_hosts=("127.0.0.1:9",)) == 8
    assert image_id_from_link("https://civitai.com/models/1") is None
