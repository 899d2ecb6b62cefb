// civkit for ComfyUI: a Civitai sidebar (search, downloads into the model folders, library with
// trigger words) and the glue that keeps the graph in step with downloads. This is the only
// module with side effects; everything under lib/ only defines things.
//
// Public frontend APIs only: registerExtension, extensionManager.registerSidebarTab/toast/command,
// api.fetchApi/addEventListener. Imports are relative, so the pack works under any folder name.

import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";
import { CivkitPanel } from "./lib/panel.js";
import { guardRefWidget } from "./lib/refs.js";
import { checkLoadedWorkflow } from "./lib/resources.js";
import { recordModels } from "./lib/workflow.js";

const SEVERITY = { success: "success", info: "info", warn: "warn", error: "error" };

function toast(severity, summary, detail) {
  const t = app.extensionManager?.toast;
  const life = severity === "error" ? 8000 : 3500;
  if (t?.add) t.add({ severity: SEVERITY[severity] || "info", summary, detail, life });
  else if (severity === "error") console.error(`civkit: ${summary}: ${detail}`);
}

let refreshTimer = null;
// New files only reach the loader dropdowns after the node definitions are reloaded (HOSTS.md §1.6).
function refreshNodeDefinitions() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      if (app.extensionManager?.command?.execute) {
        await app.extensionManager.command.execute("Comfy.RefreshNodeDefinitions");
      } else if (app.refreshComboInNodes) {
        await app.refreshComboInNodes();
      }
    } catch (err) {
      console.warn("civkit: could not refresh the model lists", err);
    }
  }, 300);
}

let panel = null;

app.registerExtension({
  name: "civkit.sidebar",
  // A workflow was loaded: tell the user when models it needs are not on disk.
  async afterConfigureGraph() {
    if (panel) await checkLoadedWorkflow(panel.client, app, toast);
  },
  async setup() {
    panel = new CivkitPanel({ api, toast, app });
    app.extensionManager.registerSidebarTab({
      id: "civkit",
      icon: "pi pi-cloud-download",
      title: "civkit",
      tooltip: "Civitai: search, download, library (civkit)",
      type: "custom",
      render: (el) => panel.mount(el),
      destroy: () => panel.unmount(),
    });
    api.addEventListener("civkit.download", (e) => panel.onDownload(e.detail));
    api.addEventListener("civkit.scan", (e) => panel.onScan(e.detail));
    api.addEventListener("civkit.batch", (e) => panel.onBatch(e.detail));
    api.addEventListener("civkit.refresh", () => refreshNodeDefinitions());
    api.addEventListener("executed", (e) => recordModels(app, e.detail));
  },
  // civkit's loaders: a token pasted into civitai_ref is dropped before it can be saved anywhere
  nodeCreated(node) {
    if (String(node?.comfyClass || "").startsWith("Civkit")) {
      guardRefWidget(node, (message) => toast("warn", "Token removed from the link", message));
    }
  },
});
