"""The offline model card of one library file, built only from local data.

Sources: the index entry (names, base model, trained words and the chosen groups, the stored
version JSON with its description), the ``.civitai.info`` beside the file (the model's own
description, which the by-hash version lacks), the example-image cache and the preview.
Descriptions are sanitised HTML (``html_text.sanitize_html``): Civitai text is hostile input.
"""

from __future__ import annotations

import os
from typing import Optional

from ..html_text import safe_url, sanitize_html, to_plain_text
from .bundle import bundle_of
from .images import cached_images
from .prefs import groups_of
from .preview import existing_preview
from .sidecar_read import base_of, read_json_file

DEFAULT_SITE = "https://civitai.com"


def _model_description(path: str) -> Optional[str]:
    info = read_json_file(base_of(path).with_name(base_of(path).name + ".civitai.info"))
    if isinstance(info, dict) and isinstance(info.get("model"), dict):
        text = info["model"].get("description")
        return text if isinstance(text, str) else None
    return None


def model_card(entry, home, *, site: str = DEFAULT_SITE) -> dict:
    """A JSON-safe card for ``entry`` (a LibraryEntry)."""
    raw = entry.version_json if isinstance(entry.version_json, dict) else {}
    description = _model_description(entry.path) or raw.get("description")
    site = (site or DEFAULT_SITE).rstrip("/")
    links = []
    if entry.model_id:
        url = f"{site}/models/{int(entry.model_id)}"
        if entry.version_id:
            url += f"?modelVersionId={int(entry.version_id)}"
        links.append({"label": "Civitai", "url": url})
    preview = existing_preview(entry.path)
    bundle = bundle_of(entry.path) if os.path.isfile(entry.path) else None
    return {
        "path": entry.path,
        "name": os.path.basename(entry.path),
        "status": entry.status,
        "linked_by_hand": entry.link_source == "hand",
        "model_id": entry.model_id,
        "version_id": entry.version_id,
        "model_name": entry.model_name,
        "version_name": entry.version_name,
        "model_type": entry.model_type,
        "base_model": entry.base_model,
        "trained_words": list(entry.trained_words or []),
        "groups": groups_of(entry),
        "preferred_weight": entry.preferred_weight,
        "description_html": sanitize_html(description) if description else "",
        "description_text": to_plain_text(description) if description else "",
        "images": [{"file": i["file"], "sha256": i.get("sha256"), "nsfw_level": i.get("nsfw_level"),
                    "width": i.get("width"), "height": i.get("height"),
                    "url": safe_url(i.get("url"), images=True)}
                   for i in cached_images(home, entry.version_id)],
        "preview": str(preview) if preview else None,
        "links": links,
        "sidecars": bundle.sidecar_names() if bundle else [],
    }
