"""Read what other tools already know about a model file, from the sidecars next to it.

Before hashing a multi-GB file, civkit looks for a hash that is already known and still valid
(HOSTS.md §4): ``<base>.civitai.info`` (Civitai Helper), ``<base>.cm-info.json`` and the look-alike
``<base>.cminfo.json`` (Stability Matrix / Civicomfy), ``<base>.metadata.json`` (LoRA Manager),
``<file>.rgthree-info.json`` (rgthree) and ``<base>.sha256`` — in that order of trust.

A sidecar is believed only when its size or mtime show that it belongs to this very file: a
matching byte size in the sidecar, or (for sidecars that record no size) a sidecar not older than
the model file. A replaced model file is newer than its old sidecars, so they stop counting; and
because ``cp -p`` or ``rsync -a`` can give a replacement an *older* mtime, a sidecar that records
no size must also be newer than the model file's ctime (which no copy can set back).

Sidecars are other programs' files, or anyone's: every field is type-checked, numbers may be
absurd, JSON may be nested a hundred thousand deep. A sidecar that cannot be understood is
ignored; reading never raises for one (``read_sidecar_facts``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..api.normalise import scrub_text

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_HASHLIKE = re.compile(r"^[0-9a-fA-F]{8,64}$")  # CRC32 (8) .. SHA256/BLAKE3 (64)
# FAT/exFAT keep mtimes to 2 s; a sidecar written right after the model may look a little older.
MTIME_SLACK_NS = 2_000_000_000
MAX_SIDECAR_BYTES = 32 * 1024 * 1024


def base_of(model_path) -> Path:
    """The model path without its extension: ``/m/foo.safetensors`` -> ``/m/foo``."""
    p = Path(model_path)
    return p.with_name(p.stem) if p.suffix else p


def sidecar_paths(model_path) -> dict:
    """Every sidecar name civkit reads, by kind."""
    p = Path(model_path)
    base = str(base_of(p))
    return {
        "civitai_info": Path(base + ".civitai.info"),
        "cm_info": Path(base + ".cm-info.json"),
        "cminfo": Path(base + ".cminfo.json"),
        "lora_manager": Path(base + ".metadata.json"),
        "rgthree": Path(str(p) + ".rgthree-info.json"),
        "sha256": Path(base + ".sha256"),
        "a1111": Path(base + ".json"),
    }


@dataclass
class SidecarFacts:
    """What the sidecars of one file say. ``hashes`` use Civitai's spelling (``SHA256``, ``AutoV3`` ...)."""

    hashes: dict = field(default_factory=dict)
    source: Optional[str] = None          # which sidecar the SHA256 came from
    not_found_since: Optional[float] = None  # a `{}`/skeleton civitai.info: not on Civitai as of then
    version: Optional[dict] = None        # raw Civitai version JSON, when a sidecar holds one
    trained_words: list = field(default_factory=list)


def read_json_file(path: Path) -> Optional[object]:
    """Parsed JSON, or None if missing, too big, unreadable or not JSON (never raises)."""
    try:
        st = path.stat()
        if st.st_size > MAX_SIDECAR_BYTES:
            log.info("ignoring %s: %d bytes is too big for a sidecar", path, st.st_size)
            return None
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
        log.info("ignoring unreadable sidecar %s: %s", path, type(exc).__name__ if isinstance(exc, RecursionError)
                 else exc)
        return None


def _sidecar_mtime_ok(path: Path, st: os.stat_result) -> Optional[float]:
    """The sidecar's mtime (seconds) if it was written after the model file took its present form,
    else None: not older than the model's mtime, nor than its ctime (a ``cp -p`` copy over the model
    keeps an old mtime, but its ctime is the time of the copy)."""
    try:
        side = path.stat()
    except OSError:
        return None
    # The ctime is compared strictly: a copy made within the mtime slack would hide behind it. On
    # FAT32 (2 s mtimes) a sidecar may then look older than it is: the file is hashed, nothing worse.
    if side.st_mtime_ns + MTIME_SLACK_NS >= st.st_mtime_ns and side.st_mtime_ns >= st.st_ctime_ns:
        return side.st_mtime
    return None


