// The Settings view: the Civitai API key (write-only: it is sent once and never shown again,
// and never stored in ComfyUI's settings, which any client can read) and a few preferences.
// Side-effect free.

import { h } from "./dom.js";

export class SettingsView {
  constructor({ client, toast }) {
    this.client = client;
    this.toast = toast;
    this.root = this.build();
  }

  build() {
    this.keyInput = h("input", { type: "password", class: "civkit-grow", autocomplete: "off", spellcheck: false,
      placeholder: "Paste a Civitai API key", "aria-label": "Civitai API key",
      on: { keydown: (e) => e.key === "Enter" && this.saveKey() } });
    this.keyState = h("span", { class: "civkit-badge" }, "…");
    this.clearButton = h("button", { class: "civkit-btn", on: { click: () => this.clearKey() } }, "Remove");
    this.nsfwPreviews = h("input", { type: "checkbox", on: { change: () => this.save({ nsfw_previews: this.nsfwPreviews.checked }) } });
    this.sidecars = h("input", { type: "checkbox", on: { change: () => this.save({ write_sidecars: this.sidecars.checked }) } });
    this.base = h("div", { class: "civkit-note" });
    return h("div", { class: "civkit-view civkit-settings" },
      h("div", { class: "civkit-section" },
        h("h3", {}, "Civitai API key ", this.keyState),
        h("div", { class: "civkit-note" },
          "Many downloads need one now, even of public models. It is kept in civkit's own config file (owner-only), never in the workflow or ComfyUI's settings, and is not shown again."),
        h("div", { class: "civkit-row" }, this.keyInput,
          h("button", { class: "civkit-btn primary", on: { click: () => this.saveKey() } }, "Save"), this.clearButton)),
      h("div", { class: "civkit-section" },
        h("h3", {}, "Downloads"),
        h("label", { class: "civkit-check" }, this.sidecars, "Write .civitai.info / preview files next to downloads"),
        h("div", {}, h("label", { class: "civkit-check" }, this.nsfwPreviews, "Save NSFW preview images too (otherwise the first safe one)")),
        this.base));
  }

  async show() {
    try {
      const s = await this.client.settings();
      this.showKeyState(s.api_key_set);
      this.nsfwPreviews.checked = !!s.nsfw_previews;
      this.sidecars.checked = !!s.write_sidecars;
      this.base.textContent = `Civitai: ${s.api_base}`;
    } catch (err) {
      this.toast("error", "Could not read civkit's settings", err.message);
    }
  }

  showKeyState(set) {
    this.keyState.textContent = set ? "set" : "not set";
    this.keyState.className = `civkit-badge ${set ? "ok" : ""}`;
    this.clearButton.disabled = !set;
  }

  async saveKey() {
    const key = this.keyInput.value.trim();
    if (!key) {
      this.toast("warn", "No key entered", "Paste your key from civitai.com → Account settings → API keys.");
      return;
    }
    try {
      const res = await this.client.saveKey(key);
      this.keyInput.value = "";
      this.showKeyState(res.set);
      this.toast("success", "API key saved", "civkit will use it for Civitai requests.");
    } catch (err) {
      this.toast("error", "The key was not saved", err.message);
    }
  }

  async clearKey() {
    try {
      const res = await this.client.clearKey();
      this.showKeyState(res.set);
      this.toast("info", "API key removed", res.set ? "A key from the environment (CIVITAI_API_KEY) is still in use." : "");
    } catch (err) {
      this.toast("error", "The key was not removed", err.message);
    }
  }

  async save(values) {
    try {
      await this.client.saveSettings(values);
    } catch (err) {
      this.toast("error", "Setting not saved", err.message);
      this.show();
    }
  }
}
