"""Read-only ``/civkit/...`` FastAPI routes for A1111/Forge (added in ``on_app_started``).

They return plain dicts, so the same code runs under pydantic 1.10 (A1111) and 2.8 (Forge).
They are closed whenever the WebUI asks for a login (issue 13 item 10): ``--api-auth
user:pass[,user2:pass2]`` (the WebUI API's HTTP Basic credentials) and ``--gradio-auth`` /
``--gradio-auth-path`` (the page's login). Then a request needs HTTP Basic credentials from either
list, or the session cookie gradio gives a logged-in browser.
"""

# No ``from __future__ import annotations``: FastAPI 0.94 (A1111) resolves string annotations in
# module globals, where the lazily imported ``Request`` does not live.

import logging
import secrets
from typing import Optional

from .. import __version__

log = logging.getLogger(__name__)

MAX_LIBRARY_PAGE = 1000


def _credentials(api_auth: Optional[str]) -> dict:
    pairs = {}
    for item in (api_auth or "").split(","):
        if ":" in item:
            user, password = item.strip().split(":", 1)
            pairs[user] = password
    return pairs


def gradio_credentials(gradio_auth: Optional[str], gradio_auth_path: Optional[str] = None) -> tuple:
    """``(pairs, configured)`` as the WebUI reads ``--gradio-auth`` and ``--gradio-auth-path`` (a file
    of ``user:pass`` items, comma- or line-separated). An unreadable file still counts as configured:
    the routes then stay closed rather than open."""
    configured = bool((gradio_auth or "").strip()) or bool(gradio_auth_path)
    text = gradio_auth or ""
    if gradio_auth_path:
        try:
            with open(gradio_auth_path, encoding="utf8") as fh:
                text += "," + fh.read().replace("\n", ",")
        except OSError as exc:
            log.warning("civkit: cannot read --gradio-auth-path %s (%s); civkit's routes stay closed",
                        gradio_auth_path, exc.strerror or exc)
    return _credentials(text), configured


def _gradio_session(app, request) -> bool:
    """Whether the request carries the session cookie of a user logged in to this gradio app
    (``access-token`` / ``access-token-unsecure``, suffixed with the app's cookie id in gradio 4)."""
    tokens = getattr(app, "tokens", None)
    if not isinstance(tokens, dict) or not tokens:
        return False
    for name, value in request.cookies.items():
        if name.startswith("access-token") and value and tokens.get(value) is not None:
            return True
    return False


def register_routes(app, service, *, api_auth: Optional[str] = None, gradio_auth: Optional[str] = None,
                    gradio_auth_path: Optional[str] = None) -> None:
    from fastapi import Depends, HTTPException, Request, status
    from fastapi.security import HTTPBasic

    allowed = _credentials(api_auth)
    login_pairs, login_required = gradio_credentials(gradio_auth, gradio_auth_path)
    allowed.update({u: p for u, p in login_pairs.items() if u not in allowed})
    closed = bool(allowed) or login_required
    basic = HTTPBasic(auto_error=False)

    def check(request: Request, credentials=Depends(basic)):
        if not closed:
            return
        expected = allowed.get(credentials.username) if credentials else None
        if expected is not None and secrets.compare_digest(credentials.password.encode(), expected.encode()):
            return
        if login_required and _gradio_session(app, request):
            return
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
