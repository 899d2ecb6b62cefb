"""A1111 / Forge generation parameters, and Civitai's image ``meta`` (CIVITAI_API.md §4.11), to needs.

``parse_parameters(text)`` splits the infotext into prompt, negative prompt and the settings line
the way the WebUI does; ``needs_from_parameters`` / ``needs_from_meta`` turn either shape into
``Need`` records. Pure: no files, no network. Embeddings are only words in a prompt, so they are
found by matching words against ``known_embeddings`` (local embedding names) and against the names
that ``TI hashes`` / ``Hashes`` / ``resources`` give.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .needs import TYPE_KIND, Need, as_id, clean_text, hash_kind, parse_weight, stem

MAX_PARAMETERS = 1024 * 1024
# The WebUI's own pattern for "Key: value, Key: "quoted, value", ..." (infotext_utils.re_param)
_PARAM = re.compile(r'\s*([\w ]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_EXTRA_NET = re.compile(r"<(lora|lyco|hypernet):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>", re.IGNORECASE)
_WORD = re.compile(r"[^\s,()\[\]{}<>|:]+")


@dataclass
class Parameters:
    prompt: str = ""
    negative_prompt: str = ""
    settings: dict = field(default_factory=dict)
    text: str = ""  # the infotext as written, when the source was one


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1]
    return value


def parse_parameters(text: str) -> Parameters:
    """Split an infotext like ``modules.infotext_utils.parse_generation_parameters`` does."""
    text = (text or "")[:MAX_PARAMETERS].strip()
    lines = text.split("\n")
    last = lines[-1] if lines else ""
    last, json_values = _take_json_values(last)
    found = _PARAM.findall(last) + json_values
    if len(found) < 3 and not re.match(r"^\s*Steps:", last):
        found = []
    else:
        lines = lines[:-1]
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].lstrip()
        (negative if in_negative else prompt).append(line)
    settings = {}
    for key, value in found:
        settings[key.strip()] = _unquote(value)
    return Parameters("\n".join(prompt).strip(), "\n".join(negative).strip(), settings, text)


_JSON_START = re.compile(r"(?:^|,)\s*([\w ]+):\s*(?=[{\[])")


def _take_json_values(line: str) -> tuple[str, list]:
    """Extensions append unquoted JSON (``Hashes: {...}``, ``Civitai resources: [...]``), whose commas
    the WebUI's pattern would split: take those values out first."""
    values = []
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        m = _JSON_START.search(line, pos)
        if not m:
            return line, values
        try:
            _, end = decoder.raw_decode(line, m.end())
        except ValueError:
            pos = m.end()
            continue
        values.append((m.group(1), line[m.end():end]))
        line = line[:m.start()] + line[end:]
        pos = m.start()


def _pairs(text: str) -> list:
    """``"a: h1, b: h2"`` -> [("a", "h1"), ("b", "h2")] (names may hold colons; the hash is last)."""
    out = []
    for part in str(text or "").split(","):
        name, sep, value = part.rpartition(":")
        if sep and name.strip() and value.strip():
            out.append((name.strip(), value.strip()))
    return out


def _json_value(value):
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, str) and len(value) < MAX_PARAMETERS:
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def prompt_needs(prompt: str, negative: str, source: str) -> list:
    """``<lora:name:w>``, ``<lyco:...>`` and ``<hypernet:...>`` tags in either prompt."""
    needs = []
    for text in (prompt, negative):
        for m in _EXTRA_NET.finditer(text or ""):
            tag, name, weight = m.group(1).lower(), m.group(2).strip(), m.group(3)
            kind = "other" if tag == "hypernet" else "lora"
            needs.append(Need(kind, name, source, weight=parse_weight(weight),
                              folder_key="hypernetworks" if tag == "hypernet" else None))
    return needs


def embedding_needs(prompt: str, negative: str, names, source: str) -> list:
    """Embedding names (``names``: casefolded stems -> name) that appear as words in the prompts."""
    if not names:
        return []
    found, out = set(), []
    for text in (prompt, negative):
        for word in _WORD.findall(_EXTRA_NET.sub(" ", text or "")):
            key = stem(word)
            if key in names and key not in found:
                found.add(key)
                out.append(Need("embedding", names[key], source))
    return out


