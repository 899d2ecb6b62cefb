"""The demo catalog, as compact specs; ``catalog.build_demo_catalog`` turns them into Civitai JSON and files.

File ids are ``version_id * 10 + position``; image ids are numbered from 7001 in order of appearance.
"""

from __future__ import annotations


def M(id, name, type, creator, tags, versions, **kw):  # noqa: N802 - reads like a table
    return dict(id=id, name=name, type=type, creator=creator, tags=tags, versions=versions, **kw)


def V(id, name, base, published, words, files, images=(), **kw):  # noqa: N802
    return dict(id=id, name=name, base=base, published=published, words=list(words), files=files,
                images=list(images), **kw)


def F(kind, size, **kw):  # noqa: N802
    return dict(kind=kind, size=size, **kw)


def I(level=1, w=512, h=768, prompt="masterpiece, best quality"):  # noqa: N802, E743
    return dict(level=level, w=w, h=h, prompt=prompt)


KB = 1024
MB = 1024 * 1024

USERS = {
    "inkbrush": {"image": True, "joined": "2023-02-01T10:00:00.000Z"},
    "pixelfox": {"image": True, "joined": "2023-05-11T10:00:00.000Z"},
    "aquarelle": {"image": False, "joined": "2024-01-20T10:00:00.000Z"},
    "forgemaster": {"image": True, "joined": "2022-12-01T10:00:00.000Z"},
    "nightowl": {"image": False, "joined": "2024-03-03T10:00:00.000Z"},
    "toolsmith": {"image": True, "joined": "2023-08-08T10:00:00.000Z"},
}

ANIME_PROMPT = "1girl, anime style, clean lineart, cel shading, looking at viewer"

