"""Trigger-word nodes: read a LoRA's words, and put words into a prompt exactly once."""

from __future__ import annotations

import re

from . import resolve
from .loaders import CATEGORY, _file_list, _words_text, runtime_trigger_words

POSITIONS = ("append", "prepend")


def split_words(text: str) -> list:
    """A comma-separated STRING (what CivkitTriggerWords outputs) back into words."""
    return [w.strip() for w in re.split(r"[,\n]", text or "") if w.strip()]


class CivkitTriggerWords:
    DESCRIPTION = (
        "Outputs a LoRA's trigger words as one comma-separated STRING: Civitai's trained words from the "
        "civkit library or Civitai itself, or, offline, the words its training metadata names."
    )
    CATEGORY = CATEGORY
    FUNCTION = "words"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("trigger_words",)
    OUTPUT_TOOLTIPS = ("The trigger words, comma-separated (empty when none are known).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"lora_name": (_file_list("loras"), {"tooltip": "A LoRA file from your loras folders."})}}

    @classmethod
    def IS_CHANGED(cls, lora_name=None, **_):
        import folder_paths

        return resolve.fingerprint(folder_paths.get_full_path("loras", lora_name or ""))

    def words(self, lora_name):
        found = resolve.local_file("loras", lora_name)
        return (_words_text(runtime_trigger_words(found.path)),)


class CivkitApplyTriggers:
    DESCRIPTION = (
        "Adds trigger words to a prompt, before or after it. Words the prompt already contains are not "
        "added again, so the node can run on its own output."
    )
    CATEGORY = CATEGORY
    FUNCTION = "apply"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("text",)
    OUTPUT_TOOLTIPS = ("The prompt with every missing trigger word added once.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "text": ("STRING", {"multiline": True, "default": "", "tooltip": "The prompt."}),
                "trigger_words": ("STRING", {"forceInput": True,
                                             "tooltip": "Comma-separated trigger words, e.g. from a civkit loader."}),
                "position": (list(POSITIONS), {"default": "prepend",
                                               "tooltip": "Put the words before (prepend) or after (append) the prompt."}),
            }
        }

    def apply(self, text, trigger_words, position="prepend"):
        from ..civkit.triggers import insert_triggers

        if position not in POSITIONS:
            position = "append"
        return (insert_triggers(text or "", split_words(trigger_words), position=position),)
