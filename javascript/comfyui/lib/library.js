// The Library view: the local model files civkit knows, with link status, base model and trigger
// words (click a word to copy it). Side-effect free.

import { PlanView } from "./batch.js";
import { CareView } from "./care.js";
import { clear, copyText, formatBytes, h } from "./dom.js";

const STATUS = {
  linked: ["ok", "linked to Civitai"],
  not_found: ["warn", "not on Civitai"],
  unknown: ["", "not checked yet"],
  error: ["bad", "error"],
};

const PAGE = 200; // rows per request; "Show more" asks for the next page
const FILTER_DELAY_MS = 250; // wait for a pause in typing before asking the server

export class LibraryView {
  constructor({ client, toast, onFilesChanged }) {
    this.client = client;
    this.toast = toast;
    this.care = new CareView({ client, toast, onChanged: () => {
      this.markStale();
      if (onFilesChanged) onFilesChanged();
    } });
    this.entries = [];
    this.total = 0;
    this.seq = 0; // answers to older requests (an earlier filter) are dropped
    this.timer = null;
    this.stale = true;
    this.root = this.build();
  }

  build() {
    this.filter = h("input", { type: "search", class: "civkit-grow", placeholder: "Filter by name, base model, word…",
      "aria-label": "Filter the library", on: { input: () => this.filterChanged() } });
    this.scanButton = h("button", { class: "civkit-btn", title: "Hash new files and look them up on Civitai",
      on: { click: () => this.scan() } }, "Scan folders");
    this.updatesButton = h("button", { class: "civkit-btn", title: "Which linked models have a newer version (nothing is downloaded yet)",
      on: { click: () => this.checkUpdates() } }, "Updates");
    this.updates = h("div", { class: "civkit-updates" });
    this.status = h("div", { class: "civkit-note" });
    this.count = h("div", { class: "civkit-note civkit-lib-count", "aria-live": "polite" });
    this.list = h("div", { class: "civkit-lib" });
    this.more = h("button", { class: "civkit-btn civkit-lib-more", style: { width: "100%", marginTop: "10px", display: "none" },
      on: { click: () => this.loadMore() } }, "Show more");
    return h("div", { class: "civkit-view civkit-library" },
      h("div", { class: "civkit-row" }, this.filter, this.scanButton, this.updatesButton), this.updates, this.status,
      this.count, this.list, this.more);
  }

  async show() {
    if (this.stale) await this.load();
  }

  markStale() {
    this.stale = true;
    if (this.root.isConnected) this.load();
  }

