"""Parse what people paste to name a Civitai model, version or file.

Accepted (CIVITAI_API.md §1.1, §5, §8):
  * model pages on civitai.com / civitai.red / civitai.green (``www.`` too), with or without the
    slug and ``?modelVersionId=``;  ``/model-versions/<vid>`` pages;  ``/api/v1/...`` URLs;
  * download URLs ``/api/download/models/<vid>[?fileId=<id>]``;
  * AIR URNs ``urn:air:<ecosystem>:<type>:civitai:<modelId>@<versionId>[+<fileId>][.<format>]``
    and their shortened forms;
  * ``<modelId>@<versionId>``;
  * a bare number: ambiguous, so ``Ref(model_id=N, bare=True)``; callers try it as a model id first
    and fall back to a version id.

A link copied from a browser or a tutorial may carry an API key (``?token=…``, ``api_key=``, or
``user:key@`` in the URL). It is never needed (civkit sends the configured key itself) and would be
saved wherever the reference is kept: a workflow, an image's metadata, ComfyUI's history, a download
list, a log. ``clean_ref_text`` removes it and says whether it did; ``parse_ref`` does the same
(``Ref.secret_removed``), and callers tell the user ``TOKEN_REMOVED`` (issue 13 item 12).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Optional
from urllib.parse import parse_qs, urlsplit, urlunsplit

CIVITAI_SITES = ("civitai.com", "civitai.red", "civitai.green")

ACCEPTED = (
    "a Civitai model URL (https://civitai.com/models/123 or .../models/123?modelVersionId=456), "
    "a version URL (https://civitai.com/model-versions/456), "
    "a download URL (https://civitai.com/api/download/models/456), "
    "an AIR (urn:air:sdxl:lora:civitai:123@456), "
    "123@456 (model@version), or a model or version id"
)

# §8, verbatim. Quirks kept: "lora:civitai:1@2" gives ecosystem "lora" and no type, and
# "civitai:1@2.safetensors" gives version "2.safetensors" (.format splits only after +fileId).
AIR_RE = re.compile(
    r"^(?:urn:)?(?:air:)?(?:(?P<ecosystem>[a-zA-Z0-9_\-/]+):)?(?:(?P<type>[a-zA-Z0-9_\-/]+):)?"
    r"(?P<source>[a-zA-Z0-9_\-/]+):(?P<id>[a-zA-Z0-9_\-/.]+)(?:@(?P<version>[a-zA-Z0-9_\-/.]+))?"
    r"(?:\+(?P<file>\d+))?(?:\.(?P<format>[a-zA-Z0-9_\-]+))?$",
    re.IGNORECASE,
)
_PAIR_RE = re.compile(r"^(\d+)\s*@\s*(\d+)$")
_VERSION_WITH_FORMAT_RE = re.compile(r"^(\d+)\.([A-Za-z0-9_\-]+)$")
_MAX_ID = 2**63 - 1
SECRET_PARAMS = frozenset({"token", "api_key", "apikey", "access_token"})
TOKEN_REMOVED = ("The link held an API token (token=…); civkit removed it and uses the API key saved in its "
                 "settings instead. A token left in a link would be saved in workflows, images and logs.")
_SECRET_PARAM_RE = re.compile(r"(?i)^(?:" + "|".join(sorted(SECRET_PARAMS)) + r")(?:=|$)")


def clean_ref_text(text: str) -> tuple:
    """``(text without any credential, whether one was removed)``.

    Query parameters named token / api_key / apikey / access_token (any case) and ``user:pass@``
    before the host are dropped; the rest of the text is kept exactly as written.
    """
    original = text if isinstance(text, str) else str(text)
    if "/" not in original and "?" not in original:
        return original, False  # 123@456, AIRs and ids hold no credentials
    stripped = original.strip()
    removed = False
    try:
        parts = urlsplit(stripped if "://" in stripped else "https://" + stripped)
    except ValueError:
        return original, False
    netloc = parts.netloc
    if "@" in netloc and "://" in stripped:
        netloc = netloc.rsplit("@", 1)[1]
        removed = True
    pairs = [p for p in parts.query.split("&") if p] if parts.query else []
    kept = [p for p in pairs if not _SECRET_PARAM_RE.match(p)]
    if len(kept) != len(pairs):
        removed = True
    if not removed:
        return original, False
    rebuilt = urlunsplit((parts.scheme, netloc, parts.path, "&".join(kept), parts.fragment))
    if "://" not in stripped:
        rebuilt = rebuilt.split("://", 1)[1]
    return rebuilt, True


class RefError(ValueError):
    """Text that does not name a Civitai model, version or file. The message says what is accepted."""

    def __init__(self, text: str, why: str = ""):
        shown = text if len(text) <= 80 else text[:77] + "..."
        reason = f" ({why})" if why else ""
        super().__init__(f"Cannot tell which Civitai model {shown!r} means{reason}. Use {ACCEPTED}.")
        self.text = text


@dataclass(frozen=True)
class Ref:
    model_id: Optional[int]
    version_id: Optional[int]
    file_id: Optional[int] = None
    format: Optional[str] = None
    bare: bool = False  # a lone number: model id first, then version id
    ecosystem: Optional[str] = None  # AIR only, as written
    air_type: Optional[str] = None  # AIR only, as written
    secret_removed: bool = False  # the text held a token (clean_ref_text): tell the user TOKEN_REMOVED

    def __str__(self) -> str:
        if self.bare:
            return str(self.model_id)
        text = f"{self.model_id or ''}@{self.version_id}" if self.version_id else str(self.model_id)
        return text + (f"+{self.file_id}" if self.file_id else "")

    def as_version(self) -> Ref:
        """For a bare number: the same number read as a version id."""
        return Ref(model_id=None, version_id=self.model_id, file_id=self.file_id, format=self.format,
                   secret_removed=self.secret_removed)


def _id(text: str, original: str, what: str) -> int:
    if not text.isdigit():
        raise RefError(original, f"{what} {text!r} is not a number")
    value = int(text)
    if value <= 0 or value > _MAX_ID:
        raise RefError(original, f"{what} {value} is out of range")
    return value


def _first_int(query: dict, name: str, original: str) -> Optional[int]:
    for key, values in query.items():
        if key.lower() == name.lower() and values and values[0].strip():
            return _id(values[0].strip(), original, name)
    return None


def _host_ok(host: str, extra_hosts) -> bool:
    host = host.lower()
    if host.startswith("www."):
        host = host[4:]
    bare = host.split(":")[0]
    return bare in CIVITAI_SITES or host in {h.lower() for h in extra_hosts} or bare in {h.lower() for h in extra_hosts}


def _parse_url(text: str, extra_hosts) -> Ref:
    url = text if "://" in text else "https://" + text
    parts = urlsplit(url)
    if not _host_ok(parts.netloc, extra_hosts):
        raise RefError(text, f"{parts.netloc or 'this'} is not a Civitai site")
    segments = [s for s in parts.path.split("/") if s]
    query = parse_qs(parts.query)
    if segments[:2] == ["api", "v1"]:
        segments = segments[2:]
    if len(segments) >= 2 and segments[0] == "models" and segments[1].isdigit():
        return Ref(model_id=_id(segments[1], text, "model id"),
                   version_id=_first_int(query, "modelVersionId", text))
    if len(segments) >= 2 and segments[0] == "model-versions" and segments[1].isdigit():
        return Ref(model_id=None, version_id=_id(segments[1], text, "version id"))
    if segments[:3] == ["api", "download", "models"] and len(segments) >= 4:
        fmt = next((v[0] for k, v in query.items() if k.lower() == "format" and v), None)
        return Ref(model_id=None, version_id=_id(segments[3], text, "version id"),
                   file_id=_first_int(query, "fileId", text), format=fmt)
    if segments and segments[0] in ("images", "user", "posts", "articles", "collections"):
        raise RefError(text, f"that is a Civitai {segments[0].rstrip('s')} page, not a model")
    raise RefError(text, "not a model, version or download address")


def _parse_air(text: str, match: re.Match) -> Ref:
    if match.group("source").lower() != "civitai":
        raise RefError(text, f"the AIR names a {match.group('source')} resource; civkit handles Civitai only")
    model_id = _id(match.group("id"), text, "model id")
    version_text = match.group("version")
    fmt = match.group("format")
    version_id = None
    if version_text:
        quirk = _VERSION_WITH_FORMAT_RE.match(version_text)
        if quirk and not fmt:  # "1@2.safetensors": the regex keeps ".safetensors" in the version
            version_text, fmt = quirk.group(1), quirk.group(2)
        version_id = _id(version_text, text, "version id")
    file_id = _id(match.group("file"), text, "file id") if match.group("file") else None
    return Ref(model_id=model_id, version_id=version_id, file_id=file_id, format=fmt,
               ecosystem=match.group("ecosystem"), air_type=match.group("type"))


def parse_ref(text: str, extra_hosts=()) -> Ref:
    """What a person pasted, as a ``Ref``; ``RefError`` (a ValueError) says what is accepted.

    ``extra_hosts``: further accepted URL hosts (``"127.0.0.1:8765"``), e.g. the configured API base.
    A credential in the text is dropped first (``secret_removed`` says so) and never shown in errors."""
    original, had_secret = clean_ref_text(text if isinstance(text, str) else str(text))
    ref = _parse_clean(original, extra_hosts)
    return replace(ref, secret_removed=True) if had_secret else ref


def _parse_clean(original: str, extra_hosts) -> Ref:
    text = original.strip().strip("<>\"'")
    if not text:
        raise RefError(original, "it is empty")
    if text.isdigit():
        return Ref(model_id=_id(text, original, "id"), version_id=None, bare=True)
    pair = _PAIR_RE.match(text)
    if pair:
        return Ref(model_id=_id(pair.group(1), original, "model id"),
                   version_id=_id(pair.group(2), original, "version id"))
    lowered = text.lower()
    url_starts = ("http://", "https://", *CIVITAI_SITES, *("www." + s for s in CIVITAI_SITES),
                  *(h.lower() + "/" for h in extra_hosts))
    if lowered.startswith(url_starts) or "/" in text.split(":")[0]:
        return _parse_url(text, extra_hosts)
    match = AIR_RE.match(text)
    if match:
        return _parse_air(original, match)
    raise RefError(original)
