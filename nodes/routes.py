"""civkit's HTTP routes for ComfyUI, under ``/civkit/`` (ComfyUI mounts them under ``/api`` too).

Handlers stay thin: they validate, then run the service in a worker thread, because anything that
hashes, walks folders or talks to Civitai would freeze the whole ComfyUI UI on the event loop
(HOSTS.md §1.3). Errors are JSON ``{"error": "..."}`` with the same plain message the CLI prints.

Mutating routes never take a path: a download names a folder *key* known to ``folder_paths`` and
a Civitai reference; civkit chooses the file name itself (HOSTS.md §1.5). Downloads only come
from Civitai's hosts or the configured API base.

Only the standard library and aiohttp are imported at module level (see ``runtime``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time

try:  # ComfyUI ships aiohttp; elsewhere (Forge) this module is never used, but must import
    from aiohttp import web
except ImportError:  # pragma: no cover
    web = None

from .routes_batches import register_batch_routes
from .routes_care import register_care_routes
from .validate import (
    PATH_FIELDS,
    RequestRefused,
    check_browser_request,
    check_folder_key,
    check_ref_source,
    clean_ref,
    download_request,
    int_or_none,
)

log = logging.getLogger(__name__)

SETTING_FIELDS = frozenset({"nsfw_previews", "write_sidecars", "subfolder_template"})

# Error class name -> HTTP status; matched along the exception's MRO, so subclasses follow.
_STATUS_BY_ERROR = {
    "RefError": 400, "BadRequest": 400, "UnsafeFilename": 400, "DownloadError": 400,
    "FileConflict": 409, "NotFound": 404, "AuthRequired": 401, "EarlyAccess": 403, "Forbidden": 403,
    "RegionBlocked": 451, "Archived": 410, "RateLimited": 429, "NotEnoughSpace": 507,
    "CivitaiError": 502,
}


def json_error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _error_response(exc: BaseException, svc=None) -> web.Response:
    """The service's own words and status for ``exc`` (the same sentence the CLI prints)."""
    if isinstance(exc, RequestRefused):
        return json_error(exc.message, exc.status)
    if svc is not None and hasattr(svc, "error_message"):
        status = svc.error_status(exc)
        if status >= 500 and status != 502:
            log.error("civkit route failed", exc_info=(type(exc), exc, exc.__traceback__))
        return json_error(svc.error_message(exc), status)
    for cls in type(exc).__mro__:
        status = _STATUS_BY_ERROR.get(cls.__name__)
        if status is not None:
            message = getattr(exc, "message", None) or str(exc)
            return json_error(_redact(message), status)
    log.error("civkit route failed", exc_info=(type(exc), exc, exc.__traceback__))
    return json_error(f"civkit hit an unexpected error ({type(exc).__name__}); the ComfyUI console has details.",
                      500)


def _redact(text: str) -> str:
    from ..civkit.config import redact

    return redact(text)


async def _in_thread(func, *args, **kwargs):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(func, *args, **kwargs))


