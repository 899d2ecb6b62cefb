"""Stand-in for ``comfy.utils``: ``load_torch_file`` reads a safetensors header instead of tensors,
and ``ProgressBar`` records its updates."""

from __future__ import annotations

import json
import struct

PROGRESS_UPDATES: list[tuple[int, int]] = []


def load_torch_file(ckpt, safe_load=False, device=None, return_metadata=False):
    with open(ckpt, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    metadata = header.pop("__metadata__", {})
    state = {"__file__": str(ckpt), **{name: info.get("shape") for name, info in header.items()}}
    return (state, metadata) if return_metadata else state


class ProgressBar:
    def __init__(self, total, node_id=None):
        self.total = total
        self.current = 0

    def update_absolute(self, value, total=None, preview=None):
        if total is not None:
            self.total = total
        self.current = value
        PROGRESS_UPDATES.append((value, self.total))

    def update(self, value):
        self.update_absolute(self.current + value)
