"""Trigger words: find them for a model file, and put them into a prompt.

Where the words come from, best first:
1. Civitai's trained words — from the library index, from a valid sidecar (civitai.info, cm-info,
   LoRA Manager, rgthree), or by asking Civitai with the file's SHA256;
2. the kohya training metadata in the safetensors header: ``modelspec.trigger_phrase``, dataset
   folder names without their ``N_`` repeat prefix (``10_mychar`` -> ``mychar``), then the most
   frequent tags of ``ss_tag_frequency``.

``insert_triggers`` is pure: it adds only words the prompt lacks (case-insensitive, compared as
whole comma-separated items, weights and ``<lora:…>`` tags ignored) and leaves the rest of the
prompt exactly as the user typed it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from typing import Optional

log = logging.getLogger(__name__)

_REPEAT_PREFIX = re.compile(r"^(\d+)_(.+)$")
_ANGLE_TAG = re.compile(r"<[^<>]*>")
_WEIGHT = re.compile(r":\s*-?\d+(?:\.\d*)?\s*$")


# -- finding words -------------------------------------------------------------------------------
def _json_field(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply (a hostile file)
            return None
    return value


def _dataset_names(folders: Iterable[str]) -> list:
    names = []
    for folder in folders:
        m = _REPEAT_PREFIX.match(str(folder).strip())
        # Only kohya's "<repeats>_<instance prompt>" folders name a concept; "img" or "train" do not.
        if m and m.group(2).strip():
            names.append(m.group(2).strip())
    return names


def words_from_metadata(metadata: dict, limit: int = 10) -> list:
    """Trigger-word guesses from a safetensors ``__metadata__`` dict (kohya / modelspec keys)."""
    if not isinstance(metadata, dict):
        return []
    words: list = []
    phrase = metadata.get("modelspec.trigger_phrase")
    if isinstance(phrase, str) and phrase.strip():
        words.extend(w.strip() for w in phrase.split(",") if w.strip())
    freq = _json_field(metadata.get("ss_tag_frequency"))
    dirs = _json_field(metadata.get("ss_dataset_dirs"))
    folders = list(freq) if isinstance(freq, dict) else []
    if isinstance(dirs, dict):
        folders += [d for d in dirs if d not in folders]
    words.extend(_dataset_names(folders))
    if isinstance(freq, dict):
        counts: dict = {}
        first_seen: dict = {}
        for tags in freq.values():
            if not isinstance(tags, dict):
                continue
            for tag, count in tags.items():
                tag = str(tag).strip()
                if not tag:
                    continue
                try:
                    n = int(count)
                except (TypeError, ValueError):
                    n = 0
                counts[tag] = counts.get(tag, 0) + n
                first_seen.setdefault(tag, len(first_seen))
        ranked = sorted(counts, key=lambda t: (-counts[t], first_seen[t]))
        words.extend(ranked)
    return _dedupe(words)[: max(0, limit)]


def _dedupe(words: Iterable[str]) -> list:
    seen, out = set(), []
    for w in words:
        key = _item_key(w)
        if key and key not in seen:
            seen.add(key)
            out.append(w.strip())
    return out


def _words_from_index(path: str, index) -> Optional[list]:
    if index is None:
        return None
    entry = index.get(path)
    if entry is not None and entry.status == "linked":
        words = list(entry.trained_words or [])
        chosen = getattr(entry, "trigger_groups", None)  # the groups the user switched on (civkit triggers --only)
        return words if chosen is None else [w for i, w in enumerate(words) if i in chosen]
    return None


def _words_from_civitai(path: str, client, sidecar_sha: Optional[str]) -> Optional[list]:
    if client is None:
        return None
    from .api.errors import CivitaiError, NotFound
    from .hashing import hash_file

    try:
        sha = sidecar_sha or hash_file(path, ("SHA256",)).sha256
        version = client.get_version_by_hash(sha)
    except NotFound:
        return None
    except (CivitaiError, OSError) as exc:  # offline or unreadable: fall back to the header
        log.info("trigger words for %s: Civitai not asked (%s)", path, getattr(exc, "message", exc))
        return None
    return list(version.trained_words or [])


def _words_from_header(path: str, limit: int) -> list:
    if not path.lower().endswith((".safetensors", ".sft")):
        return []
    from .safetensors_header import HeaderError, read_header

    try:
        header = read_header(path)
    except (HeaderError, OSError) as exc:
        log.info("trigger words for %s: header unreadable (%s)", path, exc)
        return []
    return words_from_metadata(header.metadata, limit)


def trigger_words_for(path, index=None, client=None, *, limit: int = 10) -> list:
    """The trigger words of a model file; [] when nothing is known."""
    real = os.path.realpath(path)
    words = _words_from_index(real, index)
    if words or (words is not None and index.get(real).trigger_groups is not None):
        return words  # every group switched off is a choice, not a reason to guess
    from .library.sidecar_read import read_sidecar_facts

    try:
        facts = read_sidecar_facts(real)
    except OSError:
        facts = None
    if facts is not None and facts.trained_words:
        return _dedupe(facts.trained_words)
    if words is None:  # not linked in the index: ask Civitai
        sha = facts.hashes.get("SHA256") if facts is not None else None
        civitai = _words_from_civitai(real, client, sha)
        if civitai:
            return _dedupe(civitai)
    return _words_from_header(real, limit)


# -- putting words into a prompt -----------------------------------------------------------------
def _item_key(item: str) -> str:
    """How a prompt item is compared: no <lora:…> tags, no (…:1.2) weight, no brackets, lower-case."""
    text = _ANGLE_TAG.sub(" ", item).strip()
    for _ in range(4):  # peel nested emphasis such as ((word)) or [(word:1.1)]
        if len(text) >= 2 and text[0] + text[-1] in ("()", "[]", "{}"):
            text = text[1:-1].strip()
            text = _WEIGHT.sub("", text).strip()
        else:
            break
    return " ".join(text.lower().split())


def insert_triggers(prompt: str, words: list, position: str = "append") -> str:
    """Add the trigger words the prompt lacks, at its start or end; the rest stays untouched."""
    if position not in ("append", "prepend"):
        raise ValueError('position must be "append" or "prepend"')
    prompt = prompt or ""
    present = {_item_key(p) for p in prompt.split(",")}
    present.discard("")
    missing: list = []
    for word in words or ():
        if not isinstance(word, str):
            continue
        # Civitai trained words are sometimes whole lists ("mychar, blue hair"): compare per item.
        for item in word.split(","):
            item = item.strip()
            key = _item_key(item)
            if key and key not in present:
                present.add(key)
                missing.append(item)
    if not missing:
        return prompt
    addition = ", ".join(missing)
    if position == "prepend":
        lead = prompt[: len(prompt) - len(prompt.lstrip())]
        rest = prompt[len(lead):]
        return f"{lead}{addition}, {rest}" if rest else f"{lead}{addition}"
    core = prompt.rstrip()
    tail = prompt[len(core):]
    if not core:
        return f"{addition}{tail}"
    if core.endswith(","):
        return f"{core} {addition}{tail}"
    return f"{core}, {addition}{tail}"
