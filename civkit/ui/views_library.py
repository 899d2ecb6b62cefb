"""The Library tab: scan with progress, link status, updates, duplicates and trigger words.

Inside A1111/Forge two buttons put the chosen file's prompt text into the txt2img / img2img
prompt through ``javascript/civkit.js`` (which uses the page's ``updateInput``); the host's own
LoRA cards already insert the trigger words from the ``<model>.json`` civkit writes.
"""

from __future__ import annotations

import os

import gradio as gr

from . import cards
from .compat import event_kw, js_kw
from .context import UiContext
from .progress import BackgroundJob, describe_progress
from .views_batches import PlanPanel
from .views_care import CareView

LORA_TYPES = {"lora", "locon", "dora", "lycoris"}


def prompt_text(entry: dict, words: list) -> str:
    """What the A1111 LoRA card inserts: ``<lora:name:1>`` and the activation text (HOSTS.md §2.7)."""
    words_text = ", ".join(w for w in words if w)
    if str(entry.get("model_type") or "").lower() in LORA_TYPES:
        stem = os.path.splitext(entry.get("name") or "")[0]
        return f"<lora:{stem}:1> {words_text}".strip()
    return words_text


MAX_ROWS = 500  # more rows than this make the page slow and nobody reads them; the filter narrows


