"""Which folder a Civitai model file belongs in, for each host layout (HOSTS.md §3).

Every layout is described relative to a *models folder* (``models_dir``): ComfyUI's ``models/``,
A1111/Forge's ``<data>/models`` and a plain folder of the user's choice. Folder *keys* are
ComfyUI's names (``checkpoints``, ``loras``, ...) on every layout, so hosts, the service and the
library can talk about "the LoRA folder" without caring where it lives.

Types that no host loader reads go to ``<models_dir>/civkit_other/<ModelType>/`` instead of a
guessed folder (HOSTS.md §3). A1111 keeps embeddings at ``<data>/embeddings``, the parent of
``models/`` (HOSTS.md §2.4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Optional, Union

from .name_bytes import MAX_NAME_BYTES, cut_to_bytes

LAYOUTS = ("comfyui", "a1111", "forge", "plain")
OTHER_KEY = "civkit_other"

MODEL_TYPES = (
    "Checkpoint", "TextualInversion", "Hypernetwork", "AestheticGradient", "LORA", "LoCon", "DoRA",
    "Controlnet", "Upscaler", "MotionModule", "VAE", "TextEncoder", "UNet", "CLIPVision", "Poses",
    "Wildcards", "Workflows", "ComfyWorkflows", "Detection", "VisionLanguage", "CLIP", "LLM", "Other",
)

# Civitai type -> folder key, on the ComfyUI layout. None = civkit other.
# Optional keys (registered by another node pack) are looked up in ``extras``.
_COMFY = {
    "Checkpoint": "checkpoints",
    "TextualInversion": "embeddings",
    "Hypernetwork": "hypernetworks",
    "LORA": "loras",
    "LoCon": "loras",  # never models/LyCORIS: Forge stopped scanning it
    "DoRA": "loras",
    "Controlnet": "controlnet",
    "Upscaler": "upscale_models",
    "VAE": "vae",
    "TextEncoder": "text_encoders",
    "CLIP": "text_encoders",
    "UNet": "diffusion_models",
    "CLIPVision": "clip_vision",
}
_COMFY_OPTIONAL = {"MotionModule": "animatediff_models", "Detection": "ultralytics_bbox"}

# A1111 1.10: no separate text encoders, no CLIP vision. UNet files go to the checkpoint list
# (Forge loads them from there; A1111 cannot, see ``folder_note``).
_A1111 = {
    "Checkpoint": "checkpoints",
    "TextualInversion": "embeddings",
    "Hypernetwork": "hypernetworks",
    "LORA": "loras",
    "LoCon": "loras",
    "DoRA": "loras",
    "Controlnet": "controlnet",
    "Upscaler": "upscale_models",
    "VAE": "vae",
    "UNet": "checkpoints",
    "Detection": "adetailer",
}
_A1111_OPTIONAL = {
    "AestheticGradient": "aesthetic_embeddings",
    "MotionModule": "animatediff_models",
    "Wildcards": "wildcards",
}
_FORGE = dict(_A1111, TextEncoder="text_encoders", CLIP="text_encoders")

# A plain folder has no host loader, so every known type gets a folder of its own.
_PLAIN = dict(
    _COMFY,
    AestheticGradient="aesthetic_embeddings",
    MotionModule="motion_modules",
    Poses="poses",
    Wildcards="wildcards",
    Workflows="workflows",
    ComfyWorkflows="workflows",
    Detection="detection",
    VisionLanguage="vision_language",
    LLM="llm",
)

# Folder key -> path relative to models_dir, per layout ("../x" = beside models_dir).
_WEBUI_PATHS = {
    "checkpoints": "Stable-diffusion",
    "embeddings": "../embeddings",
    "hypernetworks": "hypernetworks",
    "loras": "Lora",
    "controlnet": "ControlNet",
    "upscale_models": "ESRGAN",
    "vae": "VAE",
    "text_encoders": "text_encoder",
    "adetailer": "adetailer",
    "aesthetic_embeddings": "../extensions/stable-diffusion-webui-aesthetic-gradients/aesthetic_embeddings",
    "animatediff_models": "../extensions/sd-webui-animatediff/model",
    "wildcards": "../extensions/sd-dynamic-prompts/wildcards",
}

# A file's own type overrides the model type for these (HOSTS.md §3 "Files inside a version").
_FILE_TYPE_KEYS = {
    "VAE": "vae",
    "Negative": "embeddings",
    "Text Encoder": "text_encoders",
    "UNet": "diffusion_models",
    "Diffusion Model": "diffusion_models",
    "CLIPVision": "clip_vision",
    "ControlNet": "controlnet",
    "Upscaler": "upscale_models",
    "Enhancement LoRA": "loras",
    "Config": "configs",
}
_FILE_TYPES_TO_OTHER = {"Training Data", "Archive", "Workflow"}
# The WebUI reads a model's config as ``<model base>.yaml`` beside the model, so on a1111/forge a
# Config file stays in its model's folder (the service names it after the model, HOSTS.md §3).
_BESIDE_MODEL_ON_WEBUI = {"Config"}

_LAYOUT_TYPES = {"comfyui": _COMFY, "a1111": _A1111, "forge": _FORGE, "plain": _PLAIN}
_LAYOUT_OPTIONAL = {"comfyui": _COMFY_OPTIONAL, "a1111": _A1111_OPTIONAL, "forge": _A1111_OPTIONAL, "plain": {}}
# Keys each layout can load at all (file-type overrides outside this set fall back to the model type).
_LAYOUT_KEYS = {
    "comfyui": set(_COMFY.values()) | {"configs"},  # ComfyUI's folder_paths key for checkpoint yamls
    "a1111": set(_A1111.values()),
    "forge": set(_FORGE.values()),
    "plain": set(_PLAIN.values()) | {"configs"},
}


def _check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of: {', '.join(LAYOUTS)}")
    return layout


def canonical_type(model_type: Optional[str]) -> str:
    """Civitai's spelling of a model type, matched case-insensitively; unknown types kept as given."""
    if not model_type:
        return "Other"
    for known in MODEL_TYPES:
        if known.lower() == str(model_type).lower():
            return known
    return str(model_type)


