"""One error hierarchy for everything Civitai can answer, and the ONE function that maps responses to it.

Every exception carries ``.message`` (a sentence for people: what happened and what to do),
``.status`` (the HTTP status or None) and ``.url`` (redacted). ``str(exc)`` is the message.
The API key never appears in any of them: ``error_from_response`` redacts with the key it is given.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import urlsplit

from ..config import redact

# Where the key goes, when the face the user is in is not known (issue 13 item 16). Each face says it in
# its own words instead: the host adapter's ``key_hint``, passed to ``service_errors.error_message``.
KEY_HELP = "set CIVITAI_API_KEY or pass --api-key (in a UI: civkit's own Settings tab)"
KEY_PAGE = "civitai.com → Account settings → API keys"


def key_message(reason: str, where: str = KEY_HELP, *, download: bool = False) -> Optional[str]:
    """The sentence for a 401 that a (new) key fixes, saying where the key goes; None for other
    reasons (the creator disabled downloads). ``download``: say that Civitai now wants a key for many
    downloads, even of public models (CIVITAI_API.md §5.2 row 7)."""
    if reason == "key_rejected":
        if download:
            return (f"Civitai rejected your API key (expired, revoked or mistyped): create a new key on {KEY_PAGE}, "
                    f"then {where}.")
        return ("Civitai did not accept your API key (it may be expired or revoked): create a new key in your "
                f"Civitai account settings and {where}.")
    if reason == "login":
        if download:
            return (f"This model needs a Civitai API key: {where}. Civitai now asks for a key for many downloads, "
                    f"even of public models; create one on {KEY_PAGE}.")
        return f"This model needs a Civitai API key: {where}"
    return None


class CivitaiError(Exception):
    """Anything that went wrong talking to Civitai."""

    def __init__(self, message: str, *, status: Optional[int] = None, url: Optional[str] = None,
                 server_message: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url
        self.server_message = server_message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class NetworkError(CivitaiError):
    """Connection refused / reset / timed out, after retries."""


class BadRequest(CivitaiError):
    """400: the server's validation message, made readable."""


class NotFound(CivitaiError):
    """404."""


class AuthRequired(CivitaiError):
    """401. ``reason``: "login" (no key), "disabled" (creator disabled downloads), "key_rejected"."""

    def __init__(self, message: str, *, reason: str = "login", **kw):
        super().__init__(message, **kw)
        self.reason = reason


class EarlyAccess(CivitaiError):
    """403 JSON ``{"error":"Early Access","deadline":...}``."""

    def __init__(self, message: str, *, deadline: Optional[str] = None, **kw):
        super().__init__(message, **kw)
        self.deadline = deadline


class Forbidden(CivitaiError):
    """Any other 403 (blocklist, a missing grant)."""


class Archived(CivitaiError):
    """410: the model is archived and its files are gone."""


class RateLimited(CivitaiError):
    """429. ``quota``: the 24-hour download quota; ``paging_cap``: page*limit > 1000."""

    def __init__(self, message: str, *, quota: bool = False, paging_cap: bool = False,
                 retry_after: Optional[float] = None, **kw):
        super().__init__(message, **kw)
        self.quota = quota
        self.paging_cap = paging_cap
        self.retry_after = retry_after


class ServerBusy(CivitaiError):
    """500/502/503/504/52x, still failing after retries."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class CloudflareBlocked(CivitaiError):
    """An HTML page from Civitai's edge (Cloudflare 403/429/503) instead of JSON."""


class RegionBlocked(CivitaiError):
    """451: Civitai is not available in this region."""


class UnexpectedResponse(CivitaiError):
    """Anything else (e.g. an HTML page where a file or JSON was expected)."""


# -- reading error bodies (§1.5: the shapes are not uniform) ----------------------------------------

def _readable_issues(issues: Any) -> Optional[str]:
    """A Zod issue list as ``limit: Too big: expected number to be <=100``."""
    if isinstance(issues, str):
        try:
            issues = json.loads(issues)
        except ValueError:
            return None
    if not isinstance(issues, list) or not issues:
        return None
    parts = []
    for issue in issues:
        if not isinstance(issue, dict):
            continue
        path = ".".join(str(p) for p in issue.get("path") or [])
        text = str(issue.get("message") or issue.get("code") or "invalid")
        parts.append(f"{path}: {text}" if path else text)
    return "; ".join(parts) or None


def _tidy(text: str) -> str:
    """``✖ msg\\n  → at id`` becomes ``id: msg``; an embedded JSON issue list becomes readable."""
    text = text.strip()
    if text.startswith("✖"):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        msg = lines[0].lstrip("✖").strip()
        where = next((ln.split("at", 1)[1].strip() for ln in lines[1:] if ln.startswith("→")), None)
        return f"{where}: {msg}" if where else msg
    bracket = text.find("[")
    if bracket > 0:  # "Request must include an array of SHA256 Hashes. [ {issue} ]"
        readable = _readable_issues(text[bracket:])
        if readable:
            return f"{text[:bracket].strip()} ({readable})"
    return text


