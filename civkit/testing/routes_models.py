"""`GET /api/v1/models` (§4.1, §6, §9) and `GET /api/v1/models/:id` (§4.2)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote, urlencode

from . import views
from .http import CACHE_PRIVATE, CACHE_PUBLIC, error, json_response, parse_id, zod_error
from .params import COMMERCIAL_USE, MODEL_SORTS, MODEL_TYPES, PERIODS, Params

_FORBIDDEN = {"allowNoCredit": "boolean", "allowDerivatives": "boolean", "allowDifferentLicense": "boolean",
              "browsingLevel": "number", "excludedTagIds": "array", "excludedUserIds": "array",
              "excludedModelIds": "array", "excludedImageIds": "array", "collectionId": "number",
              "pending": "boolean", "fileFormats": "array"}
_PERIOD_DAYS = {"Year": 365, "Month": 30, "Week": 7, "Day": 1}


def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _published(model: dict) -> list[dict]:
    return [v for v in model["modelVersions"] if v["status"] == "Published"]


def sort_key(sort: str, model: dict) -> tuple:
    s = model["stats"]
    up, downloads = s["thumbsUpCount"] or 0, s["downloadCount"] or 0
    if sort in ("Highest Rated", "Most Liked"):
        return (up, downloads, model["id"])
    if sort == "Most Downloaded":
        return (downloads, up, model["id"])
    if sort == "Most Discussed":
        return (s["commentCount"] or 0, model["id"])
    if sort == "Most Collected":
        return (model.get("_collectedCount", 0), model["id"])
    if sort == "Most Images":
        return (sum(len(v["images"]) for v in _published(model)), model["id"])
    dates = [_ms(v["publishedAt"]) for v in _published(model)] or [0]
    if sort == "Newest":
        return (max(dates), model["id"])
    return (min(dates), model["id"])  # Oldest (ascending)


def normalise_username(raw: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "", raw.replace(" ", "_", 1)).lower()


def list_models(req):
    if req.method not in ("GET", "HEAD"):
        return error(405, "Method not allowed")
    if (req.has("favorites") or req.has("hidden")) and not req.key:
        return error(401, "Unauthorized")
    p = Params(req)
    limit = p.number("limit", minimum=0, maximum=100, default=100)
    page = p.number("page", minimum=1)
    cursor = req.one("cursor")
    query = req.one("query")
    tag = req.one("tag") if req.has("tag") else req.one("tagname")
    username = req.one("username") if req.has("username") else req.one("user")
    types = p.enum_list("types", MODEL_TYPES)
    base_models = req.all("baseModels")
    checkpoint_type = p.enum("checkpointType", ["Trained", "Merge"])
    sort = p.enum("sort", MODEL_SORTS, "Highest Rated")
    period = p.enum("period", PERIODS, "AllTime")
    period_mode = p.enum("periodMode", ["stats", "published"], "published")
    nsfw = p.strict_bool("nsfw", False)
    primary_only = p.strict_bool("primaryFileOnly", False)
    favorites = p.strict_bool("favorites")
    hidden = p.strict_bool("hidden")
    p.strict_bool("newCreators")
    ids = p.number_list("ids")
    version_ids = p.number_list("modelVersionIds")
    commercial = p.enum_list("allowCommercialUse", COMMERCIAL_USE)
    coerced = {name: p.coercing_bool(name) for name in ("supportsGeneration", "earlyAccess", "fromPlatform",
                                                        "followed", "archived", "needsReview")}
    for name, expected in _FORBIDDEN.items():
        p.forbid(name, expected)
    if p.issues:
        return zod_error(p.issues)
    if page is not None and cursor is None and page * limit > 1000:
        return error(429, "You've requested too many pages, please use cursors instead")
    if query is not None and page is not None:
        return error(400, "Cannot use page param with query search. Use cursor-based pagination.")

    catalog = req.fake.catalog
    models = [m for m in list(catalog.models) if m.get("_status") == "Published"]
    if username is not None:
        wanted = normalise_username(username)
        if wanted not in {u.lower() for u in catalog.users}:
            return json_response(404, {"message": "User not found"})
        models = [m for m in models if (m.get("creator") or {}).get("username", "").lower() == wanted]
    if query:
        q = query.lower()
        models = [m for m in models if q in m["name"].lower() or any(q in t for t in m["tags"])
                  or q in (m.get("creator") or {}).get("username", "").lower()]
    elif ids:
        models = [m for m in models if m["id"] in ids]
    if tag:
        known = {t.lower() for m in catalog.models for t in m["tags"]}
        if tag.lower() in known:  # an unknown tag drops the filter (§4.1)
            models = [m for m in models if tag.lower() in (t.lower() for t in m["tags"])]
    if types:
        models = [m for m in models if m["type"] in types]
    if checkpoint_type and (not types or "Checkpoint" in types):
        models = [m for m in models if m["type"] != "Checkpoint" or m.get("_checkpointType") == checkpoint_type]
    if not nsfw:
        models = [m for m in models if m["nsfwLevel"] & 1]
    user = catalog.test_user if req.key else None
    if favorites:
        models = [m for m in models if m["id"] in user["favorites"]]
    if hidden:
        models = [m for m in models if m["id"] in user["hidden"]]
    elif user:
        models = [m for m in models if m["id"] not in user["hidden"]]
    if commercial:
        models = [m for m in models if set(commercial) & set(m["allowCommercialUse"])]
    if coerced["earlyAccess"]:
        models = [m for m in models if any(v.get("earlyAccessDeadline") for v in _published(m))]
    if coerced["supportsGeneration"]:
        models = [m for m in models if m["supportsGeneration"]]
    if coerced["archived"]:
        models = [m for m in models if m.get("mode") == "Archived"]
    if period != "AllTime":
        since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=_PERIOD_DAYS[period])).timestamp() * 1000
        models = [m for m in models if max((_ms(v["publishedAt"]) for v in _published(m)), default=0) >= since]
    if base_models or version_ids:
        models = [m for m in models if any((not base_models or v["baseModel"] in base_models)
                                           and (not version_ids or v["id"] in version_ids) for v in _published(m))]
    del period_mode  # only "published" is emulated

    legacy = req.fake.faults.legacy_shapes
    if query:
        ordered = sorted(models, key=lambda m: sort_key(sort, m), reverse=sort != "Oldest")
        start, err = _offset_cursor(cursor)
    else:
        ordered = sorted(models, key=lambda m: sort_key(sort, m), reverse=sort != "Oldest")
        start, err = _start_of(ordered, sort, cursor, page, limit, legacy)
    if err:
        return err
    chunk = ordered[start:start + limit]
    items = []
    for m in chunk:
        item = views.list_model(req.origin, m, nsfw=bool(nsfw), base_models=base_models, version_ids=version_ids,
                                primary_only=bool(primary_only), legacy=legacy)
        if item is not None:
            items.append(item)
    metadata: dict = {}
    has_more = start + limit < len(ordered) and limit > 0
    if has_more:
        if query or legacy:
            next_cursor = str(start + limit)
        else:
            next_cursor = "|".join(str(v) for v in sort_key(sort, ordered[start + limit]))
        metadata["nextCursor"] = int(next_cursor) if legacy else next_cursor
        metadata["nextPage"] = next_page_url(req, next_cursor)
    if page is not None and cursor is None:
        metadata["currentPage"] = page
        metadata["pageSize"] = limit
    if legacy:
        total_pages = -(-len(ordered) // limit) if limit else 0
        metadata.update({"totalItems": len(ordered), "currentPage": page or 1, "pageSize": limit,
                         "totalPages": total_pages})
        if (page or 1) > 1:
            metadata["prevPage"] = next_page_url(req, None, page=(page or 1) - 1)
    cache = CACHE_PRIVATE if req.key else CACHE_PUBLIC
    return json_response(200, {"items": items, "metadata": metadata}, cache)


def next_page_url(req, cursor: str | None, page: int | None = None) -> str:
    query = {k: list(v) for k, v in req.query.items()}
    if cursor is not None:
        query["cursor"] = [cursor]
    if page is not None:
        query["page"] = [str(page)]
    return f"{req.origin}{req.path}?{urlencode(query, doseq=True, quote_via=quote)}"


def _offset_cursor(cursor):
    if cursor is None:
        return 0, None
    if not cursor.isdigit():
        return 0, json_response(400, {"message": "Invalid cursor: expected an offset for query search"})
    return int(cursor), None


def _start_of(ordered, sort, cursor, page, limit, legacy):
    if cursor is None:
        return ((page or 1) - 1) * limit, None
    if legacy and cursor.isdigit():
        return int(cursor), None  # 2023 numeric cursors were offsets
    values = cursor.split("|")
    want = len(sort_key(sort, {"id": 0, "stats": {"thumbsUpCount": 0, "downloadCount": 0, "commentCount": 0},
                               "modelVersions": []}))
    if len(values) != want:
        return 0, json_response(400, {"message": f"Invalid cursor: expected {want} value(s) for this sort, "
                                                 f"received {len(values)}"})
    try:
        key = tuple(int(v) for v in values)
    except ValueError:
        return 0, json_response(400, {"message": "Invalid cursor: expected numeric values"})
    ascending = sort == "Oldest"
    for i, m in enumerate(ordered):
        k = sort_key(sort, m)
        if (k >= key) if ascending else (k <= key):
            return i, None
    return len(ordered), None


def get_model(req, raw_id: str):
    model_id, err = parse_id(raw_id)
    if err:
        return err
    model = req.fake.catalog.model(model_id)
    if model is None or model.get("_status") != "Published":
        return error(404, f"No model with id {model_id}")
    return json_response(200, views.model_by_id(req.origin, model, legacy=req.fake.faults.legacy_shapes),
                         CACHE_PUBLIC)
