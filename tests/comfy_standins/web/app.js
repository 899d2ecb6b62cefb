// Minimal stand-in for ComfyUI's scripts/app.js: registerExtension, an extensionManager with
// registerSidebarTab / toast / command, and a graph whose nodes keep their properties.
const panel = () => document.getElementById("sidebar-panel");

function showToast(t) {
  const el = document.createElement("div");
  el.className = `toast ${t.severity}`;
  const title = document.createElement("b");
  title.textContent = t.summary || "";
  el.append(title, document.createTextNode(t.detail || ""));
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), t.life || 3000);
}

const nodes = new Map([[7, { id: 7, type: "CivkitLoraLoader", properties: {} }]]);

export const app = {
  extensions: [],
  graph: {
    extra: {},
    getNodeById: (id) => nodes.get(Number(id)) || null,
    setDirtyCanvas: () => {},
  },
  extensionManager: {
    tabs: [],
    toasts: [],
    commands: [],
    toast: {
      add(t) {
        app.extensionManager.toasts.push(t);
        showToast(t);
      },
    },
    command: {
      async execute(id) {
        app.extensionManager.commands.push(id);
      },
    },
    registerSidebarTab(tab) {
      this.tabs.push(tab);
      const button = document.createElement("button");
      button.id = `sidebar-${tab.id}`;
      button.title = tab.tooltip || tab.title;
      button.textContent = tab.title;
      button.addEventListener("click", () => {
        const el = panel();
        el.replaceChildren();
        el.classList.add("open");
        tab.render(el);
      });
      document.getElementById("sidebar-buttons").append(button);
    },
  },
  registerExtension(ext) {
    if (!ext || !ext.name) throw new Error("extension needs a name");
    if (this.extensions.some((e) => e.name === ext.name)) throw new Error(`extension ${ext.name} registered twice`);
    this.extensions.push(ext);
  },
  async setupExtensions() {
    for (const ext of this.extensions) await ext.setup?.(this);
  },
};
window.__app = app;
