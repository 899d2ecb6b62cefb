"""Read-only ``/civkit/...`` FastAPI routes for A1111/Forge (added in ``on_app_started``).

They return plain dicts, so the same code runs under pydantic 1.10 (A1111) and 2.8 (Forge).
When the WebUI runs with ``--api-auth user:pass[,user2:pass2]`` every route asks for the same
HTTP Basic credentials as the WebUI's own API.
"""

from __future__ import annotations

import secrets
from typing import Optional

from .. import __version__

MAX_LIBRARY_PAGE = 1000


def _credentials(api_auth: Optional[str]) -> dict:
    pairs = {}
    for item in (api_auth or "").split(","):
        if ":" in item:
            user, password = item.strip().split(":", 1)
            pairs[user] = password
    return pairs


def register_routes(app, service, *, api_auth: Optional[str] = None) -> None:
    from fastapi import Depends, HTTPException, status
    from fastapi.security import HTTPBasic

    allowed = _credentials(api_auth)
    basic = HTTPBasic(auto_error=bool(allowed))

    # No annotations here: with ``from __future__ import annotations`` FastAPI 0.94 (A1111) would
    # resolve them from module globals, where these lazily imported names do not live.
    def check(credentials=Depends(basic)):
        if not allowed:
            return
        expected = allowed.get(credentials.username) if credentials else None
        if expected is None or not secrets.compare_digest(credentials.password.encode(), expected.encode()):
            raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Incorrect username or password",
                                headers={"WWW-Authenticate": "Basic"})

    @app.get("/civkit/status", dependencies=[Depends(check)])
    def civkit_status():
        return {"version": __version__, "host": getattr(service.host, "name", None),
                "api_key_set": service.api_key_is_set(), "folders": service.folders()}

    @app.get("/civkit/downloads", dependencies=[Depends(check)])
    def civkit_downloads():
        return {"downloads": list(service.downloads())}

    @app.get("/civkit/library", dependencies=[Depends(check)])
    def civkit_library(q=None, status=None, offset=0, limit=200):
        """One page of the library (``{items, total, offset, limit}``), like ComfyUI's route:
        a library of tens of thousands of files is never sent whole."""
        from ..service_errors import ServiceError

        try:
            if not 1 <= int(limit) <= MAX_LIBRARY_PAGE:
                raise ValueError
        except (TypeError, ValueError):
            raise HTTPException(status_code=400, detail=f"limit must be a whole number from 1 to {MAX_LIBRARY_PAGE}.") from None
        try:
            return service.library_page(query=q, status=status, offset=offset, limit=int(limit))
        except ServiceError as exc:
            raise HTTPException(status_code=400, detail=exc.message) from None
