// The Library view: the local model files civkit knows, with link status, base model and trigger
// words (click a word to copy it). Side-effect free.

import { clear, copyText, formatBytes, h } from "./dom.js";

const STATUS = {
  linked: ["ok", "linked to Civitai"],
  not_found: ["warn", "not on Civitai"],
  unknown: ["", "not checked yet"],
  error: ["bad", "error"],
};

export class LibraryView {
  constructor({ client, toast }) {
    this.client = client;
    this.toast = toast;
    this.entries = [];
    this.stale = true;
    this.root = this.build();
  }

  build() {
    this.filter = h("input", { type: "search", class: "civkit-grow", placeholder: "Filter by name, base model, word…",
      "aria-label": "Filter the library", on: { input: () => this.renderList() } });
    this.scanButton = h("button", { class: "civkit-btn", title: "Hash new files and look them up on Civitai",
      on: { click: () => this.scan() } }, "Scan folders");
    this.status = h("div", { class: "civkit-note" });
    this.list = h("div", { class: "civkit-lib" });
    return h("div", { class: "civkit-view civkit-library" },
      h("div", { class: "civkit-row" }, this.filter, this.scanButton), this.status, this.list);
  }

  async show() {
    if (this.stale) await this.load();
  }

  markStale() {
    this.stale = true;
    if (this.root.isConnected) this.load();
  }

  async load() {
    this.stale = false;
    try {
      const data = await this.client.library();
      this.entries = data.entries || [];
      this.scanState(data.scan);
      this.renderList();
    } catch (err) {
      this.stale = true;
      this.toast("error", "Could not read the library", err.message);
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

  matches(entry, needle) {
    if (!needle) return true;
    const hay = [entry.name, entry.model_name, entry.version_name, entry.base_model, entry.model_type,
      ...(entry.trained_words || [])].filter(Boolean).join(" ").toLowerCase();
    return hay.includes(needle);
  }

  renderList() {
    clear(this.list);
    const needle = this.filter.value.trim().toLowerCase();
    const shown = this.entries.filter((e) => this.matches(e, needle));
    if (!this.entries.length) {
      this.list.append(h("div", { class: "civkit-empty" }, "No models in the library yet. Download one, or scan your folders."));
      return;
    }
    if (!this.status.textContent.startsWith("Scanning")) {
      const count = `${this.entries.length} file${this.entries.length === 1 ? "" : "s"}`;
      const hint = this.entries.some((e) => (e.trained_words || []).length) ? " · click a trigger word to copy it" : "";
      this.status.textContent = count + hint;
    }
    for (const entry of shown) this.list.append(this.entryCard(entry));
  }

  entryCard(entry) {
    const [cls, label] = STATUS[entry.status] || ["", entry.status || "unknown"];
    const words = entry.trained_words || [];
    const title = entry.model_name ? `${entry.model_name}${entry.version_name ? ` · ${entry.version_name}` : ""}` : null;
    return h("div", { class: "civkit-entry", dataset: { path: entry.comfy_name || entry.name } },
      h("div", { class: "civkit-name", title: entry.comfy_name || entry.name }, entry.comfy_name || entry.name),
      title ? h("div", { class: "civkit-meta" }, title) : null,
      h("div", { class: "civkit-meta" },
        h("span", { class: `civkit-badge ${cls}` }, label),
        entry.base_model ? h("span", { class: "civkit-badge" }, entry.base_model) : null,
        entry.folder_key ? h("span", {}, entry.folder_key) : null,
        entry.size ? h("span", {}, formatBytes(entry.size)) : null),
      words.length
        ? h("div", { class: "civkit-words", "aria-label": "Trigger words (click to copy)" },
          words.map((w) => h("button", { class: "civkit-word", title: "Click to copy", on: { click: () => this.copy(w) } }, w)),
          words.length > 1
            ? h("button", { class: "civkit-btn small", title: "Copy every trigger word, comma-separated",
              on: { click: () => this.copy(words.join(", ")) } }, "copy all")
            : null)
        : null,
      entry.error ? h("div", { class: "civkit-error" }, entry.error) : null);
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
