"""`/api/download/models/:vid` (§5.2, §5.3) and the signed storage URL it redirects to (§5.4)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from urllib.parse import quote

from .http import CACHE_DOWNLOAD, Response, error, json_response, parse_id, text_response
from .params import FILE_FORMATS, FILE_TYPES
from .storage import storage_response

QUOTA_MESSAGE = ("We've noticed an unusual amount of downloading from your account. "
                 "Contact support@civitai.com or come back later.")
DISABLED_MESSAGE = "The creator of this asset has disabled downloads on this file"
LOGIN_MESSAGE = "The creator of this asset requires you to be logged in to download it"
EA_MESSAGE = "This asset is in Early Access. You can use Buzz access it now!"


def _text_error(req, status: int, text: str, cache: str = CACHE_DOWNLOAD) -> Response:
    """Rows shown as bare text: JSON for programs, plain text for browsers (§5.2)."""
    if req.browser:
        return text_response(status, text, headers=[("Cache-Control", cache)])
    return error(status, text, cache)


def _redirect(location: str, cache: str = CACHE_DOWNLOAD) -> Response:
    return Response(307, location.encode(), [("Location", location), ("Content-Type", "text/plain"),
                                             ("Cache-Control", cache)])


def sign(secret: bytes, file_id: int, expires: int) -> str:
    return hmac.new(secret, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def storage_url(fake, file_id: int, name: str) -> str:
    expires = int(time.time() + fake.faults.storage_ttl)
    disposition = quote(f'attachment; filename="{name}"', safe="")
    serial = fake.issue_url_serial()
    return (f"{fake.base_url}/storage/{file_id}/{quote(name, safe='')}?X-Expires={expires}"
            f"&X-Signature={sign(fake.secret, file_id, expires)}&X-Serial={serial}"
            f"&response-content-disposition={disposition}")


def _early_access_active(version: dict) -> str | None:
    deadline = version.get("earlyAccessDeadline")
    if not deadline:
        return None
    end = dt.datetime.fromisoformat(deadline.replace("Z", "+00:00"))
    return deadline if end > dt.datetime.now(dt.timezone.utc) else None


def _pick(files: list[dict], ftype, fmt, size, fp) -> dict | None:
    """§5.3: filter by type, then prefer the selectors (defaults SafeTensor, pruned, fp16), primary first."""
    if ftype:
        files = [f for f in files if f["type"] == ftype]
    elif not (fmt or size or fp):
        primary = [f for f in files if f.get("primary")]
        if primary:
            return primary[0]
    else:
        files = [f for f in files if f["type"] in ("Model", "Pruned Model")] or files
    if not files:
        return None

    def score(f):
        # a selector the request gave outweighs every default preference
        meta = f.get("metadata") or {}
        total = 0.5 if f.get("primary") else 0.0
        for given, default, have in ((fmt, "SafeTensor", meta.get("format")), (size, "pruned", meta.get("size")),
                                     (fp, "fp16", meta.get("fp"))):
            if given is not None:
                total += 10 if have == given else 0
            else:
                total += 1 if have == default else 0
        return total

    return max(files, key=score)


def download(req, raw_id: str) -> Response:
    resp = _download(req, raw_id)
    if resp.header("Cache-Control") is None:
        resp.headers.append(("Cache-Control", CACHE_DOWNLOAD))
    return resp


def _download(req, raw_id: str) -> Response:
    fake, faults = req.fake, req.fake.faults
    host = req.headers.get("host", "")
    if faults.non_primary_redirect and host.startswith("127.0.0.1"):
        # Some server builds bounce non-primary hosts to the primary; HTTP stacks drop Authorization on it.
        return _redirect(f"http://localhost:{fake.port}{req.target}")
    if faults.blocklisted:
        return _text_error(req, 403, "Forbidden")
    if faults.download_quota:
        return _text_error(req, 429, QUOTA_MESSAGE)
    version_id, err = parse_id(raw_id)
    if err:
        return err
    bad = _bad_selectors(req)
    if bad:
        return bad
    model, version = fake.catalog.find_version(version_id)
    if model is None or version["status"] != "Published" or model.get("_status") != "Published" \
            or model.get("mode") == "TakenDown":
        return _text_error(req, 404, "File not found")
    files = version["files"] or version.get("_archivedFiles", [])
    file_id = req.one("fileId")
    ftype, fmt, size, fp = req.one("type"), req.one("format"), req.one("size"), req.one("fp")
    if file_id is not None:
        chosen = next((f for f in files if f["id"] == int(file_id)), None)
    else:
        chosen = _pick(files, ftype, fmt, size, fp)
    if chosen is None:
        return _text_error(req, 404, "File not found")
    if model.get("mode") == "Archived":
        return _text_error(req, 410, "Model archived, not available for download")
    if version.get("usageControl", "Download") != "Download":
        return error(401, "Unauthorized", CACHE_DOWNLOAD, message=DISABLED_MESSAGE)
    if (version.get("_requiresLogin") or faults.login_required_sitewide) and not req.key:
        if req.browser:
            return _redirect(f"/login?returnUrl=%2Fmodel-versions%2F{version_id}&reason=download-auth")
        return error(401, "Unauthorized", CACHE_DOWNLOAD, message=LOGIN_MESSAGE)
    deadline = _early_access_active(version)
    if deadline:
        if req.browser:
            return _redirect(f"/model-versions/{version_id}")
        return json_response(403, {"error": "Early Access", "deadline": deadline, "message": EA_MESSAGE},
                             CACHE_DOWNLOAD)
    meta = chosen.get("metadata") or {}
    for value, have in ((ftype, chosen["type"]), (fmt, meta.get("format")), (size, meta.get("size")),
                        (fp, meta.get("fp"))):
        if value is not None and have is not None and value != have:
            return _text_error(req, 404, "File not found")  # row 10: a selector contradicts the file
    if chosen["id"] not in fake.catalog.files:
        return _text_error(req, 404, "File not found", "private, no-store")
    fake.downloads_counted += 1
    name = chosen.get("overrideName") or chosen["name"]
    return _redirect(storage_url(fake, chosen["id"], name))


def _bad_selectors(req) -> Response | None:
    problems = []
    if req.has("fileId"):
        raw = req.one("fileId")
        if not raw.isdigit():
            problems.append(("Invalid input: expected number, received NaN", "fileId"))
    if req.has("type") and req.one("type") not in FILE_TYPES:
        problems.append((_option(FILE_TYPES), "type"))
    if req.has("format") and req.one("format") not in FILE_FORMATS:
        problems.append((_option(FILE_FORMATS), "format"))
    if req.has("size") and req.one("size") not in ("full", "pruned"):
        problems.append((_option(["full", "pruned"]), "size"))
    for name in ("fp", "quantType"):
        if req.has(name) and len(req.one(name)) > 64:
            problems.append(("Too big: expected string to have <=64 characters", name))
    if not problems:
        return None
    text = "\n".join(f"✖ {msg}\n  → at {param}" for msg, param in problems)
    return error(400, text, CACHE_DOWNLOAD)


def _option(values) -> str:
    return "Invalid option: expected one of " + "|".join(f'"{v}"' for v in values)


def storage(req, raw_file_id: str, _name: str) -> Response:
    fake = req.fake
    if "authorization" in req.headers or req.has("token"):
        # S3/B2 presigned URLs refuse a second auth mechanism (§5.4)
        return text_response(403, "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism "
                                  "allowed</Message></Error>", "application/xml")
    if fake.faults.take("storage_error_count"):
        return text_response(fake.faults.storage_error_status, "<Error><Code>ServiceUnavailable</Code>"
                                                              "</Error>", "application/xml")
    file_id = int(raw_file_id)
    try:
        expires = int(req.one("X-Expires") or "")
    except ValueError:
        expires = 0
    signature = req.one("X-Signature") or ""
    if not hmac.compare_digest(signature, sign(fake.secret, file_id, expires)):
        return text_response(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>", "application/xml")
    try:
        serial = int(req.one("X-Serial") or "0")
    except ValueError:
        serial = 0
    if expires < time.time() or serial < fake.expired_below:
        return text_response(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
                                  "</Error>", "application/xml")
    path = fake.catalog.files.get(file_id)
    _m, _v, f = fake.catalog.find_file(file_id)
    if path is None:
        return text_response(404, "<Error><Code>NoSuchKey</Code></Error>", "application/xml")
    if f is None:  # an archived version keeps its files on disk only
        for m in fake.catalog.models:
            for v in m["modelVersions"]:
                f = next((x for x in v.get("_archivedFiles", []) if x["id"] == file_id), f)
    name = (f or {}).get("overrideName") or (f or {}).get("name") or path.name
    return storage_response(req, path, name, file_id)
