// Looking after one library file in the sidebar: the offline card (description, trigger-word groups,
// base model, example images, links), rename, move, delete to civkit's trash (the confirmation names
// the sidecars that go along), group toggles and the preferred weight. Side-effect free.

import { clear, h } from "./dom.js";

export class CareView {
  // onChanged(): the file moved or went; the list reloads and the host's model lists refresh.
  constructor({ client, toast, onChanged }) {
    this.client = client;
    this.toast = toast;
    this.onChanged = onChanged;
  }

  // Open the card for an entry inside `holder` (toggles: a second click closes it).
  async open(entry, holder) {
    if (holder.firstChild) {
      clear(holder);
      return;
    }
    holder.append(h("div", { class: "civkit-note" }, "Loading…"));
    try {
      const card = await this.client.card(entry.folder_key, entry.comfy_name);
      clear(holder);
      holder.append(this.render(entry, card, holder));
    } catch (err) {
      clear(holder);
      holder.append(h("div", { class: "civkit-error" }, err.message));
    }
  }

  render(entry, card, holder) {
    const ref = { folder_key: entry.folder_key, name: entry.comfy_name };
    const groups = h("div", { class: "civkit-care-groups", "aria-label": "Trigger-word groups" },
      (card.groups || []).map((g) => h("label", { class: "civkit-care-group" },
        h("input", { type: "checkbox", checked: g.on, dataset: { group: String(g.index) } }), ` ${g.text}`)));
    const weight = h("input", { type: "number", step: "0.05", min: "-10", max: "10", class: "civkit-care-weight",
      "aria-label": "Preferred weight", value: card.preferred_weight ?? "", placeholder: "default" });
    const save = h("button", { class: "civkit-btn small", on: { click: () => this.saveTriggers(ref, groups, weight, holder, entry) } },
      "Save words & weight");
    const newName = h("input", { type: "text", class: "civkit-grow", "aria-label": "New name",
      value: (entry.name || "").replace(/\.[^.]+$/, "") });
    const subfolder = h("input", { type: "text", class: "civkit-grow", "aria-label": "Move to subfolder",
      placeholder: "subfolder (empty = top)" });
    return h("div", { class: "civkit-care" },
      card.description_text ? h("div", { class: "civkit-care-desc" }, card.description_text.slice(0, 600)) : null,
      h("div", { class: "civkit-meta" }, [card.base_model, card.model_type].filter(Boolean).join(" · "),
        card.linked_by_hand ? " · linked by hand" : ""),
      (card.images || []).length
        ? h("div", { class: "civkit-care-images" }, card.images.map((i) => h("img", { src: i.src, alt: "example image",
          loading: "lazy" })))
        : null,
      (card.groups || []).length ? groups : h("div", { class: "civkit-note" }, "No Civitai trigger words."),
      h("div", { class: "civkit-row" }, weight, save),
      h("div", { class: "civkit-row" }, newName,
        h("button", { class: "civkit-btn small", on: { click: () => this.rename(ref, newName.value) } }, "Rename")),
      h("div", { class: "civkit-row" }, subfolder,
        h("button", { class: "civkit-btn small", on: { click: () => this.move(ref, subfolder.value) } }, "Move")),
      h("div", { class: "civkit-row" },
        h("button", { class: "civkit-btn small danger", on: { click: () => this.remove(ref) } }, "Delete…"),
        (card.links || []).map((l) => h("a", { href: l.url, target: "_blank", rel: "noopener noreferrer" }, l.label))));
  }

  async saveTriggers(ref, groups, weight, holder, entry) {
    const boxes = [...groups.querySelectorAll("input[type=checkbox]")];
    const body = { ...ref, weight: weight.value.trim() === "" ? null : Number(weight.value) };
    if (boxes.length) {
      const on = boxes.filter((b) => b.checked).map((b) => Number(b.dataset.group));
      if (on.length === boxes.length) body.all = true;
      else body.groups = on;
    }
    try {
      const card = await this.client.care("triggers", body);
      clear(holder);
      holder.append(this.render(entry, card, holder));
      this.toast("success", "Saved", "Trigger words and weight are stored (and in the A1111 .json).");
    } catch (err) {
      this.toast("error", "Could not save", err.message);
    }
  }

  async rename(ref, name) {
    try {
      const result = await this.client.care("rename", { ...ref, new_name: name });
      this.toast("success", "Renamed", `${ref.name} → ${result.name}`);
      this.onChanged();
    } catch (err) {
      this.toast("error", "Could not rename", err.message);
    }
  }

  async move(ref, subfolder) {
    try {
      const result = await this.client.care("move", { ...ref, subfolder });
      this.toast("success", "Moved", `${ref.name} → ${result.name}`);
      this.onChanged();
    } catch (err) {
      this.toast("error", "Could not move", err.message);
    }
  }

  async remove(ref) {
    let sidecars = [];
    try {
      sidecars = (await this.client.bundle(ref.folder_key, ref.name)).sidecars || [];
    } catch (err) {
      this.toast("error", "Could not delete", err.message);
      return;
    }
    const along = sidecars.length ? `\n\nThese go along with it:\n${sidecars.join("\n")}` : "";
    if (!window.confirm(`Move ${ref.name} to civkit's trash?${along}\n\nYou can restore it with civkit trash restore.`)) return;
    try {
      const result = await this.client.care("delete", ref);
      this.toast("success", "Moved to the trash", `${ref.name} (trash id ${result.trash_id})`);
      this.onChanged();
    } catch (err) {
      this.toast("error", "Could not delete", err.message);
    }
  }
}
