// Talks to civkit's routes through ComfyUI's api.fetchApi (which adds the /api prefix and the
// user header). Side-effect free. Errors carry the server's plain message, the one the CLI prints.

export class CivkitError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

function withQuery(path, query) {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    if (Array.isArray(value)) value.forEach((v) => v && qs.append(key, String(v)));
    else qs.append(key, String(value));
  }
  const text = qs.toString();
  return text ? `${path}?${text}` : path;
}

export class CivkitClient {
  constructor(api) {
    this.api = api;
  }

  async request(path, { method = "GET", body, query } = {}) {
    const init = { method };
    // civkit's routes take changes only as JSON (a hostile page cannot send that without the
    // browser asking first), so every non-GET request carries a JSON body, {} when it has none.
    if (body !== undefined || method !== "GET") {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
    let response;
    try {
      response = await this.api.fetchApi(withQuery(path, query), init);
    } catch (_) {
      throw new CivkitError("ComfyUI did not answer. Is it still running?");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const message = data && typeof data.error === "string" ? data.error : `civkit request failed (HTTP ${response.status}).`;
      throw new CivkitError(message, response.status);
    }
    return data;
  }

  search(params) {
    return this.request("/civkit/search", { query: params });
  }
  model(ref) {
    return this.request("/civkit/model", { query: { ref } });
  }
  startDownload(body) {
    return this.request("/civkit/downloads", { method: "POST", body });
  }
  downloads() {
    return this.request("/civkit/downloads");
  }
  cancel(id) {
    return this.request(`/civkit/downloads/${encodeURIComponent(id)}/cancel`, { method: "POST" });
  }
  retry(id) {
    return this.request(`/civkit/downloads/${encodeURIComponent(id)}/retry`, { method: "POST" });
  }
  // One page of the library: { items, total, offset, limit, scan }. q filters by name, model,
  // base model or trigger word (in the index, case-insensitive).
  library({ q, status, offset = 0, limit = 200 } = {}) {
    return this.request("/civkit/library", { query: { q, status, offset, limit } });
  }
  scan(lookup = true) {
    return this.request("/civkit/library/scan", { method: "POST", body: { lookup } });
  }
  scanStatus() {
    return this.request("/civkit/library/status");
  }
  // Library care: files are named by folder key + ComfyUI name, never by path.
  card(folderKey, name) {
    return this.request("/civkit/library/card", { query: { folder_key: folderKey, name } });
  }
  bundle(folderKey, name) {
    return this.request("/civkit/library/bundle", { query: { folder_key: folderKey, name } });
  }
  care(action, body) {
    return this.request(`/civkit/library/${action}`, { method: "POST", body });
  }
  trash() {
    return this.request("/civkit/trash");
  }
  restore(id) {
    return this.request("/civkit/trash/restore", { method: "POST", body: { id } });
  }
  // Batches: a plan first ({ id, rows, totals, notes }), then a run of the ticked rows.
  planBatch(body) {
    return this.request("/civkit/batches/plan", { method: "POST", body });
  }
  startBatch(body) {
    return this.request("/civkit/batches", { method: "POST", body });
  }
  batch(id) {
    return this.request(`/civkit/batches/${encodeURIComponent(id)}`);
  }
  cancelBatch(id) {
    return this.request(`/civkit/batches/${encodeURIComponent(id)}/cancel`, { method: "POST" });
  }
  settings() {
    return this.request("/civkit/settings");
  }
  saveSettings(values) {
    return this.request("/civkit/settings", { method: "POST", body: values });
  }
  keyStatus() {
    return this.request("/civkit/api-key");
  }
  saveKey(key) {
    return this.request("/civkit/api-key", { method: "POST", body: { key } });
  }
  clearKey() {
    return this.request("/civkit/api-key", { method: "DELETE" });
  }
  // What a source needs: body = {workflow} | {prompt} | {url} | {text}
  resources(body) {
    return this.request("/civkit/resources", { method: "POST", body });
  }
  // An image file (PNG/JPEG/WebP) as a multipart upload; the browser sets the boundary.
  async resourcesUpload(file) {
    const form = new FormData();
    form.append("image", file, file.name);
    let response;
    try {
      response = await this.api.fetchApi("/civkit/resources", { method: "POST", body: form });
    } catch (_) {
      throw new CivkitError("ComfyUI did not answer. Is it still running?");
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new CivkitError(data?.error || `civkit request failed (HTTP ${response.status}).`, response.status);
    return data;
  }
}
