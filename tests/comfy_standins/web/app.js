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

// Widget names of the core nodes a test workflow uses, in ComfyUI's input order (LiteGraph keeps a
// node's widgets as [{name, value}] and serializes their values as widgets_values).
const WIDGETS = {
  CheckpointLoaderSimple: ["ckpt_name"], LoraLoader: ["lora_name", "strength_model", "strength_clip"],
  VAELoader: ["vae_name"], CLIPTextEncode: ["text"], EmptyLatentImage: ["width", "height", "batch_size"],
  KSampler: ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
  VAEDecode: [], SaveImage: ["filename_prefix"],
};
const NOT_INPUTS = new Set(["control_after_generate"]);

function makeNode(data) {
  const names = WIDGETS[data.type] || [];
  const values = Array.isArray(data.widgets_values) ? data.widgets_values : [];
  return { id: data.id, type: data.type, properties: JSON.parse(JSON.stringify(data.properties || {})),
    widgets: names.map((name, i) => ({ name, value: values[i] })) };
}

export const app = {
  extensions: [],
  graph: {
    extra: {},
    getNodeById: (id) => nodes.get(Number(id)) || null,
    setDirtyCanvas: () => {},
    serialize() {
      return { last_node_id: Math.max(0, ...nodes.keys()), links: [], groups: [], config: {}, version: 0.4,
        extra: app.graph.extra,
        nodes: [...nodes.values()].map((n) => ({ id: n.id, type: n.type, properties: n.properties,
          widgets_values: (n.widgets || []).map((w) => w.value) })) };
    },
  },
  // Like the frontend's loadGraphData: configure the graph, then run afterConfigureGraph hooks.
  async loadGraphData(workflow) {
    nodes.clear();
    for (const data of workflow.nodes || []) nodes.set(Number(data.id), makeNode(data));
    app.graph.extra = workflow.extra || {};
    for (const ext of this.extensions) await ext.afterConfigureGraph?.([]);
  },
  async graphToPrompt() {
    const output = {};
    for (const n of nodes.values()) {
      const inputs = {};
      for (const w of n.widgets || []) if (!NOT_INPUTS.has(w.name)) inputs[w.name] = w.value;
      output[String(n.id)] = { class_type: n.type, inputs };
    }
    return { workflow: app.graph.serialize(), output };
  },
  // POST /prompt, which validates every combo value against the model folders like ComfyUI does.
  async queuePrompt() {
    const { output, workflow } = await this.graphToPrompt();
    const res = await fetch("/api/prompt", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: output, extra_data: { extra_pnginfo: { workflow } } }) });
    return { status: res.status, body: await res.json() };
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
