"""Many files at once in the gradio tab (issue 11): a plan first, a checklist, one button, progress.

``PlanPanel`` is built twice: in the Library tab for "Updates" (every linked model with a newer
version) and under a model's details for "all files" / "all versions". Planning fetches only
Civitai's records; the plan shows sizes, what you already have and what cannot be downloaded,
with every downloadable file ticked. "Download N … (X)" runs the ticked rows through the one
download queue (``service.start_batch``) and streams the progress: per file and overall (files
done / total, bytes, ETA).
"""

from __future__ import annotations

import html
import time
from typing import Optional

import gradio as gr

from .cards import human_size, md
from .compat import event_kw
from .context import UiContext

POLL_SECONDS = 0.5
ACTION_WORDS = {"download": "to download", "have": "already in the library", "conflict": "name taken",
                "blocked": "blocked"}


def row_label(i: int, row: dict) -> str:
    """The checklist label of a download row (unique: it starts with the row number)."""
    who = " ".join(x for x in (row.get("model_name"), row.get("version_name")) if x)
    return f"{i + 1}. {row.get('name')} — {who} ({human_size(row.get('size'))})"


def plan_html(plan: Optional[dict]) -> str:
    """The whole plan as a table: every row, with its action, size, where it goes and why."""
    if not plan:
        return ""
    rows = plan.get("rows") or []
    notes = "".join(f"<p class='civkit-note'>{html.escape(str(n))}</p>" for n in plan.get("notes") or ())
    if not rows:
        return notes + "<p class='civkit-plan-empty'>Nothing to download: everything is up to date.</p>"
    body = []
    for i, r in enumerate(rows):
        where = r.get("existing") if r["action"] == "have" else r.get("path")
        body.append(
            f"<tr class='civkit-plan-{html.escape(r['action'])}' data-action='{html.escape(r['action'])}'>"
            f"<td>{i + 1}</td><td>{html.escape(str(r.get('name') or '—'))}<br><small>"
            f"{html.escape(' · '.join(str(x) for x in (r.get('model_name'), r.get('version_name')) if x))}</small></td>"
            f"<td>{html.escape(ACTION_WORDS.get(r['action'], r['action']))}</td>"
            f"<td>{html.escape(human_size(r.get('size')))}</td>"
            f"<td><small>{html.escape(str(where or ''))}</small>"
            f"{'<br><small>' + html.escape(str(r['message'])) + '</small>' if r.get('message') else ''}</td></tr>")
    t = plan.get("totals") or {}
    free = f"; {human_size(t['free_after'])} free after" if t.get("free_after") is not None else ""
    summary = (f"{t.get('files', 0)} files: {t.get('download', 0)} to download "
               f"({human_size(t.get('download_bytes'))}), {t.get('have', 0)} already in the library, "
               f"{t.get('blocked', 0) + t.get('conflict', 0)} not possible{free}")
    warn = "" if t.get("space_ok", True) else "<p class='civkit-error'>Not enough free disk space for every file.</p>"
    return (notes + "<table class='civkit-plan'><thead><tr><th>#</th><th>File</th><th>Action</th><th>Size</th>"
            "<th>Where</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>"
            f"<p class='civkit-plan-totals'>{html.escape(summary)}</p>{warn}")


def progress_html(status: dict) -> str:
    """Overall (files done / total, bytes, ETA) and one line per file."""
    eta = status.get("eta")
    eta_text = f" · about {max(1, round(eta))} s left" if eta and status.get("state") == "running" else ""
    failed = f" · {status['files_failed']} failed" if status.get("files_failed") else ""
    head = (f"{status.get('files_done', 0)} / {status.get('files_total', 0)} files · "
            f"{human_size(status.get('bytes_done'))} / {human_size(status.get('bytes_total'))}{failed}{eta_text}")
    lines = []
    for item in status.get("items") or ():
        state = item.get("state") or "queued"
        words = ("✓ unverified (Civitai lists no hash yet; size checked)" if item.get("unverified") else "✓ verified") \
            if state == "done" else state
        pct = 100 if state == "done" else int(100 * (item.get("bytes") or 0) / item["size"]) if item.get("size") else 0
        message = f" — {html.escape(str(item['message']))}" if state == "failed" and item.get("message") else ""
        lines.append(f"<li class='civkit-batch-file' data-state='{html.escape(state)}'>"
                     f"{html.escape(str(item.get('name')))}: {html.escape(words)} ({pct} %){message}</li>")
    return (f"<div class='civkit-batch' data-state='{html.escape(str(status.get('state')))}'>"
            f"<p class='civkit-batch-overall'>{html.escape(head)}</p><ul>{''.join(lines)}</ul></div>")


