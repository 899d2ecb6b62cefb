"""The Downloads tab: the queue with progress, cancel and retry, final messages in plain words."""

from __future__ import annotations

import time

import gradio as gr

from . import cards
from .compat import event_kw
from .context import UiContext

POLL_SECONDS = 0.5
# A live view streams while something is moving, and at most this long per press.
MAX_WATCH_SECONDS = 15 * 60


class DownloadsView:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.service = ctx.service

    def _tasks(self) -> list[dict]:
        return list(self.service.downloads())

    def snapshot(self, selected=None):
        """-> queue table html, task picker (keeps the selection if it still exists)."""
        tasks = self._tasks()
        labels = [cards.task_label(t) for t in reversed(tasks)]
        keep = cards.id_from_label(selected) if selected else None
        value = next((lbl for lbl in labels if cards.id_from_label(lbl) == keep), labels[0] if labels else None)
        return cards.downloads_html(reversed(tasks)), gr.update(choices=labels, value=value)

    def watch(self, selected=None):
        """Stream the queue while any download is active (generator; no ``every=`` polling)."""
        started = time.monotonic()
        last = None
        while True:
            table, picker = self.snapshot(selected)
            if table != last:
                last = table
                yield table, picker
            active = any(t.get("state") not in cards.FINAL_STATES for t in self._tasks())
            if not active or time.monotonic() - started > MAX_WATCH_SECONDS:
                return
            time.sleep(POLL_SECONDS)  # the queue's workers do the downloading; this only polls

    def _act(self, selected, action: str):
        task_id = cards.id_from_label(selected)
        if task_id is None:
            return "Pick a download in the list first."
        try:
            ok = getattr(self.service, f"{action}_download")(task_id)
        except Exception as exc:  # the person sees why, not a bare gradio "Error"
            return self.ctx.problem(exc)
        if action == "cancel":
            return f"Cancelling download #{task_id}." if ok else f"Download #{task_id} has already finished."
        return f"Download #{task_id} is queued again." if ok else (
            f"Download #{task_id} cannot be retried: only failed or cancelled downloads can.")

    def cancel(self, selected):
        return self._act(selected, "cancel")

    def retry(self, selected):
        return self._act(selected, "retry")

    def build(self):
        """Builds the tab's content; returns (refresh event target, outputs) for tab selection."""
        gr.Markdown("Downloads run in the background: you can keep searching while they finish.")
        table = gr.HTML(cards.downloads_html([]), elem_id="civkit_downloads")
        with gr.Row():
            picker = gr.Dropdown(choices=[], value=None, label="Download", scale=3, elem_id="civkit_task")
            refresh_btn = gr.Button("Refresh", scale=1, elem_id="civkit_dl_refresh")
            cancel_btn = gr.Button("Cancel", variant="stop", scale=1, elem_id="civkit_dl_cancel")
            retry_btn = gr.Button("Retry", scale=1, elem_id="civkit_dl_retry")
        action_status = gr.Markdown("", elem_id="civkit_dl_status")
        refresh_btn.click(self.watch, inputs=[picker], outputs=[table, picker], **event_kw(long=True))
        cancel_btn.click(self.cancel, inputs=[picker], outputs=[action_status]).then(
            self.snapshot, inputs=[picker], outputs=[table, picker])
        retry_btn.click(self.retry, inputs=[picker], outputs=[action_status]).then(
            self.watch, inputs=[picker], outputs=[table, picker], **event_kw(long=True))
        return self.watch, [picker], [table, picker]
