"""civkit's ComfyUI nodes (V1 API) and routes.

Importable anywhere: on Forge this folder is reachable as top-level ``nodes``, so nothing here
needs ComfyUI, aiohttp or civkit's core at import time.
"""

from __future__ import annotations

from .loaders import CivkitCheckpointLoader, CivkitLoraLoader
from .triggers import CivkitApplyTriggers, CivkitTriggerWords

NODE_CLASS_MAPPINGS = {
    "CivkitLoraLoader": CivkitLoraLoader,
    "CivkitCheckpointLoader": CivkitCheckpointLoader,
    "CivkitTriggerWords": CivkitTriggerWords,
    "CivkitApplyTriggers": CivkitApplyTriggers,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "CivkitLoraLoader": "Load LoRA (civkit)",
    "CivkitCheckpointLoader": "Load Checkpoint (civkit)",
    "CivkitTriggerWords": "LoRA Trigger Words (civkit)",
    "CivkitApplyTriggers": "Apply Trigger Words (civkit)",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
