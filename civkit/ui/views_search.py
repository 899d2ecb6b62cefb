"""The Search tab: filters, result cards with "more" paging, and the details view with Download."""

from __future__ import annotations

from typing import Optional

import gradio as gr

from ..refs import TOKEN_REMOVED, clean_ref_text
from ..summaries import hidden_note
from . import cards
from .compat import event_kw
from .context import UiContext
from .views_batches import PlanPanel

ANY = "Any"
MODEL_TYPES = ("LORA", "LoCon", "DoRA", "Checkpoint", "TextualInversion", "Hypernetwork", "VAE",
               "Controlnet", "Upscaler", "MotionModule", "Poses", "Wildcards", "Workflows", "Other")
BASE_MODELS = ("SD 1.5", "SDXL 1.0", "Pony", "Illustrious", "NoobAI", "Flux.1 D", "Flux.1 S", "SD 3.5",
               "SD 2.1", "Other")
SORTS = ("Highest Rated", "Most Downloaded", "Most Liked", "Most Discussed", "Newest", "Oldest")
PERIODS = ("AllTime", "Year", "Month", "Week", "Day")
POLL_SECONDS = 0.25


def _one(value) -> tuple:
    return () if not value or value == ANY else (value,)


def _hidden(page: dict) -> str:
    """Strict SFW hid some results: say how many, and how to show them (issue 13 item 20)."""
    count = int(page.get("hidden") or 0)
    return " " + hidden_note(count, 'tick "Include NSFW models"') if count else ""


