"""The "From an image" panel: drop an image (or a workflow), paste a Civitai image link or a
parameters block → the checklist of models it needs → Download missing → Send to txt2img.

"Send to txt2img" is the WebUI's own paste of generation parameters (``infotext_utils``
``register_paste_params_button``, wired by the host adapter), so the prompt, negative prompt and
settings arrive exactly as the WebUI reads them from PNG info. In standalone ``civkit ui`` there is
no txt2img: the parameters are shown to copy instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from .cards import esc, human_size
from .compat import event_kw
from .context import UiContext

POLL_SECONDS = 0.5
MAX_WATCH_SECONDS = 30 * 60
MAX_UPLOAD = 64 * 1024 * 1024
FINAL = ("done", "skipped", "failed", "cancelled")
_STATUS_CSS = {"present": "civkit-ok", "downloaded": "civkit-ok", "missing": "civkit-warn",
               "ambiguous": "civkit-warn", "downloading": "", "unresolved": "civkit-bad", "failed": "civkit-bad"}
EMPTY = "<div class='civkit-empty'>Drop an image, or paste a Civitai image link or generation parameters.</div>"


def _where(need: dict) -> str:
    status = need.get("status")
    if status in ("present", "downloaded"):
        return esc(need.get("path") or "") + ("" if need.get("verified") else " <i>(found by name only)</i>")
    if status in ("missing", "downloading"):
        what = " ".join(x for x in (need.get("model_name"), need.get("version_name")) if x)
        guess = " <i>(a guess)</i>" if need.get("guess") else ""
        return f"{esc(what)}: {esc(need.get('file_name'))} → {esc(need.get('folder_key') or '?')}{guess}"
    if status == "ambiguous":
        cands = need.get("candidates") or []
        best = cands[0] if cands else {}
        return (f"found by name only; best of {len(cands)}: {esc(best.get('model_name'))} "
                f"{esc(best.get('version_name'))} ({esc(best.get('file_name'))}, "
                f"{round(100 * (best.get('confidence') or 0))} %)")
    return esc(need.get("message") or "")


def needs_html(needs: list) -> str:
    if not needs:
        return "<div class='civkit-empty'>It needs no model files.</div>"
    rows = []
    for n in needs:
        status = n.get("status") or ""
        css = _STATUS_CSS.get(status, "")
        size = human_size(n.get("size")) if n.get("size") and status in ("missing", "downloading", "downloaded") else ""
        rows.append(f"<tr class='civkit-need' data-status='{esc(status)}' data-kind='{esc(n.get('kind'))}'>"
                    f"<td>{esc(n.get('kind'))}</td><td>{esc(n.get('name') or '?')}</td>"
                    f"<td><span class='civkit-status {css}'>{esc(status)}</span></td>"
                    f"<td>{_where(n)}</td><td>{esc(size)}</td></tr>")
    return ("<table class='civkit-table civkit-needs'><thead><tr><th>Kind</th><th>Name</th><th>Status</th><th>Where / what</th>"
            "<th>Size</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def summary_text(needs: list) -> str:
    missing = [n for n in needs if n.get("status") == "missing"]
    present = sum(1 for n in needs if n.get("status") in ("present", "downloaded"))
    parts = [f"{present} of {len(needs)} on disk"]
    if missing:
        parts.append(f"{len(missing)} missing ({human_size(sum(n.get('size') or 0 for n in missing))})")
    for status in ("ambiguous", "unresolved", "failed"):
        count = sum(1 for n in needs if n.get("status") == status)
        if count:
            parts.append(f"{count} {status}")
    return " · ".join(parts)


def _button(needs: list):
    missing = [n for n in needs if n.get("status") == "missing"]
    if not missing:
        return gr.update(value="Nothing to download", interactive=False)
    size = human_size(sum(n.get("size") or 0 for n in missing))
    return gr.update(value=f"Download missing ({len(missing)} file{'s' if len(missing) != 1 else ''}, {size})",
                     interactive=True)


class ResourcesView:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.paste_registered = False

    # ------------------------------------------------------------------ handlers (tests call them)
    def _source(self, upload, text: str) -> dict:
        path = getattr(upload, "name", upload) if upload else None
        if path:
            p = Path(str(path))
            if p.stat().st_size > MAX_UPLOAD:
                raise ValueError(f"{p.name} is larger than {MAX_UPLOAD // 2**20} MiB.")
            label = p.name
            if p.suffix.lower() == ".json":
                return {"text": p.read_text(encoding="utf-8-sig", errors="replace"), "label": label}
            return {"data": p.read_bytes(), "label": label}
        text = (text or "").strip()
        if not text:
            raise LookupError("nothing to check")
        from ..resources.sources import image_id_from_link

        if image_id_from_link(text, (self.service.config.api_base.split("://", 1)[-1],)) is not None:
            return {"url": text}
        return {"text": text, "label": "the pasted parameters"}

    def check(self, upload, text, accept_guesses=False, state=None):
        """-> checklist html, summary, infotext, state, download button."""
        try:
            source = self._source(upload, text)
            result = self.service.resources(accept_guesses=bool(accept_guesses), **source)
        except LookupError:  # nothing given (or the upload was cleared)
            return EMPTY, "", "", None, gr.update(value="Download missing", interactive=False)
        except Exception as exc:  # the person reads why (no generation data, not an image, ...)
            return (f"<div class='civkit-bad'>{esc(self.ctx.error_text(exc))}</div>", "", "", None,
                    gr.update(value="Download missing", interactive=False))
        state = {"source": source, "accept_guesses": bool(accept_guesses), "needs": result["needs"]}
        notes = "".join(f"<div class='civkit-muted'>{esc(n)}</div>" for n in result.get("notes") or ())
        return (needs_html(result["needs"]) + notes, summary_text(result["needs"]), result.get("infotext") or "",
                state, _button(result["needs"]))

    def download(self, state):
        """Queue every missing file, stream the checklist while they arrive, then check again."""
        if not state or not state.get("needs"):
            yield EMPTY, "Nothing checked yet.", gr.update(), state
            return
        needs = [dict(n) for n in state["needs"]]
        missing = [n for n in needs if n.get("status") == "missing"]
        started = self.service.download_resources(missing)
        tasks = {}
        for need, outcome in zip(missing, started, strict=False):
            if outcome.get("task_id"):
                need["status"], tasks[outcome["task_id"]] = "downloading", need
            else:
                need["status"], need["message"] = "failed", outcome.get("error") or "could not start"
        began = time.monotonic()
        while tasks and time.monotonic() - began < MAX_WATCH_SECONDS:
            yield needs_html(needs), f"Downloading {len(tasks)} file(s)…", gr.update(interactive=False), state
            time.sleep(POLL_SECONDS)  # the queue's workers download; this only polls
            for task_id, need in list(tasks.items()):
                snap = self.service.download(task_id)
                if snap.get("state") in FINAL:
                    del tasks[task_id]
                    if snap["state"] in ("done", "skipped"):
                        need.update(status="downloaded", path=snap.get("path"), verified=True)
                    else:
                        need.update(status="failed", message=snap.get("error") or snap.get("message"))
        failed = [n for n in needs if n.get("status") == "failed"]
        try:
            result = self.service.resources(accept_guesses=state.get("accept_guesses", False), **state["source"])
            final = result["needs"]
        except Exception as exc:
            yield needs_html(needs), esc(self.ctx.error_text(exc)), _button(needs), state
            return
        # a failure stays visible even when the re-check finds the file missing again
        for need in failed:
            for row in final:
                if row.get("version_id") == need.get("version_id") and row.get("status") == "missing":
                    row.update(status="failed", message=need.get("message"))
        state = dict(state, needs=final)
        yield needs_html(final), summary_text(final), _button(final), state

    # ------------------------------------------------------------------ layout
    def build(self):
        gr.Markdown("Find every model an image or workflow was made with: checkpoint, LoRAs, VAE, embeddings. "
                    "What is on disk is ticked off; the rest is found on Civitai and downloaded, verified, "
                    "into the right folders.")
        base = str(getattr(self.service.config, "api_base", "") or "")
        if base and "civitai." not in base:  # the demo's emulator (or another site): show a link that works
            gr.Markdown(f"Try an image of this site: `{base.rstrip('/')}/images/7901` (A1111 parameters) or "
                        f"`{base.rstrip('/')}/images/7903` (a ComfyUI workflow).", elem_id="civkit_res_demo")
        with gr.Row():
            upload = gr.File(label="Image (PNG, JPEG, WebP) or ComfyUI workflow (.json)",
                             file_types=[".png", ".jpg", ".jpeg", ".webp", ".json"], elem_id="civkit_res_file")
            text = gr.Textbox(label="…or a Civitai image link, or generation parameters", lines=5,
                              placeholder="https://civitai.com/images/123  or  the text from PNG Info",
                              elem_id="civkit_res_text")
        with gr.Row():
            guesses = gr.Checkbox(label="Also take the best match for models found only by name", value=False,
                                  elem_id="civkit_res_guesses")
            check_btn = gr.Button("Check", variant="secondary", elem_id="civkit_res_check")
            download_btn = gr.Button("Download missing", variant="primary", interactive=False,
                                     elem_id="civkit_res_download")
        summary = gr.Markdown("", elem_id="civkit_res_summary")
        table = gr.HTML(EMPTY, elem_id="civkit_res_table")
        infotext = gr.Textbox(label="Generation parameters", lines=4, interactive=False, elem_id="civkit_res_infotext")
        state = gr.State(None)
        host = getattr(self.service, "host", None)
        can_paste = self.ctx.webui and callable(getattr(host, "paste_module", None)) and host.paste_module()
        if can_paste:
            send = gr.Button("Send to txt2img", elem_id="civkit_res_send")
            self.paste_registered = bool(host.register_paste_button(send, infotext, "txt2img"))
        else:
            gr.Markdown("*Send to txt2img* is there when civkit runs inside A1111 or Forge; here, copy the "
                        "parameters above into the WebUI's prompt and press its ↙ paste button.",
                        elem_id="civkit_res_send_note")
        outputs = [table, summary, infotext, state, download_btn]
        check_btn.click(self.check, inputs=[upload, text, guesses, state], outputs=outputs)
        upload.change(self.check, inputs=[upload, text, guesses, state], outputs=outputs)
        download_btn.click(self.download, inputs=[state], outputs=[table, summary, download_btn, state],
                           **event_kw(long=True))
