"""LoRA and checkpoint loader nodes that can fetch what a workflow needs from Civitai.

They load through ComfyUI's own ``nodes.LoraLoader`` / ``nodes.CheckpointLoaderSimple`` (imported
inside the functions: at import time ComfyUI's ``nodes`` may not be importable, and on Forge this
folder itself is ``nodes``), so caching and the strength-0 pass-through behave like the core
nodes. The API key is never an input: it would be saved in every workflow and PNG.
"""

from __future__ import annotations

from . import resolve

CATEGORY = "civkit"
DEFAULT_STRENGTH = 1.0  # a strength left here uses the file's preferred weight, when one is set

REF_TOOLTIP = (
    "Optional Civitai reference: a model or version link, an AIR (urn:air:…), or model@version ids "
    "such as 123@456. When set it wins over the file picker; a file not yet on disk is downloaded "
    "(verified) first. Leave empty to use the picked file."
)


TOKEN_IN_REF = (
    "civitai_ref holds an API token (token=…). Remove it from the link: civkit uses the API key saved in its "
    "settings, and a token here would be saved in the workflow, in every image's metadata and in ComfyUI's history."
)


def _file_list(folder_key: str) -> list:
    import folder_paths

    return folder_paths.get_filename_list(folder_key)


def _validate(folder_key: str, name, civitai_ref, input_types=None, name_input="") -> bool | str:
    """Queue-time check. Naming the combo here makes ComfyUI skip its own combo check, so a
    reference-based run is not refused because the picked name is stale or the list is empty.

    Linked inputs have no value yet at queue time (ComfyUI passes their types in
    ``input_types``); the node itself reports a bad value when it runs."""
    linked = input_types if isinstance(input_types, dict) else {}
    if "civitai_ref" in linked or name_input in linked:
        return True
    ref = (civitai_ref or "").strip() if isinstance(civitai_ref, str) else ""
    if ref:
        from ..civkit.refs import RefError, parse_ref

        try:
            parsed = parse_ref(ref)
        except RefError as exc:
            return f"civitai_ref: {getattr(exc, 'message', None) or exc}"
        if parsed.secret_removed:  # refused here, it never reaches ComfyUI's history or an image
            return TOKEN_IN_REF
        return True
    if not name or name not in _file_list(folder_key):
        return (f"{name or 'No file'} is not in the {folder_key} folders: pick a file, press R to refresh "
                "the lists, or paste a Civitai link into civitai_ref.")
    return True


def _is_changed(folder_key: str, name, civitai_ref) -> str:
    ref = (civitai_ref or "").strip() if isinstance(civitai_ref, str) else ""
    if ref:
        from ..civkit.refs import clean_ref_text

        return f"ref:{clean_ref_text(ref)[0]}"
    import folder_paths

    return resolve.fingerprint(folder_paths.get_full_path(folder_key, name or ""))


def _words_text(words) -> str:
    return ", ".join(w.strip() for w in words if w and w.strip())


