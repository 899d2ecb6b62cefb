// civkit for AUTOMATIC1111 / Forge (a classic script: the WebUI loads it on every page).
//
// One job: put a file's prompt text ("<lora:name:1> trigger, words") into the txt2img or
// img2img prompt when the civkit tab's "Send to ... prompt" button is pressed. It appends with
// the WebUI's separator, never adds the same text twice, never replaces what the user typed, and
// calls the page's updateInput() so gradio sees the new value (without it Generate would use the
// old prompt). It does not touch the host's extra-network cards: the <model>.json "activation
// text" civkit writes already makes the host's own LoRA cards insert the trigger words.

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

    window.civkitAppendOnce = civkitAppendOnce;
    window.civkitSendToPrompt = civkitSendToPrompt;
})();