class SearchView:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.page_size = 20
        self.many = PlanPanel(ctx, "files", "civkit_many")

    # ------------------------------------------------------------------ handlers (plain Python)
    def _query(self, query, mtype, base, sort, period, nsfw, cursor=None) -> dict:
        return self.service.search(
            (query or "").strip() or None,
            types=_one(mtype),
            base_models=_one(base),
            sort=None if sort in (None, "", ANY) else sort,
            period=None if period in (None, "", ANY) else period,
            nsfw=bool(nsfw),
            cursor=cursor,
            limit=self.page_size,
        )

    def _results(self, items: list, cursor: Optional[str], status: str):
        labels = [cards.result_label(i) for i in items]
        return (
            status,
            cards.result_cards(items, show_nsfw=self.ctx.show_nsfw),
            gr.update(choices=labels, value=None),
            gr.update(interactive=bool(cursor), value="More results" if cursor else "No more results"),
            items,
            cursor,
        )

    def search(self, query, mtype, base, sort, period, nsfw):
        """-> status, cards html, result picker, more button, results state, cursor state."""
        try:
            page = self._query(query, mtype, base, sort, period, nsfw)
        except Exception as exc:  # shown to the person instead of gradio's bare "Error"
            return self._results([], None, self.ctx.problem(exc))
        items = list(page.get("items") or [])
        cursor = page.get("next_cursor")
        more = " More are available." if cursor else ""
        found = f"Found {len(items)} models.{more} Click a card to see its versions and files."
        return self._results(items, cursor, (found if items else "No models found.") + _hidden(page))

    def more(self, query, mtype, base, sort, period, nsfw, items, cursor):
        items = list(items or [])
        if not cursor:
            return self._results(items, None, f"Showing all {len(items)} results.")
        try:
            page = self._query(query, mtype, base, sort, period, nsfw, cursor=cursor)
        except Exception as exc:
            return self._results(items, cursor, self.ctx.problem(exc))
        seen = {i.get("id") for i in items}
        items += [i for i in page.get("items") or [] if i.get("id") not in seen]
        cursor = page.get("next_cursor")
        return self._results(items, cursor, f"Showing {len(items)} models." + (" More are available." if cursor else "")
                             + _hidden(page))

    def _version(self, model: dict, version_id: Optional[int]) -> Optional[dict]:
        versions = model.get("versions") or []
        for v in versions:
            if v.get("id") == version_id:
                return v
        return versions[0] if versions else None

    def _file_update(self, version: Optional[dict]):
        files = (version or {}).get("files") or []
        labels = [cards.file_label(f) for f in files]
        primary = next((cards.file_label(f) for f in files if f.get("primary")), labels[0] if labels else None)
        return gr.update(choices=labels, value=primary)

    @staticmethod
    def _has_companion(version: Optional[dict], file_type: str) -> bool:
        """A checkpoint version's extra VAE / Config file (not the version's own primary file)."""
        return any(f.get("type") == file_type and not f.get("primary") for f in (version or {}).get("files") or [])

    def _companion_updates(self, version: Optional[dict]) -> tuple:
        """The "also download its VAE / config" boxes: usable only when the version has that file."""
        out = []
        for file_type, label in (("VAE", "Also download its VAE"), ("Config", "Also download its config (.yaml)")):
            has = self._has_companion(version, file_type)
            out.append(gr.update(value=False, interactive=has,
                                 label=label if has else f"{label} (this version has none)"))
        return tuple(out)

    def open_details(self, picked, ref=None):
        """``open_model`` plus the companion boxes (-> the 7 outputs of the details view)."""
        out = self.open_model(picked, ref)
        model, status = out[3], out[4]
        if not isinstance(status, str):  # nothing was asked for: nothing changes
            return (*out, gr.update(), gr.update())
        # a problem leaves no model (nothing to download, so nothing extra either)
        version = self._version(model, model.get("selected_version_id")) if model else None
        return (*out, *self._companion_updates(version))

    def open_ref(self, ref):
        """The Open button (also what a click on a result card presses): the details, and the
        result picker emptied, so picking the result it showed before opens that one again."""
        ref, had_token = clean_ref_text(ref or "")  # never kept in the page or a task (issue 13 item 12)
        out = self.open_details(None, ref)
        if had_token and out[4] == "":
            out = (*out[:4], TOKEN_REMOVED, *out[5:])
        return (*out, gr.update() if not isinstance(out[4], str) else gr.update(value=None))

    def open_model(self, picked, ref=None):
        """A result picked from the list (or a pasted link/id) -> the details view.

        -> details html, version picker, file picker, model state, download status.
        """
        target = cards.id_from_label(picked) if picked else None
        text = str(target) if target is not None else (ref or "").strip()
        if not text:
            return gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
        try:
            model = self.service.model_details(text)
        except Exception as exc:
            return (cards.details_html({}, None), gr.update(choices=[], value=None),
                    gr.update(choices=[], value=None), None, self.ctx.problem(exc))
        version = self._version(model, model.get("selected_version_id"))
        versions = [cards.version_label(v) for v in model.get("versions") or []]
        return (
            cards.details_html(model, version, show_nsfw=self.ctx.show_nsfw),
            gr.update(choices=versions, value=cards.version_label(version) if version else None),
            self._file_update(version),
            model,
            "",
        )

    def pick_version(self, label, model):
        """-> details html, file picker."""
        if not model:
            return gr.update(), gr.update()
        version = self._version(model, cards.id_from_label(label))
        return cards.details_html(model, version, show_nsfw=self.ctx.show_nsfw), self._file_update(version)

    def pick_version_details(self, label, model):
        """``pick_version`` plus the companion boxes for that version."""
        if not model:
            return gr.update(), gr.update(), gr.update(), gr.update()
        version = self._version(model, cards.id_from_label(label))
        return (*self.pick_version(label, model), *self._companion_updates(version))

    def refresh_details(self, model, version_label):
        """After a download: the details again, now saying where the file is (-> details, model)."""
        if not model:
            return gr.update(), gr.update()
        try:
            fresh = self.service.model_details(str(model["id"]))
        except Exception:  # the download already said what happened; keep what is shown
            return gr.update(), gr.update()
        version = self._version(fresh, cards.id_from_label(version_label))
        return cards.details_html(fresh, version, show_nsfw=self.ctx.show_nsfw), fresh

    def download(self, model, version_label, file_label, allow_unsafe=False, with_vae=False, with_config=False):
        """Queue the chosen file (and, when ticked, the version's VAE / config) and stream its
        progress until it is finished (a generator)."""
        if not model:
            yield "Pick a model first."
            return
        version = self._version(model, cards.id_from_label(version_label))
        if version is None:
            yield "This model has no version to download."
            return
        try:
            task_id = self.service.start_download(
                f"{model['id']}@{version['id']}", file_id=cards.id_from_label(file_label),
                allow_unsafe=True if allow_unsafe else None,
                with_vae=bool(with_vae) and self._has_companion(version, "VAE"),
                with_config=bool(with_config) and self._has_companion(version, "Config"),
            )
        except Exception as exc:
            yield self.ctx.problem(exc)
            return
        yield from self.watch_task(task_id)

    def plan_many(self, model, version_label, all_files, all_versions):
        """"all files" / "all versions" of the open model: the plan, before anything is fetched."""
        if not model:
            return self.many.plan_refs(None, all_files, all_versions)
        version = self._version(model, cards.id_from_label(version_label))
        ref = str(model["id"]) if all_versions or version is None else f"{model['id']}@{version['id']}"
        return self.many.plan_refs(ref, all_files, all_versions)

    def watch_task(self, task_id):
        """Yield the task's state in words until it is finished; the queue's worker downloads."""
        last = None
        while True:
            try:
                task = self.service.wait_download(task_id, POLL_SECONDS)
            except Exception as exc:  # e.g. the task was cleared from the list meanwhile
                yield self.ctx.problem(exc)
                return
            text = task_status_text(task)
            if text != last:
                last = text
                yield text
            if task.get("state") in cards.FINAL_STATES:
                return

    # ------------------------------------------------------------------ layout
    def build(self) -> None:
        with gr.Row(equal_height=False):
            query = gr.Textbox(label="Search Civitai", placeholder="name, tag or creator", scale=4,
                               elem_id="civkit_query")
            search_btn = gr.Button("Search", variant="primary", scale=1, elem_id="civkit_search_btn")
        with gr.Row():
            mtype = gr.Dropdown(choices=[ANY, *MODEL_TYPES], value=ANY, label="Type", elem_id="civkit_type")
            base = gr.Dropdown(choices=[ANY, *BASE_MODELS], value=ANY, label="Base model", elem_id="civkit_base")
            sort = gr.Dropdown(choices=list(SORTS), value=SORTS[0], label="Sort", elem_id="civkit_sort")
            period = gr.Dropdown(choices=list(PERIODS), value=PERIODS[0], label="Period", elem_id="civkit_period")
            nsfw = gr.Checkbox(value=False, label="Include NSFW models", elem_id="civkit_nsfw")
        items_state, cursor_state, model_state = gr.State([]), gr.State(None), gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                status = gr.Markdown("Type a word and press Search.", elem_id="civkit_search_status")
                picker = gr.Dropdown(choices=[], value=None, label="Open a result (its number is on its card)",
                                     elem_id="civkit_pick")
                results = gr.HTML(cards.result_cards([], empty="Results appear here."), elem_id="civkit_results")
                more_btn = gr.Button("More results", interactive=False, elem_id="civkit_more_btn")
            with gr.Column(scale=2, elem_id="civkit_details_col"):
                with gr.Row():
                    ref = gr.Textbox(label="Open a Civitai link, AIR or model id", scale=3, elem_id="civkit_ref")
                    open_btn = gr.Button("Open", scale=1, elem_id="civkit_open_btn")
                details = gr.HTML(cards.details_html({}, None), elem_id="civkit_details")
                version_dd = gr.Dropdown(choices=[], value=None, label="Version", elem_id="civkit_version")
                file_dd = gr.Dropdown(choices=[], value=None, label="File", elem_id="civkit_file")
                allow_unsafe = gr.Checkbox(value=False, elem_id="civkit_allow_unsafe",
                                           label="Allow pickle files (.ckpt/.pt): they can run code when loaded")
                with gr.Row():
                    with_vae, with_config = (
                        gr.Checkbox(value=False, interactive=False, label=f"{label} (this version has none)",
                                    elem_id=elem_id)
                        for label, elem_id in (("Also download its VAE", "civkit_with_vae"),
                                               ("Also download its config (.yaml)", "civkit_with_config")))
                download_btn = gr.Button("Download", variant="primary", elem_id="civkit_download_btn")
                download_status = gr.Markdown("", elem_id="civkit_download_status")
                with gr.Row():  # many files at once: a plan first (views_batches.py)
                    all_files = gr.Checkbox(value=False, label="all files", elem_id="civkit_all_files")
                    all_versions = gr.Checkbox(value=False, label="all versions", elem_id="civkit_all_versions")
                    plan_btn = gr.Button("Plan these downloads", elem_id="civkit_plan_many_btn")
                self.many.build(plan_button=plan_btn, plan_fn=self.plan_many,
                                plan_inputs=[model_state, version_dd, all_files, all_versions])

        filters = [query, mtype, base, sort, period, nsfw]
        outputs = [status, results, picker, more_btn, items_state, cursor_state]
        search_btn.click(self.search, inputs=filters, outputs=outputs)
        query.submit(self.search, inputs=filters, outputs=outputs)
        more_btn.click(self.more, inputs=[*filters, items_state, cursor_state], outputs=outputs)
        detail_outputs = [details, version_dd, file_dd, model_state, download_status, with_vae, with_config]
        picker.change(self.open_details, inputs=[picker], outputs=detail_outputs)
        # a result card's click lands here too: javascript/civkit.js fills `ref` and presses Open
        open_btn.click(self.open_ref, inputs=[ref], outputs=[*detail_outputs, picker])
        ref.submit(self.open_ref, inputs=[ref], outputs=[*detail_outputs, picker])
        version_dd.change(self.pick_version_details, inputs=[version_dd, model_state],
                          outputs=[details, file_dd, with_vae, with_config])
        download_btn.click(self.download, inputs=[model_state, version_dd, file_dd, allow_unsafe, with_vae,
                                                  with_config],
                           outputs=[download_status],
                           **event_kw(long=True)).then(
            self.refresh_details, inputs=[model_state, version_dd], outputs=[details, model_state])


