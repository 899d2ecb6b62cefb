// The "This workflow" view: every model the open graph (or a dropped image / workflow file, or a
// pasted Civitai image link) needs, with its status; one "Download missing" button; a choice per
// ambiguous row; and, once files are downloaded, the graph's widgets and `models` lists updated.
// Side-effect free: nothing happens until the panel shows the view.

import { clear, formatBytes, h, safeUrl } from "./dom.js";

const STATUS_CLASS = { present: "ok", downloaded: "ok", missing: "warn", ambiguous: "warn", unresolved: "bad",
  failed: "bad", downloading: "" };
const KIND_LABEL = { checkpoint: "Checkpoint", lora: "LoRA", vae: "VAE", embedding: "Embedding",
  controlnet: "ControlNet", upscaler: "Upscaler", unet: "UNet", clip: "Text encoder", clip_vision: "CLIP vision",
  other: "Other" };

// The open graph as a UI-format workflow (the frontend's LGraph.serialize), or null.
export function currentWorkflow(app) {
  try {
    const wf = app?.graph?.serialize?.();
    return wf && Array.isArray(wf.nodes) ? wf : null;
  } catch (_) {
    return null;
  }
}

export function summarize(needs) {
  const missing = needs.filter((n) => n.status === "missing");
  return { files: missing.length, bytes: missing.reduce((sum, n) => sum + (n.size || 0), 0),
    open: needs.filter((n) => !["present", "downloaded"].includes(n.status)).length };
}

