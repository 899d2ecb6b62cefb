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

// Like the real frontend: reload the node definitions from /api/object_info and refill the model
// dropdowns (here one: the LoraLoader's lora_name, shown as #combo-lora_name). Only on pages whose
// test serves /api/object_info and says so with window.__objectInfo = true.
async function refreshCombos() {
  if (window.__objectInfo !== true) return;
  let defs;
  try {
    const response = await fetch("/api/object_info");
    if (!response.ok) return;
    defs = await response.json();
  } catch (_) {
    return;
  }
  const names = defs?.LoraLoader?.input?.required?.lora_name?.[0] || [];
  let select = document.getElementById("combo-lora_name");
  if (!select) {
    select = document.createElement("select");
    select.id = "combo-lora_name";
    select.setAttribute("aria-label", "LoraLoader lora_name");
    document.getElementById("canvas").append(select);
  }
  select.replaceChildren(...names.map((n) => Object.assign(document.createElement("option"), { value: n, textContent: n })));
}
window.__refreshCombos = refreshCombos;

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
        if (id === "Comfy.RefreshNodeDefinitions") await refreshCombos();
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
