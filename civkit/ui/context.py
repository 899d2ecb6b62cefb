"""What every view shares: the service, where the UI runs, and how errors are worded."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..config import redact
from .cards import md

log = logging.getLogger(__name__)


@dataclass
class UiContext:
    service: Any  # civkit.service.CivkitService
    webui: bool = False  # inside A1111/Forge: prompt buttons shown, settings live in the host

    @property
    def show_nsfw(self) -> bool:
        """Whether NSFW previews are shown unblurred (the civkit setting, read on every use)."""
        return bool(getattr(self.service.config, "nsfw_previews", False))

    def error_text(self, exc: BaseException) -> str:
        """One sentence for a person: the service's wording (the same in every civkit UI)."""
        message = getattr(exc, "message", None)
        if not message:  # not one of civkit's worded failures: keep the details for the log
            log.warning("unexpected error in the civkit UI", exc_info=exc)
        service_words = getattr(self.service, "error_message", None)
        if callable(service_words):
            return service_words(exc)
        if not message:
            message = f"Something went wrong ({type(exc).__name__}: {exc}). The log has the details."
        return redact(str(message), getattr(self.service.config, "api_key", None))

    def problem(self, exc: BaseException) -> str:
        """The error for a gr.Markdown status line: "**Problem:** " and the words, escaped (a server
        message or a file name must not become Markdown or HTML)."""
        return f"**Problem:** {md(self.error_text(exc))}"