  filterChanged() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), FILTER_DELAY_MS);
  }

  query(offset) {
    const q = this.filter.value.trim();
    return { q: q || undefined, offset, limit: PAGE };
  }

  // The first page for the current filter (replaces the list).
  async load() {
    this.stale = false;
    clearTimeout(this.timer);
    const seq = ++this.seq;
    try {
      const data = await this.client.library(this.query(0));
      if (seq !== this.seq) return;
      this.entries = data.items || [];
      this.total = data.total ?? this.entries.length;
      this.scanState(data.scan);
      this.renderList();
    } catch (err) {
      if (seq !== this.seq) return;
      this.stale = true;
      this.toast("error", "Could not read the library", err.message);
    }
  }

  // The next page, appended.
  async loadMore() {
    const seq = this.seq;
    this.more.disabled = true;
    try {
      const data = await this.client.library(this.query(this.entries.length));
      if (seq !== this.seq) return;
      const items = data.items || [];
      this.total = data.total ?? this.total;
      this.entries = this.entries.concat(items);
      for (const entry of items) this.list.append(this.entryCard(entry));
      this.renderCount();
    } catch (err) {
      this.toast("error", "Could not read more of the library", err.message);
    } finally {
      this.more.disabled = false;
    }
  }

  scanState(scan) {
    if (!scan) return;
    if (scan.running) {
      const of = scan.total ? ` of ${scan.total}` : "";
      this.status.textContent = `Scanning… ${scan.done || 0}${of} files`;
      this.scanButton.disabled = true;
    } else {
      this.scanButton.disabled = false;
      if (scan.error) this.status.textContent = `Last scan failed: ${scan.error}`;
    }
  }

  onScanEvent(data) {
    if (!data) return;
    if (data.state === "done" || data.state === "failed") {
      this.scanButton.disabled = false;
      if (data.state === "failed") this.toast("error", "Library scan failed", data.message || "");
      this.markStale();
      return;
    }
    const done = data.done ?? data.files_done ?? data.hashed;
    const total = data.total ?? data.files_total;
    this.scanButton.disabled = true;
    this.status.textContent = done !== undefined ? `Scanning… ${done}${total ? ` of ${total}` : ""} files` : "Scanning…";
  }

  // "Updates": plan the newest version's matching file for every linked model; the checklist
  // (all ticked) and one "Download N updates (X)" button come from the PlanView.
  checkUpdates() {
    this.plan = new PlanView({ client: this.client, toast: this.toast, noun: "updates", onFinished: () => this.markStale() });
    clear(this.updates).append(h("div", { class: "civkit-section-title" }, "Updates"), this.plan.root);
    return this.plan.load(this.client.planBatch({ kind: "updates" }));
  }

  onBatch(status) {
    this.plan?.onBatch(status);
  }

  async scan() {
    this.scanButton.disabled = true;
    this.status.textContent = "Scanning…";
    try {
      const result = await this.client.scan(true);
      if (!result.started) this.status.textContent = "A scan is already running.";
    } catch (err) {
      this.scanButton.disabled = false;
      this.status.textContent = "";
      this.toast("error", "Could not start a scan", err.message);
    }
  }

  renderCount() {
    const n = (x) => x.toLocaleString("en-US");
    const filtered = this.filter.value.trim() !== "";
    const noun = this.total === 1 ? "file" : "files";
    this.count.textContent = this.total
      ? `${n(this.entries.length)} of ${n(this.total)} ${filtered ? `matching ${noun}` : noun}`
      : "";
    this.more.style.display = this.entries.length < this.total ? "" : "none";
  }

  renderList() {
    clear(this.list);
    const filtered = this.filter.value.trim() !== "";
    this.renderCount();
    if (!this.entries.length) {
      this.list.append(h("div", { class: "civkit-empty" }, filtered
        ? "No file in the library matches that filter."
        : "No models in the library yet. Download one, or scan your folders."));
      return;
    }
    if (!this.status.textContent.startsWith("Scanning")) {
      const hint = this.entries.some((e) => (e.trained_words || []).length) ? "Click a trigger word to copy it." : "";
      this.status.textContent = hint;
    }
    for (const entry of this.entries) this.list.append(this.entryCard(entry));
  }

  entryCard(entry) {
    const [cls, label] = STATUS[entry.status] || ["", entry.status || "unknown"];
    const words = entry.trained_words || [];
    const title = entry.model_name ? `${entry.model_name}${entry.version_name ? ` · ${entry.version_name}` : ""}` : null;
    const careHolder = h("div", { class: "civkit-care-holder" });
    const manage = entry.folder_key && entry.comfy_name
      ? h("button", { class: "civkit-btn small civkit-manage", title: "Card, trigger words, rename, move, delete",
        on: { click: () => this.care.open(entry, careHolder) } }, "Manage")
      : null;
    return h("div", { class: "civkit-entry", dataset: { path: entry.comfy_name || entry.name } },
      h("div", { class: "civkit-name", title: entry.comfy_name || entry.name }, entry.comfy_name || entry.name),
      title ? h("div", { class: "civkit-meta" }, title) : null,
      h("div", { class: "civkit-meta" },
        h("span", { class: `civkit-badge ${cls}` }, label),
        entry.base_model ? h("span", { class: "civkit-badge" }, entry.base_model) : null,
        entry.folder_key ? h("span", {}, entry.folder_key) : null,
        entry.size ? h("span", {}, formatBytes(entry.size)) : null, manage),
      words.length
        ? h("div", { class: "civkit-words", "aria-label": "Trigger words (click to copy)" },
          words.map((w) => h("button", { class: "civkit-word", title: "Click to copy", on: { click: () => this.copy(w) } }, w)),
          words.length > 1
            ? h("button", { class: "civkit-btn small", title: "Copy every trigger word, comma-separated",
              on: { click: () => this.copy(words.join(", ")) } }, "copy all")
            : null)
        : null,
      entry.error ? h("div", { class: "civkit-error" }, entry.error) : null, careHolder);
  }

  async copy(word) {
    try {
      await copyText(word);
      this.toast("success", "Copied", word);
    } catch (_) {
      this.toast("warn", "Could not copy", "Your browser did not allow copying; select the word instead.");
    }
  }
}
