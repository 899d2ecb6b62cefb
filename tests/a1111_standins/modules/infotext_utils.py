"""Stand-in for A1111 1.10's ``modules/infotext_utils.py`` (formerly generation_parameters_copypaste):
the parts that "Send to txt2img" buttons use, with the real names and call shapes.

Extensions call ``register_paste_params_button(ParamBinding(...))`` while their tab is built; the
WebUI calls ``connect_paste_params_buttons()`` once every tab exists, which binds each button to
parse the source text with ``parse_generation_parameters`` into the tab's ``paste_fields`` and to
switch to that tab (``switch_to_<tab>`` in the page's JavaScript).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

re_param = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
re_imagesize = re.compile(r"^(\d+)x(\d+)$")

paste_fields: dict = {}
registered_param_bindings: list = []


@dataclass
class ParamBinding:
    paste_button: Any
    tabname: str
    source_text_component: Any = None
    source_image_component: Any = None
    source_tabname: Any = None
    override_settings_component: Any = None
    paste_field_names: Any = None


def reset() -> None:
    paste_fields.clear()
    registered_param_bindings.clear()


def add_paste_fields(tabname, init_img, fields, override_settings_comp=None):
    paste_fields[tabname] = {"init_img": init_img, "fields": fields, "override_settings_component": override_settings_comp}


def register_paste_params_button(binding: ParamBinding):
    registered_param_bindings.append(binding)


def unquote(text):
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except Exception:
        return text


def parse_generation_parameters(x: str) -> dict:
    """As in A1111 1.10 (without the settings-specific defaults)."""
    res: dict = {}
    prompt, negative_prompt = "", ""
    done_with_prompt = False
    *lines, lastline = x.strip().split("\n")
    if len(re_param.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative_prompt += ("" if negative_prompt == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    res["Prompt"] = prompt
    res["Negative prompt"] = negative_prompt
    for k, v in re_param.findall(lastline):
        v = unquote(v) if v[:1] == '"' and v[-1:] == '"' else v
        m = re_imagesize.match(v)
        if m is not None:
            res[f"{k}-1"], res[f"{k}-2"] = m.group(1), m.group(2)
        else:
            res[k] = v
    return res


def connect_paste(button, paste_fields_list, input_comp, override_settings_component, tabname):
    def paste_func(prompt):
        params = parse_generation_parameters(prompt or "")
        res = []
        for output, key in paste_fields_list:
            v = params.get(key, None)
            if v is None:
                import gradio as gr

                res.append(gr.update())
            else:
                try:
                    valtype = type(output.value)
                    val = valtype(v) if valtype not in (type(None), bool) else v
                    res.append(val if not isinstance(val, float) or not val.is_integer() else val)
                except Exception:
                    res.append(v)
        return res

    button.click(fn=paste_func, inputs=[input_comp], outputs=[x[0] for x in paste_fields_list], show_progress=False)


def connect_paste_params_buttons():
    import gradio as gr

    major = int(str(gr.__version__).split(".")[0])
    for binding in registered_param_bindings:
        fields = paste_fields[binding.tabname]["fields"]
        if binding.source_text_component is not None and fields is not None:
            connect_paste(binding.paste_button, fields, binding.source_text_component,
                          binding.override_settings_component, binding.tabname)
        js = {"_js" if major < 4 else "js": f"switch_to_{binding.tabname}"}
        binding.paste_button.click(fn=None, inputs=None, outputs=None, show_progress=False, **js)