MODELS = [
    M(101, "Anime Lineart Style", "LORA", "inkbrush", ["anime", "style", "lineart"], [
        V(1011, "v2.0", "SD 1.5", "2025-06-01T12:00:00.000Z", ["animelineart", "clean lineart"],
          [F("lora", 2 * MB + 300 * KB, name="anime_lineart_v2.safetensors", sshs="auto")],
          [I(1, prompt="animelineart, " + ANIME_PROMPT), I(1, 768, 512), I(4)],
          description="<p>Sharper lines, fewer artifacts.</p>"),
        V(1010, "v1.0", "SD 1.5", "2024-11-02T12:00:00.000Z", ["animelineart"],
          [F("lora", 300 * KB, name="anime_lineart_v1.safetensors", sshs="auto")], [I(1)]),
        V(1012, "v3.0-draft", "SD 1.5", "2026-01-01T12:00:00.000Z", ["animelineart"],
          [F("lora", 64 * KB, name="anime_lineart_v3.safetensors")], status="Draft"),
    ], description="<p>Clean <b>anime</b> lineart for SD 1.5. Use weight 0.7.</p>",
       stats=(4200, 98000, 120, 3100, 800), commercial=["Image", "RentCivit", "Rent", "Sell"]),
    M(102, "Anime Eyes Detailer", "LORA", "pixelfox", ["anime", "eyes", "detail"], [
        V(1020, "v1.5", "Illustrious", "2025-03-15T08:00:00.000Z", ["detailed eyes", "sparkling eyes"],
          [F("lora", 900 * KB, name="anime_eyes_detailer_ill.safetensors", sshs="wrong")],
          [I(1, prompt="detailed eyes, " + ANIME_PROMPT), I(8, prompt="detailed eyes, nsfw")]),
    ], description="<p>Beautiful anime eyes for Illustrious.</p>", stats=(3100, 51000, 45, 900, 150),
       nsfw_level=9),
    M(103, "Pony Anime Shading", "LORA", "pixelfox", ["anime", "shading", "pony"], [
        V(1030, "v1.0", "Pony", "2025-01-20T08:00:00.000Z", ["anime shading", "cel shading"],
          [F("lora", 700 * KB, name="pony_anime_shading.safetensors", sshs="auto")], [I(1)],
          requires_login=True),
    ], description="<p>Soft anime shading for Pony. Login required to download.</p>",
       stats=(2500, 40000, 30, 700, 0)),
    M(104, "Flux Watercolor", "LORA", "aquarelle", ["style", "watercolor", "painting"], [
        V(1040, "v1.0", "Flux.1 D", "2026-11-20T08:00:00.000Z", ["wtrclr painting"],
          [F("lora", 1200 * KB, name="flux_watercolor.safetensors", sshs="auto", base_version="flux1")],
          [I(1, 1024, 1024, "wtrclr painting, a lighthouse at dawn")], early_access_days=30),
    ], description="<p>Watercolor paintings with Flux.1 D. Early access for a month.</p>",
       stats=(900, 4000, 12, 300, 40)),
    M(105, "Detail Tweaker LoCon", "LoCon", "inkbrush", ["detail", "tool", "concept"], [
        V(1050, "v1.0", "SD 1.5", "2024-08-01T08:00:00.000Z", [],
          [F("lora", 400 * KB, name="detail_tweaker_locon.safetensors",
             override="DetailTweaker-LoCon-by-inkbrush.safetensors", sshs="wrong")], [I(1)]),
    ], description="<p>Add or remove detail (negative weight removes).</p>",
       stats=(5100, 120000, 200, 5000, 1200)),
    M(106, "Cinematic Light DoRA", "DoRA", "aquarelle", ["lighting", "cinematic", "photo"], [
        V(1060, "v1.0", "SDXL 1.0", "2025-02-02T08:00:00.000Z", ["cinematic lighting"],
          [F("lora", 1500 * KB, name="cinematic_light_dora.safetensors", sshs="auto", base_version="sdxl")],
          [I(1, 1024, 1024)]),
    ], description="<p>Film-like light for SDXL.</p>", stats=(1800, None, 25, 400, None)),
    M(107, "Dreamforge XL", "Checkpoint", "forgemaster", ["base model", "photorealistic", "general"], [
        V(1070, "v1.0", "SDXL 1.0", "2025-04-04T08:00:00.000Z", [],
          [F("st", 3 * MB, fp="fp16", size_kind="pruned", primary=True, base_version="sdxl"),
           F("st", 3 * MB + 512 * KB, fp="fp32", size_kind="full", suffix="_fp32", base_version="sdxl"),
           F("st", 600 * KB, type="VAE", fp="fp16", suffix=".vae", base_version="sdxl"),
           F("yaml", 0, type="Config", fmt="Other")],
          [I(1, 832, 1216, "portrait of an old fisherman, photorealistic"), I(1, 1216, 832), I(4)],
          vae_file=1),
    ], description="<p>A general SDXL checkpoint. VAE baked in; a separate VAE is attached.</p>",
       stats=(8800, 250000, 640, 9000, 5000), checkpoint_type="Trained"),
    M(108, "Retro Dream", "Checkpoint", "forgemaster", ["retro", "base model"], [
        V(1080, "v2", "SD 1.5", "2023-03-03T08:00:00.000Z", [],
          [F("ckpt", 1 * MB, fp="fp16", size_kind="pruned", fmt="PickleTensor",
             pickle_msg="Imports: collections.OrderedDict, torch._utils._rebuild_tensor_v2")], [I(1)]),
    ], description="<p>An old-school merge, only as a PickleTensor .ckpt.</p>",
       stats=(700, 30000, 40, 200, 0), checkpoint_type="Merge", commercial=["Rent"]),
    M(109, "Sparkle Girl Embedding", "TextualInversion", "nightowl", ["character", "embedding"], [
        V(1090, "v1.0", "SD 1.5", "2024-05-05T08:00:00.000Z", ["sparklegirl"],
          [F("emb", 24 * KB), F("emb", 16 * KB, type="Negative", negative=True)], [I(1)]),
    ], description="<p>A sparkly character embedding with its negative.</p>", stats=(300, 5000, 8, 60, 0)),
    M(110, "EasyNegative Plus", "TextualInversion", "nightowl", ["negative", "embedding", "tool"], [
        V(1100, "v1.0", "SD 1.5", "2024-02-02T08:00:00.000Z", ["easynegplus"],
          [F("emb", 20 * KB, negative=True)], [I(1)]),
    ], description="<p>Put <code>easynegplus</code> in the negative prompt.</p>",
       stats=(6000, 300000, 400, 8000, 10)),
    M(111, "Clear VAE XL", "VAE", "toolsmith", ["vae", "tool"], [
        V(1110, "v1.0", "SDXL 1.0", "2024-09-09T08:00:00.000Z", [],
          [F("st", 700 * KB, name="clear_vae_xl.safetensors", fp="fp16", base_version="sdxl")], [I(1)]),
    ], description="<p>A VAE with fewer colour shifts.</p>", stats=(1200, 60000, 20, 900, 0)),
    M(112, "Canny Control SD15", "Controlnet", "toolsmith", ["controlnet", "tool"], [
        V(1120, "v1.1", "SD 1.5", "2024-04-04T08:00:00.000Z", [],
          [F("st", 800 * KB, fp="fp16")], [I(1)]),
    ], description="<p>Canny edge ControlNet.</p>", stats=(1000, 45000, 15, 500, 0)),
    M(113, "UltraSharp 4x", "Upscaler", "toolsmith", ["upscaler", "tool"], [
        V(1130, "v1.0", "Upscaler", "2023-06-06T08:00:00.000Z", [],
          [F("ckpt", 200 * KB, fmt="PickleTensor", ext=".pth")], [I(1)]),
    ], description="<p>4x ESRGAN upscaler.</p>", stats=(4000, 200000, 90, 3000, 0)),
    M(114, "T5 XXL Encoder fp8", "TextEncoder", None, ["text encoder", "flux"], [
        V(1140, "fp8", "Flux.1 D", "2024-10-10T08:00:00.000Z", [],
          [F("st", 500 * KB, type="Text Encoder", fp="fp8", base_version="flux1")]),
    ], description="<p>T5 text encoder for Flux (system account).</p>", stats=(2000, 90000, 10, 800, 0)),
    M(115, "Action Poses Pack", "Poses", "nightowl", ["poses", "openpose"], [
        V(1150, "v1", "SD 1.5", "2024-07-07T08:00:00.000Z", [],
          [F("zip", 0, type="Archive", fmt="Other", entries={"pose_run.json": "{}", "pose_jump.json": "{}"})],
          [I(1)]),
    ], description="<p>OpenPose skeletons.</p>", stats=(150, 3000, 3, 20, 0)),
    M(116, "Fantasy Wildcards", "Wildcards", "nightowl", ["wildcards", "fantasy"], [
        V(1160, "v1", "Other", "2024-07-08T08:00:00.000Z", [],
          [F("zip", 0, type="Archive", fmt="Other",
             entries={"creatures.txt": "dragon\ngriffin\nphoenix\n", "places.txt": "castle\nforest\n"})]),
    ], description="<p>Wildcard lists for dynamic prompts.</p>", stats=(90, 2500, 2, 15, 0)),
    M(117, "Noise Offset Helper", "Other", "toolsmith", ["tool", "other"], [
        V(1170, "v1", "SD 1.5", "2024-01-01T08:00:00.000Z", [], [F("st", 48 * KB)], [I(1)]),
    ], description="<p>Miscellaneous helper weights.</p>", stats=(60, 900, 1, 5, 0)),
    M(118, "Old Paint Style", "LORA", "inkbrush", ["style", "painting"], [
        V(1180, "v1.0", "SD 1.5", "2023-05-05T08:00:00.000Z", ["oldpaint"],
          [F("lora", 100 * KB, name="old_paint.safetensors")], [I(1)]),
    ], description="<p>Archived by its creator.</p>", stats=(400, 20000, 10, 100, 0), mode="Archived"),
    M(119, "Generation Only Portrait", "LORA", "aquarelle", ["portrait", "style"], [
        V(1190, "v1.0", "SDXL 1.0", "2025-05-05T08:00:00.000Z", ["genportrait"],
          [F("lora", 300 * KB, name="gen_only_portrait.safetensors", base_version="sdxl")], [I(1)],
          usage="Generation"),
    ], description="<p>Usable on-site only: downloads disabled.</p>", stats=(350, 0, 4, 30, 0)),
    M(120, "Suspicious Merge", "Checkpoint", "nightowl", ["merge"], [
        V(1200, "v1", "SD 1.5", "2023-09-09T08:00:00.000Z", [],
          [F("ckpt", 256 * KB, fmt="PickleTensor", scan="Danger",
             pickle_msg="Dangerous import detected: os.system")], [I(1)]),
    ], description="<p>A file that failed the pickle scan.</p>", stats=(5, 100, 2, 0, 0),
       checkpoint_type="Merge"),
    M(121, "Character Trainer LORA", "LORA", "pixelfox", ["character", "anime"], [
        V(1210, "v1.0", "SD 1.5", "2024-12-12T08:00:00.000Z", ["kiri_character"],
          [F("lora", 500 * KB, name="kiri_character.safetensors", sshs="auto"),
           F("zip", 0, type="Training Data", fmt="Other",
             entries={"img/001.txt": "kiri_character, smiling", "img/002.txt": "kiri_character, running"})],
          [I(1, prompt="kiri_character, " + ANIME_PROMPT)]),
    ], description="<p>An anime character, with its training data.</p>", stats=(800, 12000, 20, 100, 0)),
    M(122, "Removed Likeness", "LORA", "nightowl", ["person"], [
        V(1220, "v1.0", "SD 1.5", "2023-10-10T08:00:00.000Z", ["likeness"],
          [F("lora", 100 * KB, name="removed_likeness.safetensors")], [I(1)]),
    ], description="<p>Taken down.</p>", stats=(50, 1000, 9, 3, 0), mode="TakenDown"),
    M(123, "Midnight Boudoir", "LORA", "nightowl", ["nsfw", "concept"], [
        V(1230, "v1.0", "Pony", "2025-07-07T08:00:00.000Z", ["midnight boudoir"],
          [F("lora", 350 * KB, name="midnight_boudoir.safetensors")], [I(8), I(16)], nsfw_level=24),
    ], description="<p>Mature content only.</p>", stats=(2200, 33000, 70, 600, 90), nsfw_level=28,
       nsfw=True),
    M(124, "Spicy Anime Mix", "Checkpoint", "pixelfox", ["anime", "base model"], [
        V(1240, "v1.0", "Illustrious", "2025-08-08T08:00:00.000Z", [],
          [F("st", 900 * KB, fp="fp16", size_kind="pruned")], [I(1), I(4), I(8)], nsfw_level=13),
    ], description="<p>Anime checkpoint, mostly SFW.</p>", stats=(3300, 70000, 150, 2000, 300),
       nsfw_level=31, nsfw=True, checkpoint_type="Merge"),
    M(125, "Pending Review LoRA", "LORA", "toolsmith", ["style"], [
        V(1250, "v0.1", "SD 1.5", "2026-10-10T08:00:00.000Z", ["pendingstyle"],
          [F("lora", 40 * KB, name="pending_review.safetensors")], nsfw_level=0),
    ], description="<p>Not rated yet: found only by hash.</p>", stats=(0, 10, 0, 0, 0), nsfw_level=0),
]