async def _json_body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise RequestRefused("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise RequestRefused("The request body must be a JSON object.")
    return body


def _local_host(request):
    """The address the connection arrived on (None when the transport does not say)."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sockname, (tuple, list)) and sockname:
        return sockname[0]
    return None


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------- library scans


class ScanRunner:
    """One library scan at a time, in a worker thread; its state is what the status route shows."""

    def __init__(self, get_service):
        self._get_service = get_service
        self._lock = threading.Lock()
        self.state = {"running": False, "done": 0, "total": None, "started_at": None, "finished_at": None,
                      "result": None, "error": None}

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self.state)

    def start(self, lookup: bool) -> bool:
        with self._lock:
            if self.state["running"]:
                return False
            self.state.update(running=True, done=0, total=None, started_at=time.time(), finished_at=None,
                              result=None, error=None)
        threading.Thread(target=self._run, args=(lookup,), name="civkit-scan", daemon=True).start()
        return True

    def _progress(self, *args, **kwargs) -> None:
        done = kwargs.get("done", args[0] if args else None)
        total = kwargs.get("total", args[1] if len(args) > 1 else None)
        with self._lock:
            if isinstance(done, int):
                self.state["done"] = done
            if isinstance(total, int):
                self.state["total"] = total

    def _run(self, lookup: bool) -> None:
        result = error = None
        try:
            result = self._get_service().scan_library(lookup=lookup, progress=self._progress)
        except Exception as exc:  # reported to the browser; the scan thread must end cleanly
            error = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            log.warning("civkit library scan failed: %s", error)
        with self._lock:
            self.state.update(running=False, finished_at=time.time(), error=error,
                              result=result if isinstance(result, dict) else None)


# ---------------------------------------------------------------------------- routes


def register_routes(routes, service) -> ScanRunner:
    """Add civkit's routes to ``routes`` (an aiohttp RouteTableDef). ``service`` is a CivkitService
    or a function returning one, so ComfyUI builds it on the first request, not at import.
    Progress events come from the service's subscribers (see ``runtime.connect_events``)."""
    get_service = service if callable(service) and not hasattr(service, "search") else (lambda: service)
    scans = ScanRunner(get_service)

    def handler(func, *, allowed_types=("application/json",)):
        @functools.wraps(func)
        async def wrapped(request):
            svc = None
            try:
                # before anything is read or built: a hostile page's request gets nowhere (item 9)
                check_browser_request(request.method, request.headers, request.content_type, _local_host(request),
                                      allowed_types=allowed_types)
                svc = get_service()
                return await func(request, svc)
            except web.HTTPException:
                raise
            except Exception as exc:  # every failure becomes a JSON answer with a reason
                return _error_response(exc, svc)

        return wrapped

    from . import resources_route

    resources_route.register(routes, handler, _in_thread, _json_body)

    @routes.get("/civkit/search")
    @handler
    async def search(request, svc):
        q = request.query
        limit = int_or_none(q.get("limit"), "limit") or 20
        result = await _in_thread(
            svc.search, q.get("query") or None,
            types=tuple(t for v in q.getall("types", []) for t in v.split(",") if t),
            base_models=tuple(v for v in q.getall("base_models", []) if v),
            sort=q.get("sort") or None, period=q.get("period") or None, nsfw=_flag(q.get("nsfw", "")),
            cursor=q.get("cursor") or None, limit=max(1, min(limit, 100)),
        )
        return web.json_response(result)

    @routes.get("/civkit/model")
    @handler
    async def model_details(request, svc):
        ref, notice = clean_ref(request.query.get("ref", ""))
        check_ref_source(ref, svc.config.api_base)
        details = await _in_thread(svc.model_details, ref.strip())
        return web.json_response({**details, "notice": notice} if notice else details)

    @routes.get("/civkit/downloads")
    @handler
    async def list_downloads(request, svc):
        return web.json_response({"downloads": await _in_thread(svc.downloads)})

    @routes.post("/civkit/downloads")
    @handler
    async def start_download(request, svc):
        body = await _json_body(request)
        notice = clean_ref(body["ref"])[1] if isinstance(body.get("ref"), str) else None
        ref, kwargs = download_request(svc, body)
        task_id = await _in_thread(svc.start_download, ref, **kwargs)
        return web.json_response({"id": task_id, **({"notice": notice} if notice else {})}, status=202)

    @routes.post("/civkit/downloads/{task_id}/cancel")
    @handler
    async def cancel_download(request, svc):
        ok = await _in_thread(svc.cancel_download, request.match_info["task_id"])
        if not ok:
            raise RequestRefused("That download is not running any more.", 404)
        return web.json_response({"cancelled": True})

    @routes.post("/civkit/downloads/{task_id}/retry")
    @handler
    async def retry_download(request, svc):
        ok = await _in_thread(svc.retry_download, request.match_info["task_id"])
        if not ok:
            raise RequestRefused("Only a failed or cancelled download can be retried.", 409)
        return web.json_response({"retried": True})

    @routes.post("/civkit/library/scan")
    @handler
    async def start_scan(request, svc):
        body = await _json_body(request)
        if set(body) & PATH_FIELDS:
            raise RequestRefused("civkit scans ComfyUI's model folders; it takes no path.")
        started = scans.start(lookup=bool(body.get("lookup", True)))
        return web.json_response({"started": started, "scan": scans.snapshot()}, status=202 if started else 409)

    @routes.get("/civkit/library/status")
    @handler
    async def scan_status(request, svc):
        return web.json_response(scans.snapshot())

    @routes.get("/civkit/library")
    @handler
    async def library(request, svc):
        q, status, offset, limit = _library_params(request.query)
        page = await _in_thread(_library_page, svc, q, status, offset, limit)
        return web.json_response({**page, "scan": scans.snapshot()})

    @routes.get("/civkit/triggers")
    @handler
    async def triggers(request, svc):
        key = check_folder_key(svc, request.query.get("folder_key") or "loras")
        name = request.query.get("name", "")
        path = await _in_thread(svc.host.resolve_name, key, name) if hasattr(svc.host, "resolve_name") else None
        if path is None:
            raise RequestRefused(f"No file {name!r} in the {key} folders.", 404)
        words = await _in_thread(svc.trigger_words, str(path))
        return web.json_response({"folder_key": key, "name": name, "trigger_words": list(words)})

    register_care_routes(routes, handler)

    @routes.get("/civkit/settings")
    @handler
    async def get_settings(request, svc):
        return web.json_response(_settings(svc))

    @routes.post("/civkit/settings")
    @handler
    async def post_settings(request, svc):
        body = await _json_body(request)
        if "api_key" in body:
            raise RequestRefused("Send the API key to /civkit/api-key; it is never a setting.")
        unknown = sorted(set(body) - SETTING_FIELDS)
        if unknown:
            raise RequestRefused(
                f"{', '.join(unknown)} cannot be changed from the browser; allowed: {', '.join(sorted(SETTING_FIELDS))}."
            )
        values = {k: bool(v) if k != "subfolder_template" else str(v or "") for k, v in body.items()}
        await _in_thread(_save_settings, svc, values)
        return web.json_response(_settings(svc))

    @routes.get("/civkit/api-key")
    @handler
    async def api_key_status(request, svc):
        return web.json_response({"set": bool(await _in_thread(svc.api_key_is_set))})

    @routes.post("/civkit/api-key")
    @handler
    async def api_key_store(request, svc):
        body = await _json_body(request)
        key = body.get("key")
        if key is not None and not isinstance(key, str):
            raise RequestRefused("key must be text.")
        await _in_thread(svc.set_api_key, (key or "").strip() or None)
        return web.json_response({"set": bool(await _in_thread(svc.api_key_is_set))})

    @routes.delete("/civkit/api-key")
    @handler
    async def api_key_clear(request, svc):
        await _in_thread(svc.set_api_key, None)
        return web.json_response({"set": bool(await _in_thread(svc.api_key_is_set))})

    register_batch_routes(routes, handler, _json_body, _in_thread)
    return scans


LIBRARY_PAGE = 200  # rows per page when the browser does not say
LIBRARY_PAGE_MAX = 1000
LIBRARY_STATUSES = ("linked", "not_found", "unknown", "error")


def _library_params(query) -> tuple:
    """``q``, ``status``, ``offset``, ``limit`` of ``GET /civkit/library``, checked (RequestRefused: 400)."""
    q = (query.get("q") or "").strip()
    if len(q) > 200:
        raise RequestRefused("q is too long (200 characters at most).")
    status = (query.get("status") or "").strip() or None
    if status is not None and status not in LIBRARY_STATUSES:
        raise RequestRefused(f"status must be one of {', '.join(LIBRARY_STATUSES)}, got {status!r}.")
    offset = int_or_none(query.get("offset"), "offset")
    limit = int_or_none(query.get("limit"), "limit")
    offset = 0 if offset is None else offset
    limit = LIBRARY_PAGE if limit is None else limit
    if offset < 0:
        raise RequestRefused(f"offset must be 0 or more, got {offset}.")
    if not 1 <= limit <= LIBRARY_PAGE_MAX:
        raise RequestRefused(f"limit must be between 1 and {LIBRARY_PAGE_MAX}, got {limit}.")
    return q or None, status, offset, limit


def _library_page(svc, q, status, offset, limit) -> dict:
    """One page of the library with ComfyUI names (``locate`` resolves paths: kept off the event loop)."""
    page = svc.library_page(query=q, status=status, offset=offset, limit=limit)
    page["items"] = [_with_location(svc, e) for e in page["items"]]
    return page


def _with_location(svc, entry: dict) -> dict:
    """Add the folder key and ComfyUI name so the browser can refer to a file without its path."""
    locate = getattr(svc.host, "locate", None)
    found = locate(entry.get("path", "")) if locate else None
    if found:
        entry = dict(entry, folder_key=found[0], comfy_name=found[1])
    return entry


def _settings(svc) -> dict:
    """What the panel may show: never the key, only whether one is set."""
    settings = svc.settings() if hasattr(svc, "settings") else {}
    cfg = svc.config
    return {
        "api_base": cfg.api_base,
        "api_key_set": bool(svc.api_key_is_set()),
        "nsfw_previews": cfg.nsfw_previews,
        "write_sidecars": cfg.write_sidecars,
        "subfolder_template": cfg.subfolder_template,
        "folder_keys": sorted(settings.get("folders") or svc.host.folder_keys()),
    }


def _save_settings(svc, values: dict) -> None:
    svc.update_settings(persist=True, **values)
