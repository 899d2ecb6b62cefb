// The Search view: query + filters, result cards with preview, versions, files and a Download
// button that turns into a progress bar and ends in "In library". Side-effect free.

import { PlanView } from "./batch.js";
import { ACTIVE_STATES, FINISHED_STATES, taskProgress } from "./downloads.js";
import { clear, formatBytes, formatCount, h, thumbUrl } from "./dom.js";

export const MODEL_TYPES = [
  ["", "Any type"], ["Checkpoint", "Checkpoint"], ["LORA", "LoRA"], ["LoCon", "LyCORIS / LoCon"],
  ["DoRA", "DoRA"], ["TextualInversion", "Embedding"], ["VAE", "VAE"], ["Controlnet", "ControlNet"],
  ["Upscaler", "Upscaler"], ["UNet", "Diffusion model"], ["TextEncoder", "Text encoder"],
  ["Hypernetwork", "Hypernetwork"], ["MotionModule", "Motion module"],
];
export const BASE_MODELS = [
  "", "SD 1.5", "SDXL 1.0", "Pony", "Illustrious", "NoobAI", "Flux.1 D", "Flux.1 S", "Flux.2 D",
  "SD 3.5", "Qwen", "Chroma", "Wan Video 2.2 T2V-A14B", "ZImageTurbo",
];
export const SORTS = ["Highest Rated", "Most Downloaded", "Most Liked", "Most Discussed", "Newest"];
export const PERIODS = [["AllTime", "All time"], ["Year", "Year"], ["Month", "Month"], ["Week", "Week"], ["Day", "Day"]];

function options(list, selected) {
  return list.map((item) => {
    const [value, label] = Array.isArray(item) ? item : [item, item || "Any base model"];
    return h("option", { value, selected: value === selected }, label);
  });
}

const PICKLE_ADVICE = "pass --allow-unsafe (allow_unsafe=True) to download it anyway";

function isPickleRefusal(message) {
  return typeof message === "string" && message.includes(PICKLE_ADVICE);
}

// The service speaks the CLI's words; the sidebar has a button where the CLI has a flag.
function uiWords(message) {
  return isPickleRefusal(message) ? message.replace(PICKLE_ADVICE, 'use "Download anyway" if you trust it') : message;
}

const UNVERIFIED_NOTE = "Unverified: Civitai lists no hash for this file yet, so only its size was checked.";

function downloadLabel(task) {
  const pct = Math.round(taskProgress(task) * 100);
  switch (task.state) {
    case "queued": return "Queued…";
    case "resolving": return "Asking Civitai…";
    case "verifying": return "Checking the file…"; // SHA256, BLAKE3, or only the size when Civitai lists no hash
    case "downloading":
      return task.total ? `${pct} % of ${formatBytes(task.total)}` : `${formatBytes(task.bytes || 0)}`;
    default: return `${pct} %`;
  }
}

export class SearchView {
  constructor({ client, tracker, toast, onLibraryChanged }) {
    this.client = client;
    this.tracker = tracker;
    this.toast = toast;
    this.onLibraryChanged = onLibraryChanged || (() => {});
    this.cards = new Map(); // version id -> card controller, for download updates
    this.plans = new Set(); // PlanViews of "all files / all versions" batches, for batch events
    this.cursor = null;
    this.loading = false;
    this.siteBase = "https://civitai.com"; // the panel sets the configured site (e.g. civitai.red)
    this.root = this.build();
    tracker.onChange((task, previous, live) => this.onTask(task, previous, live));
  }

