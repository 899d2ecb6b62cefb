"""Validation of what the browser sends civkit's routes (HOSTS.md §1.5: ComfyUI's origin check
is not authentication; with ``--listen`` the whole LAN reaches these routes).

* Downloads only come from Civitai's hosts or the configured API base.
* Target folders are ``folder_paths`` keys; a request never names a path.
* A request that changes anything must come from ComfyUI's own page (``check_browser_request``):
  any web page can POST to ComfyUI's port, and ComfyUI's own origin check is gone with
  ``--enable-cors-header`` and does not see DNS rebinding (issue 13 item 9).

Standard library only (see ``runtime``).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

CIVITAI_HOSTS = frozenset({"civitai.com", "civitai.red", "civitai.green"})
DOWNLOAD_FIELDS = frozenset({"ref", "model_id", "version_id", "file_id", "folder_key", "format", "size", "fp",
                             "allow_unsafe", "with_vae", "with_config"})
PATH_FIELDS = frozenset({"path", "dest", "dest_dir", "destination", "directory", "dir", "folder", "filename",
                         "file_name", "target", "output", "root"})


class RequestRefused(Exception):
    """A request civkit will not carry out; ``str()`` is the reason shown to the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})  # "none": typed into the address bar, a bookmark
_DEFAULT_PORTS = {"http": 80, "https": 443}
CROSS_SITE = ("civkit refuses this: the request comes from another web site ({why}). Open ComfyUI itself to "
              "change civkit's settings, key or downloads.")
NOT_JSON = "civkit only takes JSON here: send Content-Type: application/json."


def _is_loopback_name(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_port(netloc: str, scheme: str = "http"):
    """``(hostname, port)`` of a ``Host`` header or an origin's netloc (default port filled in)."""
    try:
        parts = urlsplit("//" + netloc)
        return (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 80)
    except ValueError:
        return None


def check_browser_request(method: str, headers, content_type: str = "", local_host=None, *,
                          allowed_types=("application/json",)) -> None:
    """Refuse a request that changes something unless it comes from ComfyUI's own page.

    ``headers``: the request's (case-insensitive) headers; ``content_type``: its media type without
    parameters; ``local_host``: the address the connection arrived on. Reads pass untouched.

    * ``Sec-Fetch-Site`` other than same-origin/none, or an ``Origin`` other than the ``Host`` (a page
      on another port of the same machine is another origin), or ``Origin: null`` -> 403.
    * A connection on a loopback address whose ``Host`` is not a loopback name -> 403: a DNS-rebound
      page (its Origin and Host agree, both naming the attacker's domain).
    * Anything but ``application/json`` -> 415: a cross-site form or ``no-cors`` fetch can only send
      ``text/plain``, form or multipart bodies without asking the browser's permission first.
      A route that takes an upload allows ``multipart/form-data`` too (``allowed_types``); it then
      rests on the Origin / Sec-Fetch-Site / Host checks above, which a browser always lets us make:
      Chromium and Firefox send ``Origin`` with every POST.

    Requests without these headers (scripts, curl) are not browser pages and pass.
    """
    if method.upper() in SAFE_METHODS:
        return
    site = (headers.get("Sec-Fetch-Site") or "").strip().lower()
    if site and site not in _OWN_FETCH_SITES:
        raise RequestRefused(CROSS_SITE.format(why=f"Sec-Fetch-Site: {site}"[:60]), 403)
    host = (headers.get("Host") or "").strip()
    origin = headers.get("Origin")
    if origin is not None:
        origin = origin.strip()
        parsed = urlsplit(origin) if origin.lower() != "null" else None
        if parsed is None or not parsed.netloc:
            raise RequestRefused(CROSS_SITE.format(why="Origin: null"), 403)
        if not host or _host_port(parsed.netloc, parsed.scheme) != _host_port(host, parsed.scheme):
            raise RequestRefused(CROSS_SITE.format(why=f"Origin: {origin[:60]}"), 403)
    if local_host and _is_loopback_name(str(local_host)) and host:
        named = _host_port(host)
        if named is None or not _is_loopback_name(named[0]):
            raise RequestRefused(CROSS_SITE.format(
                why=f"Host: {host[:60]} on a ComfyUI that only listens on this computer; DNS rebinding?"), 403)
    if (content_type or "").split(";")[0].strip().lower() not in allowed_types:
        raise RequestRefused(NOT_JSON, 415)


def int_or_none(value, field: str):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RequestRefused(f"{field} must be a number, got {value!r}.") from None


def allowed_hosts(api_base: str) -> set[str]:
    hosts = set(CIVITAI_HOSTS) | {"www." + h for h in CIVITAI_HOSTS}
    base = urlsplit(api_base)
    if base.netloc:
        hosts.add(base.netloc.lower())
    return hosts


def check_ref_source(ref: str, api_base: str) -> None:
    """Refuse references that point anywhere but Civitai or the configured API base."""
    text = ref.strip()
    if not text:
        raise RequestRefused("Say what to download: a Civitai URL, an AIR, or model@version ids.")
    if text.lower().startswith("urn:"):
        return  # an AIR names its source; parse_ref refuses non-Civitai sources
    looks_like_url = "://" in text or "/" in text or text.lower().startswith("www.")
    if not looks_like_url:
        return
    parsed = urlsplit(text if "://" in text else "https://" + text)
    if parsed.scheme not in ("http", "https"):
        raise RequestRefused(f"Downloads only come from Civitai over http(s), not {parsed.scheme}:.")
    hosts = allowed_hosts(api_base)
    netloc = parsed.netloc.lower().rsplit("@", 1)[-1]
    if netloc not in hosts and (parsed.hostname or "").lower() not in hosts:
        raise RequestRefused(
            f"Downloads only come from Civitai (civitai.com) or the configured API base; "
            f"{parsed.hostname or netloc} is neither."
        )


def clean_ref(ref: str) -> tuple:
    """``(ref without a token, notice for the user or None)``: a token is never queued or shown."""
    from ..civkit.refs import TOKEN_REMOVED, clean_ref_text

    cleaned, removed = clean_ref_text(ref)
    return cleaned, (TOKEN_REMOVED if removed else None)


def check_folder_key(service, key) -> str | None:
    if key in (None, ""):
        return None
    known = service.host.folder_keys()
    if not isinstance(key, str) or key not in known:
        names = ", ".join(sorted(known))
        raise RequestRefused(f"Unknown model folder {key!r}: use one of {names}.")
    return key


def download_request(service, body: dict) -> tuple[str, dict]:
    """Validate a download request body into ``(ref, keyword arguments)`` for start_download."""
    path_like = sorted(set(body) & PATH_FIELDS)
    if path_like:
        raise RequestRefused(
            f"civkit picks the file name and folder itself; send a folder_key instead of {', '.join(path_like)}."
        )
    unknown = sorted(set(body) - DOWNLOAD_FIELDS)
    if unknown:
        raise RequestRefused(f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(DOWNLOAD_FIELDS))}.")
    ref = body.get("ref")
    if ref is None:
        model_id = int_or_none(body.get("model_id"), "model_id")
        version_id = int_or_none(body.get("version_id"), "version_id")
        if version_id and model_id:
            ref = f"{model_id}@{version_id}"
        elif model_id:
            ref = str(model_id)
        else:
            raise RequestRefused("Say what to download: ref, or model_id and version_id.")
    if not isinstance(ref, str):
        raise RequestRefused("ref must be text: a Civitai URL, an AIR, or model@version ids.")
    ref = clean_ref(ref)[0]
    check_ref_source(ref, service.config.api_base)
    kwargs = {"file_id": int_or_none(body.get("file_id"), "file_id"),
              "folder_key": check_folder_key(service, body.get("folder_key"))}
    for field in ("format", "size", "fp"):
        if body.get(field):
            kwargs[field] = str(body[field])
    for flag in ("allow_unsafe", "with_vae", "with_config"):
        if body.get(flag) is True:
            kwargs[flag] = True
    return ref.strip(), kwargs




