"""Where civkit's settings come from, and where the API key is kept.

Precedence: an explicit argument (CLI flag, host setting) > the environment > civkit's own
config file (``<CIVKIT_HOME>/config.json``, owner-only permissions) > defaults.

The API key is never written anywhere but that config file, and never appears in a repr,
a log line or an exception: ``redact`` scrubs it from any text.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from .atomic import write_atomic

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://civitai.com"
CONFIG_FILE = "config.json"
_SETTING_KEYS = ("api_base", "nsfw_previews", "write_sidecars", "subfolder_template", "example_images",
                 "connections")
DEFAULT_CONNECTIONS = 4  # connections per large download (civkit/download/segments.py); 1 = one
MAX_CONNECTIONS = 8


def civkit_home(env: Mapping[str, str] = os.environ) -> Path:
    """CIVKIT_HOME, else the platform's user data folder (never the pack folder)."""
    explicit = env.get("CIVKIT_HOME")
    if explicit:
        return Path(explicit).expanduser()
    try:
        from platformdirs import user_data_dir

        return Path(user_data_dir("civkit", appauthor=False))
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        return Path.home() / ".local" / "share" / "civkit"


CIVITAI_SITES = ("civitai.com", "civitai.red", "civitai.green")
_RENAMED_SITES = {"civitai.green": "civitai.com"}  # CIVITAI_API.md §1.1: the SFW site's earlier name


def normalise_api_base(value: str) -> str:
    """Accept a site origin (``https://civitai.com``) or one ending in ``/api/v1``; a bare Civitai site
    (``civitai.red``) gets https. civitai.green, the earlier name of the SFW site, becomes civitai.com.

    The value is checked as urllib3 will connect to it: a backslash, userinfo, a space, a query or a
    fragment could make two URL parsers see different hosts, so they are refused."""
    from urllib3.util import parse_url

    base = str(value).strip().rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
    bare = base.lower()
    if "://" not in bare and bare.removeprefix("www.") in CIVITAI_SITES:
        base = "https://" + bare
    problem = None
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", base, re.IGNORECASE):
        problem = ""
    elif any(ch in base for ch in "\\@?#") or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in base):
        problem = " (no user name, backslash, query or fragment)"
    if problem is not None:
        raise ValueError(f"API base must look like https://civitai.com{problem}, got {value!r}")
    parsed = parse_url(base)
    host = (parsed.host or "").lower()
    site = _RENAMED_SITES.get(host.removeprefix("www."))
    if site:
        return f"https://{site}"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme.lower()}://{host}{port}{parsed.path or ''}"


@dataclass(frozen=True)
class Config:
    home: Path
    api_base: str = DEFAULT_API_BASE
    api_key: Optional[str] = field(default=None, repr=False)
    nsfw_previews: bool = False
    write_sidecars: bool = True
    subfolder_template: str = ""
    example_images: int = 0                 # example images kept per linked version (scan --images)
    connections: int = DEFAULT_CONNECTIONS

    def __repr__(self) -> str:  # the key is shown only as set / not set
        key = "***" if self.api_key else None
        return (
            f"Config(home={str(self.home)!r}, api_base={self.api_base!r}, api_key={key!r}, "
            f"nsfw_previews={self.nsfw_previews}, write_sidecars={self.write_sidecars}, "
            f"subfolder_template={self.subfolder_template!r}, connections={self.connections})"
        )

    @property
    def api_root(self) -> str:
        return self.api_base + "/api/v1"

    @property
    def index_path(self) -> Path:
        return self.home / "library.sqlite3"

    def with_changes(self, **changes) -> Config:
        return replace(self, **changes)


def _read_file(home: Path) -> dict:
    path = home / CONFIG_FILE
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable civkit config %s: %s", path, type(exc).__name__)
        return {}
    return data if isinstance(data, dict) else {}