def task_status_text(task: dict) -> str:
    """A download's state in plain words, for the status line under the Download button (Markdown:
    every name, word, path and message is escaped)."""
    md = cards.md
    state = task.get("state")
    name = md(task.get("model_name") or task.get("ref") or "the model")
    # never "verified" when Civitai listed no hash to check the file against (issue 13 item 17)
    unverified = (" **Unverified:** Civitai lists no hash for this file yet, so only its size was checked."
                  if task.get("unverified") else "")
    if state == "done":
        words = md(", ".join(task.get("trained_words") or []))
        extra = f" Trigger words: {words}." if words else ""
        also = "".join(f" Its {'VAE' if c.get('kind') == 'vae' else 'config'}: {cards.md_code(c.get('path'))}."
                       for c in task.get("companions") or [])
        return f"**Done.** Downloaded {name} to {cards.md_code(task.get('path'))}.{unverified}{also}{extra}"
    if state == "skipped":
        return f"**Done.** {name} is already in your library: {cards.md_code(task.get('path') or '')}.{unverified}"
    if state == "failed":
        return f"**Download failed:** {md(cards.ui_words(task.get('message') or 'no reason given'))}"
    if state == "cancelled":
        return f"Download of {name} cancelled."
    total, done = task.get("total") or 0, task.get("bytes") or 0
    pct = f" {int(100 * done / total)}%" if total else ""
    return f"{name}: {cards.STATE_WORDS.get(state, state)}{pct}…"
