"""Whether a path lies inside a folder, by its text: the one test behind every "stays inside the
model roots" rule. Paths are compared as given; callers pass absolute (or real) paths on both sides."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Optional


def is_under(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it (``/models/lora`` is not inside ``/models/lo``)."""
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root if root == os.sep else root + os.sep)


def under_any(path: str, roots: Iterable[str]) -> bool:
    return any(is_under(path, root) for root in roots)


def deepest_root(path: str, roots: Iterable[str]) -> Optional[str]:
    """The innermost of ``roots`` that holds ``path`` (nested roots: the closest one), or None."""
    holding = [root for root in roots if is_under(path, root)]
    return max(holding, key=len) if holding else None
