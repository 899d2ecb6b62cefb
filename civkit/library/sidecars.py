"""Write the sidecars hosts read: ``<base>.civitai.info`` and the A1111 ``<base>.json``.

Both are merged, never clobbered (HOSTS.md §2.6, §4.1):

* ``.civitai.info`` — the version JSON in the enriched Civitai Helper layout, plus
  ``extensions.civkit{version, updated}``. Other ``extensions.*`` blocks and ``images[].local_file``
  survive. A file describing a *different* version is left alone and reported (``conflict``).
* ``<base>.json`` — ``activation text``, ``sd version``, ``description`` and (for a checkpoint
  whose VAE from the same version is on disk) ``vae`` are filled only where the user has no value; ``preferred weight`` and every key civkit does not own stay as they were.

Writes are atomic (temp file in the same folder, then ``os.replace``), UTF-8, indent 4.
Reading sidecars lives in ``sidecar_read.py``.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from .. import __version__
from ..atomic import existing_mode, write_atomic
from ..html_text import to_plain_text
from .sidecar_read import (
    base_of,
    is_not_found_marker,
    read_json_file,
    read_sidecar_facts,
    read_sidecar_hashes,
)

log = logging.getLogger(__name__)

__all__ = [
    "SidecarResult", "write_civitai_info", "merge_a1111_json", "sd_version_for", "html_to_text",
    "atomic_write_json", "read_sidecar_hashes", "read_sidecar_facts", "base_of",
]

DEFAULT_SITE = "https://civitai.com"


@dataclass
class SidecarResult:
    path: Path
    status: str          # "written" | "unchanged" | "conflict" | "error"
    message: str = ""


def atomic_write_json(path: Path, data) -> None:
    """Write JSON (UTF-8, indent 4) to a temp file beside ``path``, then rename it into place."""
    text = json.dumps(data, indent=4, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"), mode=existing_mode(path))


def html_to_text(html: Optional[str]) -> str:
    """Civitai descriptions are HTML; the A1111 card wants plain text."""
    return to_plain_text(html)


# -- A1111 "sd version" ---------------------------------------------------------------------------
_SDXL_FAMILY = ("sdxl", "pony", "illustrious", "noobai")


def sd_version_for(base_model: Optional[str], forge: bool = False) -> str:
    """Civitai baseModel -> the A1111 ``sd version`` value (HOSTS.md §2.6)."""
    name = (base_model or "").strip().lower()
    if name.startswith("sd 1"):
        return "SD1"
    if name.startswith("sd 2"):
        return "SD2"
    if name == "pony v7":  # an AuraFlow model despite the name
        return "Unknown"
    if name.startswith(_SDXL_FAMILY):
        return "SDXL"
    if name.startswith("flux"):
        return "Flux" if forge else "Unknown"
    return "Unknown"


# -- helpers over a ModelVersion record or a raw dict -------------------------------------------------
def _raw(version) -> dict:
    if isinstance(version, dict):
        return version
    raw = getattr(version, "raw", None)
    return raw if isinstance(raw, dict) else {}


def _attr(version, name, raw_key=None, default=None):
    if isinstance(version, dict):
        return version.get(raw_key or name, default)
    value = getattr(version, name, None)
    return default if value is None else value


def _trained_words(version) -> list:
    words = _attr(version, "trained_words", "trainedWords") or []
    return [w.strip() for w in words if isinstance(w, str) and w.strip()]


def _enriched_info(version, model=None, site: str = DEFAULT_SITE) -> dict:
    data = copy.deepcopy(_raw(version))
    vid = _attr(version, "id")
    data.setdefault("id", vid)
    if data.get("modelId") is None and _attr(version, "model_id", "modelId") is not None:
        data["modelId"] = _attr(version, "model_id", "modelId")
    # Civitai quirk (CIVITAI_API.md §11.5): bulk by-hash may send https://undefined/... download URLs.
    url = data.get("downloadUrl")
    if vid is not None and (not isinstance(url, str) or "//undefined" in url):
        data["downloadUrl"] = f"{site}/api/download/models/{vid}"
    for f in data.get("files") or []:
        if isinstance(f, dict) and isinstance(f.get("downloadUrl"), str) and "//undefined" in f["downloadUrl"]:
            f["downloadUrl"] = f"{site}/api/download/models/{vid}?fileId={f.get('id')}"
    info_model = data.get("model") if isinstance(data.get("model"), dict) else {}
    for key, attr in (("name", "model_name"), ("type", "model_type"), ("nsfw", "model_nsfw")):
        if info_model.get(key) is None and not isinstance(version, dict):
            value = getattr(version, attr, None)
            if value is not None:
                info_model[key] = value
    if model is not None:  # the enriched helper's extra model fields, from GET /models/{id}
        mraw = _raw(model)
        info_model.setdefault("description", mraw.get("description"))
        info_model.setdefault("tags", mraw.get("tags") or [])
        for key in ("allowNoCredit", "allowCommercialUse", "allowDerivatives", "allowDifferentLicense", "poi"):
            if key in mraw:
                info_model.setdefault(key, mraw[key])
        if isinstance(mraw.get("creator"), dict):
            data.setdefault("creator", mraw["creator"])
    data["model"] = info_model
    data.pop("extensions", None)
    return data


def _comparable(data: dict) -> dict:
    data = copy.deepcopy(data)
    civ = (data.get("extensions") or {}).get("civkit")
    if isinstance(civ, dict):
        civ.pop("updated", None)
    return data


def write_civitai_info(model_path, version, *, model=None, force: bool = False,
                       site: str = DEFAULT_SITE) -> SidecarResult:
    """Write or merge ``<base>.civitai.info`` for ``version`` (a ModelVersion or its raw dict)."""
    path = Path(str(base_of(model_path)) + ".civitai.info")
    new = _enriched_info(version, model, site)
    existing = None
    if path.exists():
        existing = read_json_file(path)
        if existing is None:
            return SidecarResult(path, "error", f"{path.name} is not valid JSON; left as it is")
        if not isinstance(existing, dict):
            return SidecarResult(path, "error", f"{path.name} does not hold a JSON object; left as it is")
    if existing and not is_not_found_marker(existing) and not force:
        if str(existing.get("id")) != str(new.get("id")):
            return SidecarResult(
                path, "conflict",
                f"{path.name} describes version {existing.get('id')}, but this file is version "
                f"{new.get('id')}; left as it is (delete it to let civkit write the right one)",
            )
    extensions = {}
    if isinstance(existing, dict) and isinstance(existing.get("extensions"), dict):
        extensions = {k: v for k, v in existing["extensions"].items() if k != "civkit"}
        # keep where the user's tools saved each image (matched by URL)
        local = {
            img.get("url"): img.get("local_file")
            for img in existing.get("images") or []
            if isinstance(img, dict) and img.get("local_file")
        }
        for img in new.get("images") or []:
            if isinstance(img, dict) and img.get("url") in local:
                img.setdefault("local_file", local[img["url"]])
    extensions["civkit"] = {
        "version": __version__,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    new["extensions"] = extensions
    if isinstance(existing, dict) and _comparable(existing) == _comparable(new):
        return SidecarResult(path, "unchanged")
    return _write(path, new)


def _write(path: Path, data: dict) -> SidecarResult:
    """Write a sidecar atomically; a failure is the result's message, never an exception."""
    try:
        atomic_write_json(path, data)
    except OSError as exc:
        return SidecarResult(path, "error", f"cannot write {path}: {exc.strerror or exc}")
    return SidecarResult(path, "written")


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def load_a1111_json(path: Path) -> tuple[dict, Optional[SidecarResult]]:
    """The A1111 ``<base>.json`` as a dict ({} when there is none), or the result that refuses to
    touch it: a file that is not a JSON object is the user's and stays as it is."""
    if not path.exists():
        return {}, None
    loaded = read_json_file(path)
    if not isinstance(loaded, dict):
        return {}, SidecarResult(path, "error", f"{path.name} is not a valid JSON object; left as it is")
    return loaded, None


