"""ComfyUI workflows (UI format) and prompts (API format) to needs (HOSTS.md §1.11). Pure.

Models come from the core loader nodes' file widgets, civkit's own loaders (``civitai_ref``),
``embedding:name`` in any text widget, the workflow's ``models`` lists (top level,
``node.properties.models``, subgraph definitions) and, for unknown custom loaders, any widget value
that ends in a model file extension (kind ``other``).
"""

from __future__ import annotations

import re

from .needs import FOLDER_KIND, MODEL_EXTENSIONS, Need, as_id, clean_text, parse_weight

MAX_NODES = 5000
# class_type -> [(widget name, position in a UI node's widgets_values, kind, folder key)]
LOADERS = {
    "CheckpointLoaderSimple": [("ckpt_name", 0, "checkpoint", None)],
    "CheckpointLoader": [("ckpt_name", 1, "checkpoint", None)],
    "unCLIPCheckpointLoader": [("ckpt_name", 0, "checkpoint", None)],
    "ImageOnlyCheckpointLoader": [("ckpt_name", 0, "checkpoint", None)],
    "LoraLoader": [("lora_name", 0, "lora", None)],
    "LoraLoaderModelOnly": [("lora_name", 0, "lora", None)],
    "VAELoader": [("vae_name", 0, "vae", None)],
    "UNETLoader": [("unet_name", 0, "unet", None)],
    "CLIPLoader": [("clip_name", 0, "clip", None)],
    "DualCLIPLoader": [("clip_name1", 0, "clip", None), ("clip_name2", 1, "clip", None)],
    "TripleCLIPLoader": [("clip_name1", 0, "clip", None), ("clip_name2", 1, "clip", None),
                         ("clip_name3", 2, "clip", None)],
    "ControlNetLoader": [("control_net_name", 0, "controlnet", None)],
    "DiffControlNetLoader": [("control_net_name", 0, "controlnet", None)],
    "UpscaleModelLoader": [("model_name", 0, "upscaler", None)],
    "CLIPVisionLoader": [("clip_name", 0, "clip_vision", None)],
    "StyleModelLoader": [("style_model_name", 0, "other", "style_models")],
    "HypernetworkLoader": [("hypernetwork_name", 0, "other", "hypernetworks")],
    "CivkitCheckpointLoader": [("ckpt_name", 0, "checkpoint", None)],
    "CivkitLoraLoader": [("lora_name", 0, "lora", None)],
}
# weight widget (name, UI position) of LoRA-like loaders
WEIGHTS = {"LoraLoader": ("strength_model", 1), "LoraLoaderModelOnly": ("strength_model", 1),
           "CivkitLoraLoader": ("strength_model", 1), "HypernetworkLoader": ("strength", 1)}
# civkit's loaders: the civitai_ref widget's UI position
CIVITAI_REF = {"CivkitLoraLoader": 3, "CivkitCheckpointLoader": 1}
_EMBEDDING = re.compile(r"embedding:([^\s,()\[\]{}<>|:\"']+)", re.IGNORECASE)


class WorkflowError(ValueError):
    """The JSON is neither a ComfyUI workflow nor an API prompt."""


def is_api_prompt(data) -> bool:
    return isinstance(data, dict) and bool(data) and all(
        isinstance(v, dict) and "class_type" in v for v in data.values())


