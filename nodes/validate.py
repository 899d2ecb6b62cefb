"""Validation of what the browser sends civkit's routes (HOSTS.md §1.5: ComfyUI's origin check
is not authentication; with ``--listen`` the whole LAN reaches these routes).

* Downloads only come from Civitai's hosts or the configured API base.
* Target folders are ``folder_paths`` keys; a request never names a path.

Standard library only (see ``runtime``).
"""

from __future__ import annotations

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
