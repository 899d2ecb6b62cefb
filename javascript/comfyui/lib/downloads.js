// Download tasks as the panel knows them: filled from civkit.download events, with polling as a
// fallback while something is running (a dropped websocket must not freeze a progress bar).
// Side-effect free until start() is called.

export const ACTIVE_STATES = new Set(["queued", "resolving", "downloading", "verifying"]);
export const FINISHED_STATES = new Set(["done", "skipped"]);

export function taskProgress(task) {
  // "verifying" comes after the last byte: the bar is full while the SHA256 is checked
  if (FINISHED_STATES.has(task.state) || task.state === "verifying") return 1;
  if (!task.total) return 0;
  return Math.max(0, Math.min(1, (task.bytes || 0) / task.total));
}

export class DownloadTracker {
  constructor(client, { pollMs = 1000 } = {}) {
    this.client = client;
    this.tasks = new Map();
    this.listeners = new Set();
    this.pollMs = pollMs;
    this.timer = null;
    this.lastEvent = 0;
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  update(task, fromEvent = false) {
    if (!task || task.id === undefined || task.id === null) return;
    const id = String(task.id);
    const previous = this.tasks.get(id);
    const merged = { ...(previous || {}), ...task, id };
    this.tasks.set(id, merged);
    if (fromEvent) this.lastEvent = Date.now();
    for (const fn of this.listeners) fn(merged, previous, fromEvent);
    this.ensurePolling();
  }

  get(id) {
    return this.tasks.get(String(id));
  }

  list() {
    return [...this.tasks.values()];
  }

  active() {
    return this.list().filter((t) => ACTIVE_STATES.has(t.state));
  }

  ensurePolling() {
    if (this.timer || this.active().length === 0) return;
    this.timer = setInterval(() => this.poll(), this.pollMs);
  }

  async poll() {
    if (this.active().length === 0) {
      clearInterval(this.timer);
      this.timer = null;
      return;
    }
    if (Date.now() - this.lastEvent < this.pollMs * 2) return; // events are flowing
    try {
      const data = await this.client.downloads();
      for (const task of data.downloads || []) this.update(task);
    } catch (_) {
      /* the next tick tries again */
    }
  }

  async refresh() {
    const data = await this.client.downloads();
    for (const task of data.downloads || []) this.update(task);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
