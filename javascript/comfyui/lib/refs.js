// A Civitai link pasted into a loader's civitai_ref may carry an API key (?token=…). The key is
// never needed there (civkit sends its own) and would be saved in the workflow, in every image's
// metadata and in ComfyUI's history, so the widget drops it at once and says so. Side-effect free.

const SECRET_PARAM = /^(?:token|api_key|apikey|access_token)(?:=|$)/i;

export const TOKEN_REMOVED =
  "The link held an API token (token=…); civkit removed it and uses the API key saved in its settings " +
  "instead. A token left in a link would be saved in workflows, images and logs.";

// {text, removed}: the reference without token/api_key parameters or user:pass@ before the host.
export function stripSecrets(text) {
  if (typeof text !== "string" || (!text.includes("?") && !text.includes("://"))) return { text, removed: false };
  let out = text;
  let removed = false;
  const auth = out.match(/^(\s*[a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i);
  if (auth) {
    out = auth[1] + out.slice(auth[0].length);
    removed = true;
  }
  const q = out.indexOf("?");
  if (q >= 0) {
    const hash = out.indexOf("#", q);
    const end = hash >= 0 ? hash : out.length;
    const pairs = out.slice(q + 1, end).split("&").filter((p) => p);
    const kept = pairs.filter((p) => !SECRET_PARAM.test(p));
    if (kept.length !== pairs.length) {
      removed = true;
      out = out.slice(0, q) + (kept.length ? "?" + kept.join("&") : "") + out.slice(end);
    }
  }
  return { text: removed ? out : text, removed };
}

// Keep a node's civitai_ref widget free of tokens: when typed or pasted, and when a workflow loads.
export function guardRefWidget(node, notify) {
  const widget = node?.widgets?.find((w) => w.name === "civitai_ref");
  if (!widget) return false;
  const clean = () => {
    const result = stripSecrets(widget.value);
    if (result.removed) {
      widget.value = result.text;
      notify?.(TOKEN_REMOVED);
    }
  };
  const callback = widget.callback;
  widget.callback = function (...args) {
    clean();
    return callback?.apply(this, [widget.value, ...args.slice(1)]);
  };
  const configure = node.onConfigure;
  node.onConfigure = function (...args) {
    const out = configure?.apply(this, args);
    clean();
    return out;
  };
  clean();
  return true;
}
