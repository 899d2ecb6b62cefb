"""``POST /civkit/resources``: what a workflow, image, Civitai image link or parameters block needs.

Body (JSON): exactly one of ``{"workflow": {...}}`` (UI format), ``{"prompt": {...}}`` (API format),
``{"url": "https://civitai.com/images/N"}``, ``{"text": "..."}``; optional ``accept_guesses``.
Or ``multipart/form-data`` with an ``image`` file (PNG/JPEG/WebP, at most 64 MiB).
Answers ``{source, kind, needs: [...], summary, infotext, notes}`` (see ``CivkitService.resources``).
The route reads and looks up only; downloads go through ``POST /civkit/downloads`` like any other,
so the same checks apply to them. Cross-site requests are refused by the route wrapper (HOSTS.md §1.5).
"""

from __future__ import annotations

import functools

from .validate import RequestRefused

MAX_IMAGE = 64 * 1024 * 1024
MAX_TEXT = 1024 * 1024
FIELDS = frozenset({"workflow", "prompt", "url", "text", "accept_guesses"})


def resources_request(body: dict, api_base: str) -> dict:
    """Validate a JSON body into keyword arguments for ``service.resources``."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise RequestRefused(f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FIELDS))}.")
    given = [k for k in ("workflow", "prompt", "url", "text") if body.get(k) not in (None, "")]
    if len(given) != 1:
        raise RequestRefused("Send exactly one of workflow, prompt, url or text (or an image as multipart).")
    key = given[0]
    value = body[key]
    if key in ("workflow", "prompt") and not isinstance(value, dict):
        raise RequestRefused(f"{key} must be a JSON object (a ComfyUI graph).")
    if key in ("url", "text"):
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise RequestRefused(f"{key} must be text of at most {MAX_TEXT // 1024} KiB.")
    if key == "url":
        from urllib.parse import urlsplit

        from ..civkit.resources.sources import image_id_from_link

        if image_id_from_link(value, (urlsplit(api_base).netloc,)) is None:
            raise RequestRefused("url must be a Civitai image link, like https://civitai.com/images/123.")
    return {key: value, "accept_guesses": body.get("accept_guesses") is True}


async def read_upload(request) -> tuple[bytes, str]:
    """The ``image`` part of a multipart upload, read with a size cap."""
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            raise RequestRefused("Send the image as the 'image' field of the form.")
        if part.name != "image":
            continue
        data = bytearray()
        while True:
            chunk = await part.read_chunk(1024 * 1024)
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_IMAGE:
                raise RequestRefused(f"The image is larger than {MAX_IMAGE // 2**20} MiB.", 413)
        from urllib.parse import unquote

        name = unquote(part.filename or "the image").replace("\\", "/").rsplit("/", 1)[-1][:200] or "the image"
        return bytes(data), name


def register(routes, handler, in_thread, json_body) -> None:
    from aiohttp import web

    # An image comes as a multipart upload: the route wrapper's Origin / Sec-Fetch-Site / Host checks
    # still refuse other sites' pages (nodes/validate.check_browser_request).
    @routes.post("/civkit/resources")
    @functools.partial(handler, allowed_types=("application/json", "multipart/form-data"))
    async def resources(request, svc):
        if request.content_type == "multipart/form-data":
            data, name = await read_upload(request)
            result = await in_thread(svc.resources, data=data, label=name)
        elif request.content_type == "application/json":
            kwargs = resources_request(await json_body(request), svc.config.api_base)
            result = await in_thread(svc.resources, **kwargs)
        else:
            raise RequestRefused("Send JSON (Content-Type: application/json) or a multipart image upload.", 415)
        return web.json_response(result)
