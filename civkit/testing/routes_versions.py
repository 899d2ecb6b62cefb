"""Version routes: `/model-versions/:id` (§4.3), by-hash (§4.4) and the two bulk POSTs (§4.5, §4.6)."""

from __future__ import annotations

import json
import re

from . import views
from .http import CACHE_HASH, CACHE_PRIVATE, CACHE_PUBLIC, error, json_response, parse_id

BULK_PREFIX = "Request must include an array of SHA256 Hashes. "
_SHA256 = re.compile(r"^[0-9A-Fa-f]{64}$")


def _visible(model: dict, version: dict) -> bool:
    return model.get("_status") == "Published" and version["status"] == "Published"


def get_version(req, raw_id: str):
    if req.method not in ("GET", "HEAD"):
        return error(405, "Method not allowed")
    if raw_id == "0":
        return error(400, "Missing modelVersionId")
    version_id, err = parse_id(raw_id)
    if err:
        return err
    model, version = req.fake.catalog.find_version(version_id)
    # level 31 applies here: a level-0 (unrated) version answers 404 but is still found by hash (§3)
    if model is None or not _visible(model, version) or not version["nsfwLevel"] & 31:
        return error(404, "Model not found")
    cache = CACHE_PRIVATE if req.key else CACHE_PUBLIC
    return json_response(200, views.version_view(req.origin, model, version), cache)


def by_hash(req, value: str):
    hits = [(m, v) for m, v, _f in req.fake.catalog.by_hash(value.strip()) if _visible(m, v)]
    if not hits:
        return error(404, "Model not found")
    model, version = hits[0]  # the oldest version wins (§4.4)
    return json_response(200, views.version_view(req.origin, model, version, by_hash=True), CACHE_HASH)


def _bulk_hashes(req, maximum: int):
    """Parse and validate a bulk body; returns (hashes, None) or (None, error response)."""
    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        received = "string" if req.body else "undefined"
        return None, _bulk_error([{"expected": "array", "code": "invalid_type", "path": [],
                                   "message": f"Invalid input: expected array, received {received}"}])
    try:
        body = json.loads(req.body) if req.body.strip() else None
    except ValueError:
        body = None
    if not isinstance(body, list):
        received = "undefined" if body is None else _js_type(body)
        return None, _bulk_error([{"expected": "array", "code": "invalid_type", "path": [],
                                   "message": f"Invalid input: expected array, received {received}"}])
    issues = [{"code": "custom", "path": [i], "message": "Invalid hash"}
              for i, h in enumerate(body) if not isinstance(h, str) or not _SHA256.match(h)]
    if len(body) > maximum:
        issues.append({"origin": "array", "code": "too_big", "maximum": maximum, "inclusive": True, "path": [],
                       "message": "Too many hashes"})
    if issues:
        return None, _bulk_error(issues)
    return [h.upper() for h in body], None


def _js_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def _bulk_error(issues: list):
    return error(400, BULK_PREFIX + json.dumps(issues, indent=2, ensure_ascii=False))


def _sha_matches(catalog, hashes: list[str]):
    """(model, version, file) per matching file, SHA256 only, published only, in catalog order."""
    wanted = set(hashes)
    for m in list(catalog.models):
        for v in m["modelVersions"]:
            if not _visible(m, v):
                continue
            for f in v["files"]:
                if (f["hashes"].get("SHA256") or "").upper() in wanted:
                    yield m, v, f


def bulk(req):
    hashes, err = _bulk_hashes(req, 100)
    if err:
        return err
    bulk_origin = "https://undefined" if req.fake.faults.undefined_bulk_urls else None
    items = [views.version_view(req.origin, m, v, by_hash=True, bulk_origin=bulk_origin)
             for m, v, _f in _sha_matches(req.fake.catalog, hashes)]
    return json_response(200, items, CACHE_PUBLIC)


def bulk_ids(req):
    hashes, err = _bulk_hashes(req, 10000)
    if err:
        return err
    items = [{"modelVersionId": v["id"], "modelId": m["id"], "hash": f["hashes"]["SHA256"].upper()}
             for m, v, f in _sha_matches(req.fake.catalog, hashes)]
    return json_response(200, items, CACHE_PUBLIC)