def load_config(
    env: Mapping[str, str] = os.environ,
    *,
    api_base: Optional[str] = None,
    api_key: Optional[str] = None,
    home: Optional[Path] = None,
) -> Config:
    home = Path(home) if home else civkit_home(env)
    stored = _read_file(home)
    key = api_key or env.get("CIVITAI_API_KEY") or env.get("CIVITAI_TOKEN") or stored.get("api_key") or None
    base = api_base or env.get("CIVKIT_API_BASE") or stored.get("api_base") or DEFAULT_API_BASE
    return Config(
        home=home,
        # the default needs no check (and so no urllib3 import: `civkit scan --no-lookup` never connects)
        api_base=base if base == DEFAULT_API_BASE else normalise_api_base(base),
        api_key=key.strip() if isinstance(key, str) and key.strip() else None,
        nsfw_previews=bool(stored.get("nsfw_previews", False)),
        write_sidecars=bool(stored.get("write_sidecars", True)),
        subfolder_template=str(stored.get("subfolder_template", "") or ""),
        example_images=_whole(stored.get("example_images", 0)),
        connections=_stored_connections(stored.get("connections", DEFAULT_CONNECTIONS)),
    )


def _whole(value) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def check_connections(value) -> int:
    """A connection count from a flag or a setting: a whole number 1..MAX_CONNECTIONS (ValueError)."""
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(f"connections must be a whole number from 1 to {MAX_CONNECTIONS}, not {value!r}") from None
    if not 1 <= n <= MAX_CONNECTIONS:
        raise ValueError(f"connections must be from 1 to {MAX_CONNECTIONS} (1 turns segmented downloads off), "
                         f"not {n}")
    return n


def _stored_connections(value) -> int:
    try:
        return check_connections(value) if not isinstance(value, bool) else DEFAULT_CONNECTIONS
    except ValueError as exc:
        log.warning("ignoring the connections setting in civkit's config file: %s", exc)
        return DEFAULT_CONNECTIONS


def _write_private(path: Path, data: dict) -> None:
    """Write JSON atomically with mode 0600 from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2).encode("utf-8"), mode=0o600, fsync=True)


def save_api_key(home: Path, key: Optional[str]) -> None:
    """Store (or with None/"" remove) the API key in civkit's own config file, owner-only."""
    home = Path(home)
    data = _read_file(home)
    if key and key.strip():
        data["api_key"] = key.strip()
    else:
        data.pop("api_key", None)
    _write_private(home / CONFIG_FILE, data)


def save_settings(home: Path, **values) -> None:
    unknown = set(values) - set(_SETTING_KEYS)
    if unknown:
        raise ValueError(f"unknown civkit settings: {sorted(unknown)}")
    if "api_base" in values and values["api_base"]:
        values["api_base"] = normalise_api_base(values["api_base"])
    if "connections" in values:
        values["connections"] = check_connections(values["connections"])
    home = Path(home)
    data = _read_file(home)
    data.update(values)
    _write_private(home / CONFIG_FILE, data)


_TOKEN_RE = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)
_BEARER_RE = re.compile(r"(Bearer\s+)[^\s\"']+", re.IGNORECASE)
# Credentials signed storage URLs carry in the query (CIVITAI_API.md §5.4): B2 ``Authorization=``,
# S3/R2 ``X-Amz-Signature`` / ``-Credential`` / ``-Security-Token``, GCS ``X-Goog-*``, Azure ``sig=``,
# CloudFront ``Signature``/``Policy``/``Key-Pair-Id``, and any ``*token`` / ``*key`` / ``*secret``.
_SIGNED_PARAM_RE = re.compile(
    r"(?<=[?&;])((?:[\w.-]*(?:authorization|signature|credential|token|secret|password|api[_-]?key))"
    r"|sig|policy|key-pair-id|key|x-amz-[\w-]*security[\w-]*)=[^&\s\"'<>#]*",
    re.IGNORECASE)


def redact(text: str, key: Optional[str] = None) -> str:
    """Remove ``token=...``, bearer values, signed-URL credentials and the key itself from any text."""
    if not text:
        return text
    text = _SIGNED_PARAM_RE.sub(lambda m: f"{m.group(1)}=***", str(text))
    text = _TOKEN_RE.sub(r"\1***", text)
    text = _BEARER_RE.sub(r"\1***", text)
    if key:
        text = text.replace(key, "***")
    return text


class RedactingFilter(logging.Filter):
    """Scrubs signed-URL credentials and ``token=`` from every record of the logger it is attached to.

    urllib3 logs each request line at DEBUG (``"GET /file?X-Amz-Signature=... HTTP/1.1" 200``): hosts
    such as ComfyUI with ``--verbose DEBUG`` would print a signed storage URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the logging module's business
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def redact_logger(name: str) -> None:
    """Attach one ``RedactingFilter`` to the logger ``name`` (idempotent)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
