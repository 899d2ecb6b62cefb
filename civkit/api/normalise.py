"""Tolerant converters and normalisers for Civitai's drifting shapes (CIVITAI_API.md §11).

Used only by ``records.py`` (the one parser); re-exported there under the contract's names.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Optional


def __getattr__(name: str):
    """``filename_from_disposition``: one Content-Disposition parser serves storage headers and signed
    URLs alike (``download/names.py``). Loaded on first use: importing the download package here
    would make every user of these converters (the library index: ``scrub_text``) import requests."""
    if name == "filename_from_disposition":
        from ..download.names import filename_from_disposition

        return filename_from_disposition
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

HASH_KEYS = ("AutoV1", "AutoV2", "AutoV3", "SHA256", "CRC32", "BLAKE3")
_HASH_KEY_BY_LOWER = {k.lower(): k for k in HASH_KEYS}
# §11.4: /images sends the level as a word; booleans come from 2022-23 payloads.
_NSFW_WORDS = {"none": 1, "soft": 2, "mature": 4, "x": 8, "xxx": 16, "blocked": 32}
DEFAULT_DOWNLOAD_BASE = "https://civitai.com"


# Integers a SQLite INTEGER column (and every id Civitai hands out) can hold.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


# -- small tolerant converters ---------------------------------------------------------------------

def scrub_text(text: str) -> str:
    """``text`` without lone UTF-16 surrogates (each becomes U+FFFD).

    JSON may spell ``"\\ud800"`` alone; Python then holds a str that cannot be encoded as UTF-8, so
    writing it to the index, a sidecar or a terminal fails (issue 13 item 3). Cheap for ASCII.
    """
    if text.isascii():
        return text
    return _SURROGATE_RE.sub("\ufffd", text)


def scrub_json(value: Any, _depth: int = 0) -> Any:
    """``value`` (parsed JSON) with ``scrub_text`` applied to every string, keys included."""
    if isinstance(value, str):
        return scrub_text(value)
    if _depth > 200:  # parsed JSON is never this deep in practice; leave the rest as it is
        return value
    if isinstance(value, dict):
        return {scrub_text(k) if isinstance(k, str) else k: scrub_json(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v, _depth + 1) for v in value]
    return value


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_int(value: Any, default: Optional[int] = None) -> Optional[int]:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value.strip()) <= 20:
        number = int(value.strip())
    else:
        return default
    # an id of 2**70 is no id: it could not be stored or sent back (issue 13 item 3)
    return number if INT_MIN <= number <= INT_MAX else default


def as_float(value: Any, default: Optional[float] = None) -> Optional[float]:
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def as_str(value: Any) -> Optional[str]:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = scrub_text(value) if isinstance(value, str) else str(value)
    return text if text != "" else None


def as_bool(value: Any, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    if isinstance(value, (int, float)):
        return bool(value)
    return default


def as_strings(value: Any) -> tuple[str, ...]:
    return tuple(s for s in (as_str(v) for v in as_list(value)) if s)


def parse_time(value: Any) -> Optional[datetime]:
    """An ISO timestamp (``2025-01-08T06:28:54.155Z``) as an aware datetime, or None."""
    text = as_str(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# -- normalisers -----------------------------------------------------------------------------------

def normalise_commercial_use(value: Any) -> frozenset:
    """§11.1: a single string, a JSON array, or a Postgres array literal ``"{Image,Rent}"``."""
    if isinstance(value, list):
        return frozenset(s for s in (as_str(v) for v in value) if s)
    text = as_str(value)
    if not text:
        return frozenset()
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        parts = (p.strip().strip('"').strip() for p in text[1:-1].split(","))
        return frozenset(p for p in parts if p)
    return frozenset([text])


def normalise_nsfw_level(value: Any, nsfw_bool: Optional[bool] = None) -> int:
    """§3/§11.4: the browsing-level bitmask as an int (0 = not rated)."""
    number = as_int(value)
    if number is not None:
        return number
    if isinstance(value, str) and value.strip().lower() in _NSFW_WORDS:
        return _NSFW_WORDS[value.strip().lower()]
    if isinstance(value, bool):
        nsfw_bool = value
    if nsfw_bool is not None:
        return 4 if nsfw_bool else 1
    return 0


def normalise_hashes(value: Any) -> dict[str, str]:
    """Hash names spelled as Civitai spells them, values upper-case; unknown kinds kept."""
    out: dict[str, str] = {}
    for key, val in as_dict(value).items():
        text = as_str(val)
        if not text:
            continue
        key = scrub_text(str(key))
        out[_HASH_KEY_BY_LOWER.get(key.lower(), key)] = text.upper()
    return out


def fix_download_url(url: Optional[str], version_id: Optional[int], file_id: Optional[int] = None,
                     base: str = DEFAULT_DOWNLOAD_BASE) -> Optional[str]:
    """§11.5: bulk by-hash may send ``https://undefined/...``; rebuild it from the version id."""
    if url and not url.lower().startswith(("https://undefined", "http://undefined")):
        return url
    if not url or version_id is None:
        return url
    rebuilt = f"{base.rstrip('/')}/api/download/models/{version_id}"
    return f"{rebuilt}?fileId={file_id}" if file_id is not None else rebuilt