def save_a1111_json(path: Path, loaded: dict, merged: dict) -> SidecarResult:
    """Write ``merged`` to the A1111 ``.json`` at ``path`` (atomically) unless it equals what was ``loaded``."""
    if merged == loaded and path.exists():
        return SidecarResult(path, "unchanged")
    return _write(path, merged)


def merge_a1111_json(model_path, version, forge: bool = False, *,
                     description: Optional[str] = None, vae: Optional[str] = None) -> SidecarResult:
    """Fill ``activation text``, ``sd version``, ``description`` and ``vae`` in ``<base>.json`` where empty.

    ``vae`` is the file name of the checkpoint's VAE as the WebUI lists it (its base name, e.g.
    ``x.vae.safetensors``); a user's choice (any non-empty value, "Automatic" and "None" too) stays.
    """
    path = Path(str(base_of(model_path)) + ".json")
    data, refused = load_a1111_json(path)
    if refused is not None:
        return refused
    merged = dict(data)
    words = _trained_words(version)
    if words and _blank(merged.get("activation text")):
        merged["activation text"] = ", ".join(words)
    if _blank(merged.get("sd version")):
        merged["sd version"] = sd_version_for(_attr(version, "base_model", "baseModel"), forge)
    text = html_to_text(description if description is not None else _attr(version, "description"))
    if text and _blank(merged.get("description")):
        merged["description"] = text
    if vae and _blank(merged.get("vae")):
        merged["vae"] = str(vae)
    return save_a1111_json(path, data, merged)
