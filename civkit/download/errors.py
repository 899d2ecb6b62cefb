"""Why a download did not happen, in words a person can act on.

``DownloadError`` and its subclasses carry ``.message`` (also ``.user_message``, which the CLI
prints without a traceback). ``explain(exc)`` turns a Civitai error met while downloading into a
``DownloadError`` whose message says what to do (CIVITAI_API.md §5.2).
"""

from __future__ import annotations

import errno
from typing import Optional


class DownloadError(Exception):
    """A download failed or was refused; ``message`` says why and what to do."""

    def __init__(self, message: str, *, cause: Optional[BaseException] = None):
        super().__init__(message)
        self.message = message
        self.user_message = message
        self.cause = cause


class HashMismatch(DownloadError):
    """The bytes received are not the file Civitai lists; the .part was deleted."""


class NotEnoughSpace(DownloadError):
    """The disk is (or would become) full."""


class FileConflict(DownloadError):
    """A different file already has the target name and on_conflict="ask"."""

    def __init__(self, message: str, *, path=None):
        super().__init__(message)
        self.path = path


class Cancelled(DownloadError):
    """The user cancelled; the .part is kept for a later resume."""


def disk_full(exc: OSError, dest_dir, kept: int) -> Optional[NotEnoughSpace]:
    """A ``NotEnoughSpace`` for people when ``exc`` says the disk or quota is full, else None."""
    if exc.errno not in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return None
    from ..sizes import human_size

    return NotEnoughSpace(
        f"The disk filled up while downloading into {dest_dir}. The partial file is kept "
        f"({human_size(kept)}); free some space and run the download again to resume."
    )


def raise_if_cancelled(cancel) -> None:
    """Raise ``Cancelled`` once the ``threading.Event`` ``cancel`` is set."""
    if cancel.is_set():
        raise Cancelled("Download cancelled; the partial file is kept, so starting it again resumes it.")


class UnsafeFile(DownloadError):
    """Civitai's scans flag the file, or it is a pickle and unsafe files were not allowed."""


class HtmlInsteadOfFile(DownloadError):
    """An HTML page arrived where the model file should be (Cloudflare, login or early-access page)."""


def _message_for(exc: BaseException) -> Optional[str]:
    """A download-specific message for a Civitai error, or None to keep the error's own message."""
    from ..api import errors as api_errors  # lazily: the API package may be absent in a partial install

    if isinstance(exc, api_errors.AuthRequired):
        reason = getattr(exc, "reason", None)
        if reason == "disabled":
            return "The creator of this model has disabled downloads of this file on Civitai."
        return api_errors.key_message(reason or "login", download=True)
    if isinstance(exc, api_errors.EarlyAccess):
        deadline = getattr(exc, "deadline", None)
        when = f"until {deadline}" if deadline else "for now"
        return (f"This version is in early access {when}: it can be downloaded for free after that, "
                "or bought early with Buzz on civitai.com.")
    if isinstance(exc, api_errors.Archived):
        return "This model is archived on Civitai and can no longer be downloaded."
    if isinstance(exc, api_errors.RateLimited):
        return ("Civitai rate limited your downloads (the download quota): try later; the limit resets within "
                "24 hours. civkit stops downloading instead of retrying.")
    if isinstance(exc, api_errors.CloudflareBlocked):
        return ("Civitai returned an HTML page (Cloudflare) instead of the file: Civitai's edge is blocking or "
                "overloaded. Nothing was saved; wait a minute and try again.")
    if isinstance(exc, api_errors.NotFound):
        return ("Civitai has no downloadable file for this version (404): it may be deleted, unpublished, "
                "or the file id does not belong to it.")
    return None


def explain(exc: BaseException) -> DownloadError:
    """Wrap an error met while downloading into a DownloadError with a message for people."""
    if isinstance(exc, DownloadError):
        return exc
    try:
        message = _message_for(exc)
    except ImportError:  # pragma: no cover - partial install
        message = None
    if message is None:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return DownloadError(message, cause=exc)
