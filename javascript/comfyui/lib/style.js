// The panel's stylesheet. Side-effect free: ensureStyle() adds it when the panel first renders.
// Colours come from ComfyUI's theme variables (with dark-theme fallbacks), so the panel follows
// whichever palette the user picked.

const CSS = `
.civkit-panel {
  --ck-bg: var(--comfy-menu-bg, #202020);
  --ck-bg2: var(--comfy-input-bg, #2b2b2b);
  --ck-fg: var(--fg-color, #e6e6e6);
  --ck-muted: var(--descrip-text, #a0a0a0);
  --ck-border: var(--border-color, #4a4a4a);
  --ck-accent: var(--p-primary-color, #3b82f6);
  --ck-ok: #3fb950;
  --ck-warn: #d29922;
  --ck-bad: #f85149;
  display: flex; flex-direction: column; height: 100%; min-height: 0;
  background: var(--ck-bg); color: var(--ck-fg);
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
}
.civkit-panel * { box-sizing: border-box; }
.civkit-head { display: flex; align-items: center; gap: 8px; padding: 10px 12px 0; }
.civkit-title { font-weight: 600; font-size: 14px; margin-right: auto; }
.civkit-tabs { display: flex; gap: 2px; padding: 8px 12px 0; border-bottom: 1px solid var(--ck-border); }
.civkit-tab { background: none; border: none; color: var(--ck-muted); padding: 6px 10px; cursor: pointer;
  border-bottom: 2px solid transparent; font: inherit; }
.civkit-tab:hover { color: var(--ck-fg); }
.civkit-tab[aria-selected="true"] { color: var(--ck-fg); border-bottom-color: var(--ck-accent); }
.civkit-body { flex: 1; overflow-y: auto; padding: 10px 12px 14px; min-height: 0; }
.civkit-row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.civkit-row + .civkit-row { margin-top: 6px; }
.civkit-panel input[type=search], .civkit-panel input[type=password], .civkit-panel input[type=text],
.civkit-panel select {
  background: var(--ck-bg2); color: var(--ck-fg); border: 1px solid var(--ck-border); border-radius: 6px;
  padding: 5px 8px; font: inherit; min-width: 0;
}
.civkit-panel input:focus, .civkit-panel select:focus { outline: 1px solid var(--ck-accent); }
.civkit-grow { flex: 1; }
.civkit-filters select { flex: 1 1 45%; }
.civkit-check { display: inline-flex; align-items: center; gap: 4px; color: var(--ck-muted); cursor: pointer; }
.civkit-btn { background: var(--ck-bg2); color: var(--ck-fg); border: 1px solid var(--ck-border);
  border-radius: 6px; padding: 5px 10px; cursor: pointer; font: inherit; white-space: nowrap; }
.civkit-btn:hover:not(:disabled) { border-color: var(--ck-accent); }
.civkit-btn:disabled { opacity: .6; cursor: default; }
.civkit-btn.primary { background: var(--ck-accent); border-color: var(--ck-accent); color: #fff; }
.civkit-btn.done { background: transparent; border-color: var(--ck-ok); color: var(--ck-ok); opacity: 1; }
.civkit-btn.small { padding: 2px 8px; font-size: 12px; }
.civkit-btn.danger { border-color: #f85149; color: #f85149; }
.civkit-care { margin-top: 8px; padding: 8px; border-top: 1px solid var(--ck-border); display: flex;
  flex-direction: column; gap: 6px; }
.civkit-care-desc { font-size: 12px; color: var(--ck-muted); white-space: pre-wrap; }
.civkit-care-images { display: flex; gap: 4px; overflow-x: auto; }
.civkit-care-images img { height: 96px; border-radius: 4px; }
.civkit-care-groups { display: flex; flex-direction: column; gap: 2px; font-size: 12px; }
.civkit-care-weight { width: 80px; }
.civkit-manage { margin-left: auto; }
.civkit-note { color: var(--ck-muted); font-size: 12px; margin: 8px 0; }
.civkit-empty { color: var(--ck-muted); text-align: center; padding: 24px 8px; }
.civkit-results { display: flex; flex-direction: column; gap: 10px; margin-top: 10px; }
.civkit-card { display: grid; grid-template-columns: 96px 1fr; gap: 10px; padding: 8px;
  border: 1px solid var(--ck-border); border-radius: 8px; background: var(--ck-bg2); }
.civkit-thumb { position: relative; width: 96px; height: 128px; border-radius: 6px; overflow: hidden;
  background: var(--ck-bg); cursor: default; }
.civkit-thumb img, .civkit-thumb video { width: 100%; height: 100%; object-fit: cover; display: block; }
.civkit-thumb.nsfw img, .civkit-thumb.nsfw video { filter: blur(14px); transform: scale(1.1); }
.civkit-thumb.nsfw { cursor: pointer; }
.civkit-thumb .civkit-veil { position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; text-align: center; font-size: 11px; color: #fff; background: rgba(0,0,0,.35); padding: 4px; }
.civkit-noimg { display: flex; align-items: center; justify-content: center; height: 100%;
  color: var(--ck-muted); font-size: 11px; }
.civkit-info { min-width: 0; display: flex; flex-direction: column; gap: 4px; }
.civkit-name { font-weight: 600; overflow-wrap: anywhere; color: var(--ck-fg); text-decoration: none; }
a.civkit-name:hover { text-decoration: underline; }
.civkit-meta { color: var(--ck-muted); font-size: 12px; display: flex; gap: 8px; flex-wrap: wrap; }
.civkit-badge { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 9px;
  border: 1px solid var(--ck-border); color: var(--ck-muted); }
.civkit-badge.ok { border-color: var(--ck-ok); color: var(--ck-ok); }
.civkit-badge.warn { border-color: var(--ck-warn); color: var(--ck-warn); }
.civkit-badge.bad { border-color: var(--ck-bad); color: var(--ck-bad); }
.civkit-info select { width: 100%; }
.civkit-progress { position: relative; height: 26px; border-radius: 6px; border: 1px solid var(--ck-border);
  overflow: hidden; background: var(--ck-bg); }
.civkit-progress .bar { position: absolute; inset: 0 auto 0 0; background: var(--ck-accent); opacity: .55;
  transition: width .2s; }
.civkit-progress .label { position: relative; font-size: 12px; line-height: 24px; padding: 0 8px;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.civkit-actions { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-top: 2px; }
.civkit-actions > .civkit-error { flex-basis: 100%; }
.civkit-actions > .civkit-progress, .civkit-actions > .civkit-btn.primary, .civkit-actions > .civkit-btn.done { flex: 1; }
.civkit-lib { display: flex; flex-direction: column; gap: 8px; margin-top: 10px; }
.civkit-entry { padding: 8px; border: 1px solid var(--ck-border); border-radius: 8px; background: var(--ck-bg2); }
.civkit-entry .civkit-name { font-size: 13px; }
.civkit-words { display: flex; gap: 4px; flex-wrap: wrap; margin-top: 4px; }
.civkit-word { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: var(--ck-bg);
  color: var(--ck-fg); border: 1px dashed var(--ck-border); border-radius: 4px; padding: 1px 6px; cursor: copy; }
.civkit-word:hover { border-color: var(--ck-accent); }
.civkit-section { margin-bottom: 16px; }
.civkit-section h3 { font-size: 13px; margin: 0 0 6px; }
.civkit-downloads { border-top: 1px solid var(--ck-border); padding: 8px 12px; display: flex;
  flex-direction: column; gap: 6px; max-height: 40%; overflow-y: auto; }
.civkit-downloads:empty { display: none; }
.civkit-dl { display: grid; grid-template-columns: 1fr auto; gap: 6px; align-items: center; }
.civkit-error { color: var(--ck-bad); font-size: 12px; overflow-wrap: anywhere; }
.civkit-drop { border: 1px dashed var(--ck-border); border-radius: 8px; padding: 14px 8px; margin: 8px 0;
  text-align: center; color: var(--ck-muted); cursor: pointer; font-size: 12px; }
.civkit-drop.over, .civkit-drop:hover { border-color: var(--ck-accent); color: var(--ck-fg); }
.civkit-need .civkit-note { margin: 4px 0 0; overflow-wrap: anywhere; }
.civkit-need select { flex: 1; min-width: 0; }
.civkit-plan { display: flex; flex-direction: column; gap: 6px; margin: 6px 0; }
.civkit-plan-rows { display: flex; flex-direction: column; gap: 4px; max-height: 320px; overflow-y: auto; }
.civkit-plan-row { display: flex; gap: 8px; align-items: flex-start; padding: 6px; border: 1px solid var(--ck-border);
  border-radius: 6px; background: var(--ck-bg2); cursor: pointer; }
.civkit-plan-row.blocked, .civkit-plan-row.conflict, .civkit-plan-row.have { cursor: default; opacity: .85; }
.civkit-plan-nobox { width: 13px; flex: none; }
.civkit-plan-path { margin: 2px 0; font-size: 11px; overflow-wrap: anywhere; }
.civkit-many { gap: 12px; margin: 4px 0; }
.civkit-batch { display: flex; flex-direction: column; gap: 4px; }
.civkit-progress.small { height: 20px; }
.civkit-progress.small .label { line-height: 18px; font-size: 11px; }
.civkit-section-title { font-weight: 600; margin: 8px 0 2px; }
.civkit-unverified { color: var(--ck-warn); font-size: 12px; flex-basis: 100%; }
`;

export function ensureStyle(doc = document) {
  if (doc.getElementById("civkit-style")) return;
  const style = doc.createElement("style");
  style.id = "civkit-style";
  style.textContent = CSS;
  doc.head.append(style);
}
