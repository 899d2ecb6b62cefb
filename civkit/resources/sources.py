"""From a source (image file, workflow JSON, Civitai image link, pasted text) to its needs.

``read_source`` is the one entry point the CLI, the ComfyUI route and the gradio panel use. Only
a Civitai image link touches the network (one ``GET /images?imageId=N``, through the client).
Bad input raises ``SourceError`` with a sentence for people ("no generation data in x.png").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from . import a1111, comfy
from .imagemeta import NotAnImage, read_image_text
from .needs import dedupe

MAX_JSON = 64 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
IMAGE_HOSTS = ("civitai.com", "civitai.red", "civitai.green")
_IMAGE_PATH = re.compile(r"^/images/(\d{1,12})/?$")


class SourceError(ValueError):
    """A source civkit cannot read; ``.message`` says why, for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class SourceResult:
    source: str
    kind: str                                  # "a1111" | "comfyui" | "civitai-image"
    needs: list = field(default_factory=list)
    parameters: Optional[a1111.Parameters] = None   # for "Send to txt2img"
    workflow: Optional[dict] = None
    prompt: Optional[dict] = None
    notes: list = field(default_factory=list)  # skipped chunks etc.

    @property
    def infotext(self) -> str:
        return a1111.to_infotext(self.parameters) if self.parameters else ""


def image_id_from_link(text: str, extra_hosts=()) -> Optional[int]:
    """``https://civitai.com/images/123`` (also .red/.green, ``www.``, the configured site) -> 123."""
    text = (text or "").strip()
    if not re.match(r"^https?://", text, re.IGNORECASE):
        if re.match(r"^(www\.)?civitai\.(com|red|green)/images/", text, re.IGNORECASE):
            text = "https://" + text
        else:
            return None
    parts = urlsplit(text)
    host = (parts.netloc or "").lower()
    host = host[4:] if host.startswith("www.") else host
    if host not in IMAGE_HOSTS and host not in {h.lower() for h in extra_hosts}:
        return None
    m = _IMAGE_PATH.match(parts.path)
    return int(m.group(1)) if m else None


