"""Per-route views cut from the catalog's raw model records (CIVITAI_API.md §4.1–4.3)."""

from __future__ import annotations

from urllib.parse import quote

_IMAGE_LIST_KEYS = ("id", "url", "nsfwLevel", "width", "height", "hash", "type", "minor", "poi", "hasMeta",
                    "hasPositivePrompt", "onSite", "remixOfId")
_VIMAGE_KEYS = ("url", "nsfwLevel", "width", "height", "hash", "type", "metadata", "minor", "poi", "meta",
                "availability", "hasMeta", "hasPositivePrompt", "onSite", "remixOfId")


def public(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def absolute(origin: str, url: str | None) -> str | None:
    return origin + url if url and url.startswith("/") else url


def download_url(origin: str, version: dict, file: dict | None = None) -> str:
    """The primary file gets the bare URL; others get selectors in the order type, format, size, fp (§4.1)."""
    base = f"{origin}/api/download/models/{version['id']}"
    if file is None or file.get("primary"):
        return base
    meta = file.get("metadata") or {}
    parts = [("type", file["type"])]
    if file["type"] != "Training Data":
        parts.append(("format", meta.get("format")))
    parts += [("size", meta.get("size")), ("fp", meta.get("fp")), ("quantType", meta.get("quantType"))]
    query = "&".join(f"{k}={quote(str(v))}" for k, v in parts if v is not None)
    return f"{base}?{query}"


def commercial_use(value: list, legacy: bool, list_route: bool):
    """§11.1: the list path of current builds sends a Postgres array literal ("{Image,Rent}"), `/models/:id` a
    JSON array; 2022-23 builds sent a single string."""
    if legacy and len(value) == 1:
        return value[0]
    if legacy or list_route:
        return "{" + ",".join(value) + "}"
    return list(value)


def _file(origin: str, version: dict, f: dict, *, list_route: bool, clean: bool, keep_override: bool) -> dict:
    out = public(f)
    if not keep_override:
        out.pop("overrideName", None)
    meta = dict(out["metadata"])
    if clean:
        meta = {k: v for k, v in meta.items() if v is not None}
    out["metadata"] = meta
    if list_route and not f.get("primary"):
        out.pop("primary", None)  # absent = not primary on the list routes
    out["downloadUrl"] = download_url(origin, version, f)
    return out


def list_image(origin: str, img: dict) -> dict:
    out = {k: img[k] for k in _IMAGE_LIST_KEYS}
    out["url"] = absolute(origin, out["url"])
    return out


def vimage(origin: str, img: dict) -> dict:
    out = {k: img[k] for k in _VIMAGE_KEYS}
    out["url"] = absolute(origin, out["url"])
    return out


def list_model(origin: str, model: dict, *, nsfw: bool, base_models=(), version_ids=(), primary_only=False,
               legacy=False) -> dict | None:
    """The `/models` item. None when narrowing leaves no version."""
    out = _model_head(origin, model, legacy, list_route=True)
    versions = []
    for v in model["modelVersions"]:
        if v["status"] != "Published":
            continue
        if base_models and v["baseModel"] not in base_models:
            continue
        if version_ids and v["id"] not in version_ids:
            continue
        files = v["files"]
        if not files and model.get("mode") != "Archived":
            continue  # versions without files are dropped (archived ones keep files: [])
        if primary_only:
            files = [f for f in files if f.get("primary")][:1]
        images = [i for i in v["images"] if nsfw or i["nsfwLevel"] == 1]
        item = {
            "id": v["id"], "index": len(versions), "name": v["name"], "baseModel": v["baseModel"],
            "baseModelType": v["baseModelType"], "publishedAt": v["publishedAt"], "availability": v["availability"],
            "nsfwLevel": v["nsfwLevel"], "description": v["description"], "trainedWords": v["trainedWords"],
            "vaeId": v["vaeId"], "supportsGeneration": v["supportsGeneration"],
            "stats": v["stats"], "files": [_file(origin, v, f, list_route=True, clean=False, keep_override=False)
                                           for f in files],
            "images": [list_image(origin, i) for i in images[:20]],
        }
        if v.get("earlyAccessDeadline"):
            item["earlyAccessDeadline"] = v["earlyAccessDeadline"]
        if v.get("paidAccess"):
            item["paidAccess"] = v["paidAccess"]
        if model.get("mode") != "Archived":
            item["downloadUrl"] = download_url(origin, v)
        versions.append(item)
    if (base_models or version_ids) and not versions:
        return None
    out["modelVersions"] = versions
    return out


def model_by_id(origin: str, model: dict, *, legacy=False) -> dict:
    """`/models/:id`: versions cleaned (null and empty values removed), images without id (§4.2)."""
    out = _model_head(origin, model, legacy, list_route=False)
    versions = []
    for v in model["modelVersions"]:
        if v["status"] != "Published":
            continue
        item = {
            "id": v["id"], "index": len(versions), "name": v["name"], "baseModel": v["baseModel"],
            "baseModelType": v["baseModelType"], "createdAt": v["createdAt"], "publishedAt": v["publishedAt"],
            "status": v["status"], "availability": v["availability"], "nsfwLevel": v["nsfwLevel"],
            "description": v["description"], "trainedWords": v["trainedWords"], "vaeId": v["vaeId"],
            "covered": v["covered"], "stats": v["stats"], "earlyAccessDeadline": v.get("earlyAccessDeadline"),
            "paidAccess": v.get("paidAccess"),
            "files": [_file(origin, v, f, list_route=True, clean=True, keep_override=False) for f in v["files"]],
            "images": [{k: val for k, val in list_image(origin, i).items() if k != "id"} for i in v["images"]],
        }
        if model.get("mode") != "Archived":
            item["downloadUrl"] = download_url(origin, v)
        versions.append({k: val for k, val in item.items() if val is not None and val != []})
    out["modelVersions"] = versions
    return out


def version_view(origin: str, model: dict, v: dict, *, by_hash=False, bulk_origin: str | None = None) -> dict:
    """`/model-versions/:id` and by-hash (§4.3). ``bulk_origin`` overrides the download URL origin."""
    dl_origin = bulk_origin or origin
    files = v["files"]
    out = {
        "id": v["id"], "modelId": model["id"], "name": v["name"], "nsfwLevel": v["nsfwLevel"],
        "createdAt": v["createdAt"], "updatedAt": v["updatedAt"], "status": v["status"],
        "publishedAt": v["publishedAt"], "trainedWords": v["trainedWords"], "trainingStatus": v["trainingStatus"],
        "trainingDetails": v["trainingDetails"], "baseModel": v["baseModel"], "baseModelType": v["baseModelType"],
        "earlyAccessEndsAt": v.get("earlyAccessEndsAt"), "earlyAccessConfig": v.get("earlyAccessConfig"),
        "description": v["description"], "uploadType": v["uploadType"], "usageControl": v["usageControl"],
        "licensingFee": v["licensingFee"] if by_hash else None, "paidAccess": v["paidAccess"], "air": v["air"],
        "stats": v["stats"],
        "model": {"name": model["name"], "type": model["type"], "nsfw": model["nsfw"], "poi": model["poi"]},
        "files": [_file(dl_origin, v, f, list_route=False, clean=False, keep_override=by_hash) for f in files],
        "images": [vimage(origin, i) for i in v["images"][:10]],
    }
    if v.get("earlyAccessTimeFrame"):
        out["earlyAccessTimeFrame"] = v["earlyAccessTimeFrame"]
    if model.get("mode"):
        out["model"]["mode"] = model["mode"]
    if model.get("mode") != "Archived":
        out["downloadUrl"] = download_url(dl_origin, v)
    return out


def _model_head(origin: str, model: dict, legacy: bool, list_route: bool) -> dict:
    out = public(model)
    out.pop("modelVersions", None)
    out["allowCommercialUse"] = commercial_use(model["allowCommercialUse"], legacy, list_route)
    if "creator" in model:
        creator = dict(model["creator"])
        creator["image"] = absolute(origin, creator.get("image"))
        out["creator"] = creator
    return out