def _sha(value) -> Optional[str]:
    if isinstance(value, str) and _HEX64.match(value.strip()):
        return value.strip().upper()
    return None


def _size_kb_matches(size_kb, size: int) -> bool:
    # sizeKB is bytes/1024 as a float; allow for writers that rounded it to two decimals.
    if isinstance(size_kb, bool) or not isinstance(size_kb, (int, float)):
        return False
    try:
        return abs(float(size_kb) * 1024 - size) <= 11
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of hundreds of digits
        return False


def _words(value) -> list:
    words = []
    if not isinstance(value, list):
        return words
    for w in value:
        if isinstance(w, dict):
            w = w.get("word")
        if isinstance(w, str) and w.strip():
            words.append(scrub_text(w.strip()))
    return words


def is_not_found_marker(data) -> bool:
    """`{}` (Civitai Helper after a 404) or an enriched-helper skeleton: "not on Civitai"."""
    if not isinstance(data, dict):
        return False
    if not data:
        return True
    ext = data.get("extensions")
    helper = ext.get("sd_civitai_helper") if isinstance(ext, dict) else None
    if isinstance(helper, dict) and helper.get("skeleton_file"):
        return True
    return data.get("id") in ("", None) and not data.get("modelId")


def matching_file(version: dict, model_name: str, size: int) -> Optional[dict]:
    """The entry of ``version['files']`` that is this file: same size, the same name preferred."""
    if not isinstance(version, dict) or not isinstance(version.get("files"), list):
        return None
    files = [f for f in version["files"] if isinstance(f, dict)]
    sized = [f for f in files if _size_kb_matches(f.get("sizeKB"), size)]
    for f in sized:
        if f.get("name") == model_name:
            return f
    return sized[0] if sized else None


def _from_civitai_info(path: Path, model: Path, st, facts: SidecarFacts) -> None:
    data = read_json_file(path)
    if not isinstance(data, dict):
        return
    if is_not_found_marker(data):
        checked = _sidecar_mtime_ok(path, st)
        if checked is not None:
            facts.not_found_since = checked
    f = matching_file(data, model.name, st.st_size)
    if f is None:
        return
    hashes = f.get("hashes") if isinstance(f.get("hashes"), dict) else {}
    sha = _sha(hashes.get("SHA256"))
    if not sha:
        return
    facts.hashes = {k: v.upper() for k, v in hashes.items() if isinstance(v, str) and _HASHLIKE.match(v)}
    facts.hashes["SHA256"] = sha
    facts.source = "civitai.info"
    if not is_not_found_marker(data):
        facts.version = {k: v for k, v in data.items() if k != "extensions"}
        facts.trained_words = _words(data.get("trainedWords"))


def _from_cm_info(path: Path, st, facts: SidecarFacts, label: str) -> bool:
    data = read_json_file(path)
    if not isinstance(data, dict) or _sidecar_mtime_ok(path, st) is None:
        return False
    hashes = data.get("Hashes") if isinstance(data.get("Hashes"), dict) else {}
    sha = _sha(hashes.get("SHA256"))
    if not sha:
        return False
    facts.hashes = {"SHA256": sha}
    for key in ("AutoV1", "AutoV2", "AutoV3", "CRC32", "BLAKE3"):
        if isinstance(hashes.get(key), str) and _HASHLIKE.match(hashes[key]):
            facts.hashes[key] = hashes[key].upper()
    facts.source = label
    facts.trained_words = _words(data.get("TrainedWords"))
    return True


