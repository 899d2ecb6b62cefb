"""Names a package re-exports but imports only on first use (PEP 562), so start-up stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable


def lazy_exports(package: str, where: dict, namespace: dict, names: Iterable[str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: ``where`` maps a name to its submodule (relative to
    the package); ``namespace`` is the package's ``globals()``, where a loaded name is kept."""
    listed = set(names)

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list:
        return sorted(set(namespace) | listed)

    return __getattr__, __dir__
