// Minimal stand-in for ComfyUI's scripts/api.js: fetchApi under /api, events from a websocket
// carrying {"type", "data"} like ComfyUI's own socket.
class ComfyApi extends EventTarget {
  constructor() {
    super();
    this.api_base = "";
    this.socket = null;
  }
  apiURL(route) {
    return this.api_base + "/api" + route;
  }
  fetchApi(route, options = {}) {
    options.headers = { ...(options.headers || {}), "Comfy-User": "" };
    options.cache = "no-cache";
    return fetch(this.apiURL(route), options);
  }
  connect() {
    return new Promise((resolve) => {
      this.socket = new WebSocket(`ws://${location.host}/ws`);
      this.socket.addEventListener("open", () => resolve());
      this.socket.addEventListener("message", (event) => {
        const msg = JSON.parse(event.data);
        window.__events = window.__events || [];
        window.__events.push(msg);
        this.dispatchEvent(new CustomEvent(msg.type, { detail: msg.data }));
      });
    });
  }
}
export const api = new ComfyApi();