def folder_key_for(
    model_type: Optional[str],
    layout: str,
    file_type: Optional[str] = None,
    *,
    extras: Optional[Iterable[str]] = None,
) -> str:
    """The folder key for a file: "loras", "checkpoints", ..., or "civkit_other".

    ``extras`` names optional keys the host has (e.g. "animatediff_models" when
    ComfyUI-AnimateDiff-Evolved registered it); without them those types go to civkit other.
    """
    _check_layout(layout)
    mtype = canonical_type(model_type)
    extras = set(extras or ())
    if file_type in _FILE_TYPES_TO_OTHER:
        return OTHER_KEY
    by_file = _FILE_TYPE_KEYS.get(file_type or "")
    if layout in ("a1111", "forge") and file_type in _BESIDE_MODEL_ON_WEBUI:
        by_file = None
    if layout in ("a1111", "forge") and by_file == "diffusion_models":
        by_file = "checkpoints"
    if by_file:  # a part the layout cannot load goes to civkit other, not next to the model
        return by_file if by_file in _LAYOUT_KEYS[layout] else OTHER_KEY
    key = _LAYOUT_TYPES[layout].get(mtype)
    if key:
        return key
    optional = _LAYOUT_OPTIONAL[layout].get(mtype)
    if optional and optional in extras:
        return optional
    return OTHER_KEY


def key_path(key: str, layout: str, models_dir: Union[str, Path]) -> Path:
    """Where a folder key lives for a layout (civkit other: its root, without the type)."""
    _check_layout(layout)
    models_dir = Path(models_dir)
    if key == OTHER_KEY:
        return models_dir / OTHER_KEY
    if layout in ("a1111", "forge"):
        rel = _WEBUI_PATHS.get(key, key)
        if rel.startswith("../"):
            return models_dir.parent / rel[3:]
        return models_dir / rel
    return models_dir / key


def folder_for(
    model_type: Optional[str],
    layout: str,
    models_dir: Union[str, Path],
    file_type: Optional[str] = None,
    *,
    extras: Optional[Mapping[str, Union[str, Path]]] = None,
) -> Path:
    """The download folder for a file of ``model_type`` under ``models_dir``.

    ``extras`` maps optional folder keys the host has to their folder, e.g.
    ``{"animatediff_models": Path(".../animatediff_models")}``.
    """
    extras = dict(extras or {})
    key = folder_key_for(model_type, layout, file_type, extras=extras.keys())
    if key == OTHER_KEY:
        return key_path(OTHER_KEY, layout, models_dir) / safe_component(canonical_type(model_type), "Other")
    # (civkit other is per *model* type, so a checkpoint's stray encoder sits in civkit_other/Checkpoint)
    if key in extras and extras[key]:
        return Path(extras[key])
    return key_path(key, layout, models_dir)


def folder_note(model_type: Optional[str], layout: str, file_type: Optional[str] = None) -> Optional[str]:
    """A warning for the user when the host cannot load what lands in the folder, else None."""
    mtype = canonical_type(model_type)
    unet = mtype == "UNet" or file_type in ("UNet", "Diffusion Model")
    if layout == "a1111" and unet:
        return "A1111 1.10 cannot load UNet-only files; it was saved with the checkpoints (Forge can load it)."
    if folder_key_for(model_type, layout, file_type) == OTHER_KEY:
        return f"No {layout} loader reads {mtype} files; it was saved under {OTHER_KEY}/{mtype}."
    return None


# ---------------------------------------------------------------------------- layout guessing

_COMFY_MARKERS = {"checkpoints", "loras", "diffusion_models", "text_encoders", "clip_vision", "upscale_models",
                  "unet", "clip", "vae_approx", "style_models", "photomaker", "controlnet", "embeddings"}
_WEBUI_MARKERS = {"stable-diffusion", "lora", "esrgan", "lycoris", "vae-approx", "codeformer", "gfpgan"}


