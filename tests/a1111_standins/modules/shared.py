"""Stand-in for ``modules/shared.py``: ``cmd_opts``, ``opts`` and ``OptionInfo`` (1.10 signatures)."""

import argparse

FOLDER_FLAGS = ("ckpt_dir", "vae_dir", "lora_dir", "lyco_dir_backcompat", "embeddings_dir", "hypernetwork_dir",
                "esrgan_models_path", "controlnet_dir", "text_encoder_dir")


def fresh_cmd_opts(**values):
    ns = argparse.Namespace(api=False, api_auth=None, gradio_auth=None, gradio_auth_path=None, skip_install=False,
                            data_dir=None, models_dir=None,
                            **{flag: None for flag in FOLDER_FLAGS})
    for key, value in values.items():
        setattr(ns, key, value)
    return ns


cmd_opts = fresh_cmd_opts()


class OptionInfo:
    def __init__(self, default=None, label="", component=None, component_args=None, onchange=None, section=None,
                 refresh=None, comment_before="", comment_after="", infotext=None, restrict_api=False,
                 category_id=None):
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.category_id = category_id
        self.refresh = refresh
        self.do_not_save = False
        self.comment_before = comment_before
        self.comment_after = comment_after
        self.infotext = infotext
        self.restrict_api = restrict_api

    def info(self, info):
        self.comment_after += f"<span class='info'>({info})</span>"
        return self

    def link(self, label, url):
        self.comment_before += f"[<a href='{url}' target='_blank'>{label}</a>]"
        return self

    def needs_reload_ui(self):
        return self

    def needs_restart(self):
        return self


class Options:
    typemap = {int: float}

    def __init__(self):
        super().__setattr__("data", {})
        super().__setattr__("data_labels", {})

    def add_option(self, key, info):
        self.data_labels[key] = info
        if key not in self.data and not info.do_not_save:
            self.data[key] = info.default

    def __setattr__(self, key, value):
        if key in ("data", "data_labels"):
            return super().__setattr__(key, value)
        self.set(key, value)

    def __getattr__(self, item):
        data = super().__getattribute__("data")
        if item in data:
            return data[item]
        labels = super().__getattribute__("data_labels")
        if item in labels:
            return labels[item].default
        return super().__getattribute__(item)

    def set(self, key, value, is_api=False, run_callbacks=True):
        oldval = self.data.get(key, None)
        if oldval == value:
            return False
        self.data[key] = value
        info = self.data_labels.get(key)
        if run_callbacks and info is not None and info.onchange is not None:
            info.onchange()
        return True

    def onchange(self, key, func, call=True):
        item = self.data_labels.get(key)
        item.onchange = func
        if call:
            func()


opts = Options()
