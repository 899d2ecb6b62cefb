"""Looking after one library file in the gradio Library tab (issue 12): the offline card with
example images, trigger-word group toggles and the preferred weight, rename, move, delete to
civkit's trash (a second click confirms, naming the sidecars that go along), and the trash.

Everything goes through the service (``LibraryCare``), which keeps files inside the model
folders and refreshes the WebUI's lists after a move.
"""

from __future__ import annotations

import base64
import html
import os

import gradio as gr

from .cards import md
from .context import UiContext

MAX_CARD_IMAGES = 4
MAX_INLINE_BYTES = 2 * 1024 * 1024
_MIME = {".png": "image/png", ".jpeg": "image/jpeg", ".jpg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif"}


def _inline(path: str):
    """An image from civkit's cache as a data URL (the cache is outside gradio's allowed paths)."""
    mime = _MIME.get(os.path.splitext(path)[1].lower())
    try:
        if mime is None or os.path.getsize(path) > MAX_INLINE_BYTES:
            return None
        with open(path, "rb") as fh:
            return f"data:{mime};base64,{base64.b64encode(fh.read()).decode('ascii')}"
    except OSError:
        return None


def card_html(card: dict) -> str:
    esc = html.escape
    title = " · ".join(esc(str(x)) for x in (card.get("model_name"), card.get("version_name")) if x)
    facts = " · ".join(esc(str(x)) for x in (card.get("base_model"), card.get("model_type")) if x)
    if card.get("linked_by_hand"):
        facts += " · linked by hand"
    images = [src for src in (_inline(i["file"]) for i in card.get("images", [])[:MAX_CARD_IMAGES] if i.get("file"))
              if src]
    links = " ".join(f'<a href="{esc(link["url"])}" target="_blank" rel="noopener noreferrer">{esc(link["label"])}</a>'
                     for link in card.get("links", []))
    sidecars = ", ".join(esc(s) for s in card.get("sidecars", [])) or "none"
    return (
        '<div class="civkit-care-card">'
        f"<h4>{esc(card.get('name') or '')}</h4>"
        + (f"<div><b>{title}</b></div>" if title else "<div>Not linked to Civitai.</div>")
        + (f"<div>{facts}</div>" if facts else "")
        + (f'<div class="civkit-care-desc">{card.get("description_html") or ""}</div>')
        + ("<div>" + "".join(f'<img src="{s}" alt="example image" style="height:120px;margin:2px;border-radius:4px">'
                             for s in images) + "</div>" if images else "")
        + f"<div>Sidecars: {sidecars}</div>"
        + (f"<div>{links}</div>" if links else "")
        + "</div>"
    )


def trash_html(items: list) -> str:
    if not items:
        return "<div id='civkit_trash_empty'>The trash is empty.</div>"
    rows = "".join(f"<li><code>{html.escape(i['id'])}</code> {html.escape(i['name'])}"
                   f" ({len(i.get('sidecars', []))} sidecars)</li>" for i in items)
    return f"<ul class='civkit-trash'>{rows}</ul>"


