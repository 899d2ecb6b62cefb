"""Naming rules the emulator's fixtures follow: served file names (§5.5) and AIR strings (§8)."""

from __future__ import annotations

import re

AIR_TYPE = {
    "Checkpoint": "checkpoint", "TextualInversion": "embedding", "Hypernetwork": "hypernet",
    "AestheticGradient": "ag", "LORA": "lora", "LoCon": "lycoris", "DoRA": "dora", "Controlnet": "controlnet",
    "Upscaler": "upscaler", "MotionModule": "motion", "VAE": "vae", "TextEncoder": "text_encoders",
    "UNet": "unet", "CLIPVision": "clipvision", "CLIP": "clip", "VisionLanguage": "visionlanguage",
}
AIR_ECOSYSTEM = {
    "SD 1.4": "sd1", "SD 1.5": "sd1", "SD 1.5 LCM": "sd1", "SD 1.5 Hyper": "sd1", "SD 2.0": "sd2", "SD 2.1": "sd2",
    "SDXL 1.0": "sdxl", "SDXL Lightning": "sdxl", "SDXL Hyper": "sdxl", "Pony": "sdxl", "Illustrious": "sdxl",
    "NoobAI": "sdxl", "Pony V7": "auraflow", "Flux.1 S": "flux1", "Flux.1 D": "flux1", "Upscaler": "other",
    "Other": "other",
}


def air_for(model_type: str, base_model: str, model_id: int, version_id: int) -> str:
    ecosystem = AIR_ECOSYSTEM.get(base_model, base_model.lower())
    return f"urn:air:{ecosystem}:{AIR_TYPE.get(model_type, 'unknown')}:civitai:{model_id}@{version_id}"


def camel(text: str) -> str:
    """Civitai's file-system-safe name: words camel-cased, everything but letters and digits dropped."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text.replace(".", "")) if w]
    if not words:
        return "model"
    first = words[0][0].lower() + words[0][1:]
    return first + "".join(w[0].upper() + w[1:] for w in words[1:])


def served_name(model: dict, version: dict, file_type: str, uploaded: str, ext: str, *,
                negative: bool = False, suffix: str = "") -> str:
    """The name Civitai gives a file (§5.5), without overrideName (which wins when set)."""
    if file_type == "Training Data":
        return f"{camel(model['name'])}_{camel(version['name'])}_trainingData.zip"
    if model["type"] in ("LORA", "LoCon", "VAE") and file_type not in ("Config",):
        return uploaded
    if model["type"] == "TextualInversion":
        word = (version.get("trainedWords") or [camel(model["name"])])[0]
        return f"{word}{'-neg' if negative else ''}{ext}"
    return f"{camel(model['name'])}_{camel(version['name'])}{suffix}{ext}"
