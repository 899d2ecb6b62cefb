"""The errors the service raises, and the words and HTTP statuses every UI uses for any error.

``error_message(exc)`` is the one place that turns an exception into the sentence a person reads
(the same words as the CLI prints): civkit's own errors carry ``.message``; anything unexpected
becomes a short generic sentence (the details go to the log, never a traceback to the user).
The API key is scrubbed from every message.
"""

from __future__ import annotations

from typing import Optional

from .config import redact


class ServiceError(Exception):
    """A request the service refuses or cannot serve. ``.message`` is for people;
    ``.http_status`` is what a route should answer (400 bad input, 404 not found, 409 busy)."""

    def __init__(self, message: str, *, http_status: int = 400):
        super().__init__(message)
        self.message = message
        self.http_status = http_status

    def __str__(self) -> str:
        return self.message


def key_error(exc: BaseException):
    """The ``AuthRequired`` a (new) API key would fix, if ``exc`` is one or directly wraps one (a
    download wraps it in a ``DownloadError``); else None. An error that wraps such a wrapper (a
    companion's failure, worded with its checkpoint) already says it in its own words."""
    from .api.errors import AuthRequired

    for candidate in (exc, getattr(exc, "cause", None) or exc.__cause__):
        if isinstance(candidate, AuthRequired):
            return candidate if candidate.reason in ("login", "key_rejected") else None
    return None


def error_message(exc: BaseException, api_key: Optional[str] = None, key_hint: Optional[str] = None) -> str:
    """The sentence a person reads for ``exc``, the same in every UI (and the CLI).

    ``key_hint`` says where the API key goes in the face the person is in (the host adapter's
    ``key_hint``, e.g. "open the civkit sidebar → Settings ..."); a 401 that a key would fix is then
    worded with it (issue 13 item 16)."""
    auth = key_error(exc) if key_hint else None
    if auth is not None:
        from .api.errors import key_message

        download = auth is not exc or "/api/download/" in (auth.url or "")
        return redact(key_message(auth.reason, key_hint, download=download) or auth.message, api_key)
    message = getattr(exc, "message", None) or getattr(exc, "user_message", None)
    if not isinstance(message, str) or not message:
        if isinstance(exc, OSError):
            where = f": {exc.filename}" if exc.filename else ""
            message = f"{exc.strerror or type(exc).__name__}{where}"
        elif isinstance(exc, (ValueError, TimeoutError)) and str(exc):
            message = str(exc)
        else:
            message = f"Something went wrong inside civkit ({type(exc).__name__}); the log has the details."
    return redact(message, api_key)


def error_status(exc: BaseException) -> int:
    """The HTTP status a route answers with for ``exc``."""
    from .api import errors

    if isinstance(exc, ServiceError):
        return exc.http_status
    if isinstance(exc, errors.NotFound):
        return 404
    if isinstance(exc, errors.AuthRequired):
        return 401
    if isinstance(exc, (errors.EarlyAccess, errors.Forbidden, errors.RegionBlocked)):
        return 403
    if isinstance(exc, errors.Archived):
        return 410
    if isinstance(exc, errors.RateLimited):
        return 429
    if isinstance(exc, errors.CivitaiError):
        return 502
    from .download.errors import Cancelled, DownloadError, NotEnoughSpace

    if isinstance(exc, Cancelled):
        return 409
    if isinstance(exc, NotEnoughSpace):
        return 507
    if isinstance(exc, (DownloadError, ValueError)):  # a refused file, a bad reference
        return 400
    if isinstance(exc, TimeoutError):
        return 504
    return 500