class CareView:
    """Built inside the Library tab; ``library`` is its ``LibraryView`` (the picker and the list)."""

    def __init__(self, ctx: UiContext, library) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.library = library

    def _entry(self, label):
        entry = self.library._shown.get(label) if label else None
        return entry or (self.library._find(label) if label else None)

    def open(self, label):
        """-> card html, groups, weight, new name, message, confirm button (hidden)."""
        entry = self._entry(label)
        if entry is None:  # the list was refreshed (after a delete, say): keep its message
            return "", gr.update(choices=[], value=[]), None, "", gr.update(), gr.update(visible=False)
        try:
            card = self.service.model_card(entry["path"])
        except Exception as exc:  # shown, not raised
            return f"<p>{html.escape(self.ctx.error_text(exc))}</p>", gr.update(choices=[], value=[]), None, "", "", \
                gr.update(visible=False)
        choices = [f"{g['index']}: {g['text']}" for g in card["groups"]]
        chosen = [f"{g['index']}: {g['text']}" for g in card["groups"] if g["on"]]
        stem = os.path.splitext(card["name"])[0]
        return (card_html(card), gr.update(choices=choices, value=chosen), card.get("preferred_weight"), stem, "",
                gr.update(visible=False))

    def save(self, label, groups, weight):
        entry = self._entry(label)
        if entry is None:
            return "Pick a file first.", gr.update()
        numbers = [int(str(g).split(":", 1)[0]) for g in groups or []]
        try:
            card = self.service.model_card(entry["path"])
            every = len(numbers) == len(card["groups"])
            choices = {"all_groups": True} if every else {"groups": numbers}
            if not card["groups"]:
                choices = {}
            if weight in (None, ""):
                choices["clear_weight"] = True
            else:
                choices["weight"] = weight
            card = self.service.set_triggers(entry["path"], **choices)
        except Exception as exc:
            return f"**Not saved:** {md(self.ctx.error_text(exc))}", gr.update()
        note = f" ({card['json_message']})" if card.get("json_status") == "error" else ""
        return "Saved: trigger words and weight (also in the A1111 .json)." + note, card_html(card)

    def _after(self, message: str, query):
        table, picker, summary = self.library.show(query)
        return message, table, picker, summary, trash_html(self.service.trash_items())

    def rename(self, label, new_name, query):
        entry = self._entry(label)
        if entry is None:
            return ("Pick a file first.", gr.update(), gr.update(), gr.update(), gr.update())
        try:
            result = self.service.rename_file(entry["path"], new_name)
        except Exception as exc:
            return (f"**Not renamed:** {md(self.ctx.error_text(exc))}", gr.update(), gr.update(), gr.update(), gr.update())
        return self._after(f"Renamed to {md(os.path.basename(result['path']))} ({md(result['message'])}).", query)

    def move(self, label, subfolder, query):
        entry = self._entry(label)
        if entry is None:
            return ("Pick a file first.", gr.update(), gr.update(), gr.update(), gr.update())
        try:
            result = self.service.move_file(entry["path"], subfolder or ".")
        except Exception as exc:
            return (f"**Not moved:** {md(self.ctx.error_text(exc))}", gr.update(), gr.update(), gr.update(), gr.update())
        return self._after(f"Moved to {md(result['path'])} ({md(result['message'])}).", query)

    def ask_delete(self, label):
        """-> confirmation text, confirm button (shown)."""
        entry = self._entry(label)
        if entry is None:
            return "Pick a file first.", gr.update(visible=False)
        try:
            info = self.service.bundle_info(entry["path"])
        except Exception as exc:
            return f"**Cannot delete:** {md(self.ctx.error_text(exc))}", gr.update(visible=False)
        along = md(", ".join(info["sidecars"])) or "no sidecars"
        return (f"Move **{md(info['name'])}** to civkit's trash, together with: {along}? "
                "Click “Yes, move to the trash” to confirm."), gr.update(visible=True)

    def delete(self, label, query):
        entry = self._entry(label)
        if entry is None:
            return ("Pick a file first.", gr.update(), gr.update(), gr.update(), gr.update(), gr.update(visible=False))
        try:
            result = self.service.delete_file(entry["path"])
        except Exception as exc:
            return (f"**Not deleted:** {md(self.ctx.error_text(exc))}", gr.update(), gr.update(), gr.update(), gr.update(),
                    gr.update(visible=False))
        text = md(result["message"])
        done = self._after(f"{text[:1].upper()}{text[1:]}. Restore it below with its id.", query)
        return (*done, gr.update(visible=False))

    def restore(self, item_id, query):
        try:
            result = self.service.restore_trash(str(item_id or "").strip())
        except Exception as exc:
            return (f"**Not restored:** {md(self.ctx.error_text(exc))}", gr.update(), gr.update(), gr.update(), gr.update())
        return self._after(f"Restored {md(result['path'])}.", query)

    def build(self, picker, query, table, status) -> None:
        gr.Markdown("### Card and care")
        card = gr.HTML("", elem_id="civkit_care_card")
        with gr.Row():
            groups = gr.CheckboxGroup(choices=[], value=[], label="Trigger-word groups in the prompt",
                                      elem_id="civkit_care_groups", scale=3)
            weight = gr.Number(value=None, label="Preferred weight (empty = default)", elem_id="civkit_care_weight",
                               scale=1)
            save = gr.Button("Save words & weight", elem_id="civkit_care_save", scale=1)
        with gr.Row():
            new_name = gr.Textbox(label="New name", elem_id="civkit_care_name", scale=3)
            rename = gr.Button("Rename", elem_id="civkit_care_rename", scale=1)
        with gr.Row():
            subfolder = gr.Textbox(label="Move to folder (relative to its folder, or a full path inside the model folders)",
                                   elem_id="civkit_care_folder", scale=3)
            move = gr.Button("Move", elem_id="civkit_care_move", scale=1)
        with gr.Row():
            delete = gr.Button("Delete…", variant="stop", elem_id="civkit_care_delete", scale=1)
            confirm = gr.Button("Yes, move to the trash", variant="stop", visible=False, elem_id="civkit_care_confirm",
                                scale=1)
        message = gr.Markdown("", elem_id="civkit_care_message")
        gr.Markdown("### Trash")
        trash = gr.HTML(trash_html([]), elem_id="civkit_trash")
        with gr.Row():
            trash_id = gr.Textbox(label="Trash item id", elem_id="civkit_trash_id", scale=3)
            restore = gr.Button("Restore", elem_id="civkit_trash_restore", scale=1)
            show_trash = gr.Button("Show trash", elem_id="civkit_trash_show", scale=1)
        listing = [message, table, picker, status, trash]
        picker.change(self.open, inputs=[picker], outputs=[card, groups, weight, new_name, message, confirm])
        save.click(self.save, inputs=[picker, groups, weight], outputs=[message, card])
        rename.click(self.rename, inputs=[picker, new_name, query], outputs=listing)
        move.click(self.move, inputs=[picker, subfolder, query], outputs=listing)
        delete.click(self.ask_delete, inputs=[picker], outputs=[message, confirm])
        confirm.click(self.delete, inputs=[picker, query], outputs=[*listing, confirm])
        restore.click(self.restore, inputs=[trash_id, query], outputs=listing)
        show_trash.click(lambda: trash_html(self.service.trash_items()), inputs=None, outputs=[trash])