class PlanPanel:
    """One plan + checklist + button + progress. ``noun``: "updates" or "files"."""

    def __init__(self, ctx: UiContext, noun: str, prefix: str) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.noun = noun
        self.prefix = prefix

    # ------------------------------------------------------------------ handlers (tests call these)
    def plan_updates(self):
        return self._plan(lambda: self.service.plan_batch("updates"))

    def plan_refs(self, ref, all_files, all_versions):
        if not ref:
            return self._shown(None, "Open a model first.")
        return self._plan(lambda: self.service.plan_batch("refs", refs=[str(ref)], all_files=bool(all_files),
                                                          all_versions=bool(all_versions)))

    def _plan(self, make):
        try:
            plan = make()
        except Exception as exc:  # shown, not raised
            return self._shown(None, f"**Could not plan:** {md(self.ctx.error_text(exc))}")
        return self._shown(plan, "Nothing is downloaded until you press the button.")

    def _shown(self, plan, note):
        """-> plan state, table html, checklist, button, note, progress html"""
        if plan is None:
            return (None, "", gr.update(choices=[], value=[]), gr.update(value=self._button_text(None, []),
                    interactive=False), note, "")
        labels = [row_label(i, r) for i, r in enumerate(plan["rows"]) if r["action"] == "download"]
        return (plan, plan_html(plan), gr.update(choices=labels, value=labels),
                gr.update(value=self._button_text(plan, labels), interactive=bool(labels)), note, "")

    def _picked(self, plan, ticked) -> list:
        wanted = set(ticked or ())
        return [i for i, r in enumerate((plan or {}).get("rows") or ())
                if r["action"] == "download" and row_label(i, r) in wanted]

    def _button_text(self, plan, ticked) -> str:
        picked = self._picked(plan, ticked) if plan else []
        size = sum(plan["rows"][i].get("size") or 0 for i in picked) if plan else 0
        noun = self.noun[:-1] if len(picked) == 1 else self.noun
        return f"Download {len(picked)} {noun} ({human_size(size)})"

    def ticks_changed(self, plan, ticked):
        picked = self._picked(plan, ticked)
        return gr.update(value=self._button_text(plan, ticked), interactive=bool(picked))

    def run(self, plan, ticked):
        """Start the ticked rows and stream the progress until the batch has finished."""
        if not plan:
            yield "Plan first.", ""
            return
        picked = self._picked(plan, ticked)
        if not picked:
            yield "Tick at least one file.", ""
            return
        try:
            status = self.service.start_batch(plan["id"], only=picked)
        except Exception as exc:  # shown, not raised
            yield f"**Could not start:** {md(self.ctx.error_text(exc))}", ""
            return
        batch_id = status["id"]
        while status.get("state") in ("planned", "running"):
            yield "Downloading…", progress_html(status)
            time.sleep(POLL_SECONDS)
            status = self.service.batch(batch_id)
        done, total = status.get("files_done", 0), status.get("files_total", 0)
        note = (f"Finished: {done} of {total} files verified." if done == total
                else f"Finished with failures: {done} of {total} files verified; see the list.")
        yield note, progress_html(status)

    # ------------------------------------------------------------------ layout
    def build(self, *, plan_button=None, plan_fn=None, plan_inputs=()):
        """Lay out the panel under ``plan_button``; returns the run event (callers chain ``.then``)."""
        p = self.prefix
        plan_state = gr.State(None)
        note = gr.Markdown("", elem_id=f"{p}_note")
        table = gr.HTML("", elem_id=f"{p}_plan")
        checklist = gr.CheckboxGroup(choices=[], value=[], label="Download these (untick what you do not want)",
                                     elem_id=f"{p}_checklist")
        go = gr.Button(self._button_text(None, []), variant="primary", interactive=False, elem_id=f"{p}_go")
        progress = gr.HTML("", elem_id=f"{p}_progress")
        outputs = [plan_state, table, checklist, go, note, progress]
        plan_button.click(plan_fn, inputs=list(plan_inputs), outputs=outputs, **event_kw(long=True))
        checklist.change(self.ticks_changed, inputs=[plan_state, checklist], outputs=[go])
        return go.click(self.run, inputs=[plan_state, checklist], outputs=[note, progress], **event_kw(long=True))
