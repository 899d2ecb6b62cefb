"""A WebUI-shaped page for the "From an image" panel: txt2img with paste fields, the civkit tab,
and A1111's paste buttons wired by ``modules.infotext_utils`` (the stand-in beside this file).

    python tests/a1111_standins/webui_resources_page.py PORT WORKDIR

Writes ``WORKDIR/shared.png``: an A1111 PNG whose parameters name a catalog checkpoint (Model hash)
and LoRA (Lora hashes), neither on disk yet. The host is ``A1111Host`` over ``WORKDIR/webui``.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the stand-in ``modules`` package

from webui_page import REPO, WEBUI_JS  # noqa: E402

SWITCH_JS = """
window.switch_to_txt2img = function() {
    const tabs = [...document.querySelectorAll('#tabs button, #tabs [role=tab]')];
    const tab = tabs.find(b => b.textContent.trim() === 'txt2img');
    if (tab) tab.click();
    return [];
};
"""


def main() -> int:
    port, workdir = int(sys.argv[1]), Path(sys.argv[2])
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr
    from modules import infotext_utils

    from civkit.config import load_config
    from civkit.hosts.a1111 import A1111Host
    from civkit.service import CivkitService
    from civkit.testing import FakeCivitai
    from civkit.testing.images import png_with_text
    from civkit.ui.app import build_ui, read_css
    from civkit.ui.compat import GRADIO_MAJOR, enable_queue

    data = workdir / "webui"
    (data / "models" / "Stable-diffusion").mkdir(parents=True, exist_ok=True)
    (data / "models" / "Lora").mkdir(parents=True, exist_ok=True)
    with FakeCivitai(files_dir=workdir / "catalog") as fake:
        ckpt = fake.catalog.find_file(10700)[2]["hashes"]
        lora = fake.catalog.find_file(10110)[2]["hashes"]
        text = ("a lighthouse at dawn, animelineart <lora:anime_lineart_v2:0.7>\nNegative prompt: lowres, blurry\n"
                f"Steps: 23, Sampler: Euler a, CFG scale: 6, Seed: 4242, Size: 512x768, Model hash: "
                f"{ckpt['AutoV2'].lower()}, Model: dreamforgeXL_v10, Lora hashes: \"anime_lineart_v2: "
                f"{lora['AutoV3'].lower()}\", Version: v1.10.1")
        (workdir / "shared.png").write_bytes(png_with_text({"parameters": text}, width=64, height=96))
        host = A1111Host(cmd_opts=SimpleNamespace(), data_path=data, models_path=data / "models",
                         script_path=data, forge=False)
        service = CivkitService(load_config(env={}, home=workdir / "home", api_base=fake.base_url), host)
        civkit_tab = build_ui(service, webui=True).blocks  # built outside, rendered into the tab (as A1111)
        scripts = WEBUI_JS + SWITCH_JS + "\n" + (REPO / "javascript" / "civkit.js").read_text(encoding="utf-8")
        head = f"<script>{scripts}</script>"
        blocks_kw = {"head": head} if 4 <= GRADIO_MAJOR < 6 else {}
        with gr.Blocks(analytics_enabled=False, **blocks_kw) as demo:
            with gr.Tabs(elem_id="tabs"):
                with gr.Tab("txt2img", id="txt2img"):
                    prompt = gr.Textbox(label="Prompt", elem_id="txt2img_prompt", lines=3)
                    negative = gr.Textbox(label="Negative prompt", elem_id="txt2img_neg_prompt", lines=2)
                    steps = gr.Slider(1, 150, value=20, step=1, label="Sampling steps", elem_id="txt2img_steps")
                    seed = gr.Number(label="Seed", value=-1, elem_id="txt2img_seed")
                    echo_btn = gr.Button("Echo", elem_id="echo_btn")
                    echo = gr.Textbox(label="What gradio has", elem_id="echo")
                    echo_btn.click(lambda p, n, s, d: f"{p} | {n} | {int(s)} | {int(d)}",
                                   inputs=[prompt, negative, steps, seed], outputs=[echo])
                    infotext_utils.add_paste_fields("txt2img", None, [
                        (prompt, "Prompt"), (negative, "Negative prompt"), (steps, "Steps"), (seed, "Seed")])
                with gr.Tab("Civitai", id="civkit", elem_id="tab_civkit"):
                    civkit_tab.render()
            infotext_utils.connect_paste_params_buttons()  # as modules/ui.py does after every tab
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