def message_from_body(body: Any) -> Optional[str]:
    """The server's message from whichever shape it used: error str, error.message, message, bare array."""
    if isinstance(body, list):
        return _readable_issues(body)
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict):
        readable = _readable_issues(err.get("message")) or _readable_issues(err.get("issues"))
        if readable:
            return readable
        if isinstance(err.get("message"), str):
            return _tidy(err["message"])
    if isinstance(body.get("message"), str) and body["message"].strip():
        # Download gating sends {"error":"Unauthorized","message":"<the useful part>"}.
        return _tidy(body["message"])
    if isinstance(err, str) and err.strip():
        return _tidy(err)
    return None


def _is_html(response) -> bool:
    ctype = (response.headers.get("Content-Type") or "").lower()
    if "html" in ctype:
        return True
    head = (response.content or b"")[:200].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _retry_after(response) -> Optional[float]:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; rare from Civitai, backoff covers it


def _json(response) -> Any:
    try:
        return json.loads(response.content.decode("utf-8", errors="replace")) if response.content else None
    except ValueError:
        return None


def error_from_response(response, api_key: Optional[str] = None) -> CivitaiError:
    """Map any HTTP error response to the hierarchy. Reads the status first, then the message."""
    status = response.status_code
    url = redact(str(getattr(response, "url", "") or ""), api_key)
    host = urlsplit(url).netloc or "Civitai"
    kw = {"status": status, "url": url}

    if _is_html(response):
        if status in (403, 429, 503) or 520 <= status <= 529 or b"cloudflare" in (response.content or b"").lower():
            return CloudflareBlocked(
                f"Civitai's edge (Cloudflare) answered HTTP {status} with a web page instead of data: it is "
                f"blocking or rate-limiting requests from this network. Wait a few minutes and try again, "
                f"or open {host} in a browser to check.", **kw)
        return UnexpectedResponse(f"Civitai answered HTTP {status} with a web page instead of data ({url}).", **kw)

    body = _json(response)
    server = message_from_body(body)
    server = redact(server, api_key) if server else None
    kw["server_message"] = server
    error_word = body.get("error") if isinstance(body, dict) else None
    said = f" (Civitai said: {server})" if server else ""

    if status == 400:
        return BadRequest(f"Civitai rejected the request: {server or 'bad request'}", **kw)
    if status == 401:
        text = (server or "").lower()
        if "disabled downloads" in text:
            return AuthRequired("The creator of this model has disabled downloads; it can only be used for "
                                "generation on Civitai.", reason="disabled", **kw)
        if api_key:
            return AuthRequired(key_message("key_rejected"), reason="key_rejected", **kw)
        return AuthRequired(key_message("login"), reason="login", **kw)
    if status == 403:
        if error_word == "Early Access" or (server or "").lower().startswith("this asset is in early access"):
            deadline = body.get("deadline") if isinstance(body, dict) and isinstance(body.get("deadline"), str) else None
            until = f" until {deadline}" if deadline else ""
            return EarlyAccess(f"This version is in Early Access on Civitai{until}: it can be downloaded for free "
                               "after that, or unlocked with Buzz on civitai.com now.", deadline=deadline, **kw)
        return Forbidden(f"Civitai refused access{said}.", **kw)
    if status == 404:
        return NotFound(f"Not found on Civitai: {server or 'no such item'}.", **kw)
    if status == 405:
        return UnexpectedResponse(f"Civitai does not allow this request method{said}.", **kw)
    if status == 410:
        return Archived("This model is archived on Civitai and its files can no longer be downloaded.", **kw)
    if status == 451:
        return RegionBlocked(f"Civitai is not available in your region{said}.", **kw)
    if status == 429:
        text = (server or "").lower()
        if "too many pages" in text:
            return RateLimited("Civitai refuses to page past 1000 results by page number; cursors are needed "
                               "(this is a civkit bug if you see it).", paging_cap=True, **kw)
        if "unusual amount of downloading" in text:
            return RateLimited("Civitai's download limit for your account or address is reached: try again in a "
                               "few hours, or contact support@civitai.com.", quota=True, **kw)
        return RateLimited(f"Civitai is rate-limiting requests{said}: wait a minute and try again.",
                           retry_after=_retry_after(response), **kw)
    if status in (500, 502, 503, 504) or 520 <= status <= 529:
        return ServerBusy(f"Civitai is busy or failing (HTTP {status}){said}: try again in a few minutes.",
                          retry_after=_retry_after(response), **kw)
    return UnexpectedResponse(f"Civitai answered HTTP {status}{said}.", **kw)


def is_retryable(error: CivitaiError) -> bool:
    """§12: retry 429 (not the paging cap or the download quota), 500, 502-504, 52x; never 4xx otherwise."""
    if isinstance(error, NetworkError):
        return True
    status = error.status or 0
    if status == 429:
        return isinstance(error, RateLimited) and not (error.quota or error.paging_cap)
    return status in (500, 502, 503, 504) or 520 <= status <= 529
