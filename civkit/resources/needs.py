"""What a workflow or image needs: the ``Need`` record, kinds, and merging of repeated references.

A need is what a source names, never a path: ``name`` is kept as the source wrote it (for
display and for matching), and only ``safe_parts(name)`` (no ``..``, no absolute or drive forms)
is ever used to look inside a model folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

KINDS = ("checkpoint", "lora", "vae", "embedding", "controlnet", "upscaler", "unet", "clip", "clip_vision",
         "other")

# kind -> the host folder key its files are read from (ComfyUI's names, on every layout)
KIND_FOLDER = {
    "checkpoint": "checkpoints", "lora": "loras", "vae": "vae", "embedding": "embeddings",
    "controlnet": "controlnet", "upscaler": "upscale_models", "unet": "diffusion_models",
    "clip": "text_encoders", "clip_vision": "clip_vision",
}
# folder key (as workflows' ``models[].directory`` and ComfyUI's folder_paths spell them) -> kind
FOLDER_KIND = {v: k for k, v in KIND_FOLDER.items()}
FOLDER_KIND.update({"unet": "unet", "clip": "clip", "upscale": "upscaler", "embedding": "embedding"})

# Civitai model type (and the short names image meta uses) -> kind
TYPE_KIND = {
    "checkpoint": "checkpoint", "model": "checkpoint", "lora": "lora", "locon": "lora", "lycoris": "lora",
    "dora": "lora", "embed": "embedding", "embedding": "embedding", "textualinversion": "embedding",
    "vae": "vae", "controlnet": "controlnet", "upscaler": "upscaler", "unet": "unet",
    "textencoder": "clip", "clip": "clip", "clipvision": "clip_vision", "hypernet": "other",
    "hypernetwork": "other",
}
# kind -> Civitai model types a name search is limited to
KIND_TYPES = {
    "checkpoint": ("Checkpoint",), "lora": ("LORA", "LoCon", "DoRA"), "vae": ("VAE",),
    "embedding": ("TextualInversion",), "controlnet": ("Controlnet",), "upscaler": ("Upscaler",),
    "unet": ("Checkpoint", "UNet"), "clip": ("TextEncoder", "CLIP"), "clip_vision": ("CLIPVision",),
}

MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
HASH_KINDS = ("SHA256", "BLAKE3", "AutoV3", "AutoV2", "AutoV1", "CRC32")
MAX_NAME = 512
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def clean_text(value, limit: int = MAX_NAME) -> str:
    """A name as a source wrote it, without control characters, trimmed, at most ``limit`` chars."""
    text = re.sub(r"[\x00-\x1f\x7f]", "", str(value or "")).strip()
    return text[:limit]


def safe_parts(name: str) -> Optional[tuple]:
    """The path parts of a referenced name when it stays inside a folder, else None.

    ``sub/x.safetensors`` -> ("sub", "x.safetensors"); ``../../x``, ``/etc/x``, ``C:\\x`` -> None."""
    text = clean_text(name)
    if not text or text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        return None
    parts = tuple(p for p in re.split(r"[/\\]+", text) if p not in ("", "."))
    if not parts or any(p == ".." for p in parts):
        return None
    return parts


def stem(name: str) -> str:
    """The file stem of a referenced name, casefolded: ``sub/My LoRA.safetensors`` -> ``my lora``."""
    base = re.split(r"[/\\]", clean_text(name))[-1]
    low = base.lower()
    for ext in MODEL_EXTENSIONS:
        if low.endswith(ext):
            base = base[: -len(ext)]
            break
    return base.casefold()


def hash_kind(value: str) -> Optional[str]:
    """Guess a hash's kind from its length: 64 SHA256, 12 AutoV3, 10 AutoV2, 8 AutoV1; else None."""
    value = (value or "").strip()
    if not _HEX.match(value):
        return None
    return {64: "SHA256", 12: "AutoV3", 10: "AutoV2", 8: "AutoV1"}.get(len(value))


