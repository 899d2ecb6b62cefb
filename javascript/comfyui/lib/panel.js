// The civkit sidebar panel: Search, Library and Settings tabs over one download tracker, plus a
// strip of running downloads at the bottom. Side-effect free: nothing happens until mount().

import { CivkitClient } from "./client.js";
import { ACTIVE_STATES, DownloadTracker, taskProgress } from "./downloads.js";
import { clear, formatBytes, h } from "./dom.js";
import { LibraryView } from "./library.js";
import { ResourcesView } from "./resources.js";
import { SearchView } from "./search.js";
import { SettingsView } from "./settings.js";
import { ensureStyle } from "./style.js";

export class CivkitPanel {
  // api: ComfyUI's api object (fetchApi); toast(severity, summary, detail)
  constructor({ api, toast, app }) {
    this.app = app;
    this.client = new CivkitClient(api);
    this.toast = toast || (() => {});
    this.tracker = new DownloadTracker(this.client);
    this.root = null;
  }

  build() {
    const deps = { client: this.client, tracker: this.tracker, toast: this.toast };
    this.library = new LibraryView(deps);
    this.search = new SearchView({ ...deps, onLibraryChanged: () => this.library.markStale() });
    this.settings = new SettingsView(deps);
    this.workflow = new ResourcesView({ ...deps, app: this.app });
    this.views = { search: this.search, workflow: this.workflow, library: this.library, settings: this.settings };
    this.tabs = {};
    const tabBar = h("div", { class: "civkit-tabs", role: "tablist" });
    for (const [id, label] of [["search", "Search"], ["workflow", "This workflow"], ["library", "Library"],
      ["settings", "Settings"]]) {
      this.tabs[id] = h("button", { class: "civkit-tab", role: "tab", dataset: { tab: id }, on: { click: () => this.show(id) } }, label);
      tabBar.append(this.tabs[id]);
    }
    this.body = h("div", { class: "civkit-body" });
    this.strip = h("div", { class: "civkit-downloads", "aria-label": "Downloads" });
    this.tracker.onChange(() => this.renderStrip());
    this.root = h("div", { class: "civkit-panel" },
      h("div", { class: "civkit-head" }, h("span", { class: "civkit-title" }, "civkit · Civitai")),
      tabBar, this.body, this.strip);
    this.show("search");
    this.tracker.refresh().catch(() => {});
    this.client.settings().then((s) => {
      if (s && /^https?:\/\//.test(s.api_base || "")) this.search.siteBase = s.api_base.replace(/\/+$/, "");
    }).catch(() => {});
  }

  mount(el) {
    ensureStyle(el.ownerDocument || document);
    if (!this.root) this.build();
    el.append(this.root);
    this.views[this.current]?.show?.();
  }

  unmount() {
    this.root?.remove();
  }

  show(id) {
    this.current = id;
    for (const [key, tab] of Object.entries(this.tabs)) tab.setAttribute("aria-selected", String(key === id));
    clear(this.body).append(this.views[id].root);
    this.views[id].show?.();
  }

  renderStrip() {
    clear(this.strip);
    for (const task of this.tracker.active()) {
      const pct = Math.round(taskProgress(task) * 100);
      const name = [task.model_name, task.version_name].filter(Boolean).join(" · ") || task.ref || "Download";
      const size = task.total ? ` · ${formatBytes(task.bytes || 0)} / ${formatBytes(task.total)}` : "";
      this.strip.append(h("div", { class: "civkit-dl" },
        h("div", { class: "civkit-progress", title: name },
          h("div", { class: "bar", style: { width: `${pct}%` } }),
          h("div", { class: "label" }, `${pct} % · ${name}${size}`)),
        h("button", { class: "civkit-btn small", title: "Cancel", on: { click: () => this.search.cancel(task) } }, "✕")));
    }
  }

  // websocket events, wired by the entry module
  onDownload(task) {
    this.tracker.update(task, true);
    if (!ACTIVE_STATES.has(task.state)) this.library?.markStale();
  }

  // Open the "This workflow" view (from the toast a loaded workflow with missing models shows).
  showWorkflow() {
    if (!this.root) this.build();
    this.show("workflow");
    return this.workflow.checkGraph();
  }

  onScan(data) {
    this.library?.onScanEvent(data);
  }

  onBatch(status) {
    this.library?.onBatch(status);
    this.search?.onBatch(status);
  }
}
