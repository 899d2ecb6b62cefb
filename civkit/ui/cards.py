"""HTML for result cards, the details view, the download queue and the library table.

Every value from Civitai or from disk goes through ``html.escape``; descriptions arrive
sanitised from the service (``description_html``) and are sanitised once more here, so nothing
rendered can run script. URLs are only put into ``src``/``href`` when they are plain http(s).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Optional

from ..html_text import safe_url, sanitize_html

_ID_RE = re.compile(r"\(#([^()\s]+)\)\s*$")


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# The punctuation that can start Markdown or HTML in CommonMark/GFM (and marked, which gradio uses):
# emphasis, code, links and images, autolinks ("http:" and "www." need ":" and "."), headings, lists,
# tables, raw HTML, entities, and gradio's $$ LaTeX. Backslash-escaped, each shows as itself.
# Newlines become spaces: a name is one line, and no construct can start at a line's beginning.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:&$])")


def md(value) -> str:
    """Text from Civitai or from disk (a name, a trigger word, a path, a message) for gr.Markdown:
    shown exactly as written, never as Markdown or HTML (issue 13 item 11)."""
    text = " ".join(("" if value is None else str(value)).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_code(value) -> str:
    """``value`` as an inline code span, whatever backticks it holds (a fence longer than any run)."""
    text = " ".join(("" if value is None else str(value)).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if longest or text.startswith(" ") else f"{fence}{text}{fence}"


def id_from_label(label: Optional[str]):
    """The ``(#123)`` at the end of a picker label: an int for Civitai ids, else the text
    (download task ids such as ``dl-3``); None when there is none."""
    if not label:
        return None
    match = _ID_RE.search(str(label))
    if not match:
        return None
    text = match.group(1)
    return int(text) if text.isdigit() else text


def human_size(n: Optional[float]) -> str:
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def short_count(n: Optional[int]) -> str:
    if n is None:
        return "–"
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return str(n)


def _image(preview: Optional[dict], *, show_nsfw: bool, css: str = "civkit-thumb") -> str:
    url = safe_url((preview or {}).get("url"), images=True)
    if not url:
        return f'<div class="{css} civkit-noimg">no preview</div>'
    blur = bool(preview.get("nsfw")) and not show_nsfw
    classes = css + (" civkit-nsfw" if blur else "")
    badge = '<span class="civkit-nsfw-badge">NSFW</span>' if blur else ""
    if preview.get("is_video"):
        return f'<div class="{classes} civkit-noimg">video preview</div>{badge}'
    return f'<img class="{classes}" src="{esc(url)}" alt="preview" loading="lazy" referrerpolicy="no-referrer">{badge}'


def _creator(item: dict) -> str:
    creator = item.get("creator")
    if isinstance(creator, dict):
        return creator.get("username") or "unknown"
    return creator or "unknown"


NO_RESULTS = "No models found. Try another word, or clear the filters."


def result_cards(items: Iterable[dict], *, show_nsfw: bool = False, empty: str = NO_RESULTS) -> str:
    items = list(items)
    if not items:
        return f'<div class="civkit-empty">{esc(empty)}</div>'
    cards = []
    for item in items:
        stats = item.get("stats") or {}
        bases = sorted({v.get("base_model") for v in item.get("versions") or [] if v.get("base_model")})
        owned = '<span class="civkit-chip civkit-owned">in library</span>' if item.get("in_library") else ""
        cards.append(
            # javascript/civkit.js opens the model when this card is clicked (or Enter/Space on it)
            f'<div class="civkit-card" data-civkit-model="{esc(item.get("id"))}" '
            f'data-civkit-model-id="{esc(item.get("id"))}" tabindex="0" role="button" '
            f'aria-label="Open {esc(item.get("name"))}" title="Open {esc(item.get("name"))}">'
            f'<div class="civkit-thumbwrap">{_image(item.get("preview"), show_nsfw=show_nsfw)}</div>'
            f'<div class="civkit-card-body">'
            f'<div class="civkit-card-title" title="{esc(item.get("name"))}">{esc(item.get("name"))}</div>'
            f'<div class="civkit-card-meta"><span class="civkit-chip">{esc(item.get("type"))}</span>'
            f'{"".join(f"<span class=civkit-chip>{esc(b)}</span>" for b in bases[:2])}{owned}</div>'
            f'<div class="civkit-card-meta">by {esc(_creator(item))}</div>'
            f'<div class="civkit-card-stats">{short_count(stats.get("downloads"))} downloads · '
            f'{short_count(stats.get("likes"))} likes · <b>#{esc(item.get("id"))}</b></div>'
            f"</div></div>"
        )
    return f'<div class="civkit-grid">{"".join(cards)}</div>'


def result_label(item: dict) -> str:
    return f'{item.get("name")} — {item.get("type")} (#{item.get("id")})'


def version_label(version: dict) -> str:
    base = version.get("base_model") or "unknown base"
    return f'{version.get("name")} · {base} (#{version.get("id")})'


def file_label(file: dict) -> str:
    bits = [human_size(file.get("size"))]
    for key in ("format", "fp", "size_kind"):
        if file.get(key):
            bits.append(str(file[key]))
    if file.get("primary"):
        bits.append("primary")
    if not file.get("safe", True):
        bits.append("UNSAFE" if not file.get("needs_allow_unsafe") else "pickle: runs code when loaded")
    return f'{file.get("name")} — {", ".join(bits)} (#{file.get("id")})'


def words_html(words: Iterable[str]) -> str:
    words = [w for w in words if w]
    if not words:
        return '<span class="civkit-muted">none listed by the creator</span>'
    return "".join(f'<code class="civkit-word">{esc(w)}</code>' for w in words)


def details_html(model: dict, version: Optional[dict], *, show_nsfw: bool = False) -> str:
    """The selected model and version: header, preview, trained words, license, description."""
    if not model:
        return '<div class="civkit-empty">Pick a result above to see its versions and files.</div>'
    stats = model.get("stats") or {}
    images = (version or {}).get("images") or []
    preview = images[0] if images else None
    tags = "".join(f'<span class="civkit-chip">{esc(t)}</span>' for t in (model.get("tags") or [])[:8])
    lic = model.get("license") or {}
    commercial = ", ".join(lic.get("commercial_use") or []) or "none"
    parts = [
        '<div class="civkit-details">',
        f'<div class="civkit-details-img">{_image(preview, show_nsfw=show_nsfw, css="civkit-big")}</div>',
        '<div class="civkit-details-body">',
        f'<h3>{esc(model.get("name"))}</h3>',
        f'<div class="civkit-card-meta"><span class="civkit-chip">{esc(model.get("type"))}</span>{tags}</div>',
        f'<div>by <b>{esc(_creator(model))}</b> · {short_count(stats.get("downloads"))} downloads · '
        f'{short_count(stats.get("likes"))} likes · model #{esc(model.get("id"))}</div>',
    ]
    if version:
        state = ""
        if version.get("in_library"):
            state = f'<div class="civkit-ok">Already in your library: {esc(version.get("local_path"))}</div>'
        if version.get("early_access"):
            state += '<div class="civkit-warn">Early access: downloading needs a Civitai account that has it.</div>'
        parts += [
            f'<div>Version <b>{esc(version.get("name"))}</b> · base model '
            f'<b>{esc(version.get("base_model") or "unknown")}</b> · version #{esc(version.get("id"))}</div>',
            state,
            f'<div class="civkit-words"><b>Trigger words:</b> {words_html(version.get("trained_words") or [])}</div>',
        ]
    parts.append(f'<div class="civkit-muted">Commercial use: {esc(commercial)}</div>')
    parts.append("</div></div>")
    description = sanitize_html((version or {}).get("description_html") or "") + sanitize_html(
        model.get("description_html") or ""
    )
    if description:
        parts.append(f'<details class="civkit-desc" open><summary>Description</summary>{description}</details>')
    return "".join(parts)


# ----------------------------------------------------------------------------- downloads

# The core words some failures for the command line; in this UI the same advice is a checkbox.
_UI_WORDS = (("pass --allow-unsafe (allow_unsafe=True)", 'tick "Allow pickle files" above the Download button'),)


def ui_words(message: str) -> str:
    for cli, ui in _UI_WORDS:
        message = message.replace(cli, ui)
    return message


STATE_WORDS = {
    "queued": "waiting",
    "resolving": "asking Civitai",
    "downloading": "downloading",
    "verifying": "checking the file",
    "done": "done",
    "skipped": "already there",
    "failed": "failed",
    "cancelled": "cancelled",
}
FINAL_STATES = frozenset({"done", "skipped", "failed", "cancelled"})


def task_label(task: dict) -> str:
    name = task.get("model_name") or task.get("ref") or "download"
    if task.get("version_name"):
        name = f"{name} {task['version_name']}"
    return f'{name} — {STATE_WORDS.get(task.get("state"), task.get("state"))} (#{task.get("id")})'


def _progress(task: dict) -> str:
    total = task.get("total") or 0
    done = task.get("bytes") or 0
    pct = int(100 * done / total) if total else (100 if task.get("state") in ("done", "skipped") else 0)
    text = f"{human_size(done)} of {human_size(total)}" if total else ""
    speed = task.get("speed")
    if speed and task.get("state") == "downloading":
        text += f" · {human_size(speed)}/s"
        if task.get("eta"):
            text += f" · {int(task['eta'])} s left"
    return (
        f'<div class="civkit-bar"><div class="civkit-bar-fill" style="width:{pct}%"></div></div>'
        f'<div class="civkit-muted">{esc(text)}</div>'
    )


def downloads_html(tasks: Iterable[dict]) -> str:
    tasks = list(tasks)
    if not tasks:
        return '<div class="civkit-empty">No downloads yet. Open a model in Search and press Download.</div>'
    rows = []
    for t in tasks:
        state = t.get("state") or ""
        message = ui_words(t.get("message") or "")
        if state == "done" and t.get("path"):
            message = message or f"Saved to {t['path']}"
        name = t.get("model_name") or t.get("ref") or ""
        if t.get("version_name"):
            name += f" · {t['version_name']}"
        # a file Civitai listed no hash for is marked, never shown as plainly verified (issue 13 item 17)
        unverified = (' <span class="civkit-unverified" title="Civitai lists no hash for this file yet: only its '
                      'size was checked">unverified</span>') if t.get("unverified") else ""
        rows.append(
            f'<tr class="civkit-state-{esc(state)}"><td>#{esc(t.get("id"))}</td><td>{esc(name)}</td>'
            f'<td><span class="civkit-state">{esc(STATE_WORDS.get(state, state))}</span>{unverified}</td>'
            f"<td>{_progress(t)}</td><td>{esc(message)}</td></tr>"
        )
    return (
        '<table class="civkit-table"><thead><tr><th>#</th><th>Model</th><th>State</th><th>Progress</th>'
        f'<th>Message</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


# ----------------------------------------------------------------------------- library

_LINK_WORDS = {
    "linked": "on Civitai",
    "not_found": "not on Civitai",
    "unknown": "not checked",
    "error": "check failed",
}


def duplicate_paths(entries: Iterable[dict]) -> dict[str, int]:
    """path -> number of files sharing its SHA-256 (only for files that have copies).

    Rows from the service carry ``copies`` (counted over the whole library, so a filtered or
    shortened list still marks its duplicates); without it, copies are counted among ``entries``.
    """
    entries = list(entries)
    if entries and all(e.get("copies") is not None or not e.get("sha256") for e in entries):
        return {e["path"]: int(e["copies"]) for e in entries if (e.get("copies") or 0) > 1}
    groups: dict[str, list[str]] = {}
    for e in entries:
        if e.get("sha256"):
            groups.setdefault(e["sha256"], []).append(e["path"])
    return {p: len(paths) for paths in groups.values() if len(paths) > 1 for p in paths}


def entry_matches(entry: dict, query: str) -> bool:
    """The Library filter: text in the file name, model, version, type, base model or a trigger word
    (case-insensitive; the same fields the index's ``list_rows`` filter searches)."""
    q = query.strip().casefold()
    if not q:
        return True
    words = entry.get("trained_words") or []
    hay = " ".join(str(x) for x in (entry.get("name"), entry.get("model_name"), entry.get("version_name"),
                                   entry.get("model_type"), entry.get("base_model"), *words) if x)
    return q in hay.casefold()


def entry_label(entry: dict) -> str:
    return f'{entry.get("name")} — {entry.get("model_name") or "not linked"} — in {entry.get("folder")}'


def library_html(entries: Iterable[dict], *, query: str = "", filtered: bool = False) -> str:
    """The library table. ``query`` filters ``entries`` here, unless ``filtered`` says the
    service already did (then ``query`` only picks the words for an empty result)."""
    entries = list(entries)
    if not entries and not (filtered and query.strip()):
        return '<div class="civkit-empty">The library is empty. Press "Scan my models" to index the model folders.</div>'
    dups = duplicate_paths(entries)
    rows = []
    for e in entries:
        words = e.get("trained_words") or []
        if not filtered and not entry_matches(e, query):
            continue
        status = _LINK_WORDS.get(e.get("status"), e.get("status") or "")
        if e.get("error"):
            status += f" ({e['error']})"
        notes = []
        if e.get("update_available") and e.get("latest_version_id") not in (None, e.get("version_id")):
            notes.append(f'<span class="civkit-chip civkit-update">update: {esc(e.get("latest_version_name") or "newer version")}</span>')
        if e["path"] in dups:
            notes.append(f'<span class="civkit-chip civkit-dup">duplicate ×{dups[e["path"]]}</span>')
        model = esc(e.get("model_name") or "—")
        if e.get("version_name"):
            model += f' · {esc(e["version_name"])}'
        rows.append(
            f'<tr data-civkit-path="{esc(e["path"])}"><td title="{esc(e["path"])}">{esc(e.get("name"))}</td>'
            f'<td>{model}</td><td>{esc(e.get("model_type") or "")}</td><td>{esc(e.get("base_model") or "")}</td>'
            f'<td>{esc(status)}</td><td>{"".join(notes)}</td><td>{words_html(words) if words else ""}</td></tr>'
        )
    if not rows:
        return '<div class="civkit-empty">No file in the library matches that filter.</div>'
    return (
        '<table class="civkit-table"><thead><tr><th>File</th><th>Civitai model</th><th>Type</th><th>Base</th>'
        f'<th>Link</th><th>Notes</th><th>Trigger words</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