def parse_weight(value) -> Optional[float]:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        return None
    return weight if weight == weight and abs(weight) < 1e6 else None  # no NaN, no absurd values


def as_id(value) -> Optional[int]:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**53 else None


@dataclass
class Need:
    """One model a source needs (see the module docstring)."""

    kind: str
    name: str
    source: str = ""
    weight: Optional[float] = None
    hashes: dict = field(default_factory=dict)      # {"AutoV2": "...", ...} upper-case hex
    model_id: Optional[int] = None
    version_id: Optional[int] = None
    file_id: Optional[int] = None
    url: Optional[str] = None
    air: Optional[str] = None
    folder_key: Optional[str] = None                # where the source's loader reads it from, when known
    node_id: Optional[str] = None
    widget: Optional[str] = None
    uses: list = field(default_factory=list)         # every (node_id, widget) that names it

    def __post_init__(self):
        self.name = clean_text(self.name)
        if self.kind not in KINDS:
            self.kind = "other"
        if not self.folder_key:
            self.folder_key = KIND_FOLDER.get(self.kind)
        self.hashes = {k: v.strip().upper() for k, v in (self.hashes or {}).items() if isinstance(v, str)
                       and _HEX.match(v.strip()) and 8 <= len(v.strip()) <= 64}
        if self.node_id is not None and (self.node_id, self.widget) not in self.uses:
            self.uses.append((self.node_id, self.widget))

    def add_hash(self, value, kind: Optional[str] = None) -> None:
        value = (value or "").strip() if isinstance(value, str) else ""
        kind = kind or hash_kind(value)
        if kind and _HEX.match(value) and kind not in self.hashes:
            self.hashes[kind] = value.upper()

    @property
    def identified(self) -> bool:
        return bool(self.version_id or self.model_id or self.hashes or self.air or self.url)

    def merge(self, other: Need) -> None:
        """Take what ``other`` (the same model, referenced again) adds."""
        for key, value in other.hashes.items():
            self.hashes.setdefault(key, value)
        for attr in ("weight", "model_id", "version_id", "file_id", "url", "air", "node_id", "widget"):
            if getattr(self, attr) is None and getattr(other, attr) is not None:
                setattr(self, attr, getattr(other, attr))
        if self.kind == "other" and other.kind != "other":
            self.kind, self.folder_key = other.kind, other.folder_key
        if not self.name and other.name:
            self.name = other.name
        for use in other.uses:
            if use not in self.uses:
                self.uses.append(use)

    def to_json(self) -> dict:
        return {"source": self.source, "kind": self.kind, "name": self.name, "weight": self.weight,
                "hashes": dict(self.hashes), "model_id": self.model_id, "version_id": self.version_id,
                "file_id": self.file_id, "url": self.url, "air": self.air, "folder_key": self.folder_key,
                "node_id": self.node_id, "widget": self.widget,
                "uses": [{"node_id": n, "widget": w} for n, w in self.uses]}


def _same(a: Need, b: Need) -> bool:
    if a.version_id and b.version_id:
        return a.version_id == b.version_id and (a.file_id == b.file_id or not a.file_id or not b.file_id)
    for key in ("SHA256", "AutoV3", "AutoV2", "AutoV1", "BLAKE3"):
        if key in a.hashes and key in b.hashes:
            return a.hashes[key] == b.hashes[key]
    family = {"checkpoint": "ckpt", "unet": "ckpt"}
    if family.get(a.kind, a.kind) != family.get(b.kind, b.kind) and "other" not in (a.kind, b.kind):
        return False
    return bool(a.name) and stem(a.name) == stem(b.name)


def dedupe(needs) -> list:
    """One need per model: repeated references are merged into the first (order kept)."""
    out: list = []
    for need in needs:
        if not need.name and not need.identified:
            continue
        for kept in out:
            if _same(kept, need):
                kept.merge(need)
                break
        else:
            out.append(need)
    return out