class CivkitLoraLoader:
    DESCRIPTION = (
        "Applies a LoRA to MODEL and CLIP like the core LoRA loader, and outputs its trigger words. "
        "Paste a Civitai link, AIR or 123@456 into civitai_ref to download the LoRA into your loras "
        "folder first (verified by SHA256); the link is recorded in the workflow's model list so a shared "
        "workflow says where its files come from. Set both strengths to 0 to pass MODEL and CLIP through."
    )
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = ("MODEL", "CLIP", "STRING")
    RETURN_NAMES = ("MODEL", "CLIP", "trigger_words")
    OUTPUT_TOOLTIPS = (
        "The diffusion model with the LoRA applied.",
        "The CLIP model with the LoRA applied.",
        "The LoRA's trigger words, comma-separated: Civitai's trained words, else the file's training metadata.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model the LoRA is applied to."}),
                "clip": ("CLIP", {"tooltip": "The CLIP model the LoRA is applied to."}),
                "lora_name": (_file_list("loras"), {"tooltip": "A LoRA file from your loras folders."}),
                "strength_model": ("FLOAT", {"default": DEFAULT_STRENGTH, "min": -100.0, "max": 100.0, "step": 0.01,
                                             "tooltip": "How strongly to modify the diffusion model (0 = off)."}),
                "strength_clip": ("FLOAT", {"default": DEFAULT_STRENGTH, "min": -100.0, "max": 100.0, "step": 0.01,
                                            "tooltip": "How strongly to modify the CLIP model (0 = off)."}),
            },
            "optional": {
                "civitai_ref": ("STRING", {"default": "", "tooltip": REF_TOOLTIP}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, lora_name=None, civitai_ref="", input_types=None):
        return _validate("loras", lora_name, civitai_ref, input_types, "lora_name")

    @classmethod
    def IS_CHANGED(cls, lora_name=None, civitai_ref="", **_):
        return _is_changed("loras", lora_name, civitai_ref)

    def __init__(self):
        self._core = None

    def load(self, model, clip, lora_name, strength_model, strength_clip, civitai_ref="", unique_id=None):
        found = resolve.resolve("loras", lora_name, civitai_ref, node_id=unique_id)
        words = found.trigger_words
        if not words:
            words = runtime_trigger_words(found.path)
        if self._core is None:
            import nodes as comfy_nodes  # ComfyUI's core nodes.py (the pack is never on sys.path)

            self._core = comfy_nodes.LoraLoader()  # keeps the last LoRA cached, like the core node
        # A strength left at its default follows the file's preferred weight (civkit triggers --weight).
        if DEFAULT_STRENGTH in (strength_model, strength_clip):
            preferred = runtime_preferred_weight(found.path)
            if preferred is not None:
                strength_model = preferred if strength_model == DEFAULT_STRENGTH else strength_model
                strength_clip = preferred if strength_clip == DEFAULT_STRENGTH else strength_clip
        # The core loader passes MODEL and CLIP through untouched when both strengths are 0.
        model_out, clip_out = self._core.load_lora(model, clip, found.name, strength_model, strength_clip)
        result = (model_out, clip_out, _words_text(words))
        ui = resolve.ui_payload(found)
        return {"ui": ui, "result": result} if ui else result


class CivkitCheckpointLoader:
    DESCRIPTION = (
        "Loads a checkpoint like the core checkpoint loader. Paste a Civitai link, AIR or 123@456 into "
        "civitai_ref to download the checkpoint into your checkpoints folder first (verified by SHA256); "
        "the link is recorded in the workflow's model list."
    )
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    OUTPUT_TOOLTIPS = (
        "The diffusion model, for denoising latents.",
        "The CLIP model, for encoding text prompts.",
        "The VAE, for turning images into latents and back.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "ckpt_name": (_file_list("checkpoints"), {"tooltip": "A checkpoint from your checkpoints folders."}),
            },
            "optional": {
                "civitai_ref": ("STRING", {"default": "", "tooltip": REF_TOOLTIP}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, ckpt_name=None, civitai_ref="", input_types=None):
        return _validate("checkpoints", ckpt_name, civitai_ref, input_types, "ckpt_name")

    @classmethod
    def IS_CHANGED(cls, ckpt_name=None, civitai_ref="", **_):
        return _is_changed("checkpoints", ckpt_name, civitai_ref)

    def load(self, ckpt_name, civitai_ref="", unique_id=None):
        import nodes as comfy_nodes  # ComfyUI's core nodes.py

        found = resolve.resolve("checkpoints", ckpt_name, civitai_ref, node_id=unique_id)
        result = tuple(comfy_nodes.CheckpointLoaderSimple().load_checkpoint(found.name))[:3]
        ui = resolve.ui_payload(found)
        return {"ui": ui, "result": result} if ui else result


def runtime_preferred_weight(path: str):
    """The file's preferred LoRA weight from the library index, or None."""
    from . import runtime

    svc = runtime.get_service()
    try:
        return svc.preferred_weight(path)
    except Exception as exc:  # noqa: BLE001 - a convenience; the node's strength stays
        resolve.log.info("no preferred weight for %s: %s", path, svc.error_message(exc))
        return None


def runtime_trigger_words(path: str) -> list:
    """The service's words for a local file (index, sidecars, Civitai, then training metadata)."""
    from . import runtime

    svc = runtime.get_service()
    try:
        return list(svc.trigger_words(path))
    except Exception as exc:  # trigger words are a convenience; never fail a LoRA load over them
        resolve.log.warning("no trigger words for %s: %s", path, svc.error_message(exc))
        return []