  build() {
    this.query = h("input", { type: "search", class: "civkit-grow", placeholder: "Search Civitai models…",
      "aria-label": "Search Civitai", on: { keydown: (e) => e.key === "Enter" && this.search() } });
    this.type = h("select", { "aria-label": "Model type" }, options(MODEL_TYPES, ""));
    this.base = h("select", { "aria-label": "Base model" }, options(BASE_MODELS, ""));
    this.sort = h("select", { "aria-label": "Sort" }, options(SORTS, "Highest Rated"));
    this.period = h("select", { "aria-label": "Period" }, options(PERIODS, "AllTime"));
    this.nsfw = h("input", { type: "checkbox", "aria-label": "Include NSFW" });
    for (const el of [this.type, this.base, this.sort, this.period, this.nsfw]) {
      el.addEventListener("change", () => this.generation && this.search());
    }
    this.results = h("div", { class: "civkit-results" });
    this.status = h("div", { class: "civkit-note" }, "Search Civitai, then download straight into your model folders.");
    this.more = h("button", { class: "civkit-btn", style: { width: "100%", marginTop: "10px", display: "none" },
      on: { click: () => this.loadMore() } }, "Load more");
    return h("div", { class: "civkit-view civkit-search" },
      h("div", { class: "civkit-row" }, this.query,
        h("button", { class: "civkit-btn primary", on: { click: () => this.search() } }, "Search")),
      h("div", { class: "civkit-row civkit-filters" }, this.type, this.base),
      h("div", { class: "civkit-row civkit-filters" }, this.sort, this.period,
        h("label", { class: "civkit-check", title: "Show models and previews rated above PG-13 (previews stay blurred until clicked)" }, this.nsfw, "Show NSFW")),
      this.status, this.results, this.more);
  }

  params(cursor) {
    return {
      query: this.query.value.trim(), types: this.type.value, base_models: this.base.value,
      sort: this.sort.value, period: this.period.value, nsfw: this.nsfw.checked ? "true" : "", cursor,
    };
  }

  async search() {
    // A new search supersedes one still in flight: its answer is dropped when it arrives.
    this.generation = (this.generation || 0) + 1;
    this.cursor = null;
    this.hidden = 0;
    clear(this.results);
    this.cards.clear();
    await this.fetchPage(null, this.generation);
  }

  async loadMore() {
    if (this.cursor && !this.loading) await this.fetchPage(this.cursor, this.generation);
  }

  async fetchPage(cursor, generation) {
    const current = () => generation === this.generation;
    this.loading = true;
    this.status.textContent = "Searching…";
    this.status.classList.remove("civkit-error");
    this.more.disabled = true;
    try {
      const page = await this.client.search(this.params(cursor));
      if (!current()) return;
      for (const model of page.items || []) this.results.append(this.card(model));
      this.cursor = page.next_cursor || null;
      this.hidden = (this.hidden || 0) + (Number(page.hidden) || 0);
      const count = this.results.childElementCount;
      // Strict SFW hid some results: say how many and how to show them (issue 13 item 20).
      const hidden = this.hidden ? ` ${this.hidden} model${this.hidden === 1 ? "" : "s"} hidden by the strict SFW ` +
        `filter (content rated above PG-13): tick "Show NSFW" to show them.` : "";
      this.status.textContent = (count ? `${count} model${count === 1 ? "" : "s"}.` :
        (hidden ? "No models shown." : "No models match. Try fewer filters.")) + hidden;
    } catch (err) {
      if (!current()) return;
      this.cursor = null;
      this.status.textContent = err.message;
      this.status.classList.add("civkit-error");
      this.toast("error", "Search failed", err.message);
    } finally {
      if (current()) {
        this.loading = false;
        this.more.disabled = false;
        this.more.style.display = this.cursor ? "" : "none";
      }
    }
  }

  preview(model) {
    const p = model.preview;
    const box = h("div", { class: "civkit-thumb" });
    if (!p || !p.url) {
      box.append(h("div", { class: "civkit-noimg" }, "no preview"));
      return box;
    }
    const media = p.is_video
      ? h("video", { src: p.url, muted: true, loop: true, playsInline: true, preload: "metadata" })
      : h("img", { src: thumbUrl(p.url), alt: "", loading: "lazy", referrerpolicy: "no-referrer" });
    box.append(media);
    if (p.nsfw) {
      box.classList.add("nsfw");
      const veil = h("div", { class: "civkit-veil" }, "NSFW · click to show");
      box.append(veil);
      box.addEventListener("click", () => {
        box.classList.remove("nsfw");
        veil.remove();
      }, { once: true });
    }
    return box;
  }

