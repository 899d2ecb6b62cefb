"""ComfyUI entry point of the civkit node pack.

ComfyUI imports this folder as a package named after its path (HOSTS.md §1.1), so everything
here imports relatively and the pack root never goes onto ``sys.path`` (its ``nodes/`` folder
would shadow ComfyUI's ``nodes.py``). Outside ComfyUI (no ``folder_paths``), or when this file is
loaded without its package, it exports empty mappings and does nothing.

Import does no network, no hashing and no scanning: the service is built on the first request.
"""

import logging

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
WEB_DIRECTORY = "./javascript/comfyui"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]

_log = logging.getLogger(__name__)


def _load_into_comfyui() -> None:
    try:
        import folder_paths  # noqa: F401  - present only inside ComfyUI
    except ImportError:
        return
    if not __package__ or "__path__" not in globals():
        return  # loaded as a lone file, not as ComfyUI's package: nothing to register
    from .nodes import NODE_CLASS_MAPPINGS as classes
    from .nodes import NODE_DISPLAY_NAME_MAPPINGS as names

    NODE_CLASS_MAPPINGS.update(classes)
    NODE_DISPLAY_NAME_MAPPINGS.update(names)
    try:
        from server import PromptServer
    except ImportError:
        return
    instance = getattr(PromptServer, "instance", None)
    if instance is None:
        return
    from .nodes.routes import register_routes
    from .nodes.runtime import get_service

    register_routes(instance.routes, get_service)


_load_into_comfyui()
