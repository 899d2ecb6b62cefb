"""Stand-in for ComfyUI's core ``nodes.py``: ``LoraLoader`` and ``CheckpointLoaderSimple`` with
the real loading logic, over the stand-in ``comfy.sd``/``comfy.utils``."""

from __future__ import annotations

import comfy.sd
import comfy.utils
import folder_paths

NODE_CLASS_MAPPINGS: dict = {}
STANDIN = True


class LoraLoader:
    def __init__(self):
        self.loaded_lora = None

    def load_lora(self, model, clip, lora_name, strength_model, strength_clip):
        if strength_model == 0 and strength_clip == 0:
            return (model, clip)
        lora_path = folder_paths.get_full_path_or_raise("loras", lora_name)
        lora = None
        if self.loaded_lora is not None:
            if self.loaded_lora[0] == lora_path:
                lora = self.loaded_lora[1]
            else:
                self.loaded_lora = None
        if lora is None:
            lora = comfy.utils.load_torch_file(lora_path, safe_load=True)
            self.loaded_lora = (lora_path, lora)
        model_lora, clip_lora = comfy.sd.load_lora_for_models(model, clip, lora, strength_model, strength_clip)
        return (model_lora, clip_lora)


class CheckpointLoaderSimple:
    def load_checkpoint(self, ckpt_name):
        ckpt_path = folder_paths.get_full_path_or_raise("checkpoints", ckpt_name)
        out = comfy.sd.load_checkpoint_guess_config(
            ckpt_path, output_vae=True, output_clip=True,
            embedding_directory=folder_paths.get_folder_paths("embeddings"),
        )
        return out[:3]


NODE_CLASS_MAPPINGS.update({"LoraLoader": LoraLoader, "CheckpointLoaderSimple": CheckpointLoaderSimple})
