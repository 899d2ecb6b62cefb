// civkit for AUTOMATIC1111 / Forge (a classic script: the WebUI loads it on every page).
//
// Two jobs. First: put a file's prompt text ("<lora:name:1> trigger, words") into the txt2img or
// img2img prompt when the civkit tab's "Send to ... prompt" button is pressed. It appends with
// the WebUI's separator, never adds the same text twice, never replaces what the user typed, and
// calls the page's updateInput() so gradio sees the new value (without it Generate would use the
// old prompt). It does not touch the host's extra-network cards: the <model>.json "activation
// text" civkit writes already makes the host's own LoRA cards insert the trigger words.
//
// Second: a click (or Enter/Space) on a Search result card opens that model. The card carries
// data-civkit-model-id; one delegated listener on the document writes the id into the visible
// "Open a Civitai link, AIR or model id" box (#civkit_ref), tells gradio with a bubbling "input"
// event and presses the visible Open button (#civkit_open_btn). No hidden bridge components:
// gradio 5+ does not render visible=False ones (HOSTS.md 2.8-2.9). `civkit ui` runs this same
// file through its page-load event; the listener is installed once, however often that runs.

(function () {
    "use strict";

    function civkitRoot() {
        return typeof gradioApp === "function" ? gradioApp() : document;
    }

    function civkitSeparator() {
        try {
            var sep = window.opts && window.opts.extra_networks_add_text_separator;
            return typeof sep === "string" && sep.length ? sep : " ";
        } catch (e) {
            return " ";
        }
    }

    // Pure: the prompt with `text` appended, or unchanged when it is already there.
    function civkitAppendOnce(prompt, text, separator) {
        prompt = prompt || "";
        text = (text || "").trim();
        if (!text || prompt.indexOf(text) !== -1) {
            return prompt;
        }
        if (!prompt.trim()) {
            return text;
        }
        return prompt.replace(/\s+$/, "") + (separator || " ") + text;
    }

    function civkitSendToPrompt(tab, text) {
        var which = tab === "img2img" ? "img2img" : "txt2img";
        var area = civkitRoot().querySelector("#" + which + "_prompt textarea");
        if (!area || !text) {
            return false;
        }
        var next = civkitAppendOnce(area.value, text, civkitSeparator());
        if (next === area.value) {
            return false;
        }
        area.value = next;
        if (typeof updateInput === "function") {
            updateInput(area);
        } else {
            area.dispatchEvent(new Event("input", {bubbles: true}));
        }
        if (typeof switch_to_txt2img === "function" && which === "txt2img") {
            switch_to_txt2img();
        } else if (typeof switch_to_img2img === "function" && which === "img2img") {
            switch_to_img2img();
        }
        return true;
    }

    var CARD_ATTR = "data-civkit-model-id";

    function civkitFind(selector) {
        var root = civkitRoot();
        return (root && root.querySelector && root.querySelector(selector)) || document.querySelector(selector);
    }

    // Open model `id` in the Search tab's details view; false when the page has no such view.
    function civkitOpenModel(id) {
        id = String(id === undefined || id === null ? "" : id).trim();
        if (!/^[0-9]+$/.test(id)) {
            return false;
        }
        var box = civkitFind("#civkit_ref textarea, #civkit_ref input");
        var button = civkitFind("#civkit_open_btn");
        if (!box || !button) {
            return false;
        }
        box.value = id;
        if (typeof updateInput === "function") {
            updateInput(box);
        } else {
            box.dispatchEvent(new Event("input", {bubbles: true}));
        }
        // gradio copies the box's value into its state in a microtask; press Open after that.
        setTimeout(function () {
            button.click();
        }, 0);
        return true;
    }

    // The result card an event happened in (composedPath also sees into a shadow root).
    function civkitCardOf(event) {
        var path = typeof event.composedPath === "function" ? event.composedPath() : [];
        if (!path.length) {
            for (var node = event.target; node; node = node.parentNode) {
                path.push(node);
            }
        }
        for (var i = 0; i < path.length; i++) {
            var el = path[i];
            if (el && el.nodeType === 1 && el.hasAttribute(CARD_ATTR)) {
                return el;
            }
        }
        return null;
    }

    function civkitOnCardClick(event) {
        try {
            var card = civkitCardOf(event);
            if (card && civkitOpenModel(card.getAttribute(CARD_ATTR))) {
                event.preventDefault();
            }
        } catch (e) {
            // never break the page for a convenience
        }
    }

    function civkitOnCardKey(event) {
        if (event.key !== "Enter" && event.key !== " ") {
            return;
        }
        try {
            var card = civkitCardOf(event);
            // only when the card itself has the focus, not a control inside it
            if (card && (event.composedPath ? event.composedPath()[0] : event.target) === card &&
                    civkitOpenModel(card.getAttribute(CARD_ATTR))) {
                event.preventDefault();
            }
        } catch (e) {
            // as above
        }
    }

    if (!window.civkitCardClicksInstalled) {
        try {
            document.addEventListener("click", civkitOnCardClick);
            document.addEventListener("keydown", civkitOnCardKey);
            window.civkitCardClicksInstalled = true;
        } catch (e) {
            // no document to listen on: the result picker still opens models
        }
    }

    window.civkitAppendOnce = civkitAppendOnce;
    window.civkitSendToPrompt = civkitSendToPrompt;
    window.civkitOpenModel = civkitOpenModel;
})();
