"""Stand-in for ``comfy.sd``: MODEL/CLIP/VAE objects that remember what was applied to them."""

from __future__ import annotations

CALLS: list[tuple] = []


class StandinModel:
    def __init__(self, name="model", loras=()):
        self.name = name
        self.loras = tuple(loras)

    def with_lora(self, path, strength):
        return type(self)(self.name, self.loras + ((path, strength),))

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, loras={self.loras!r})"


class StandinClip(StandinModel):
    pass


class StandinVAE:
    def __init__(self, path):
        self.path = path


def load_lora_for_models(model, clip, lora, strength_model, strength_clip):
    CALLS.append(("load_lora_for_models", lora["__file__"], strength_model, strength_clip))
    new_model = model.with_lora(lora["__file__"], strength_model) if model is not None else None
    new_clip = clip.with_lora(lora["__file__"], strength_clip) if clip is not None else None
    return new_model, new_clip


def load_checkpoint_guess_config(ckpt_path, output_vae=True, output_clip=True, output_clipvision=False,
                                 embedding_directory=None, output_model=True, model_options=None,
                                 te_model_options=None):
    CALLS.append(("load_checkpoint_guess_config", ckpt_path))
    return (StandinModel(ckpt_path), StandinClip(ckpt_path) if output_clip else None,
            StandinVAE(ckpt_path) if output_vae else None, None)
