"""`/images` (§4.7), `/creators` (§4.8), `/tags` (§4.9), `/enums` (§4.10), `/me` (§2), image files, HTML pages."""

from __future__ import annotations

import functools
from urllib.parse import quote, urlencode

from . import files as F
from .http import CACHE_PRIVATE, CACHE_PUBLIC, Response, error, json_response, text_response, zod_error
from .params import FILE_TYPES, IMAGE_SORTS, MEDIA_TYPES, MODEL_TYPES, PERIODS, Params

_LEVEL_NAMES = {1: "None", 2: "Soft", 4: "Mature", 8: "X", 16: "X", 32: "Blocked"}
_NSFW_LEVELS = {"None": 1, "Soft": 3, "Mature": 7, "X": 31}
HIDDEN_BASE_MODELS = ["SDXL 0.9", "SDXL 1.0 LCM", "SDXL Turbo", "SD 2.0 768", "SD 2.1 768", "SD 2.1 Unclip",
                      "SDXL Distilled", "SD 3", "SD 3.5", "SVD", "SVD XT"]
ACTIVE_BASE_MODELS = ["SD 1.4", "SD 1.5", "SD 1.5 LCM", "SD 1.5 Hyper", "SD 2.0", "SD 2.1", "SDXL 1.0",
                      "SDXL Lightning", "SDXL Hyper", "Pony", "Pony V7", "Illustrious", "NoobAI", "AuraFlow",
                      "Flux.1 S", "Flux.1 D", "Flux.1 Krea", "Flux.1 Kontext", "Flux.2 D", "Chroma", "HiDream",
                      "Qwen", "Wan Video 14B t2v", "LTXV", "Other", "Upscaler"]


def images(req):
    p = Params(req)
    limit = p.number("limit", minimum=0, maximum=200, default=100)
    page = p.number("page", minimum=1)
    filters = {name: p.number(name, minimum=1) for name in ("postId", "modelId", "modelVersionId", "imageId",
                                                            "userId")}
    sort = p.enum("sort", IMAGE_SORTS, "Most Reactions")
    p.enum("period", PERIODS, "AllTime")
    media = p.enum("type", MEDIA_TYPES)
    browsing = p.number("browsingLevel", minimum=0)
    nsfw_raw = req.one("nsfw")
    level = 1
    if nsfw_raw in _NSFW_LEVELS:
        level = _NSFW_LEVELS[nsfw_raw]
    elif nsfw_raw is not None:
        level = 60 if p.strict_bool("nsfw") else 1  # nsfw=true means NSFW only, without PG (§4.7)
    if browsing is not None:
        level = browsing
    base_models = [b for raw in req.all("baseModels") for b in raw.split(",") if b]
    for i, b in enumerate(base_models):
        if b not in ACTIVE_BASE_MODELS + HIDDEN_BASE_MODELS:
            p.issues.append({"code": "invalid_value", "values": ACTIVE_BASE_MODELS, "path": ["baseModels", i],
                             "message": "Invalid option"})
    tag_ids = p.number_list("tags")
    with_meta = p.strict_bool("withMeta", False)
    flat_meta = p.strict_bool("flatMeta", False)
    with_tags = p.strict_bool("withTags", False)
    requiring_meta = p.strict_bool("requiringMeta", False)
    if p.issues:
        return zod_error(p.issues)
    cursor = req.one("cursor")
    if page is not None and cursor is None and page * limit > 1000:
        return error(429, "You've requested too many pages, please use cursors instead")
    catalog = req.fake.catalog
    username = req.one("username")
    found = []
    for img in list(catalog.images.values()):
        if not img["_published"] or not img["nsfwLevel"] & level:
            continue
        if filters["modelId"] and img["_modelId"] != filters["modelId"]:
            continue
        if filters["modelVersionId"] and img["_versionId"] != filters["modelVersionId"]:
            continue
        if filters["imageId"] and img["id"] != filters["imageId"]:
            continue
        if filters["postId"] and img["_postId"] != filters["postId"]:
            continue
        if username and img["_username"].lower() != username.lower():
            continue
        if media and img["type"] != media:
            continue
        if base_models and img["_baseModel"] not in base_models:
            continue
        if tag_ids and not {t["id"] for t in img["_tags"]} & set(tag_ids):
            continue
        if requiring_meta and not img["meta"]:
            continue
        found.append(img)
    found.sort(key=functools.partial(_image_key, sort), reverse=sort != "Oldest")
    legacy = req.fake.faults.legacy_shapes
    if cursor is not None:
        raw = cursor.split("|")[-1]
        if not raw.isdigit():
            return json_response(400, {"error": f"Invalid cursor: {cursor}", "code": "BAD_REQUEST"})
        start = int(raw)
    else:
        start = ((page or 1) - 1) * limit
    legacy_path = bool(filters["imageId"]) or (bool(filters["modelId"]) and not filters["modelVersionId"])
    items = [_image_item(req.origin, img, with_meta, legacy_path and not flat_meta, with_tags)
             for img in found[start:start + limit]]
    metadata: dict = {}
    if start + limit < len(found) and limit > 0:
        nxt = start + limit
        metadata["nextCursor"] = nxt if legacy else f"1|{nxt}"
        query = {k: list(v) for k, v in req.query.items()}
        if page is not None and cursor is None:
            query["page"] = [str(page + 1)]
        else:
            query["cursor"] = [str(metadata["nextCursor"])]
        metadata["nextPage"] = f"{req.origin}{req.path}?{urlencode(query, doseq=True, quote_via=quote)}"
    if page is not None and cursor is None:
        metadata.update({"currentPage": page, "pageSize": limit})
    return json_response(200, {"items": items, "metadata": metadata}, CACHE_PUBLIC)


