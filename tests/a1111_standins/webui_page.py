"""A page shaped like the A1111 WebUI, for the browser test of the civkit tab's prompt buttons.

    python tests/a1111_standins/webui_page.py PORT WORKDIR

Starts the Civitai emulator, downloads one LoRA into ``WORKDIR/models/Lora`` through the service,
then serves gradio Blocks the way A1111 builds its UI: a txt2img and an img2img tab with
``#txt2img_prompt`` / ``#img2img_prompt`` textboxes, and the civkit tab's own Blocks rendered
into a tab with ``.render()``. The page's head carries A1111's ``gradioApp``/``updateInput``
(from its ui.js / script.js) and javascript/civkit.js, as the WebUI would load them.
An "Echo" button copies the txt2img prompt through Python, proving gradio saw the new value.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# As in A1111's javascript/ui.js and script.js (trimmed to what civkit.js uses).
WEBUI_JS = """
window.gradioApp = function gradioApp() {
    const elems = document.getElementsByTagName('gradio-app');
    const elem = elems.length == 0 ? document : elems[0];
    if (elem !== document) { elem.getElementById = function(id) { return document.getElementById(id); }; }
    return elem.shadowRoot ? elem.shadowRoot : elem;
};
window.updateInput = function updateInput(target) {
    let e = new Event("input", {bubbles: true});
    Object.defineProperty(e, "target", {value: target});
    target.dispatchEvent(e);
};
"""


def main() -> int:
    port, workdir = int(sys.argv[1]), Path(sys.argv[2])
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from civkit.config import load_config
    from civkit.hosts.standalone import StandaloneHost
    from civkit.service import CivkitService
    from civkit.testing import FakeCivitai
    from civkit.ui.app import build_ui, read_css
    from civkit.ui.compat import GRADIO_MAJOR, enable_queue

    with FakeCivitai(files_dir=workdir / "catalog") as fake:
        service = CivkitService(load_config(env={}, home=workdir / "home", api_base=fake.base_url),
                                StandaloneHost(workdir / "models", "a1111"))
        service.wait_download(service.start_download("101@1011"), 120)
        civkit_tab = build_ui(service, webui=True).blocks
        scripts = WEBUI_JS + "\n" + (REPO / "javascript" / "civkit.js").read_text(encoding="utf-8")
        head = f"<script>{scripts}</script>"
        # gradio 6 takes head= in launch(), 4 and 5 in Blocks(); 3 has neither, so the page's
        # load event runs the same scripts there (they only assign window.* functions).
        blocks_kw = {"head": head} if 4 <= GRADIO_MAJOR < 6 else {}
        with gr.Blocks(analytics_enabled=False, **blocks_kw) as demo:
            with gr.Tabs(elem_id="tabs"):
                with gr.Tab("txt2img", id="txt2img"):
                    prompt = gr.Textbox(label="Prompt", elem_id="txt2img_prompt", lines=3)
                    echo_btn = gr.Button("Echo", elem_id="echo_btn")
                    echo = gr.Textbox(label="What gradio has", elem_id="echo")
                    echo_btn.click(lambda p: p, inputs=[prompt], outputs=[echo])
                with gr.Tab("img2img", id="img2img"):
                    gr.Textbox(label="Prompt", elem_id="img2img_prompt", lines=3)
                with gr.Tab("Civitai", id="civkit", elem_id="tab_civkit"):
                    civkit_tab.render()
            if GRADIO_MAJOR < 4:
                demo.load(None, None, None, _js=f"() => {{ {scripts}\n return []; }}")
        enable_queue(demo)
        kw = {"head": head, "css": read_css()} if GRADIO_MAJOR >= 6 else {}
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **kw)
        print(f"webui page: http://127.0.0.1:{port}/", flush=True)
        stop = threading.Event()
        try:
            stop.wait(float(os.environ.get("WEBUI_PAGE_SECONDS", "600")))
        finally:
            service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