class LibraryView:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self._shown: dict[str, dict] = {}  # picker label -> row, from the last list shown
        self.updates = PlanPanel(ctx, "updates", "civkit_updates")

    def show(self, query=""):
        """-> table html, file picker, summary line (at most ``MAX_ROWS`` rows; the filter runs in the index)."""
        query = str(query or "").strip()
        page = self.service.library_page(query=query or None, limit=MAX_ROWS)
        entries, matched = page["items"], page["total"]
        self._shown = {cards.entry_label(e): e for e in entries}
        labels = list(self._shown)
        summary = self._summary(query, matched, len(entries))
        return (cards.library_html(entries, query=query, filtered=True), gr.update(choices=labels, value=None),
                summary)

    def _summary(self, query: str, matched: int, shown: int) -> str:
        counts = self.service.library_counts()
        total = sum(counts.values())
        if not total:
            return "Nothing indexed yet."
        more = (f" Showing the first {shown:,}; type in Filter to narrow the list."
                if shown < matched else "")
        if query:
            return f"{matched:,} of {_files(total)} match “{cards.md(query)}”.{more}"
        linked = counts.get("linked", 0)
        return f"Library: {_files(total)}, {linked:,} linked to Civitai.{more}"

    def scan(self, query=""):
        """Scan every model folder (a worker thread hashes and links; this streams its progress)."""
        yield gr.update(), gr.update(), "Scanning your model folders…"
        job = BackgroundJob(self._scan_and_check_updates, name="civkit-ui-scan").start()
        last = None
        while job.wait():
            text = "Scanning: " + describe_progress(*job.snapshot())
            if text != last:
                last = text
                yield gr.update(), gr.update(), text
        table, picker, summary = self.show(query)
        if job.error is not None:
            yield table, picker, f"Scan stopped: {cards.md(self.ctx.error_text(job.error))}"
            return
        yield table, picker, _scan_summary(job.result) + " " + summary

    def _scan_and_check_updates(self, progress) -> dict:
        report = dict(self.service.scan_library(lookup=True, progress=progress))
        try:
            report["updates"] = len(self.service.updates())
        except Exception as exc:  # the scan itself succeeded; say why updates are unknown
            report["update_error"] = self.ctx.error_text(exc)
        return report

    def pick(self, label):
        """-> trigger words html, prompt text."""
        if not label:
            return "", ""
        entry = self._shown.get(label) or self._find(label)
        if entry is None:
            return "This file is no longer in the library; scan again.", ""
        try:
            words = list(self.service.trigger_words(entry["path"]))
        except Exception as exc:  # shown, not raised: into gr.HTML, so HTML-escaped
            return f"**Problem:** {cards.esc(self.ctx.error_text(exc))}", ""
        return cards.words_html(words), prompt_text(entry, words)

    def _find(self, label: str):
        """The row behind a picker label shown earlier (another session's list): the label starts
        with the file name, which the index filter matches."""
        name = label.split(" — ", 1)[0]
        rows = self.service.library_page(query=name, limit=MAX_ROWS)["items"]
        return next((e for e in rows if cards.entry_label(e) == label), None)

    def build(self) -> None:
        with gr.Row():
            scan_btn = gr.Button("Scan my models", variant="primary", scale=1, elem_id="civkit_scan_btn")
            refresh_btn = gr.Button("Refresh list", scale=1, elem_id="civkit_lib_refresh")
            query = gr.Textbox(label="Filter", placeholder="file, model, base model or trigger word, then Enter", scale=3,
                               elem_id="civkit_lib_filter")
        status = gr.Markdown("Scan to hash your model files and link them to Civitai.", elem_id="civkit_scan_status")
        gr.Markdown("### Updates")
        updates_btn = gr.Button("Check for updates", elem_id="civkit_updates_btn")
        updated = self.updates.build(plan_button=updates_btn, plan_fn=self.updates.plan_updates)
        table = gr.HTML(cards.library_html([]), elem_id="civkit_library")
        gr.Markdown("### Trigger words")
        with gr.Row():
            picker = gr.Dropdown(choices=[], value=None, label="Pick a file to see its trigger words", scale=3,
                                 elem_id="civkit_lib_pick")
        words = gr.HTML("", elem_id="civkit_lib_words")
        text = gr.Textbox(label="Prompt text", lines=2, elem_id="civkit_prompt_text",
                          placeholder="pick a file to see what goes into the prompt")
        if self.ctx.webui:
            with gr.Row():
                to_txt = gr.Button("Send to txt2img prompt", elem_id="civkit_send_txt2img")
                to_img = gr.Button("Send to img2img prompt", elem_id="civkit_send_img2img")
            # Browser-only: civkit.js appends the text (never twice) and calls updateInput.
            to_txt.click(None, inputs=[text], outputs=None,
                         **js_kw("(t) => { civkitSendToPrompt('txt2img', t); return []; }"))
            to_img.click(None, inputs=[text], outputs=None,
                         **js_kw("(t) => { civkitSendToPrompt('img2img', t); return []; }"))
        scan_btn.click(self.scan, inputs=[query], outputs=[table, picker, status], **event_kw(long=True))
        refresh_btn.click(self.show, inputs=[query], outputs=[table, picker, status])
        updated.then(self.show, inputs=[query], outputs=[table, picker, status])  # the new files show
        query.submit(self.show, inputs=[query], outputs=[table, picker, status])
        picker.change(self.pick, inputs=[picker], outputs=[words, text])
        CareView(self.ctx, self).build(picker, query, table, status)
        self.refresh_target = (self.show, [query], [table, picker, status])


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n:,} files"


def _scan_summary(report) -> str:
    """The scan report in one line of plain words."""
    if not isinstance(report, dict):
        return "Scan finished."
    parts = [f"{_files(report.get('files', 0))} checked"]
    for key, words in (("new", "new"), ("hashed", "hashed"), ("not_found", "not on Civitai"),
                       ("updates", "with an update available")):
        if report.get(key):
            parts.append(f"{report[key]} {words}")
    text = "Scan finished: " + ", ".join(parts) + "."
    errors = report.get("errors") or []
    if errors:
        first = errors[0]
        text += f" {len(errors)} could not be read (first: {cards.md(first.get('path'))}: {cards.md(first.get('message'))})."
    if report.get("lookup_error"):
        text += f" Civitai could not be asked: {cards.md(report['lookup_error'])}"
    if report.get("update_error"):
        text += f" Updates unknown: {cards.md(report['update_error'])}"
    return text