def is_workflow(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


def _model_file(value) -> bool:
    return isinstance(value, str) and value.strip().lower().endswith(MODEL_EXTENSIONS) and len(value) < 1024


def _value(widgets, name: str, position: int):
    if isinstance(widgets, dict):
        return widgets.get(name)
    if isinstance(widgets, list) and 0 <= position < len(widgets):
        return widgets[position]
    return None


def _node_needs(node_id, class_type: str, widgets, source: str, api: bool) -> list:
    """Needs of one node; ``widgets`` is the API ``inputs`` dict or the UI ``widgets_values``."""
    needs: list = []
    node_id = None if node_id is None else str(node_id)[:64]
    used = set()
    ref = None
    if class_type in CIVITAI_REF:
        ref = _value(widgets, "civitai_ref", CIVITAI_REF[class_type])
        ref = clean_text(ref) if isinstance(ref, str) else None
    for widget, position, kind, folder in LOADERS.get(class_type, ()):
        value = _value(widgets, widget, position)
        used.add(widget if api or isinstance(widgets, dict) else position)
        if not isinstance(value, str) or not value.strip():
            if not ref:
                continue
            value = ""
        weight = None
        if class_type in WEIGHTS:
            wname, wpos = WEIGHTS[class_type]
            weight = parse_weight(_value(widgets, wname, wpos))
        need = Need(kind, value, source, weight=weight, folder_key=folder, node_id=node_id, widget=widget)
        if ref and widget == LOADERS[class_type][0][0]:
            from ..refs import RefError, parse_ref

            try:
                parsed = parse_ref(ref)
            except RefError:
                parsed = None
            if parsed is not None:
                need.url = ref
                if parsed.bare:
                    need.model_id = parsed.model_id
                else:
                    need.model_id, need.version_id, need.file_id = parsed.model_id, parsed.version_id, parsed.file_id
        needs.append(need)
    items = widgets.items() if isinstance(widgets, dict) else enumerate(widgets if isinstance(widgets, list) else ())
    for key, value in items:
        if not isinstance(value, str):
            continue
        for m in _EMBEDDING.finditer(value[:200000]):
            needs.append(Need("embedding", m.group(1).rstrip(".,;"), source, node_id=node_id, widget=str(key)))
        if class_type not in LOADERS and key not in used and _model_file(value):
            needs.append(Need("other", value, source, node_id=node_id, widget=str(key)))
    return needs


def _models_list(models, source: str, node_id=None) -> list:
    out = []
    if not isinstance(models, list):
        return out
    for item in models[:500]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        directory = clean_text(item.get("directory") or "", 64)
        kind = FOLDER_KIND.get(directory, "other")
        need = Need(kind, item["name"], source, folder_key=directory or None,
                    node_id=None if node_id is None else str(node_id))
        url = item.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")) and len(url) < 2048:
            need.url = url
            _ids_from_url(need, url)
        hash_ = item.get("hash")
        if isinstance(hash_, str):
            htype = str(item.get("hash_type") or "").lower()
            need.add_hash(hash_, {"sha256": "SHA256", "blake3": "BLAKE3", "autov2": "AutoV2",
                                  "autov3": "AutoV3"}.get(htype))
        out.append(need)
    return out


_DOWNLOAD_URL = re.compile(r"/api/download/models/(\d+)(?:\?(?:.*&)?type=[^&]*)?")


def _ids_from_url(need: Need, url: str) -> None:
    m = _DOWNLOAD_URL.search(url)
    if m:
        need.version_id = as_id(m.group(1))
        fid = re.search(r"[?&]fileId=(\d+)", url)
        need.file_id = as_id(fid.group(1)) if fid else None
        return
    from ..refs import RefError, parse_ref

    try:
        ref = parse_ref(url)
    except RefError:
        return
    if not ref.bare:
        need.model_id, need.version_id = ref.model_id, ref.version_id


def needs_from_prompt(prompt: dict, source: str) -> list:
    """API format: ``{node_id: {"class_type", "inputs": {...}}}``."""
    needs = []
    for node_id, node in list(prompt.items())[:MAX_NODES]:
        if not isinstance(node, dict):
            continue
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        needs.extend(_node_needs(node_id, str(node.get("class_type") or ""), inputs, source, True))
    return needs


def needs_from_workflow(workflow: dict, source: str) -> list:
    """UI format: nodes with ``widgets_values``, ``models`` lists, subgraph definitions."""
    needs = []
    count = 0

    def walk(graph, depth=0):
        nonlocal count
        if not isinstance(graph, dict) or depth > 8:
            return
        for node in graph.get("nodes") or ():
            count += 1
            if count > MAX_NODES or not isinstance(node, dict):
                return
            class_type = str(node.get("type") or "")
            needs.extend(_node_needs(node.get("id"), class_type, node.get("widgets_values"), source, False))
            props = node.get("properties")
            if isinstance(props, dict):
                needs.extend(_models_list(props.get("models"), source, node.get("id")))
        needs.extend(_models_list(graph.get("models"), source))
        definitions = graph.get("definitions")
        if isinstance(definitions, dict):
            for sub in (definitions.get("subgraphs") or ())[:100]:
                walk(sub, depth + 1)

    if not isinstance(workflow.get("nodes"), list):
        raise WorkflowError("this JSON is not a ComfyUI workflow (no nodes)")
    walk(workflow)
    return needs
