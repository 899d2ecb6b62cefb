// Recording what a workflow downloaded, in the workflow's own ``models`` lists, so ComfyUI's
// missing-models dialog (and anyone the workflow is shared with) knows where the files come from.
// Entries come from civkit's loader nodes ({"ui": {"civkit_models": [...]}}) and never hold a key.
// Side-effect free.

const ENTRY_KEYS = ["name", "url", "hash", "hash_type", "directory"];

function clean(entry) {
  const out = {};
  for (const key of ENTRY_KEYS) if (entry[key]) out[key] = String(entry[key]);
  if (out.url) {
    try {
      const url = new URL(out.url);
      url.searchParams.delete("token"); // never a credential in a workflow
      out.url = url.href;
    } catch (_) {
      delete out.url;
    }
  }
  return out;
}

function merge(list, entry) {
  const i = list.findIndex((m) => m.name === entry.name && m.directory === entry.directory);
  if (i >= 0) list[i] = { ...list[i], ...entry };
  else list.push(entry);
}

// detail: the "executed" event's {node, display_node, output}
export function recordModels(app, detail) {
  const entries = detail?.output?.civkit_models;
  if (!Array.isArray(entries) || !entries.length || !app?.graph) return false;
  const id = detail.display_node ?? detail.node;
  const node = app.graph.getNodeById?.(Number(id)) ?? app.graph.getNodeById?.(id);
  for (const raw of entries) {
    const entry = clean(raw || {});
    if (!entry.name || !entry.directory) continue;
    if (node) {
      node.properties = node.properties || {};
      node.properties.models = Array.isArray(node.properties.models) ? node.properties.models : [];
      merge(node.properties.models, entry);
    }
    if (raw.air) {
      app.graph.extra = app.graph.extra || {};
      const airs = (app.graph.extra.civkit_air = app.graph.extra.civkit_air || []);
      if (!airs.includes(raw.air)) airs.push(String(raw.air));
    }
  }
  app.graph.setDirtyCanvas?.(true, true);
  return true;
}