def _image_key(sort: str, img: dict):
    s = img["_stats"]
    if sort == "Most Reactions":
        return (s["likeCount"] + s["heartCount"] + s["laughCount"] + s["cryCount"], img["id"])
    if sort == "Most Comments":
        return (s["commentCount"], img["id"])
    if sort == "Most Collected":
        return (s["heartCount"], img["id"])
    if sort == "Random":
        return ((img["id"] * 2654435761) % 4294967296, img["id"])
    return (img["_createdAt"], img["id"])


def _image_item(origin: str, img: dict, with_meta: bool, wrap_meta: bool, with_tags: bool) -> dict:
    name = _LEVEL_NAMES.get(img["nsfwLevel"], "None")
    meta = img["meta"] if with_meta else None
    if meta is not None and wrap_meta:
        meta = {"id": img["id"], "meta": meta}
    item = {"id": img["id"], "url": origin + img["url"], "hash": img["hash"], "width": img["width"],
            "height": img["height"], "nsfwLevel": name, "nsfw": name != "None", "browsingLevel": img["nsfwLevel"],
            "type": img["type"], "createdAt": img["_createdAt"], "postId": img["_postId"], "stats": img["_stats"],
            "meta": meta, "username": img["_username"], "baseModel": img["_baseModel"],
            "modelVersionIds": [img["_versionId"]]}
    if with_tags:
        item["tags"] = img["_tags"]
    return item


def _page_params(req):
    """Shared `/creators` and `/tags` parameters; validation errors are a bare issue array."""
    p = Params(req)
    limit = p.number("limit", minimum=1, maximum=200, default=20)
    page = p.number("page", minimum=1, default=1)
    if p.issues:
        return None, None, json_response(400, p.issues)
    return limit, page, None


