"""The user's choices for one file: a link made by hand, trigger-word groups, a preferred weight.

* ``link_by_hand`` links a file Civitai does not know by hash to a version the user names; the
  index marks it ``link_source="hand"`` so no later lookup replaces it, and the sidecars are
  written from that version (``.civitai.info`` replaced, the A1111 ``.json`` merged).
* Each entry of a version's trained words is a *group* (``"red hair, blue eyes"`` is one). The
  chosen groups (``trigger_groups``, None = all) and the preferred LoRA weight are stored in the
  index and mirrored into the A1111 ``.json``: ``activation text`` = the chosen groups joined with
  ", ", ``preferred weight`` = the weight (HOSTS.md §2.6), every other key left as it was.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Optional

from ..hashing import SCAN_HASHES, hash_file
from .care import CareRefused
from .index import LibraryEntry
from .link import apply_version
from .sidecar_read import base_of
from .sidecars import SidecarResult, load_a1111_json, merge_a1111_json, save_a1111_json, write_civitai_info

MAX_WEIGHT = 10.0


class PrefsError(CareRefused):
    """A choice civkit cannot store (bad input or a file it does not know); message for people."""


def indexed_entry(index, path: str, *, hash_if_missing: bool = False) -> LibraryEntry:
    entry = index.get(path)
    if entry is not None:
        return entry
    if not hash_if_missing:
        raise PrefsError(f"{path} is not in the library index yet; run `civkit scan` on its folder first.", 404)
    st = os.stat(path)
    hashes = hash_file(path, SCAN_HASHES)
    entry = LibraryEntry.from_stat(path, st, sha256=hashes.sha256, autov1=hashes.autov1, autov2=hashes.autov2)
    return entry


def link_by_hand(index, path: str, version, *, forge: bool = False, write_sidecars: bool = True) -> tuple:
    """Link ``path`` to ``version`` (a ModelVersion); ``(entry, [SidecarResult])``."""
    entry = indexed_entry(index, path, hash_if_missing=True)
    apply_version(entry, version, time.time())
    entry.link_source = "hand"
    entry.trigger_groups = None
    index.upsert(entry)
    results = []
    if write_sidecars:
        results.append(write_civitai_info(path, version, force=True))
        results.append(merge_a1111_json(path, version, forge=forge))
    return entry, results


def clear_link(index, path: str) -> LibraryEntry:
    """Forget the link (by hand or by hash): the next scan asks Civitai about the file again."""
    entry = indexed_entry(index, path)
    entry.clear_link()
    entry.status, entry.checked_at, entry.error = "unknown", None, None
    index.upsert(entry)
    return entry


def groups_of(entry: LibraryEntry) -> list:
    """``[{"index": 1-based, "text", "on"}]`` for each trained-words group of the entry."""
    chosen = entry.trigger_groups
    return [{"index": i + 1, "text": text, "on": chosen is None or i in chosen}
            for i, text in enumerate(entry.trained_words or [])]


def chosen_words(entry: LibraryEntry) -> list:
    words = list(entry.trained_words or [])
    if entry.trigger_groups is None:
        return words
    return [w for i, w in enumerate(words) if i in entry.trigger_groups]


def parse_groups(text) -> list:
    """``"1,3"`` or ``[1, 3]`` (1-based, as listed) -> sorted 0-based indexes."""
    items = text if isinstance(text, (list, tuple)) else str(text or "").replace(" ", "").split(",")
    out = set()
    for item in items:
        if item in ("", None):
            continue
        try:
            number = int(item)
        except (TypeError, ValueError):
            raise PrefsError(f"Trigger-word groups are numbers as listed (1, 2, ...), not {item!r}.") from None
        if number < 1 or isinstance(item, bool):
            raise PrefsError(f"Trigger-word groups start at 1, not {number}.")
        out.add(number - 1)
    return sorted(out)


def check_weight(value) -> Optional[float]:
    if value is None or value == "":
        return None
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise PrefsError(f"The weight must be a number such as 0.8, not {value!r}.") from None
    if not math.isfinite(weight) or abs(weight) > MAX_WEIGHT:
        raise PrefsError(f"The weight must be between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}, not {value!r}.")
    return round(weight, 4)


def set_prefs(index, path: str, *, groups=None, all_groups: bool = False, weight=None,
              clear_weight: bool = False, write_json: bool = True) -> tuple:
    """Store the chosen groups and/or the weight; ``(entry, SidecarResult | None)``."""
    entry = indexed_entry(index, path)
    if groups is not None or all_groups:
        words = entry.trained_words or []
        if not words:
            raise PrefsError(f"{os.path.basename(path)} has no Civitai trained words to choose from "
                             "(link it first: civkit scan, or civkit link FILE REF).")
        if all_groups:
            entry.trigger_groups = None
        else:
            chosen = parse_groups(groups)
            bad = [i + 1 for i in chosen if i >= len(words)]
            if bad:
                raise PrefsError(f"No group {', '.join(map(str, bad))}: this file has {len(words)} "
                                 f"group{'s' if len(words) != 1 else ''} of trigger words.")
            entry.trigger_groups = chosen
    if clear_weight:
        entry.preferred_weight = None
    elif weight is not None:
        entry.preferred_weight = check_weight(weight)
    index.upsert(entry)
    result = mirror_a1111_json(path, entry) if write_json else None
    return entry, result


def mirror_a1111_json(path: str, entry: LibraryEntry) -> SidecarResult:
    """``activation text`` and ``preferred weight`` in ``<base>.json`` follow the entry; other keys stay."""
    target = Path(str(base_of(path)) + ".json")
    data, refused = load_a1111_json(target)
    if refused is not None:
        return refused
    merged = dict(data)
    if entry.trained_words:
        merged["activation text"] = ", ".join(chosen_words(entry))
    if entry.preferred_weight is not None:
        merged["preferred weight"] = entry.preferred_weight
    elif "preferred weight" in merged and entry.preferred_weight is None and merged.get("preferred weight") != 0:
        merged["preferred weight"] = 0  # 0 means "the host's default" in A1111
    return save_a1111_json(target, data, merged)
