"""Demo images whose generation metadata names catalog models (issue 10), in the shapes Civitai serves.

Image ids (stable, tests refer to them):
  7901  A1111 keys: prompt with <lora:...>, ``Model hash``/``Model``, ``VAE hash``/``VAE``,
        ``Lora hashes``, ``TI hashes``, ``hashes`` (checkpoint 1070, LoRAs 1011 + 1060, VAE 1110,
        embedding 1100).
  7902  made on the site: ``civitaiResources`` with version ids (1070, 1011 at 0.8, embedding 1100);
        rated R (nsfwLevel 4): found only when the request asks for every level.
  7903  a ComfyUI image: ``comfy`` holds the JSON of its API prompt and UI workflow (checkpoint 1070 and
        LoRA 1060 via ``models`` entries with url and SHA256, embedding 1100 via the top-level
        ``models``, VAE 1110 by its name only: ambiguous).
  7904  ``resources`` entries with name, type, hash and weight (checkpoint 1070, LoRA 1011).
"""

from __future__ import annotations

import json

IMAGE_IDS = (7901, 7902, 7903, 7904)


def _hashes(catalog, file_id: int) -> dict:
    _, _, f = catalog.find_file(file_id)
    return f["hashes"]


def _name(catalog, file_id: int) -> str:
    return catalog.find_file(file_id)[2]["name"]


def comfy_workflow(catalog, origin: str = "https://civitai.com") -> tuple[dict, dict]:
    """(API prompt, UI workflow) of ComfyUI's default graph with a LoRA and a VAE loader."""
    ckpt, lora, vae = _name(catalog, 10700), _name(catalog, 10600), _name(catalog, 11100)
    text = "cinematic lighting, portrait of an old fisherman, embedding:easynegplus-neg"
    prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "10": {"class_type": "LoraLoader", "inputs": {"lora_name": lora, "strength_model": 0.6,
                                                      "strength_clip": 0.6, "model": ["4", 0], "clip": ["4", 1]}},
        "11": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["10", 1]}},
    }
    sha = _hashes(catalog, 10600)["SHA256"]
    ckpt_sha = _hashes(catalog, 10700)["SHA256"]
    workflow = {
        "last_node_id": 11, "last_link_id": 0, "links": [], "groups": [], "config": {}, "extra": {}, "version": 0.4,
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": [ckpt],
             "properties": {"models": [{"name": ckpt, "url": f"{origin}/api/download/models/1070",
                                        "hash": ckpt_sha.lower(), "hash_type": "sha256",
                                        "directory": "checkpoints"}]}},
            {"id": 10, "type": "LoraLoader", "widgets_values": [lora, 0.6, 0.6],
             "properties": {"models": [{"name": lora, "url": f"{origin}/api/download/models/1060",
                                        "hash": sha.lower(), "hash_type": "sha256", "directory": "loras"}]}},
            {"id": 11, "type": "VAELoader", "widgets_values": [vae], "properties": {}},
            {"id": 6, "type": "CLIPTextEncode", "widgets_values": [text], "properties": {}},
        ],
        # the VAE has no entry: found by its name only, so it is offered as a choice
        "models": [{"name": "easynegplus-neg.safetensors", "url": f"{origin}/api/download/models/1100",
                    "directory": "embeddings"}],
    }
    return prompt, workflow


def add_demo_images(catalog) -> None:
    """Add the images above to a demo catalog (after its models were built)."""
    model, version = catalog.find_version(1070)
    ckpt, vae = _hashes(catalog, 10700), _hashes(catalog, 11100)
    lora1, lora2, emb = _hashes(catalog, 10110), _hashes(catalog, 10600), _hashes(catalog, 11000)
    base = {"steps": 28, "sampler": "DPM++ 2M Karras", "cfgScale": 7, "Size": "832x1216", "Clip skip": "2"}
    metas = {
        7901: dict(base, prompt="animelineart, 1girl, clean lineart <lora:anime_lineart_v2:0.7> "
                                "<lora:cinematic_light_dora:0.5>",
                   negativePrompt="lowres, bad anatomy, easynegplus-neg", seed=7901,
                   **{"Model": "dreamforgeXL_v10", "Model hash": ckpt["AutoV2"].lower(),
                      "VAE": "clear_vae_xl.safetensors", "VAE hash": vae["AutoV2"].lower(),
                      "Lora hashes": f"anime_lineart_v2: {lora1['AutoV3'].lower()}, "
                                     f"cinematic_light_dora: {lora2['AutoV3'].lower()}",
                      "TI hashes": f"easynegplus-neg: {emb['SHA256'][:12].lower()}",
                      "hashes": {"model": ckpt["AutoV2"].lower(), "vae": vae["AutoV2"].lower(),
                                 "lora:anime_lineart_v2": lora1["AutoV3"].lower(),
                                 "lora:cinematic_light_dora": lora2["AutoV3"].lower(),
                                 "embed:easynegplus-neg": emb["SHA256"][:10].lower()}}),
        7902: dict(base, prompt="animelineart, portrait, sparkles", negativePrompt="easynegplus-neg", seed=7902,
                   civitaiResources=[{"type": "checkpoint", "modelVersionId": 1070, "modelVersionName": "v1.0"},
                                     {"type": "lora", "modelVersionId": 1011, "weight": 0.8,
                                      "modelVersionName": "v2.0"},
                                     {"type": "embed", "modelVersionId": 1100, "modelVersionName": "v1.0"}]),
        7904: dict(base, prompt="animelineart, a quiet harbour", seed=7904,
                   resources=[{"name": "dreamforgeXL_v10", "type": "model", "hash": ckpt["AutoV2"].lower()},
                              {"name": "anime_lineart_v2", "type": "lora", "hash": lora1["AutoV3"].lower(),
                               "weight": 0.7}]),
    }
    prompt, workflow = comfy_workflow(catalog)
    metas[7903] = {"prompt": prompt["6"]["inputs"]["text"], "seed": 7903, "steps": 20, "cfgScale": 7,
                   "comfy": json.dumps({"prompt": prompt, "workflow": workflow})}
    for image_id in IMAGE_IDS:
        level = 4 if image_id == 7902 else 1
        catalog.images[image_id] = {
            "id": image_id, "url": f"/images/{image_id}.png", "nsfwLevel": level, "width": 832, "height": 1216,
            "hash": "U5Ss50~q00j[00j[-;of~qoffQay", "type": "image",
            "metadata": {"hash": "", "size": 2000 + image_id, "width": 832, "height": 1216},
            "minor": False, "poi": False, "meta": metas[image_id], "availability": "Public", "hasMeta": True,
            "hasPositivePrompt": True, "onSite": image_id == 7902, "remixOfId": None,
            "_createdAt": "2025-06-06T06:00:00.000Z", "_postId": 99000 + image_id,
            "_username": "forgemaster", "_baseModel": version["baseModel"], "_versionId": version["id"],
            "_modelId": model["id"],
            "_stats": {"cryCount": 0, "laughCount": 0, "likeCount": 3, "dislikeCount": 0, "heartCount": 1,
                       "commentCount": 0},
            "_tags": [], "_published": True,
        }
