"""The emulator's catalog: Civitai model JSON plus the real files behind it.

``build_demo_catalog(files_dir)`` writes small real files (safetensors with kohya metadata, a PickleTensor
.ckpt/.pth, zips, a yaml) into ``files_dir`` and computes every hash from their bytes with
``civkit.hashing.hash_file``. Rebuilding in the same folder reuses the files and cached hashes.

Demo catalog (model id / version ids [file ids]; ids are stable, tests may refer to them):

  101 Anime Lineart Style  LORA SD 1.5, creator inkbrush, tags anime/style/lineart, trained words.
      1011 v2.0 (newest, 2.3 MiB file -> has AutoV1) [10110]; 1010 v1.0 (older) [10100];
      1012 Draft (never served). Favorite of the test user.
  102 Anime Eyes Detailer  LORA Illustrious, nsfwLevel 9, one image level 8; wrong sshs_model_hash [10200]
  103 Pony Anime Shading   LORA Pony; 1030 requires login (401 without a key) [10300]
  104 Flux Watercolor      LORA Flux.1 D; 1040 in early access (403, deadline 30 days ahead) [10400]
  105 Detail Tweaker LoCon LoCon SD 1.5; 1050 file has overrideName [10500]
  106 Cinematic Light DoRA DoRA SDXL 1.0; downloadCount and tippedAmountCount null [10600]
  107 Dreamforge XL        Checkpoint SDXL 1.0 (Trained); 1070: primary fp16 pruned [10700],
      fp32 full [10701], VAE file [10702], Config yaml [10703]. Favorite of the test user.
  108 Retro Dream          Checkpoint SD 1.5 (Merge), PickleTensor-only .ckpt [10800]; commercial use "Rent"
  109 Sparkle Girl Embedding TextualInversion; 1090 Model [10900] + Negative [10901] (sparklegirl[-neg])
  110 EasyNegative Plus    TextualInversion negative embedding [11000] (easynegplus-neg.safetensors)
  111 Clear VAE XL         VAE SDXL 1.0 [11100]
  112 Canny Control SD15   Controlnet [11200]
  113 UltraSharp 4x        Upscaler (.pth PickleTensor) [11300]
  114 T5 XXL Encoder fp8   TextEncoder Flux.1 D, system account (no creator) [11400]
  115 Action Poses Pack    Poses (zip) [11500]
  116 Fantasy Wildcards    Wildcards (zip), base Other, no images [11600]
  117 Noise Offset Helper  Other [11700]
  118 Old Paint Style      LORA, mode Archived (410, files []) [11800 on disk only]
  119 Generation Only Portrait LORA SDXL; 1190 usageControl Generation (downloads disabled) [11900]
  120 Suspicious Merge     Checkpoint; pickleScanResult Danger [12000]
  121 Character Trainer LORA LORA anime; Model [12100] + Training Data zip [12101]
  122 Removed Likeness     LORA, mode TakenDown (images [], download 404) [12200]
  123 Midnight Boudoir     LORA Pony, nsfw, nsfwLevel 28 (no PG bit: hidden from /models without nsfw=true)
  124 Spicy Anime Mix      Checkpoint Illustrious, nsfwLevel 31, images 1/4/8. Hidden by the test user.
  125 Pending Review LoRA  LORA, nsfwLevel 0: /model-versions/1250 is 404, by-hash finds it [12500]
Images 7901..7904: generation metadata naming catalog models, see ``demo_images.py``.
Opt-in with ``catalog.add_batch_models()`` (kept out of the demo listings):
  126 Pixel Art Kit        LORA SDXL 1.0, creator aquarelle; several versions with several files each:
      1261 v2.0 (newest): fp16 pruned primary [12610], fp32 full [12611], Training Data zip [12612];
      1260 v1.0: fp16 pruned primary [12600], fp32 full [12601]
Creators: inkbrush, pixelfox, aquarelle, forgemaster, nightowl, toolsmith. Test key user: "tester".
Filler models (``extra_models=N``): ids 200001.., versions 300001.., files 400001.. (one shared file).
``add_file_model``/``add_large_file_model`` allocate ids from 500001 (model), 600001 (version), 700001 (file).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from ..hashing import hash_file
from . import demo_data as D
from . import files as F
from .shapes_util import air_for, served_name

HASH_CACHE = "hashes.json"
GEN_VERSION = 1


class Catalog:
    """Models as raw JSON (keys starting with ``_`` are emulator-only) and file id -> path on disk."""

    def __init__(self, files_dir: Path):
        self.files_dir = Path(files_dir)
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.models: list[dict] = []
        self.files: dict[int, Path] = {}
        self.users: dict[str, dict] = {}
        self.images: dict[int, dict] = {}
        self.test_user = dict(D.TEST_USER)
        self._lock = threading.RLock()
        self._hash_index: dict[str, list] | None = None
        self._next = {"model": 500001, "version": 600001, "file": 700001, "image": 800001}
        self._hash_cache = self._load_hash_cache()

    # ----- lookups -----
    def model(self, model_id: int) -> dict | None:
        return next((m for m in self.models if m["id"] == model_id), None)

    def find_version(self, version_id: int):
        for m in self.models:
            for v in m["modelVersions"]:
                if v["id"] == version_id:
                    return m, v
        return None, None

    def find_file(self, file_id: int):
        for m in self.models:
            for v in m["modelVersions"]:
                for f in v["files"]:
                    if f["id"] == file_id:
                        return m, v, f
        return None, None, None

    def by_hash(self, value: str) -> list:
        """(model, version, file) for every file with ``value`` as one of its six hashes, oldest first."""
        with self._lock:
            if self._hash_index is None:
                index: dict[str, list] = {}
                for m in self.models:
                    for v in m["modelVersions"]:
                        for f in v["files"]:
                            for h in f["hashes"].values():
                                if h:
                                    index.setdefault(h.upper(), []).append((m, v, f))
                for hits in index.values():
                    hits.sort(key=lambda t: (t[1].get("publishedAt") or "", t[1]["id"]))
                self._hash_index = index
            return list(self._hash_index.get(value.upper(), ()))

    # ----- building -----
    def add_model(self, model: dict, files: dict[int, Path] | None = None) -> dict:
        """Add a ready model record (the shape built by ``_build_model``) and its files."""
        with self._lock:
            self.models.append(model)
            self.files.update(files or {})
            self._hash_index = None
        return model

    def allocate(self, kind: str) -> int:
        with self._lock:
            value = self._next[kind]
            self._next[kind] += 1
            return value

    def hashes_for(self, path: Path) -> dict:
        """The six Civitai hashes of a file, computed once per (name, size, mtime) and cached on disk."""
        st = path.stat()
        key = str(path.resolve())
        cached = self._hash_cache.get(key)
        if cached and cached["size"] == st.st_size and cached["mtime_ns"] == st.st_mtime_ns:
            return cached["hashes"]
        hashes = {k: v for k, v in hash_file(path).as_civitai().items() if v}
        with self._lock:
            self._hash_cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "hashes": hashes}
            self._save_hash_cache()
        return hashes

    def add_file_model(self, path, *, name: str | None = None, model_type: str = "LORA",
                       base_model: str = "SD 1.5", trained_words=(), creator: str | None = "toolsmith",
                       tags=("test",), file_type: str = "Model", file_name: str | None = None,
                       nsfw_level: int = 1, published: str = "2025-09-09T09:00:00.000Z",
                       model_id: int | None = None, version_id: int | None = None,
                       file_id: int | None = None, **version_flags) -> dict:
        """Publish a file already on disk as a new one-version model; returns the model JSON.

        ``version_flags`` are the demo spec flags: requires_login, early_access_days, usage, status, ...
        """
        path = Path(path)
        mid = model_id or self.allocate("model")
        vid = version_id or self.allocate("version")
        fid = file_id or self.allocate("file")
        fmt = "SafeTensor" if path.suffix == ".safetensors" else "PickleTensor" if path.suffix in (
            ".ckpt", ".pt", ".pth", ".bin") else "Other"
        fspec = D.F("given", path.stat().st_size, name=file_name or path.name, type=file_type, fmt=fmt,
                    path=path, file_id=fid)
        vspec = D.V(vid, "v1.0", base_model, published, trained_words, [fspec], [D.I(1)], **version_flags)
        mspec = D.M(mid, name or path.stem, model_type, creator, list(tags), [vspec], nsfw_level=nsfw_level)
        model, files = _build_model(self, mspec)
        return self.add_model(model, files)

    def add_large_file_model(self, size: int, *, seed: str = "large", name: str | None = None, **kw) -> dict:
        """A model whose file is a ``size``-byte safetensors (written once per size/seed, then reused)."""
        path = self.files_dir / f"large-{seed}-{size}.safetensors"
        if not path.exists() or path.stat().st_size != size:
            F.write_large_safetensors(path, size, seed)
        return self.add_file_model(path, name=name or f"Large Model {size}", model_type="Checkpoint",
                                   base_model="SDXL 1.0", **kw)

    def add_filler_models(self, n: int) -> None:
        """``n`` lightweight models (ids 200001..) sharing one small file, for paging tests."""
        path = self.files_dir / "filler.safetensors"
        F.write_if_changed(path, F.safetensors_bytes({"ss_output_name": "filler"}, 4096, "filler"))
        bases = ["SD 1.5", "SDXL 1.0", "Pony", "Illustrious", "Flux.1 D"]
        types = ["LORA", "Checkpoint", "TextualInversion", "LoCon"]
        for i in range(n):
            vid, fid = 300001 + i, 400001 + i
            fspec = D.F("given", 4096 + 0, name=f"filler_{i + 1}.safetensors", path=path, file_id=fid)
            day = 1 + i % 28
            vspec = D.V(vid, "v1.0", bases[i % len(bases)], f"2022-{1 + i % 12:02d}-{day:02d}T00:00:00.000Z",
                        [f"filler{i + 1}"], [fspec], [])
            mspec = D.M(200001 + i, f"Filler Model {i + 1}", types[i % len(types)], "nightowl", ["filler"],
                        [vspec], description=None, stats=(i % 97, 10000 - i, i % 13, i % 7, 0))
            model, files = _build_model(self, mspec, images=False)
            with self._lock:
                self.models.append(model)
                self.files.update(files)
        with self._lock:
            self._hash_index = None

    def add_batch_models(self) -> list:
        """Publish ``demo_data.BATCH_MODELS`` (model 126: two versions with several files each) once."""
        added = []
        for spec in D.BATCH_MODELS:
            if self.model(spec["id"]) is None:
                model, files = _build_model(self, spec)
                added.append(self.add_model(model, files))
        return added

    def mark(self) -> tuple:
        """A restore point: ``restore(mark)`` drops every model, file and image added since."""
        with self._lock:
            return len(self.models), set(self.files), set(self.images), dict(self._next)

    def restore(self, mark: tuple) -> None:
        count, files, images, next_ids = mark
        with self._lock:
            del self.models[count:]
            for fid in set(self.files) - files:
                del self.files[fid]
            for iid in set(self.images) - images:
                del self.images[iid]
            self._next = dict(next_ids)
            self._hash_index = None

    def to_json(self) -> dict:
        return {"models": self.models, "files": {str(k): str(v) for k, v in self.files.items()}}

    def _load_hash_cache(self) -> dict:
        try:
            data = json.loads((self.files_dir / HASH_CACHE).read_text())
            return data["files"] if data.get("version") == GEN_VERSION else {}
        except (OSError, ValueError, KeyError):
            return {}

    def _save_hash_cache(self) -> None:
        tmp = self.files_dir / f"{HASH_CACHE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"version": GEN_VERSION, "files": self._hash_cache}))
        tmp.replace(self.files_dir / HASH_CACHE)


def build_demo_catalog(files_dir, extra_models: int = 0) -> Catalog:
    catalog = Catalog(Path(files_dir))
    for username, info in D.USERS.items():
        catalog.users[username] = {"username": username, "joined": info["joined"],
                                   "image": f"/images/avatar-{username}.png" if info["image"] else None}
    catalog._next["image"] = 7001
    for spec in D.MODELS:
        model, files = _build_model(catalog, spec)
        catalog.add_model(model, files)
    from .demo_images import add_demo_images

    add_demo_images(catalog)  # images whose metadata names catalog models (ids 7901..7904)
    catalog._next["image"] = 800001
    if extra_models:
        catalog.add_filler_models(extra_models)
    return catalog


def build_bulk_catalog(files_dir, n: int = 1200) -> Catalog:
    return build_demo_catalog(files_dir, extra_models=n)


# ----- spec -> JSON -----

_ARCH = {"flux1": ("flux1", "flux-1-dev"), "sdxl": ("sdxl_base_v1-0", "stable-diffusion-xl-v1-base"),
         "sd1": ("sd_v1", "stable-diffusion-v1")}


def _file_bytes(spec: dict, model: dict, version: dict, seed: str) -> bytes:
    kind, size = spec["kind"], spec["size"]
    if kind in ("lora", "st", "emb"):
        base_version = spec.get("base_version", "sd1")
        ss_base, arch = _ARCH[base_version]
        if kind == "emb":
            meta = None
        else:
            words = version["trainedWords"] or [model["name"].lower().replace(" ", "_")]
            freq = {f"10_{words[0].replace(' ', '_')}": {w: 40 - i for i, w in enumerate(words + ["1girl", "solo"])}}
            meta = {
                "ss_output_name": Path(spec.get("name", model["name"])).stem,
                "ss_tag_frequency": json.dumps(freq), "ss_base_model_version": ss_base,
                "ss_sd_model_name": {"sd1": "v1-5-pruned-emaonly.safetensors", "sdxl": "sd_xl_base_1.0.safetensors",
                                     "flux1": "flux1-dev.safetensors"}[base_version],
                "modelspec.architecture": f"{arch}/{'lora' if kind == 'lora' else 'checkpoint'}",
                "modelspec.title": model["name"], "modelspec.sai_model_spec": "1.0.0",
            }
            if kind == "lora":
                meta.update({"ss_network_module": "networks.lora", "ss_network_dim": "16",
                             "ss_network_alpha": "8", "ss_num_train_images": "40"})
            if spec.get("sshs") == "auto":
                meta["sshs_model_hash"] = "auto"
                meta["modelspec.hash_sha256"] = "auto"
            elif spec.get("sshs") == "wrong":
                meta["sshs_model_hash"] = "0" * 16 + "deadbeef" * 6
        header_guess = 600 if meta else 200
        return F.safetensors_bytes(meta, max(64, size - header_guess), seed,
                                   "F32" if spec.get("fp") == "fp32" else "F16")
    if kind == "ckpt":
        return F.pickle_checkpoint_bytes(seed, size)
    if kind == "zip":
        return F.zip_bytes(spec["entries"])
    if kind == "yaml":
        return (f"# {model['name']} {version['name']} inference config\nmodel:\n  target: sgm.models."
                "diffusion.DiffusionEngine\n  params:\n    scale_factor: 0.13025\n").encode()
    raise ValueError(f"unknown file kind {kind}")


def _build_model(catalog: Catalog, spec: dict, images: bool = True) -> tuple[dict, dict[int, Path]]:
    from .builders import build_model_json

    return build_model_json(catalog, spec, _file_bytes, images)


__all__ = ["Catalog", "build_demo_catalog", "build_bulk_catalog", "air_for", "served_name"]
