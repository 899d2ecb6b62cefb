// Many files at once: a plan (what will be downloaded, what you already have, what is blocked) with
// a checklist, one "Download N … (X)" button, then the batch's progress per file and overall.
// Side-effect free. Used by the Library view (updates) and the search cards (all files / all versions).

import { append, clear, formatBytes, h } from "./dom.js";

const MARK = { download: "", have: "ok", conflict: "warn", blocked: "bad" };
const LABEL = { download: "to download", have: "already in library", conflict: "name taken", blocked: "blocked" };

function eta(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  if (seconds < 60) return ` · about ${Math.max(1, Math.round(seconds))} s left`;
  return ` · about ${Math.round(seconds / 60)} min left`;
}

export class PlanView {
  // noun: "updates" or "files"; onFinished(): the library changed
  constructor({ client, toast, noun = "files", onFinished = () => {} }) {
    this.client = client;
    this.toast = toast;
    this.noun = noun;
    this.onFinished = onFinished;
    this.plan = null;
    this.batchId = null;
    this.ticks = new Map(); // row index -> checkbox
    this.root = h("div", { class: "civkit-plan", "aria-live": "polite" });
  }

  async load(request) {
    clear(this.root).append(h("div", { class: "civkit-note" }, "Planning… (nothing is downloaded yet)"));
    try {
      this.plan = await request;
    } catch (err) {
      clear(this.root).append(h("div", { class: "civkit-error" }, err.message));
      return;
    }
    this.render();
  }

  render() {
    clear(this.root);
    this.ticks.clear();
    const rows = this.plan.rows || [];
    for (const note of this.plan.notes || []) this.root.append(h("div", { class: "civkit-note" }, note));
    if (!rows.length) {
      this.root.append(h("div", { class: "civkit-empty" }, this.noun === "updates" ? "Everything is up to date." : "Nothing to download."));
      return;
    }
    const list = h("div", { class: "civkit-plan-rows" });
    rows.forEach((row, i) => list.append(this.rowLine(row, i)));
    const totals = this.plan.totals || {};
    this.button = h("button", { class: "civkit-btn primary civkit-plan-go", on: { click: () => this.start() } });
    const free = totals.free_after !== null && totals.free_after !== undefined ? `${formatBytes(totals.free_after)} free after` : "";
    this.summary = h("div", { class: "civkit-note civkit-plan-totals" },
      `${totals.files} files: ${totals.download} to download, ${totals.have} already in the library, ` +
      `${totals.blocked + totals.conflict} not possible${free ? ` · ${free}` : ""}`);
    this.root.append(list, this.summary, this.button);
    if (totals.space_ok === false) this.root.append(h("div", { class: "civkit-error" }, "Not enough free disk space for every ticked file."));
    this.updateButton();
  }

  rowLine(row, i) {
    const label = [row.model_name, row.version_name].filter(Boolean).join(" · ");
    const where = row.action === "have" ? row.existing : row.path;
    const tick = row.action === "download"
      ? h("input", { type: "checkbox", checked: true, "aria-label": `Download ${row.name}`, on: { change: () => this.updateButton() } })
      : null;
    if (tick) this.ticks.set(i, tick);
    return h("label", { class: `civkit-plan-row ${row.action}`, dataset: { action: row.action, index: i } },
      tick || h("span", { class: "civkit-plan-nobox" }),
      h("div", { class: "civkit-grow" },
        h("div", { class: "civkit-name", title: row.name || "" }, row.name || label || "—"),
        h("div", { class: "civkit-meta" },
          h("span", { class: `civkit-badge ${MARK[row.action] || ""}` }, LABEL[row.action] || row.action),
          label ? h("span", {}, label) : null,
          row.size ? h("span", {}, formatBytes(row.size)) : null),
        where ? h("div", { class: "civkit-note civkit-plan-path", title: where }, where) : null,
        row.message ? h("div", { class: row.action === "blocked" || row.action === "conflict" ? "civkit-error" : "civkit-note" }, row.message) : null));
  }