def creators(req):
    limit, page, err = _page_params(req)
    if err:
        return err
    query = (req.one("query") or "").lower()
    counts: dict[str, int] = {}
    for m in list(req.fake.catalog.models):
        name = (m.get("creator") or {}).get("username")
        if name and m.get("_status") == "Published":
            counts[name] = counts.get(name, 0) + 1
    users = [u for u in sorted(counts) if query in u.lower()]
    total = len(users)
    chunk = users[(page - 1) * limit:page * limit]
    items = []
    for name in chunk:
        item = {"username": name, "modelCount": counts[name],
                "link": f"{req.origin}/api/v1/models?username={name}"}
        image = req.fake.catalog.users.get(name, {}).get("image")
        if image:
            item["image"] = req.origin + image
        items.append(item)
    total_pages = -(-total // limit)
    metadata = {"totalItems": total, "currentPage": page, "pageSize": limit, "totalPages": total_pages}
    if query:
        metadata["hasMore"] = page < total_pages
    if page < total_pages:
        metadata["nextPage"] = _with_page(req, page + 1)
    if page > 1:
        metadata["prevPage"] = _with_page(req, page - 1)
    return json_response(200, {"items": items, "metadata": metadata}, CACHE_PUBLIC)


def _with_page(req, page: int) -> str:
    query = {k: list(v) for k, v in req.query.items()}
    query["page"] = [str(page)]
    return f"{req.origin}{req.path}?{urlencode(query, doseq=True, quote_via=quote)}"


def tags(req):
    limit, page, err = _page_params(req)
    if err:
        return err
    query = (req.one("query") or "").lower()
    counts: dict[str, int] = {}
    for m in list(req.fake.catalog.models):
        if m.get("_status") != "Published" or not m["nsfwLevel"] & 1:
            continue
        for t in m["tags"]:
            counts[t] = counts.get(t, 0) + 1
    if query:
        names = sorted((t for t in counts if t.lower().startswith(query)), key=lambda t: (len(t), t))
    else:
        names = sorted(counts, key=lambda t: (-counts[t], t))
    chunk = names[(page - 1) * limit:page * limit]
    items = [{"name": t, "link": f"{req.origin}/api/v1/models?tag={t}"} for t in chunk]
    metadata = {"totalItems": 0, "currentPage": page, "pageSize": limit, "totalPages": 1}
    return json_response(200, {"items": items, "metadata": metadata}, CACHE_PUBLIC)


def enums(req):
    base = ACTIVE_BASE_MODELS + HIDDEN_BASE_MODELS
    return json_response(200, {"ModelType": MODEL_TYPES, "ModelFileType": FILE_TYPES,
                               "ActiveBaseModel": ACTIVE_BASE_MODELS, "BaseModel": base,
                               "BaseModelType": ["Standard", "Inpainting", "Refiner", "Pix2Pix"]}, CACHE_PRIVATE)


def me(req):
    if not req.key:
        return error(401, "Unauthorized", CACHE_PRIVATE)
    username = req.fake.keys[req.key]
    return json_response(200, {"id": 4242, "username": username, "tier": "free", "status": "active",
                               "isMember": False, "subscriptions": [], "emailVerified": True,
                               "tokenScope": 31}, CACHE_PRIVATE)


@functools.lru_cache(maxsize=256)
def _png(seed: int, w: int, h: int) -> bytes:
    return F.png_bytes(w, h, seed)


def image_file(req, stem: str):
    catalog = req.fake.catalog
    if stem.isdigit() and int(stem) in catalog.images:
        img = catalog.images[int(stem)]
        data = _png(img["id"], max(8, img["width"] // 16), max(8, img["height"] // 16))
    elif stem.startswith("avatar-"):
        data = _png(sum(map(ord, stem)), 24, 24)
    else:
        return text_response(404, "Not found")
    return Response(200, data, [("Content-Type", "image/png"), ("Cache-Control", "public, max-age=31536000")])


def html_page(req, page: str):
    """The site pages a browser ends on after a download redirect (§5.2 rows 7 and 8): always HTML."""
    title = "Sign in to Civitai" if page == "login" else "Civitai"
    html = f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    return text_response(200, html, "text/html; charset=utf-8")


