"""The few places where gradio 3.41 (A1111), 4.40 (Forge) and the current gradio differ.

Everything else in civkit/ui uses the portable subset: ``gr.update(...)`` for every update (a
plain dict in all versions), no ``Component.update``, no ``every=``, no ``visible=False``
bridges, and ``.click/.change/.then`` chaining.
"""

from __future__ import annotations

import gradio as gr

try:
    GRADIO_MAJOR = int(str(gr.__version__).split(".")[0])
except ValueError:  # pragma: no cover - a dev build with an odd version string
    GRADIO_MAJOR = 4

# How many of our long handlers (a streaming download watch, a scan) may run at once. Gradio 4+
# defaults to one per event, which would make a second user's scan wait for the first.
CONCURRENCY = 4


def js_kw(code: str) -> dict:
    """The keyword that attaches browser code to an event: ``_js=`` on 3.x, ``js=`` later."""
    return {"_js": code} if GRADIO_MAJOR < 4 else {"js": code}


def event_kw(*, long: bool = False) -> dict:
    """Per-event keywords: a concurrency limit for long handlers (gradio 4+ only)."""
    if GRADIO_MAJOR >= 4 and long:
        return {"concurrency_limit": CONCURRENCY}
    return {}


def blocks_kw(*, css: str | None, title: str) -> dict:
    """``gr.Blocks`` keywords: gradio 6 moved ``css`` to ``launch()``."""
    kw: dict = {"title": title, "analytics_enabled": False}
    if css and GRADIO_MAJOR < 6:
        kw["css"] = css
    return kw


def launch_kw(*, css: str | None) -> dict:
    kw: dict = {}
    if css and GRADIO_MAJOR >= 6:
        kw["css"] = css
    return kw


def enable_queue(blocks):
    """Generators (our progress streams) need the queue on every version."""
    if GRADIO_MAJOR < 4:
        return blocks.queue(concurrency_count=CONCURRENCY)
    return blocks.queue(default_concurrency_limit=CONCURRENCY)