  card(model) {
    const versions = model.versions || [];
    const versionSelect = h("select", { "aria-label": "Version" },
      versions.map((v) => h("option", { value: v.id }, `${v.name}${v.base_model ? ` · ${v.base_model}` : ""}`)));
    const fileSelect = h("select", { "aria-label": "File", title: "Which file of this version to download" },
      h("option", { value: "" }, "Primary file"));
    const action = h("div", { class: "civkit-actions" });
    const allFiles = h("input", { type: "checkbox", "aria-label": "all files" });
    const allVersions = h("input", { type: "checkbox", "aria-label": "all versions" });
    const many = h("div", { class: "civkit-row civkit-many" },
      h("label", { class: "civkit-check", title: "Every file of this version (not its training data)" }, allFiles, "all files"),
      h("label", { class: "civkit-check", title: "Every version of this model, newest first" }, allVersions, "all versions"));
    const planBox = h("div", { class: "civkit-card-plan" });
    const ctl = { model, versionSelect, fileSelect, action, filesFor: null, task: null, allFiles, allVersions, planBox };
    for (const box of [allFiles, allVersions]) box.addEventListener("change", () => { clear(planBox); this.renderAction(ctl); });

    const loadFiles = async () => {
      const vid = versionSelect.value;
      if (ctl.filesFor === vid) return;
      ctl.filesFor = vid;
      try {
        const detail = await this.client.model(`${model.id}@${vid}`);
        const version = (detail.versions || []).find((v) => String(v.id) === String(vid));
        clear(fileSelect);
        for (const f of version ? version.files : []) {
          const bits = [f.type, f.format, f.fp, formatBytes(f.size)].filter(Boolean).join(" · ");
          fileSelect.append(h("option", { value: f.primary ? "" : f.id, selected: f.primary }, `${f.name} (${bits})`));
        }
        if (!fileSelect.childElementCount) fileSelect.append(h("option", { value: "" }, "Primary file"));
      } catch (err) {
        ctl.filesFor = null;
        this.toast("error", "Could not list the files", err.message);
      }
    };
    fileSelect.addEventListener("pointerdown", loadFiles);
    fileSelect.addEventListener("focus", loadFiles);
    versionSelect.addEventListener("change", () => {
      ctl.filesFor = null;
      clear(fileSelect).append(h("option", { value: "" }, "Primary file"));
      this.renderAction(ctl);
    });

    const creator = model.creator && model.creator.username;
    const stats = model.stats || {};
    const info = h("div", { class: "civkit-info" },
      h("a", { class: "civkit-name", href: `${this.siteBase}/models/${encodeURIComponent(model.id)}`, target: "_blank",
        rel: "noopener noreferrer", title: "Open on Civitai" }, model.name),
      h("div", { class: "civkit-meta" },
        h("span", { class: "civkit-badge" }, model.type || "Model"),
        creator ? h("span", {}, `by ${creator}`) : null,
        model.in_library ? h("span", { class: "civkit-badge ok" }, "in library") : null),
      h("div", { class: "civkit-meta" },
        h("span", {}, `${formatCount(stats.downloads)} downloads`), h("span", {}, `${formatCount(stats.likes)} likes`)),
      versions.length ? versionSelect : h("div", { class: "civkit-note" }, "No downloadable version."),
      versions.length ? fileSelect : null,
      versions.length ? many : null,
      action, planBox);
    for (const v of versions) this.cards.set(String(v.id), ctl);
    this.renderAction(ctl);
    return h("div", { class: "civkit-card", dataset: { modelId: model.id } }, this.preview(model), info);
  }

  taskFor(ctl) {
    const vid = String(ctl.versionSelect.value);
    return this.tracker.list().filter((t) => String(t.version_id ?? t.ref_version_id ?? "") === vid || t._versionId === vid).pop();
  }