# Library care (issue 12): the browser names a file by folder key + the name ComfyUI lists it
# under, never by a path; a move names a subfolder *inside* that key's folder.
CARE_FIELDS = {
    "rename": frozenset({"folder_key", "name", "new_name"}),
    "move": frozenset({"folder_key", "name", "subfolder"}),
    "delete": frozenset({"folder_key", "name"}),
    "triggers": frozenset({"folder_key", "name", "groups", "all", "weight"}),
    "restore": frozenset({"id"}),
}


def care_request(service, body: dict, action: str) -> dict:
    """Check a library-care request: known fields only, a known folder key, a text name."""
    allowed = CARE_FIELDS[action]
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise RequestRefused(f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}.")
    out = dict(body)
    if "name" in allowed:
        out["folder_key"] = check_folder_key(service, body.get("folder_key") or "loras")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or "\x00" in name:
            raise RequestRefused("name must be the file's name as ComfyUI lists it.")
    for field in ("new_name", "subfolder", "id"):
        if field in allowed and field in body and (not isinstance(body[field], str) or "\x00" in body[field]):
            raise RequestRefused(f"{field} must be text.")
    subfolder = body.get("subfolder")
    if isinstance(subfolder, str):
        parts = [p for p in subfolder.replace("\\", "/").split("/") if p not in ("", ".")]
        if subfolder.startswith(("/", "\\")) or ".." in parts or ":" in subfolder:
            raise RequestRefused("subfolder must be a folder inside the model folder (no '..', no absolute path).")
        out["subfolder"] = "/".join(parts)
    if "groups" in body and body["groups"] is not None:
        groups = body["groups"]
        if not isinstance(groups, list) or not all(isinstance(g, int) and not isinstance(g, bool) for g in groups):
            raise RequestRefused("groups must be a list of group numbers (1, 2, ...).")
    if "weight" in body and body["weight"] is not None and (
            isinstance(body["weight"], bool) or not isinstance(body["weight"], (int, float, str))):
        raise RequestRefused("weight must be a number, or null for the default.")
    return out
