"""Stand-in for ``modules/script_callbacks.py``: registration and the host's callers."""

callback_map = {"callbacks_ui_tabs": [], "callbacks_ui_settings": [], "callbacks_app_started": []}


def clear_callbacks():
    for callbacks in callback_map.values():
        callbacks.clear()


def on_ui_tabs(callback, *, name=None):
    """``callback()`` returns ``[(gr.Blocks, title, elem_id)]``."""
    callback_map["callbacks_ui_tabs"].append(callback)


def on_ui_settings(callback, *, name=None):
    callback_map["callbacks_ui_settings"].append(callback)


def on_app_started(callback, *, name=None):
    """``callback(demo: gr.Blocks | None, app: FastAPI)``."""
    callback_map["callbacks_app_started"].append(callback)


def ui_tabs_callback():
    res = []
    for c in callback_map["callbacks_ui_tabs"]:
        res += c() or []
    return res


def ui_settings_callback():
    for c in callback_map["callbacks_ui_settings"]:
        c()


def app_started_callback(demo, app):
    for c in callback_map["callbacks_app_started"]:
        c(demo, app)