# Opt-in (``Catalog.add_batch_models()``, the emulator's --batch-models): a model whose versions each have
# several files, for "all files" / "all versions" batches. Kept out of MODELS so the demo listings stay put.
BATCH_MODELS = [
    M(126, "Pixel Art Kit", "LORA", "aquarelle", ["pixel art", "style"], [
        V(1261, "v2.0", "SDXL 1.0", "2025-08-20T08:00:00.000Z", ["pixelart"],
          [F("lora", 160 * KB, name="pixel_art_kit_v2.safetensors", fp="fp16", size_kind="pruned", primary=True,
             base_version="sdxl"),
           F("lora", 240 * KB, name="pixel_art_kit_v2_fp32.safetensors", fp="fp32", size_kind="full",
             base_version="sdxl"),
           F("zip", 0, type="Training Data", fmt="Other", entries={"img/001.txt": "pixelart, castle"})],
          [I(1, prompt="pixelart, castle on a hill")]),
        V(1260, "v1.0", "SDXL 1.0", "2025-02-10T08:00:00.000Z", ["pixelart"],
          [F("lora", 150 * KB, name="pixel_art_kit_v1.safetensors", fp="fp16", size_kind="pruned", primary=True,
             base_version="sdxl"),
           F("lora", 220 * KB, name="pixel_art_kit_v1_fp32.safetensors", fp="fp32", size_kind="full",
             base_version="sdxl")],
          [I(1, prompt="pixelart, forest")]),
    ], description="<p>Pixel art in two precisions; every version has several files.</p>",
       stats=(500, 9000, 12, 200, 0)),
]

TEST_USER = {"username": "tester", "favorites": [101, 107], "hidden": [124]}