def needs_from_settings(settings: dict, source: str) -> tuple[list, dict]:
    """Needs from the settings line's keys (or the same keys in Civitai's meta); also returns
    embedding names -> Need for the ones hashes named (to be matched in the prompts)."""
    needs: list = []
    embeds: dict = {}
    model, model_hash = settings.get("Model"), settings.get("Model hash")
    if model or model_hash:
        need = Need("checkpoint", clean_text(model or ""), source)
        need.add_hash(model_hash, "AutoV1" if len(str(model_hash or "").strip()) == 8 else None)
        needs.append(need)
    vae, vae_hash = settings.get("VAE"), settings.get("VAE hash")
    if vae or vae_hash:
        need = Need("vae", clean_text(vae or ""), source)
        need.add_hash(vae_hash)
        needs.append(need)
    for name, value in _pairs(settings.get("Lora hashes")):
        need = Need("lora", name, source)
        need.add_hash(value, "AutoV3" if len(value) == 12 else None)
        needs.append(need)
    for name, value in _pairs(settings.get("TI hashes")):
        need = Need("embedding", name, source)
        _embedding_hash(need, value)
        needs.append(need)
        embeds[stem(name)] = need
    hashes = _json_value(settings.get("Hashes") or settings.get("hashes"))
    if isinstance(hashes, dict):
        for key, value in list(hashes.items())[:200]:
            if not isinstance(value, str):
                continue
            kind_name, _, name = str(key).partition(":")
            kind_name = kind_name.lower()
            if kind_name == "model" and not name:
                need = Need("checkpoint", clean_text(model or ""), source)
            elif kind_name == "vae" and not name:
                need = Need("vae", clean_text(vae or ""), source)
            elif kind_name in ("lora", "lyco") and name:
                need = Need("lora", name, source)
            elif kind_name in ("embed", "embedding", "ti") and name:
                need = Need("embedding", name, source)
                embeds[stem(name)] = need
                _embedding_hash(need, value)
                needs.append(need)
                continue
            else:
                continue
            need.add_hash(value)
            needs.append(need)
    for key in ("Civitai resources", "civitaiResources"):
        resources = _json_value(settings.get(key))
        if isinstance(resources, list):
            needs.extend(_civitai_resources(resources, source))
    resources = _json_value(settings.get("resources"))
    if isinstance(resources, list):
        for item in resources[:200]:
            if not isinstance(item, dict):
                continue
            kind = TYPE_KIND.get(str(item.get("type") or "").lower(), "other")
            need = Need(kind, clean_text(item.get("name") or ""), source, weight=parse_weight(item.get("weight")))
            need.add_hash(item.get("hash") if isinstance(item.get("hash"), str) else None)
            if need.name or need.hashes:
                needs.append(need)
                if kind == "embedding" and need.name:
                    embeds[stem(need.name)] = need
    return needs, embeds


def _embedding_hash(need: Need, value: str) -> None:
    """An embedding's short hash is the start of its SHA256 (A1111 writes 12 hex): its first 10 hex
    are the AutoV2 that by-hash matches exactly."""
    value = str(value or "").strip()
    if len(value) in (10, 12):
        need.add_hash(value[:10], "AutoV2")
    else:
        need.add_hash(value)


def _civitai_resources(items: list, source: str) -> list:
    out = []
    for item in items[:200]:
        if not isinstance(item, dict):
            continue
        kind = TYPE_KIND.get(str(item.get("type") or "").lower().replace(" ", ""), "other")
        name = item.get("modelName") or item.get("name") or ""  # a version name alone names no file
        need = Need(kind, clean_text(name), source, weight=parse_weight(item.get("weight")),
                    version_id=as_id(item.get("modelVersionId")), model_id=as_id(item.get("modelId")))
        if need.version_id or need.model_id:
            out.append(need)
    return out


def needs_from_parameters(text: str, source: str, known_embeddings=None) -> tuple[list, Parameters]:
    """Needs of an A1111 infotext; ``known_embeddings``: local embedding names (file stems)."""
    params = parse_parameters(text)
    return _needs(params, source, known_embeddings), params


def _needs(params: Parameters, source: str, known_embeddings) -> list:
    loras = prompt_needs(params.prompt, params.negative_prompt, source)
    from_settings, embeds = needs_from_settings(params.settings, source)
    names = {stem(n): n for n in (known_embeddings or ())}
    names.update({k: v.name for k, v in embeds.items()})
    in_prompt = embedding_needs(params.prompt, params.negative_prompt, names, source)
    return loras + from_settings + in_prompt


def needs_from_meta(meta: dict, source: str, known_embeddings=None) -> tuple[list, Parameters]:
    """Needs of a Civitai image ``meta`` (A1111 keys as JSON plus ``hashes`` / ``resources`` /
    ``civitaiResources``); the legacy ``{id, meta}`` wrapper is unwrapped. ComfyUI workflows in
    ``comfy`` are read by the caller (``sources.needs_from_meta_any``)."""
    if isinstance(meta.get("meta"), dict) and set(meta) <= {"id", "meta"}:
        meta = meta["meta"]
    settings = {k: v for k, v in meta.items() if isinstance(k, str)}
    params = Parameters(str(meta.get("prompt") or "")[:MAX_PARAMETERS],
                        str(meta.get("negativePrompt") or "")[:MAX_PARAMETERS], settings)
    return _needs(params, source, known_embeddings), params


def to_infotext(params: Parameters) -> str:
    """Back to the WebUI's infotext, for "Send to txt2img" (the host's own paste reads it)."""
    if params.text:
        return params.text
    lines = [params.prompt] if params.prompt else []
    if params.negative_prompt:
        lines.append(f"Negative prompt: {params.negative_prompt}")
    pairs = []
    rename = {"steps": "Steps", "sampler": "Sampler", "cfgScale": "CFG scale", "seed": "Seed"}
    for key, value in params.settings.items():
        if key in ("prompt", "negativePrompt", "hashes", "resources", "civitaiResources", "comfy") or \
                isinstance(value, (dict, list)) or value is None:
            continue
        key = rename.get(key, key)
        text = str(value)
        if any(c in text for c in ',\n:"'):  # as the WebUI quotes (infotext_utils.quote)
            text = json.dumps(text)
        pairs.append(f"{key}: {text}")
    if pairs:
        lines.append(", ".join(pairs))
    return "\n".join(lines)


__all__ = ["Parameters", "parse_parameters", "needs_from_parameters", "needs_from_meta", "to_infotext",
           "hash_kind"]
