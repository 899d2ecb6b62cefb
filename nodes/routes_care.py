"""Library-care routes for the ComfyUI sidebar (issue 12): the card, rename, move, delete to the
trash, restore, trigger-word groups and the preferred weight.

The browser names files by folder key + ComfyUI name (``folder_paths`` resolves them, only inside
that key's folders); mutating routes are JSON POSTs checked by ``validate.care_request``. Work
runs in a worker thread: moves may copy across disks.
"""

from __future__ import annotations

import os
import re

try:
    from aiohttp import web
except ImportError:  # pragma: no cover
    web = None

from .validate import RequestRefused, care_request, check_folder_key

_SHA = re.compile(r"^[0-9a-f]{64}$")


async def _in_thread(func, *args, **kwargs):
    from .routes import _in_thread as run

    return await run(func, *args, **kwargs)


async def _body(request) -> dict:
    from .routes import _json_body

    return await _json_body(request)


def _resolve(svc, key: str, name: str) -> str:
    resolve = getattr(svc.host, "resolve_name", None)
    path = resolve(key, name) if resolve else None
    if path is None:
        raise RequestRefused(f"No file {name!r} in the {key} folders.", 404)
    return str(path)


def _located(svc, result: dict) -> dict:
    locate = getattr(svc.host, "locate", None)
    found = locate(result.get("path") or "") if locate and result.get("path") else None
    out = {k: v for k, v in result.items() if k not in ("path", "old_path")}  # the browser gets names, not paths
    if found:
        out.update(folder_key=found[0], name=found[1])
    return out


def _card(svc, key, name) -> dict:
    card = svc.model_card(_resolve(svc, key, name))
    card["images"] = [dict(i, file=None, src=f"/civkit/library/image/{i['sha256']}") for i in card["images"]
                      if i.get("sha256")]
    card.pop("path", None)
    card["preview"] = bool(card.get("preview"))
    return dict(card, folder_key=key, comfy_name=name)


def _care(svc, action: str, body: dict) -> dict:
    path = _resolve(svc, body["folder_key"], body["name"])
    if action == "rename":
        return _located(svc, svc.rename_file(path, body.get("new_name", "")))
    if action == "move":
        base = next((str(r) for r in svc.host.folder_keys().get(body["folder_key"], [])
                     if os.path.realpath(path).startswith(os.path.realpath(str(r)) + os.sep)), None)
        if base is None:
            raise RequestRefused("That file is not inside its model folder.", 403)
        return _located(svc, svc.move_file(path, os.path.join(base, body.get("subfolder") or "")))
    if action == "delete":
        return _located(svc, svc.delete_file(path))
    choices = {"groups": body.get("groups"), "all_groups": body.get("all") is True}
    if "weight" in body:
        if body["weight"] is None:
            choices["clear_weight"] = True
        else:
            choices["weight"] = body["weight"]
    svc.set_triggers(path, **choices)
    return _card(svc, body["folder_key"], body["name"])


def _image_file(svc, sha: str):
    from ..civkit.library.images import cache_root

    folder = cache_root(svc.config.home) / "objects" / sha[:2]
    for ext in ("png", "jpeg", "webp", "gif"):
        candidate = folder / f"{sha}.{ext}"
        if candidate.is_file():
            return candidate
    return None


def register_care_routes(routes, handler) -> None:
    @routes.get("/civkit/library/card")
    @handler
    async def card(request, svc):
        key = check_folder_key(svc, request.query.get("folder_key") or "loras")
        return web.json_response(await _in_thread(_card, svc, key, request.query.get("name", "")))

    @routes.get("/civkit/library/image/{sha}")
    @handler
    async def image(request, svc):
        sha = request.match_info["sha"].lower()
        if not _SHA.match(sha):
            raise RequestRefused("Not an image id.", 404)
        found = await _in_thread(_image_file, svc, sha)
        if found is None:
            raise RequestRefused("That image is not in civkit's cache.", 404)
        return web.FileResponse(found, headers={"Cache-Control": "private, max-age=86400"})

    @routes.get("/civkit/library/bundle")
    @handler
    async def bundle(request, svc):
        key = check_folder_key(svc, request.query.get("folder_key") or "loras")
        info = await _in_thread(lambda: svc.bundle_info(_resolve(svc, key, request.query.get("name", ""))))
        info.pop("path", None)
        return web.json_response(info)

    for action in ("rename", "move", "delete", "triggers"):
        def make(action=action):
            @handler
            async def post(request, svc):
                body = care_request(svc, await _body(request), action)
                return web.json_response(await _in_thread(_care, svc, action, body))

            return post

        routes.post(f"/civkit/library/{action}")(make())

    @routes.get("/civkit/trash")
    @handler
    async def trash(request, svc):
        items = await _in_thread(svc.trash_items)
        return web.json_response({"items": [{k: v for k, v in i.items() if k not in ("folder", "files")}
                                            for i in items]})

    @routes.post("/civkit/trash/restore")
    @handler
    async def restore(request, svc):
        body = care_request(svc, await _body(request), "restore")
        return web.json_response(_located(svc, await _in_thread(svc.restore_trash, body.get("id", ""))))