  renderAction(ctl) {
    const task = this.taskFor(ctl);
    clear(ctl.action);
    if (!ctl.model.versions || !ctl.model.versions.length) return;
    if (ctl.allFiles.checked || ctl.allVersions.checked) {
      ctl.action.append(h("button", { class: "civkit-btn primary", title: "Shows what would be downloaded first",
        on: { click: () => this.planMany(ctl) } }, "Plan download…"));
      return;
    }
    if (task && ACTIVE_STATES.has(task.state)) {
      const pct = Math.round(taskProgress(task) * 100);
      ctl.action.append(
        h("div", { class: "civkit-progress", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 },
          h("div", { class: "bar", style: { width: `${pct}%` } }), h("div", { class: "label" }, downloadLabel(task))),
        h("button", { class: "civkit-btn small", title: "Cancel this download", on: { click: () => this.cancel(task) } }, "✕"));
      return;
    }
    if (task && FINISHED_STATES.has(task.state)) {
      ctl.action.append(h("button", { class: "civkit-btn done", disabled: true, title: task.path || "" },
        task.unverified ? "✓ In library (unverified)" : "✓ In library"));
      // never shown as verified when Civitai listed no hash to check it against
      if (task.unverified) ctl.action.append(h("div", { class: "civkit-unverified" }, UNVERIFIED_NOTE));
      return;
    }
    const retry = task && (task.state === "failed" || task.state === "cancelled");
    // A PickleTensor refusal names the CLI flag; here the choice is a button instead.
    const pickle = task && task.state === "failed" && isPickleRefusal(task.message);
    if (pickle) {
      ctl.action.append(h("button", { class: "civkit-btn", title: "Pickle files (.ckpt/.pt) can run code when they are loaded",
        on: { click: () => this.download(ctl, { allow_unsafe: true }) } }, "Download anyway"));
    } else {
      ctl.action.append(h("button", { class: "civkit-btn primary", on: { click: () => (retry && task.state === "failed" ? this.retry(task) : this.download(ctl)) } },
        retry && task.state === "failed" ? "Retry download" : "Download"));
    }
    if (task && task.state === "failed" && task.message) ctl.action.append(h("div", { class: "civkit-error" }, uiWords(task.message)));
  }

  async download(ctl, extra = {}) {
    const vid = ctl.versionSelect.value;
    const body = { ref: `${ctl.model.id}@${vid}`, ...extra };
    if (ctl.fileSelect.value) body.file_id = Number(ctl.fileSelect.value);
    try {
      const { id } = await this.client.startDownload(body);
      const known = this.tracker.get(id) || {};
      this.tracker.update({ state: "queued", ...known, id, _versionId: String(vid), model_name: ctl.model.name });
    } catch (err) {
      this.toast("error", "Download refused", err.message);
    }
  }

  // "all files" / "all versions": the plan (sizes, what you already have) before anything starts.
  planMany(ctl) {
    const ref = ctl.allVersions.checked ? String(ctl.model.id) : `${ctl.model.id}@${ctl.versionSelect.value}`;
    const view = new PlanView({ client: this.client, toast: this.toast, noun: "files", onFinished: () => this.onLibraryChanged() });
    this.plans.add(view);
    clear(ctl.planBox).append(view.root);
    return view.load(this.client.planBatch({ kind: "refs", refs: [ref], all_files: ctl.allFiles.checked,
      all_versions: ctl.allVersions.checked }));
  }

  onBatch(status) {
    for (const view of this.plans) view.onBatch(status);
  }

  async cancel(task) {
    try {
      await this.client.cancel(task.id);
    } catch (err) {
      this.toast("warn", "Could not cancel", err.message);
    }
  }

  async retry(task) {
    try {
      await this.client.retry(task.id);
      this.tracker.update({ id: task.id, state: "queued", message: null });
    } catch (err) {
      this.toast("error", "Retry refused", err.message);
    }
  }

  // live: the update came from an event (not from listing old tasks when the panel opened)
  onTask(task, previous, live) {
    const vid = String(task.version_id ?? task._versionId ?? "");
    const ctl = this.cards.get(vid);
    if (ctl && String(ctl.versionSelect.value) === vid) this.renderAction(ctl);
    const wasActive = previous ? ACTIVE_STATES.has(previous.state) : live;
    if (wasActive && task.state === "failed") this.toast("error", `Download failed: ${task.model_name || ""}`.trim(), uiWords(task.message || ""));
    if (wasActive && FINISHED_STATES.has(task.state) && previous) {
      if (task.unverified) this.toast("warn", "Downloaded, not verified", `${task.model_name || "Model"} is in your library. ${UNVERIFIED_NOTE}`);
      else this.toast("success", "Download finished", `${task.model_name || "Model"} is in your library.`);
      this.onLibraryChanged();
    }
  }
}
