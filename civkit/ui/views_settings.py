"""The Settings area: a write-only API key field, and (standalone) civkit's other settings.

The key is stored by the service in civkit's own config file (mode 0600), never in a host's
settings; the field is cleared after saving and the page only ever shows whether a key is set.
Inside A1111/Forge the other settings live in Settings → civkit.
"""

from __future__ import annotations

import gradio as gr

from . import cards
from .context import UiContext


class SettingsView:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.service = ctx.service

    def key_status(self) -> str:
        if self.service.api_key_is_set():
            return "An API key is set."
        return ("No API key is set. Searching works without one; many downloads need one now, even of public "
                "models (create one at civitai.com → Account settings → API keys).")

    def save_key(self, key):
        """-> cleared key field, status."""
        if not (key or "").strip():
            return "", "Type or paste a key first. " + self.key_status()
        try:
            self.service.set_api_key(key)
        except Exception as exc:  # the person reads why; the key itself is never echoed
            return "", self.ctx.problem(exc)
        return "", "Saved. " + self.key_status()

    def forget_key(self):
        self.service.set_api_key(None)
        return "", "The stored key was removed. " + self.key_status()

    def save_settings(self, nsfw_previews, write_sidecars, subfolder_template):
        try:
            self.service.update_settings(nsfw_previews=bool(nsfw_previews), write_sidecars=bool(write_sidecars),
                                         subfolder_template=subfolder_template or "")
        except Exception as exc:
            return self.ctx.problem(exc)
        return "Settings saved."

    def build(self) -> None:
        gr.Markdown("#### Civitai API key")
        with gr.Row():
            key = gr.Textbox(label="API key (write-only)", type="password", value="", scale=3,
                             placeholder="paste a new key", elem_id="civkit_api_key")
            save = gr.Button("Save key", variant="primary", scale=1, elem_id="civkit_save_key")
            forget = gr.Button("Remove key", scale=1, elem_id="civkit_forget_key")
        status = gr.Markdown(self.key_status(), elem_id="civkit_key_status")
        save.click(self.save_key, inputs=[key], outputs=[key, status])
        key.submit(self.save_key, inputs=[key], outputs=[key, status])
        forget.click(self.forget_key, inputs=None, outputs=[key, status])
        cfg = self.service.config
        if self.ctx.webui:
            gr.Markdown("The other civkit options are in the WebUI's **Settings → civkit** section.")
            return
        gr.Markdown("#### Library and downloads")
        nsfw = gr.Checkbox(value=cfg.nsfw_previews, label="Show NSFW previews unblurred", elem_id="civkit_set_nsfw")
        sidecars = gr.Checkbox(value=cfg.write_sidecars, label="Write .civitai.info, .json and preview files",
                               elem_id="civkit_set_sidecars")
        template = gr.Textbox(value=cfg.subfolder_template, label="Subfolder template",
                              placeholder="e.g. {base_model}/{type} — empty puts files straight in the folder",
                              elem_id="civkit_set_template")
        apply = gr.Button("Save settings", elem_id="civkit_save_settings")
        saved = gr.Markdown("")
        apply.click(self.save_settings, inputs=[nsfw, sidecars, template], outputs=[saved])
        folders = self.service.folders()
        lines = [f"- **{cards.md(k)}**: {cards.md_code(', '.join(v))}" for k, v in sorted(folders.items())]
        gr.Markdown("#### Model folders\n" + ("\n".join(lines) if lines else "No folders."))
