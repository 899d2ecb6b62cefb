"""civkit's AUTOMATIC1111 / Forge entry: a "Civitai" tab, a Settings → civkit section, /civkit routes.

Thin wiring only (HOSTS.md §2.2): everything else lives in the ``civkit`` package. A1111 puts the
extension folder on ``sys.path`` only while this file loads, so the package itself is imported
here (cheap: no gradio); its modules load from ``civkit.__path__`` when the WebUI asks for the tab,
so a WebUI start costs no hashing, network or pip.
"""

from modules import script_callbacks, shared

import civkit  # noqa: F401 - now, while A1111 has the extension folder on sys.path (HOSTS.md §2.2)

_state = {}


def civkit_service():
    """The one CivkitService of this WebUI process, built on first use."""
    if "service" not in _state:
        from civkit.config import load_config
        from civkit.hosts.a1111 import A1111Host, apply_webui_options
        from civkit.service import CivkitService

        service = CivkitService(load_config(), A1111Host())
        apply_webui_options(service, shared.opts)
        _state["service"] = service
    return _state["service"]


def _setting_changed(setting):
    def apply():
        if "service" in _state:  # applied on every change, not read once at UI build
            from civkit.hosts.a1111 import apply_webui_options

            apply_webui_options(_state["service"], shared.opts, only=setting)
    return apply


def on_ui_settings():
    from civkit.hosts.a1111 import WEBUI_OPTIONS

    section = ("civkit", "civkit")
    for key, setting, default, label in WEBUI_OPTIONS:
        shared.opts.add_option(key, shared.OptionInfo(default, label, section=section,
                                                      onchange=_setting_changed(setting)))


def on_ui_tabs():
    from civkit.ui.app import build_ui

    ui = build_ui(civkit_service(), webui=True)
    return [(ui.blocks, "Civitai", "civkit")]


def on_app_started(demo, app):
    from civkit.ui.routes import register_routes

    opts = shared.cmd_opts
    register_routes(app, civkit_service(), api_auth=getattr(opts, "api_auth", None),
                    gradio_auth=getattr(opts, "gradio_auth", None),
                    gradio_auth_path=getattr(opts, "gradio_auth_path", None))


script_callbacks.on_ui_settings(on_ui_settings)
script_callbacks.on_ui_tabs(on_ui_tabs)
script_callbacks.on_app_started(on_app_started)
