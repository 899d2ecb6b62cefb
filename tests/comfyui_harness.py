"""Shared set-up for the ComfyUI tests: stand-ins on sys.path, and the pack loaded the way
ComfyUI's ``load_custom_node`` does it (a folder with a dash, a path-derived module name)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).resolve().parent / "comfy_standins"
HOST_NAMES = {"folder_paths", "server", "nodes", "comfy"}
PACK_FOLDER = "civkit-pack"


def _host_modules() -> list:
    return [name for name in sys.modules if name.split(".")[0] in HOST_NAMES]


def pack_module_name(folder: Path) -> str:
    """ComfyUI's name for a pack folder: its path with dots replaced by ``_x_``."""
    return str(folder).replace(".", "_x_")


def load_pack(custom_nodes: Path, folder_name: str = PACK_FOLDER):
    """Put the repository into ``custom_nodes/<folder_name>`` and import it as ComfyUI does."""
    folder = custom_nodes / folder_name
    if not folder.exists():
        custom_nodes.mkdir(parents=True, exist_ok=True)
        folder.symlink_to(REPO, target_is_directory=True)
    name = pack_module_name(folder)
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def unload(prefix: str) -> None:
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]


@pytest.fixture(name="comfy")
def comfy_fixture(tmp_path, monkeypatch):
    """A ComfyUI-like process: stand-in host modules importable, models under tmp_path/comfy."""
    saved = {name: sys.modules.pop(name) for name in _host_modules()}
    monkeypatch.syspath_prepend(str(STANDINS))
    import comfy.sd
    import comfy.utils
    import folder_paths
    import server

    base = tmp_path / "comfy"
    folder_paths._standin_reset(str(base))
    for key in ("loras", "checkpoints"):
        Path(folder_paths.get_folder_paths(key)[0]).mkdir(parents=True, exist_ok=True)
    prompt_server = server.PromptServer(loop=None)
    comfy.sd.CALLS.clear()
    comfy.utils.PROGRESS_UPDATES.clear()
    env = SimpleNamespace(folder_paths=folder_paths, server=prompt_server, base=base,
                          custom_nodes=base / "custom_nodes", packs=[])
    try:
        yield env
    finally:
        for service in getattr(env, "services", []):
            service.close()
        for pack in env.packs:
            unload(pack)
        for name in _host_modules():
            del sys.modules[name]
        sys.modules.update(saved)


def load_pack_into(env):
    module = load_pack(env.custom_nodes)
    env.packs.append(module.__name__)
    return module


def pack_module(pack, dotted: str):
    """A submodule of the loaded pack, e.g. pack_module(pack, "nodes.routes")."""
    return sys.modules[f"{pack.__name__}.{dotted}"] if f"{pack.__name__}.{dotted}" in sys.modules else \
        importlib.import_module(f"{pack.__name__}.{dotted}")


def install_service(env, pack, api_base: str, api_key=None):
    """Build the pack's own service against ``api_base`` (the emulator) and make it the one the
    pack's routes and nodes use; events go to the stand-in PromptServer like in ComfyUI."""
    config_mod = pack_module(pack, "civkit.config")
    runtime = pack_module(pack, "nodes.runtime")
    service = runtime.build_service(config=config_mod.load_config(api_base=api_base, api_key=api_key))
    runtime.set_service(service)
    env.services = getattr(env, "services", [])
    env.services.append(service)
    return service


def mount_comfy_routes(env, app):
    """Mount PromptServer.instance.routes on ``app`` the way ComfyUI does: as written and under /api."""
    env.server.add_routes_to(app)
    return app