  selected() {
    return [...this.ticks.entries()].filter(([, box]) => box.checked).map(([i]) => i);
  }

  updateButton() {
    const picked = this.selected();
    const bytes = picked.reduce((sum, i) => sum + (this.plan.rows[i].size || 0), 0);
    this.button.textContent = `Download ${picked.length} ${picked.length === 1 ? this.noun.replace(/s$/, "") : this.noun} (${formatBytes(bytes)})`;
    this.button.disabled = picked.length === 0;
  }

  async start() {
    const only = this.selected();
    this.button.disabled = true;
    for (const box of this.ticks.values()) box.disabled = true;
    try {
      const status = await this.client.startBatch({ plan_id: this.plan.id, only });
      this.batchId = status.id;
      this.progress = h("div", { class: "civkit-batch" });
      this.root.append(this.progress);
      this.onBatch(status);
      this.poll();
    } catch (err) {
      this.button.disabled = false;
      for (const box of this.ticks.values()) box.disabled = false;
      this.toast("error", "Could not start the downloads", err.message);
    }
  }

  // Events arrive over the websocket; a slow poll covers a dropped connection.
  async poll() {
    while (this.batchId && this.state !== "done" && this.state !== "cancelled") {
      await new Promise((r) => setTimeout(r, 2000));
      try {
        this.onBatch(await this.client.batch(this.batchId));
      } catch (_) {
        return;
      }
    }
  }

  onBatch(status) {
    if (!status || status.id !== this.batchId || !this.progress) return;
    const finishedNow = this.state !== status.state && (status.state === "done" || status.state === "cancelled");
    this.state = status.state;
    const pct = status.bytes_total ? Math.round((100 * status.bytes_done) / status.bytes_total) : 0;
    const failed = status.files_failed ? ` · ${status.files_failed} failed` : "";
    const head = `${status.files_done} / ${status.files_total} files · ${formatBytes(status.bytes_done)} / ` +
      `${formatBytes(status.bytes_total)}${failed}${status.state === "running" ? eta(status.eta) : ""}`;
    append(clear(this.progress), [
      h("div", { class: "civkit-progress civkit-batch-overall", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 },
        h("div", { class: "bar", style: { width: `${pct}%` } }), h("div", { class: "label" }, head)),
      (status.items || []).map((item) => {
        const p = item.size ? Math.round((100 * Math.min(item.bytes, item.size)) / item.size) : 0;
        return h("div", { class: `civkit-batch-file ${item.state}`, dataset: { state: item.state } },
          h("div", { class: "civkit-progress small", title: item.path || "" },
            h("div", { class: "bar", style: { width: `${item.state === "done" ? 100 : p}%` } }),
            h("div", { class: "label" }, `${item.name} · ${item.state === "done" ? (item.unverified ? "✓ unverified (Civitai lists no hash yet; size checked)" : "✓ verified") : item.state}`)),
          item.state === "failed" && item.message ? h("div", { class: "civkit-error" }, item.message) : null);
      })]);
    if (status.state === "running") {
      this.progress.append(h("button", { class: "civkit-btn small", on: { click: () => this.cancel() } }, "Stop the batch"));
    }
    if (finishedNow) {
      this.onFinished();
      const ok = !status.files_failed;
      this.toast(ok ? "success" : "warn", ok ? "Batch finished" : "Batch finished with failures",
        status.files_unverified
          ? `${status.files_done} of ${status.files_total} files downloaded; ${status.files_unverified} unverified (Civitai lists no hash for them yet, so only their size was checked).`
          : `${status.files_done} of ${status.files_total} files verified.`);
    }
  }

  async cancel() {
    try {
      await this.client.cancelBatch(this.batchId);
    } catch (err) {
      this.toast("warn", "Could not stop the batch", err.message);
    }
  }
}