def _from_lora_manager(path: Path, st, facts: SidecarFacts) -> bool:
    data = read_json_file(path)
    if not isinstance(data, dict):
        return False
    # sha256 is empty/partial until hashing finished; trust it only when completed and sized right.
    if data.get("hash_status") != "completed" or data.get("size") != st.st_size:
        return False
    sha = _sha(data.get("sha256"))
    if not sha:
        return False
    facts.hashes = {"SHA256": sha}
    v3 = data.get("autov3")
    if isinstance(v3, str) and re.match(r"^[0-9a-fA-F]{12}$", v3):
        facts.hashes["AutoV3"] = v3.upper()
    facts.source = ".metadata.json"
    civ = data.get("civitai")
    if isinstance(civ, dict) and civ.get("id"):
        facts.version = civ  # type-checked when parsed (api.records), like any Civitai JSON
        facts.trained_words = _words(civ.get("trainedWords"))
    return True


def _from_rgthree(path: Path, model: Path, st, facts: SidecarFacts) -> bool:
    data = read_json_file(path)
    if not isinstance(data, dict):
        return False
    sha = _sha(data.get("sha256"))
    if not sha:
        return False
    raw = data.get("raw") if isinstance(data.get("raw"), dict) else {}
    civ = raw.get("civitai") if isinstance(raw.get("civitai"), dict) else None
    sized = civ is not None and matching_file(civ, model.name, st.st_size) is not None
    if not sized and _sidecar_mtime_ok(path, st) is None:
        return False
    facts.hashes = {"SHA256": sha}
    facts.source = ".rgthree-info.json"
    if civ and civ.get("id"):
        facts.version = civ
    facts.trained_words = _words(data.get("trainedWords"))
    return True


def _from_sha256_file(path: Path, st, facts: SidecarFacts) -> bool:
    if _sidecar_mtime_ok(path, st) is None:
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(4096)
    except OSError:
        return False
    sha = _sha((text.split() or [""])[0])
    if not sha:
        return False
    facts.hashes = {"SHA256": sha}
    facts.source = ".sha256"
    return True


def read_sidecar_facts(model_path, st: Optional[os.stat_result] = None) -> SidecarFacts:
    """Everything the sidecars of ``model_path`` validly say about it (never raises for bad sidecars)."""
    model = Path(model_path)
    if st is None:
        st = os.stat(model)
    paths = sidecar_paths(model)
    facts = SidecarFacts()
    _guarded(model, "civitai.info", lambda: _from_civitai_info(paths["civitai_info"], model, st, facts), facts)
    if facts.hashes.get("SHA256"):
        return facts
    readers = (
        (".cm-info.json", lambda: _from_cm_info(paths["cm_info"], st, facts, ".cm-info.json")),
        (".cminfo.json", lambda: _from_cm_info(paths["cminfo"], st, facts, ".cminfo.json")),
        (".metadata.json", lambda: _from_lora_manager(paths["lora_manager"], st, facts)),
        (".rgthree-info.json", lambda: _from_rgthree(paths["rgthree"], model, st, facts)),
        (".sha256", lambda: _from_sha256_file(paths["sha256"], st, facts)),
    )
    for label, read in readers:
        if _guarded(model, label, read, facts):
            log.debug("%s: SHA256 taken from %s", model, facts.source)
            break
    return facts


def _guarded(model: Path, label: str, read, facts: SidecarFacts) -> bool:
    """Run one sidecar reader; a sidecar it cannot make sense of is ignored, whatever the failure."""
    try:
        return bool(read())
    except Exception as exc:  # a hostile sidecar must never stop a scan (issue 13 item 1)
        log.info("ignoring the %s sidecar of %s: %s", label, model, type(exc).__name__)
        facts.hashes, facts.source, facts.version, facts.trained_words = {}, None, None, []
        return False


def read_sidecar_hashes(model_path, st: Optional[os.stat_result] = None) -> dict:
    """Hashes (Civitai spelling) that sidecars validly record for this very file; {} if none."""
    return dict(read_sidecar_facts(model_path, st).hashes)