def guess_layout(models_dir: Union[str, Path]) -> str:
    """Guess the layout from a models folder's existing subfolders (ComfyUI style when empty)."""
    models_dir = Path(models_dir)
    try:
        names = {p.name.lower() for p in models_dir.iterdir() if p.is_dir()}
    except OSError:
        names = set()
    webui = len(names & _WEBUI_MARKERS)
    comfy = len(names & _COMFY_MARKERS)
    if webui and webui >= comfy:
        parent = models_dir.parent
        if "text_encoder" in names or (parent / "modules_forge").is_dir() or (parent / "backend").is_dir():
            return "forge"
        return "a1111"
    return "comfyui"


def host_root(folder: Union[str, Path]) -> Optional[tuple[Path, str, str]]:
    """``(models_dir, layout, host name)`` when ``folder`` is a host's ROOT rather than its models folder:
    a ComfyUI folder (``main.py`` and ``models/``) or a WebUI folder (``webui.py`` and ``models/``; Forge
    when ``modules_forge/`` is there too). None otherwise."""
    folder = Path(folder)
    models = folder / "models"
    try:
        if not models.is_dir():
            return None
        if (folder / "webui.py").is_file():
            forge = (folder / "modules_forge").is_dir() or (folder / "backend").is_dir()
            return models, ("forge" if forge else "a1111"), ("WebUI (Forge)" if forge else "WebUI")
        if (folder / "main.py").is_file():
            return models, "comfyui", "ComfyUI"
    except OSError:
        return None
    return None


def resolve_models_dir(folder: Union[str, Path], layout: Optional[str] = None) -> tuple[Path, str, str]:
    """What a user's ``--models-dir`` means: ``(models_dir, layout, note)``; the note says which layout
    was assumed and why, for the CLI to print. An explicit ``layout`` is never second-guessed."""
    folder = Path(folder)
    if layout:
        return folder, _check_layout(layout), f"models folder {folder} (layout {layout}, as asked)"
    root = host_root(folder)
    if root is not None:
        models, guessed, host = root
        beside = " and its embeddings/ folder" if guessed in ("a1111", "forge") else ""
        return models, guessed, (f"{folder} is a {host} folder: using its models folder {models}{beside} "
                                 f"(layout {guessed})")
    guessed = guess_layout(folder)
    try:
        names = {p.name.lower() for p in folder.iterdir() if p.is_dir()}
    except OSError:
        names = set()
    if names & (_WEBUI_MARKERS | _COMFY_MARKERS):
        host = {"comfyui": "ComfyUI", "a1111": "WebUI", "forge": "WebUI (Forge)"}[guessed]
        return folder, guessed, f"{folder} looks like a {host} models folder (layout {guessed})"
    return folder, guessed, (f"{folder} looks like neither a ComfyUI nor a WebUI models folder: assuming the "
                             f"ComfyUI layout (checkpoints/, loras/, ... inside it); pass --layout to choose "
                             "another, or point --models-dir at your ComfyUI or WebUI folder")


# ---------------------------------------------------------------------------- subfolder templates

_TEMPLATE_FIELD = re.compile(r"\{([a-z_]+)\}")
# The values a download (and ``civkit organize``) fills a subfolder template with.
TEMPLATE_FIELDS = ("base_model", "type", "model_name", "version_name", "creator")


def unknown_template_fields(template: str) -> list:
    """Fields in ``template`` that are not ``TEMPLATE_FIELDS`` (braces that name nothing count too)."""
    names = re.findall(r"\{([^{}]*)\}", template or "")
    return [n for n in names if n not in TEMPLATE_FIELDS]
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def safe_component(text: str, fallback: str = "_") -> str:
    """One path component: no separators, control characters, leading dots or trailing spaces, and at
    most ``MAX_NAME_BYTES`` bytes of UTF-8, cut on a character boundary (issue 13 item 8)."""
    cleaned = _UNSAFE_CHARS.sub("_", str(text)).strip().strip(".").strip()
    cleaned = cut_to_bytes(cleaned, MAX_NAME_BYTES).rstrip(". ")
    return cleaned or fallback


def render_subfolder(template: str, **values: Optional[str]) -> Path:
    """Fill a template such as ``{base_model}/{type}`` into a relative path that stays inside.

    Fields: any keyword given (base_model, type, model_name, creator, ...). Unknown fields and
    empty values become "unknown"; each component is sanitised, so ``..`` or an absolute path
    can never come out of it.
    """
    if not template:
        return Path()

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return safe_component(value, "unknown") if value else "unknown"

    parts = []
    for raw in re.split(r"[\\/]+", template):
        if not raw or raw in (".", ".."):
            continue
        parts.append(safe_component(_TEMPLATE_FIELD.sub(fill, raw), "unknown"))
    return Path(*parts) if parts else Path()


def join_inside(base: Union[str, Path], sub: Union[str, Path]) -> Path:
    """``base / sub``, refusing any result outside ``base``."""
    base = Path(base)
    target = base / sub
    resolved_base = base.resolve()
    resolved = target.resolve()
    if resolved != resolved_base and resolved_base not in resolved.parents:
        raise ValueError(f"{sub} would leave the folder {base}")
    return target