function sizeText(bytes) {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GB` : formatBytes(bytes);
}

// A loaded workflow: if it misses models, say so (the toast points to the view).
export async function checkLoadedWorkflow(client, app, toast) {
  const wf = currentWorkflow(app);
  if (!wf || !wf.nodes.length) return null;
  let result;
  try {
    result = await client.resources({ workflow: wf });
  } catch (_) {
    return null; // a workflow civkit cannot read is not civkit's to complain about on load
  }
  const { files, bytes, open } = summarize(result.needs || []);
  if (open) {
    const size = files ? ` (${files} file${files === 1 ? "" : "s"}, ${sizeText(bytes)} to download)` : "";
    toast("warn", `This workflow needs ${open} model file${open === 1 ? "" : "s"} that ${open === 1 ? "is" : "are"} not on disk`,
      `Open civkit → This workflow to fetch them into your model folders${size}.`);
  }
  return result;
}

// Write what a download changed into the open graph: the widget names the file (another version or
// subfolder than the workflow said), and the node's `models` list says where it comes from.
// Returns the number of widgets changed. Only the graph in memory changes, never a file.
export function applyToGraph(app, need, known) {
  const graph = app?.graph;
  if (!graph || !need.comfy_name) return 0;
  let changed = 0;
  for (const use of need.uses || []) {
    const node = graph.getNodeById?.(Number(use.node_id)) ?? graph.getNodeById?.(use.node_id);
    if (!node) continue;
    const widget = (node.widgets || []).find((w) => w.name === use.widget);
    if (widget && use.widget !== "text" && widget.value !== need.comfy_name) {
      widget.value = need.comfy_name;
      widget.callback?.(widget.value);
      changed += 1;
    }
    const url = safeUrl(known?.url || need.url);
    const sha = known?.sha256 || need.sha256;
    const directory = need.folder_key || known?.folder_key;
    if (url && directory) {  // an entry is never written without a url (the frontend's schema wants one)
      node.properties = node.properties || {};
      const list = Array.isArray(node.properties.models) ? node.properties.models : [];
      const entry = { name: need.comfy_name, url, directory };
      if (sha) Object.assign(entry, { hash: String(sha).toLowerCase(), hash_type: "sha256" });
      const i = list.findIndex((m) => m.directory === directory && (m.name === entry.name || m.name === need.name));
      if (i >= 0) list[i] = entry;
      else list.push(entry);
      node.properties.models = list;
    }
  }
  if (changed) graph.setDirtyCanvas?.(true, true);
  return changed;
}

export class ResourcesView {
  constructor({ client, tracker, toast, app }) {
    this.client = client;
    this.tracker = tracker;
    this.toast = toast;
    this.app = app;
    this.needs = [];
    this.source = null; // {workflow} | {url} | {file} ; null = the open graph
    this.known = new Map(); // row key -> {url, sha256, folder_key} seen while missing
    this.pending = new Map(); // task id -> row key
    this.root = this.build();
    tracker.onChange((task) => this.onTask(task));
  }

  build() {
    this.link = h("input", { type: "text", class: "civkit-grow", placeholder: "Paste a Civitai image link",
      "aria-label": "Civitai image link", on: { keydown: (e) => e.key === "Enter" && this.checkLink() } });
    this.fileInput = h("input", { type: "file", accept: ".png,.jpg,.jpeg,.webp,.json", style: { display: "none" },
      on: { change: () => this.fileInput.files[0] && this.checkFile(this.fileInput.files[0]) } });
    this.title = h("div", { class: "civkit-note civkit-res-source" }, "The open workflow");
    this.downloadButton = h("button", { class: "civkit-btn primary civkit-grow", disabled: true,
      on: { click: () => this.downloadMissing() } }, "Download missing");
    this.list = h("div", { class: "civkit-lib civkit-res-list" });
    this.drop = h("div", { class: "civkit-drop", tabindex: 0,
      on: { dragover: (e) => { e.preventDefault(); this.drop.classList.add("over"); },
        dragleave: () => this.drop.classList.remove("over"),
        drop: (e) => this.onDrop(e), click: () => this.fileInput.click() } },
    "Drop an image or a workflow .json here (or click to pick one)");
    return h("div", { class: "civkit-view civkit-resources" },
      h("div", { class: "civkit-row" },
        h("button", { class: "civkit-btn", on: { click: () => this.checkGraph() } }, "Check the open workflow"),
        this.fileInput),
      this.drop,
      h("div", { class: "civkit-row" }, this.link,
        h("button", { class: "civkit-btn", on: { click: () => this.checkLink() } }, "Check link")),
      this.title,
      h("div", { class: "civkit-row" }, this.downloadButton),
      this.list);
  }

  show() {
    if (!this.source && !this.busy) this.checkGraph();
  }

  async run(label, request) {
    this.busy = true;
    this.title.textContent = `${label}: checking…`;
    clear(this.list).append(h("div", { class: "civkit-empty" }, "Reading what it needs…"));
    try {
      const result = await request();
      this.title.textContent = label;
      this.setNeeds(result.needs || []);
      return result;
    } catch (err) {
      this.title.textContent = label;
      clear(this.list).append(h("div", { class: "civkit-error" }, err.message));
      this.setNeeds([], false);
      return null;
    } finally {
      this.busy = false;
    }
  }

  checkGraph() {
    const wf = currentWorkflow(this.app);
    this.source = null;
    if (!wf) {
      clear(this.list).append(h("div", { class: "civkit-empty" }, "No workflow is open."));
      return Promise.resolve(null);
    }
    return this.run("The open workflow", () => this.client.resources({ workflow: wf }));
  }

  checkLink() {
    const url = this.link.value.trim();
    if (!url) return null;
    this.source = { url };
    return this.run(url, () => this.client.resources({ url }));
  }

  async checkFile(file) {
    this.source = { file };
    if (/\.json$/i.test(file.name)) {
      let data;
      try {
        data = JSON.parse(await file.text());
      } catch (_) {
        this.toast("error", `${file.name} is not valid JSON`, "Drop a ComfyUI workflow, or an image with metadata.");
        return null;
      }
      const body = Array.isArray(data?.nodes) ? { workflow: data } : { prompt: data };
      return this.run(file.name, () => this.client.resources(body));
    }
    return this.run(file.name, () => this.client.resourcesUpload(file));
  }

  onDrop(e) {
    e.preventDefault();
    this.drop.classList.remove("over");
    const file = e.dataTransfer?.files?.[0];
    if (file) return this.checkFile(file);
    const text = e.dataTransfer?.getData("text/uri-list") || e.dataTransfer?.getData("text/plain");
    if (text) {
      this.link.value = text.trim();
      return this.checkLink();
    }
    return null;
  }

  key(need) {
    const use = (need.uses || [])[0];
    return use ? `${use.node_id}:${use.widget}` : `${need.kind}:${need.name}`;
  }

  setNeeds(needs, render = true) {
    this.needs = needs.map((n) => ({ ...n }));
    for (const need of this.needs) {
      if (need.status === "missing" && need.url) {
        this.known.set(this.key(need), { url: need.url, sha256: need.sha256, folder_key: need.folder_key });
      }
      if (!this.source && ["present", "downloaded"].includes(need.status)) {
        applyToGraph(this.app, need, this.known.get(this.key(need)));
      }
    }
    if (render) this.render();
  }

  render() {
    clear(this.list);
    if (!this.needs.length) this.list.append(h("div", { class: "civkit-empty" }, "It needs no model files."));
    for (const need of this.needs) this.list.append(this.row(need));
    const { files, bytes, open } = summarize(this.needs);
    const running = this.pending.size;
    this.downloadButton.disabled = files === 0 || running > 0;
    this.downloadButton.textContent = running ? `Downloading ${running} file${running === 1 ? "" : "s"}…`
      : files ? `Download missing (${files} file${files === 1 ? "" : "s"}, ${sizeText(bytes)})`
        : open ? "Nothing to download without a choice" : "Everything is on disk";
  }

  row(need) {
    const status = need.status;
    const badge = h("span", { class: `civkit-badge ${STATUS_CLASS[status] ?? ""}`, dataset: { status } }, status);
    const lines = [];
    if (status === "present" || status === "downloaded") {
      lines.push(h("div", { class: "civkit-note" }, need.comfy_name || need.path || ""));
    } else if (status === "missing" || status === "downloading") {
      const what = [need.model_name, need.version_name].filter(Boolean).join(" · ");
      lines.push(h("div", { class: "civkit-note" }, `${what} → ${need.folder_key || "its folder"} · ${formatBytes(need.size)}`,
        need.guess ? " (a guess you chose)" : ""));
    } else if (status === "ambiguous") {
      const select = h("select", { "aria-label": `Choose a file for ${need.name}` },
        (need.candidates || []).map((c, i) => h("option", { value: String(i) },
          `${c.model_name} · ${c.version_name} · ${c.file_name} (${Math.round((c.confidence || 0) * 100)} %)`)));
      lines.push(h("div", { class: "civkit-note" }, "Found by its name only: which file is it?"),
        h("div", { class: "civkit-row" }, select,
          h("button", { class: "civkit-btn small", on: { click: () => this.choose(need, select.value) } }, "Use this")));
    }
    if (need.message && status !== "ambiguous") {
      const bad = status === "failed" || status === "unresolved";
      lines.push(h("div", { class: bad ? "civkit-error" : "civkit-note" }, need.message));
    }
    return h("div", { class: "civkit-entry civkit-need", dataset: { kind: need.kind, status } },
      h("div", { class: "civkit-row" }, h("span", { class: "civkit-badge" }, KIND_LABEL[need.kind] || need.kind),
        h("span", { class: "civkit-name civkit-grow" }, need.name || "?"), badge),
      lines);
  }

  choose(need, index) {
    const c = (need.candidates || [])[Number(index)];
    if (!c) return;
    Object.assign(need, { status: "missing", model_id: c.model_id, version_id: c.version_id, file_id: c.file_id,
      size: c.size, model_name: c.model_name, version_name: c.version_name, file_name: c.file_name, guess: true,
      message: "" });
    this.render();
  }

  async downloadMissing() {
    const rows = this.needs.filter((n) => n.status === "missing");
    for (const need of rows) {
      try {
        const { id } = await this.client.startDownload({ model_id: need.model_id, version_id: need.version_id,
          file_id: need.file_id, folder_key: need.folder_key || undefined });
        need.status = "downloading";
        need.task_id = id;
        this.pending.set(String(id), this.key(need));
        const task = this.tracker.get(id);
        if (task) this.onTask(task);
        else this.tracker.update({ id, state: "queued", ref: need.file_name }); // polls until events arrive
      } catch (err) {
        need.status = "failed";
        need.message = err.message;
      }
    }
    this.render();
    if (!this.pending.size) this.afterDownloads();
  }

  onTask(task) {
    const key = this.pending.get(String(task.id));
    if (!key || ["queued", "resolving", "downloading", "verifying"].includes(task.state)) return;
    this.pending.delete(String(task.id));
    const need = this.needs.find((n) => this.key(n) === key);
    if (need) {
      if (task.state === "done" || task.state === "skipped") {
        need.status = "downloaded";
        need.path = task.path;
        need.verified = true;
      } else {
        need.status = "failed";
        need.message = task.error || task.message || task.state;
      }
    }
    this.render();
    if (!this.pending.size) this.afterDownloads();
  }

  // Ask again: the files are on disk now, with the names ComfyUI lists (which go into the widgets).
  async afterDownloads() {
    const failed = this.needs.filter((n) => n.status === "failed");
    if (failed.length) this.toast("error", "Some downloads failed", failed.map((n) => `${n.name}: ${n.message}`).join("; "));
    if (this.source) return;
    const before = this.needs.filter((n) => n.status === "downloaded").length;
    await this.checkGraph();
    if (before) this.toast("success", "Models downloaded", `${before} file${before === 1 ? "" : "s"} verified and in place.`);
  }
}