def _loads(text: str, label: str):
    if len(text) > MAX_JSON:
        raise SourceError(f"{label} is too large to be a workflow ({len(text) // 2**20} MB).")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SourceError(f"{label} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None


def from_comfy(label: str, workflow=None, prompt=None) -> SourceResult:
    needs = []
    if isinstance(workflow, dict) and comfy.is_workflow(workflow):
        needs += comfy.needs_from_workflow(workflow, label)
    else:
        workflow = None
    if isinstance(prompt, dict) and comfy.is_api_prompt(prompt):
        needs += comfy.needs_from_prompt(prompt, label)
    else:
        prompt = None
    if workflow is None and prompt is None:
        raise SourceError(f"{label} is not a ComfyUI workflow or API prompt (no nodes).")
    return SourceResult(label, "comfyui", dedupe(needs), workflow=workflow, prompt=prompt)


def from_json(data, label: str) -> SourceResult:
    """A parsed workflow file: UI format, API format, or ``{"workflow": ..., "prompt": ...}``."""
    if comfy.is_workflow(data):
        return from_comfy(label, workflow=data)
    if comfy.is_api_prompt(data):
        return from_comfy(label, prompt=data)
    if isinstance(data, dict) and ("workflow" in data or "prompt" in data):
        wf, pr = data.get("workflow"), data.get("prompt")
        if isinstance(wf, dict) or isinstance(pr, dict):
            return from_comfy(label, workflow=wf, prompt=pr)
    raise SourceError(f"{label} is not a ComfyUI workflow or API prompt (no nodes).")


def from_text(text: str, label: str, known_embeddings=None) -> SourceResult:
    """Pasted text: a JSON workflow, or an A1111 parameters block."""
    stripped = (text or "").strip()
    if not stripped:
        raise SourceError(f"no generation data in {label} (it is empty).")
    if stripped[0] in "{[":
        return from_json(_loads(stripped, label), label)
    needs, params = a1111.needs_from_parameters(stripped, label, known_embeddings)
    if not params.settings and not needs:
        raise SourceError(f"no generation data in {label}: expected an A1111 parameters block "
                          "(prompt, 'Negative prompt: ...', 'Steps: ..., Model hash: ...').")
    return SourceResult(label, "a1111", dedupe(needs), parameters=params)


def from_meta(meta, label: str, known_embeddings=None) -> SourceResult:
    """A Civitai image ``meta`` (flat or legacy ``{id, meta}``), ComfyUI workflow included."""
    if isinstance(meta, dict) and isinstance(meta.get("meta"), dict) and set(meta) <= {"id", "meta"}:
        meta = meta["meta"]
    if not isinstance(meta, dict) or not meta:
        raise SourceError(f"no generation data in {label}: Civitai has no metadata for this image.")
    needs, params = a1111.needs_from_meta(meta, label, known_embeddings)
    result = SourceResult(label, "civitai-image", parameters=params)
    raw = meta.get("comfy")
    comfy_data = raw if isinstance(raw, dict) else None
    if isinstance(raw, str) and len(raw) < MAX_JSON:
        try:
            comfy_data = json.loads(raw)
        except ValueError:
            result.notes.append("the image's ComfyUI workflow is not valid JSON")
    if isinstance(comfy_data, dict):
        try:
            sub = from_comfy(label, workflow=comfy_data.get("workflow"), prompt=comfy_data.get("prompt"))
            needs = sub.needs + needs
            result.workflow, result.prompt = sub.workflow, sub.prompt
        except SourceError:
            result.notes.append("the image's ComfyUI workflow has no nodes")
    result.needs = dedupe(needs)
    if not result.needs and not params.prompt:
        raise SourceError(f"no generation data in {label}: its metadata names no model.")
    return result


def from_image(data_or_stream, label: str, known_embeddings=None) -> SourceResult:
    try:
        found = read_image_text(data_or_stream)
    except NotAnImage:
        raise SourceError(f"{label} is not a PNG, JPEG or WebP image.") from None
    texts = found.texts
    result = None
    wf = pr = None
    for key, target in (("workflow", "wf"), ("prompt", "pr")):
        if key in texts:
            try:
                value = json.loads(texts[key])
            except ValueError:
                found.skipped.append(f"{key} text is not valid JSON")
                continue
            if target == "wf":
                wf = value
            else:
                pr = value
    if wf is not None or pr is not None:
        try:
            result = from_comfy(label, workflow=wf, prompt=pr)
        except SourceError:
            found.skipped.append("the ComfyUI data has no nodes")
    params_text = texts.get("parameters") or texts.get("UserComment") or texts.get("ImageDescription") \
        or texts.get("comment")
    if params_text:
        stripped = params_text.strip()
        if stripped.startswith("{") and result is None:
            try:
                result = from_json(json.loads(stripped), label)
            except (ValueError, SourceError):
                pass
        elif not stripped.startswith("{"):
            needs, params = a1111.needs_from_parameters(stripped, label, known_embeddings)
            if params.settings or needs:
                if result is None:
                    result = SourceResult(label, "a1111", dedupe(needs), parameters=params)
                else:
                    result.needs = dedupe(result.needs + needs)
                    result.parameters = params
    if result is None:
        why = f" ({'; '.join(found.skipped[:3])})" if found.skipped else ""
        raise SourceError(f"no generation data in {label}{why}.")
    result.notes.extend(found.skipped)
    return result


def from_civitai_image(client, image_id: int, label: str, known_embeddings=None) -> SourceResult:
    """``GET /images?imageId=N&withMeta=true`` at every content level (§4.7, §4.11)."""
    page = client.images_page(imageId=int(image_id), withMeta=True, browsingLevel=31, limit=1)
    image = next((i for i in page.items if i.id == int(image_id)), None) or (page.items[0] if page.items else None)
    if image is None:
        raise SourceError(f"Civitai has no image {image_id} (deleted, private, or not yet public).")
    return from_meta(image.meta, label, known_embeddings)


def read_source(source: str, *, client=None, stdin=None, known_embeddings=None, extra_hosts=()) -> SourceResult:
    """A CLI-style source: ``-`` (stdin text), a Civitai image link, an image or a ``.json`` file."""
    if source == "-":
        text = (stdin.read(MAX_JSON + 1) if stdin is not None else "")
        return from_text(text, "stdin", known_embeddings)
    image_id = image_id_from_link(source, extra_hosts)
    if image_id is not None:
        if client is None:
            raise SourceError("a Civitai image link needs a connection to Civitai")
        return from_civitai_image(client, image_id, source, known_embeddings)
    if re.match(r"^https?://", source, re.IGNORECASE):
        raise SourceError(f"{source} is not a Civitai image link (expected https://civitai.com/images/N).")
    path = Path(source).expanduser()
    if not path.is_file():
        raise SourceError(f"{source}: no such file (give an image, a workflow .json, a Civitai image link, "
                          "or - to read parameters from stdin).")
    suffix = path.suffix.lower()
    try:
        if suffix in IMAGE_SUFFIXES:
            with path.open("rb") as fh:
                return from_image(fh, path.name, known_embeddings)
        if path.stat().st_size > MAX_JSON:
            raise SourceError(f"{path.name} is too large to be a workflow.")
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{source}: {exc.strerror or exc}") from None
    if raw[:16] and (raw.startswith(b"\x89PNG") or raw.startswith(b"\xff\xd8") or raw[:4] == b"RIFF"):
        return from_image(raw, path.name, known_embeddings)
    text = raw.decode("utf-8-sig", "replace")
    if suffix == ".json":
        return from_json(_loads(text, path.name), path.name)
    return from_text(text, path.name, known_embeddings)
