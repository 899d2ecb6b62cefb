"""ComfyUI routes for batches (issue 11): a plan first, then the download queue.

* ``POST /civkit/batches/plan`` ``{kind: "updates" | "refs", refs, all_files, all_versions,
  include_training_data, allow_unsafe, folder_key}`` -> the plan (rows with actions, totals, ``id``);
* ``POST /civkit/batches`` ``{plan_id, only: [row index...], replace}`` -> 202, the batch status;
* ``GET /civkit/batches/{id}`` -> status (files done/total, bytes, ETA, per file); the
  ``civkit.batch`` websocket event carries the same;
* ``POST /civkit/batches/{id}/cancel``.

No path is ever accepted (updates go beside the old file, which the service finds in its index).
Standard library and aiohttp only, like ``routes``.
"""

from __future__ import annotations

try:
    from aiohttp import web
except ImportError:  # pragma: no cover
    web = None

from .validate import PATH_FIELDS, RequestRefused, check_folder_key, check_ref_source

PLAN_FIELDS = frozenset({"kind", "refs", "all_files", "all_versions", "include_training_data", "allow_unsafe",
                         "folder_key"})
BROWSER_KINDS = ("updates", "refs")
MAX_REFS = 100


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def plan_request(svc, body: dict) -> tuple:
    """(kind, options) for ``plan_batch``; RequestRefused for anything else."""
    if set(body) & PATH_FIELDS:
        raise RequestRefused("civkit chooses where files go; a batch takes no path.")
    unknown = sorted(set(body) - PLAN_FIELDS)
    if unknown:
        raise RequestRefused(f"Unknown field(s): {', '.join(unknown)}.")
    kind = body.get("kind")
    if kind not in BROWSER_KINDS:
        raise RequestRefused(f"kind must be one of {', '.join(BROWSER_KINDS)}.")
    options = {k: _bool(body.get(k)) for k in ("all_files", "all_versions", "include_training_data", "allow_unsafe")}
    if body.get("folder_key"):
        options["folder_key"] = check_folder_key(svc, body["folder_key"])
    if kind == "refs":
        refs = body.get("refs")
        if isinstance(refs, str):
            refs = [refs]
        if not isinstance(refs, list) or not refs or not all(isinstance(r, (str, int)) for r in refs):
            raise RequestRefused("refs must be a list of Civitai links, AIRs or model@version ids.")
        if len(refs) > MAX_REFS:
            raise RequestRefused(f"At most {MAX_REFS} references per batch.")
        for ref in refs:
            check_ref_source(str(ref), svc.config.api_base)
        options["refs"] = [str(r).strip() for r in refs]
    return kind, options


def start_request(body: dict) -> tuple:
    plan_id = body.get("plan_id")
    if not isinstance(plan_id, str) or not plan_id:
        raise RequestRefused("plan_id is missing: plan the batch first.")
    only = body.get("only")
    if only is not None:
        if not isinstance(only, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in only):
            raise RequestRefused("only must be a list of row numbers.")
    return plan_id, only, _bool(body.get("replace", False))


def register_batch_routes(routes, handler, json_body, in_thread) -> None:
    """Add the batch routes; ``handler``, ``json_body`` and ``in_thread`` are ``routes``' helpers."""

    @routes.post("/civkit/batches/plan")
    @handler
    async def plan(request, svc):
        kind, options = plan_request(svc, await json_body(request))
        return web.json_response(await in_thread(svc.plan_batch, kind, **options))

    @routes.post("/civkit/batches")
    @handler
    async def start(request, svc):
        plan_id, only, replace = start_request(await json_body(request))
        return web.json_response(await in_thread(svc.start_batch, plan_id, only=only, replace=replace), status=202)

    @routes.get("/civkit/batches/{batch_id}")
    @handler
    async def status(request, svc):
        return web.json_response(await in_thread(svc.batch, request.match_info["batch_id"]))

    @routes.post("/civkit/batches/{batch_id}/cancel")
    @handler
    async def cancel(request, svc):
        if not await in_thread(svc.cancel_batch, request.match_info["batch_id"]):
            raise RequestRefused("That batch is not running.", 404)
        return web.json_response({"cancelled": True})
