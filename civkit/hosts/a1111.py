"""AUTOMATIC1111 1.10 and Forge as a host: folders from ``shared.cmd_opts`` and the host defaults.

Each folder option is read with ``getattr(cmd_opts, name, None)``; None means the default under
``models_path`` (``--models-dir``, else ``<data>/models``) or, for embeddings, ``<data>/embeddings``
(HOSTS.md §2.4). LoCon and DoRA go to the LoRA folder, never ``models/LyCORIS``, which Forge no
longer scans. ``modules`` is imported inside functions only, so the core imports without a WebUI.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Optional

from ..folders import OTHER_KEY, key_path
from .base import HostAdapter

log = logging.getLogger(__name__)

# civkit folder key -> the WebUI command-line option that moves it.
FOLDER_OPTIONS = {
    "checkpoints": "ckpt_dir",
    "vae": "vae_dir",
    "loras": "lora_dir",
    "embeddings": "embeddings_dir",
    "hypernetworks": "hypernetwork_dir",
    "upscale_models": "esrgan_models_path",
    "controlnet": "controlnet_dir",
    "text_encoders": "text_encoder_dir",  # Forge only
}
_ALWAYS = ("checkpoints", "vae", "loras", "embeddings", "hypernetworks", "upscale_models", "controlnet")
# Optional folders that exist only with an extension installed (HOSTS.md §3).
_EXTENSION_KEYS = {
    "aesthetic_embeddings": "stable-diffusion-webui-aesthetic-gradients",
    "animatediff_models": "sd-webui-animatediff",
    "wildcards": "sd-dynamic-prompts",
}


def detect_forge(script_path: Optional[Path] = None) -> bool:
    """Forge ships ``modules_forge`` (and ``backend``) beside ``modules``; A1111 does not."""
    if script_path is not None:
        return (Path(script_path) / "modules_forge").is_dir()
    try:
        return importlib.util.find_spec("modules_forge") is not None
    except (ImportError, ValueError):
        return False


def _host_paths():
    """(cmd_opts, data_path, models_path, script_path) from the running WebUI."""
    from modules import paths_internal, shared

    return (shared.cmd_opts, Path(paths_internal.data_path), Path(paths_internal.models_path),
            Path(paths_internal.script_path))


class A1111Host(HostAdapter):
    """Folders of a running (or described) A1111/Forge install."""

    # the key field is in civkit's own tab, not in the WebUI's Settings → civkit section
    key_hint = "open the Civitai tab, go to its Settings tab, paste it into “API key” and press “Save key”"

    def __init__(self, *, cmd_opts=None, data_path=None, models_path=None, script_path=None,
                 forge: Optional[bool] = None) -> None:
        if cmd_opts is None or data_path is None:
            host_opts, host_data, host_models, host_script = _host_paths()
            cmd_opts = host_opts if cmd_opts is None else cmd_opts
            data_path = host_data if data_path is None else data_path
            models_path = models_path or host_models
            script_path = script_path or host_script
        self.cmd_opts = cmd_opts
        self.data_path = Path(data_path)
        self.script_path = Path(script_path) if script_path else self.data_path
        self.forge = detect_forge(self.script_path) if forge is None else bool(forge)
        self.name = "forge" if self.forge else "a1111"
        super().__init__(Path(models_path) if models_path else self.data_path / "models", self.name)
        self.models_path = self.models_dir

    # ------------------------------------------------------------------ folders
    def _option(self, key: str) -> Optional[Path]:
        option = FOLDER_OPTIONS.get(key)
        value = getattr(self.cmd_opts, option, None) if option else None
        return Path(value) if value else None

    def _extension_dir(self, key: str) -> Optional[Path]:
        folder = _EXTENSION_KEYS.get(key)
        if not folder:
            return None
        ext_root = self.data_path / "extensions" / folder
        return key_path(key, self.layout, self.models_path) if ext_root.is_dir() else None

    def folder_for_key(self, key: str) -> Path:
        """Where a folder key lives: the command-line option, else the host default."""
        if key == OTHER_KEY:
            return self.models_path / OTHER_KEY
        override = self._option(key)
        if override is not None:
            return override
        if key == "embeddings":
            return self.data_path / "embeddings"  # <data>/embeddings, not under models/
        return key_path(key, self.layout, self.models_path)

    def folder_keys(self) -> dict[str, list[Path]]:
        keys = list(_ALWAYS)
        if self.forge:
            keys.append("text_encoders")
        keys.append("adetailer")
        result = {key: [self.folder_for_key(key)] for key in keys}
        for key in _EXTENSION_KEYS:
            found = self._extension_dir(key)
            if found is not None:
                result[key] = [found]
        result[OTHER_KEY] = [self.folder_for_key(OTHER_KEY)]
        return result

    def model_roots(self) -> list[Path]:
        seen: dict[str, Path] = {}
        for roots in self.folder_keys().values():
            for root in roots:
                seen.setdefault(os.path.normcase(os.path.abspath(root)), root)
        return list(seen.values())

    def extras(self) -> dict:
        """Every folder the WebUI moved (or keeps outside ``models/``), and extension folders."""
        found = {key: self.folder_for_key(key) for key in FOLDER_OPTIONS if key != "text_encoders" or self.forge}
        for key in _EXTENSION_KEYS:
            path = self._extension_dir(key)
            if path is not None:
                found[key] = path
        return found

    # ------------------------------------------------------------------ after a download
    def after_download(self, path: Path) -> None:
        """Let the WebUI list the new file without a restart (best effort, never fatal)."""
        try:
            import networks  # the built-in Lora extension's module

            networks.list_available_networks()
        except Exception:  # noqa: BLE001 - a host refresh failing must not fail the download
            log.debug("could not refresh the WebUI LoRA list", exc_info=True)
        if not str(Path(path).resolve()).startswith(str(self.folder_for_key("checkpoints").resolve())):
            return
        try:
            from modules import sd_models

            sd_models.list_models()
        except Exception:  # noqa: BLE001
            log.debug("could not refresh the WebUI checkpoint list", exc_info=True)


    # ------------------------------------------------------------------ the WebUI's own paste
    @staticmethod
    def paste_module():
        """``modules.infotext_utils`` (1.7+) or ``generation_parameters_copypaste`` (older), or None."""
        for name in ("modules.infotext_utils", "modules.generation_parameters_copypaste"):
            try:
                module = importlib.import_module(name)
            except Exception:  # noqa: BLE001 - not this WebUI's version
                continue
            if hasattr(module, "register_paste_params_button") and hasattr(module, "ParamBinding"):
                return module
        return None

    def register_paste_button(self, button, text_component, tabname: str = "txt2img") -> bool:
        """Make ``button`` paste the infotext in ``text_component`` into ``tabname`` the way PNG Info's
        "Send to txt2img" does (the WebUI binds registered buttons after every tab is built)."""
        module = self.paste_module()
        if module is None:
            return False
        module.register_paste_params_button(module.ParamBinding(
            paste_button=button, tabname=tabname, source_text_component=text_component,
            source_image_component=None))
        return True


# ---------------------------------------------------------------------------- WebUI settings

# (option key, civkit setting, default, label). The API key is deliberately NOT here: WebUI
# options sit in plain config.json and the options API returns them all (HOSTS.md §2.3).
WEBUI_OPTIONS = (
    ("civkit_api_base", "api_base", "",
     "Civitai site (empty: https://civitai.com, or CIVKIT_API_BASE when set)"),
    ("civkit_nsfw_previews", "nsfw_previews", False, "Show NSFW preview images unblurred"),
    ("civkit_write_sidecars", "write_sidecars", True,
     "Write .civitai.info, .json (activation text) and preview files next to downloads"),
    ("civkit_subfolder_template", "subfolder_template", "",
     "Download subfolder template, e.g. {base_model} (empty: straight into the folder)"),
)


def apply_webui_options(service, opts, only: Optional[str] = None) -> None:
    """Give the running service the WebUI's civkit options (all, or the one that changed).

    Called at start and from each option's ``onchange``, so a change applies at once (settings
    read once at UI build were a known trap of older extensions). An emptied API base falls back
    to civkit's own (environment, config file, https://civitai.com).
    """
    values = settings_from_opts(opts)
    if "api_base" not in values:
        from ..config import load_config

        values["api_base"] = load_config().api_base
    if only is not None:
        values = {k: v for k, v in values.items() if k == only}
    if values:
        service.update_settings(persist=False, **values)


def settings_from_opts(opts) -> dict:
    """civkit settings from WebUI options; an empty API base means "civkit's own default"."""
    values = {}
    for key, setting, default, _label in WEBUI_OPTIONS:
        value = getattr(opts, key, default)
        if setting == "api_base" and not (value or "").strip():
            continue
        values[setting] = value
    return values
