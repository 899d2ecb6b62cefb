"""The civkit gradio app: one Blocks for the A1111/Forge tab and for ``civkit ui``.

``build_ui(service, webui=...)`` builds it (the WebUI puts it into a tab and owns queue and
launch); ``launch_ui`` runs it on its own. Runs unchanged on gradio 3.41.2, 4.40 and current.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import gradio as gr

from .. import __version__
from .compat import blocks_kw, enable_queue, event_kw, js_kw, launch_kw
from .context import UiContext
from .views_downloads import DownloadsView
from .views_library import LibraryView
from .views_resources import ResourcesView
from .views_search import SearchView
from .views_settings import SettingsView

log = logging.getLogger(__name__)

CSS_PATH = Path(__file__).with_name("style.css")
# The WebUI loads javascript/civkit.js on every page; `civkit ui` runs the same file (a copy
# beside this module wins, for installs that ship only the package).
JS_PATHS = (Path(__file__).with_name("civkit.js"), Path(__file__).resolve().parents[2] / "javascript" / "civkit.js")


def read_css() -> str:
    try:
        return CSS_PATH.read_text(encoding="utf-8")
    except OSError:  # a packaging mistake must not stop the UI
        log.warning("civkit style.css missing at %s", CSS_PATH)
        return ""


def read_js() -> str:
    """civkit.js (result cards open on click), or "" when missing: the result picker still works."""
    for path in JS_PATHS:
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            continue
    log.warning("civkit.js missing (looked at %s); result cards will not open on click",
                ", ".join(str(p) for p in JS_PATHS))
    return ""


class CivkitUI:
    """The built Blocks and its views (tests call the views' handlers directly)."""

    def __init__(self, service, *, webui: bool = False) -> None:
        self.ctx = UiContext(service=service, webui=webui)
        self.search = SearchView(self.ctx)
        self.downloads = DownloadsView(self.ctx)
        self.library = LibraryView(self.ctx)
        self.settings = SettingsView(self.ctx)
        self.resources = ResourcesView(self.ctx)
        self.blocks: Optional[gr.Blocks] = None

    def build(self, *, css: Optional[str] = None) -> gr.Blocks:
        with gr.Blocks(**blocks_kw(css=css, title="civkit")) as blocks:
            with gr.Column(elem_id="civkit_root", elem_classes=["civkit"]):
                if not self.ctx.webui:
                    gr.Markdown(f"## civkit {__version__} — Civitai search, downloads and your model library")
                with gr.Tabs(elem_id="civkit_tabs"):
                    with gr.Tab("Search", id="civkit_search", elem_id="civkit_tab_search"):
                        self.search.build()
                    with gr.Tab("From an image", id="civkit_resources_tab", elem_id="civkit_tab_resources"):
                        self.resources.build()
                    with gr.Tab("Downloads", id="civkit_downloads_tab", elem_id="civkit_tab_downloads") as dl_tab:
                        fn, inputs, outputs = self.downloads.build()
                    with gr.Tab("Library", id="civkit_library_tab", elem_id="civkit_tab_library") as lib_tab:
                        self.library.build()
                    with gr.Tab("Settings", id="civkit_settings_tab", elem_id="civkit_tab_settings"):
                        self.settings.build()
            # Selecting a tab shows its current state (gradio 6 renders a tab only once selected).
            dl_tab.select(fn, inputs=inputs, outputs=outputs, **event_kw(long=True))
            lib_fn, lib_inputs, lib_outputs = self.library.refresh_target
            lib_tab.select(lib_fn, inputs=lib_inputs, outputs=lib_outputs)
            script = "" if self.ctx.webui else read_js()
            if script:  # the page-load event runs it on gradio 3, 4 and 6 alike (no head= on 3)
                blocks.load(None, None, None, **js_kw(f"() => {{ {script}\n return []; }}"))
        self.blocks = blocks
        return blocks


def build_ui(service, *, webui: bool = False, css: Optional[str] = None) -> CivkitUI:
    ui = CivkitUI(service, webui=webui)
    ui.build(css=css if css is not None else (None if webui else read_css()))
    return ui


def launch_ui(service, *, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Run the standalone app. With ``block=False`` returns (ui, local_url) and keeps serving."""
    css = read_css()
    ui = build_ui(service, webui=False, css=css)
    enable_queue(ui.blocks)
    ui.blocks.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                     **launch_kw(css=css))
    url = getattr(ui.blocks, "local_url", None) or f"http://{host}:{port}/"
    if block:
        ui.blocks.block_thread()
    return ui, url
