"""Host adapters: where civkit runs (ComfyUI, A1111/Forge) or none (standalone)."""

from .base import HostAdapter
from .standalone import StandaloneHost

__all__ = ["HostAdapter", "StandaloneHost"]
