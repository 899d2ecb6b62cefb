"""What a multi-connection download has on disk: the byte ranges done, kept in a small state file.

``<name>.part.segments`` (JSON, written atomically) sits beside the preallocated ``.part`` and
names the file it belongs to (version id, file id, exact size, Civitai's SHA256) and the ranges
that are written and flushed. Without it the ``.part`` is only trusted as a contiguous prefix
(what a one-connection download leaves). The file lives in a model folder, so it is read as
hostile input: anything odd (too big, wrong shape, another file's id or size) means "start over".
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional

from ..atomic import write_atomic

log = logging.getLogger(__name__)

STATE_SUFFIX = ".segments"  # after ".part"
FORMAT = 1
MAX_STATE_BYTES = 256 * 1024
MAX_RANGES = 4096


class Ranges:
    """Disjoint, sorted, merged half-open byte ranges ``[start, end)``."""

    def __init__(self, spans=()):
        self.spans: list[list[int]] = []
        for start, end in spans:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        spans = self.spans
        i = len(spans)
        while i > 0 and spans[i - 1][0] > start:  # appends near the end are the common case
            i -= 1
        spans.insert(i, [start, end])
        if i > 0 and spans[i - 1][1] >= start:  # merge with the one before
            i -= 1
            spans[i][1] = max(spans[i][1], spans[i + 1][1])
            del spans[i + 1]
        while i + 1 < len(spans) and spans[i + 1][0] <= spans[i][1]:
            spans[i][1] = max(spans[i][1], spans[i + 1][1])
            del spans[i + 1]

    def prefix(self) -> int:
        """Where the contiguous run from byte 0 ends."""
        return self.spans[0][1] if self.spans and self.spans[0][0] == 0 else 0

    def total(self) -> int:
        return sum(end - start for start, end in self.spans)

    def missing(self, size: int) -> list[tuple[int, int]]:
        gaps, pos = [], 0
        for start, end in self.spans:
            if start > pos:
                gaps.append((pos, min(start, size)))
            pos = max(pos, end)
        if pos < size:
            gaps.append((pos, size))
        return [(a, b) for a, b in gaps if b > a]

    def copy(self) -> Ranges:
        r = Ranges()
        r.spans = [list(s) for s in self.spans]
        return r

    def as_list(self) -> list[list[int]]:
        return [list(s) for s in self.spans]


def state_path(part: Path) -> Path:
    return part.with_name(part.name + STATE_SUFFIX)


def identity(version, file, size: int, sha256: Optional[str]) -> dict:
    return {"version_id": getattr(version, "id", None), "file_id": getattr(file, "id", None), "size": int(size),
            "sha256": (sha256 or "").upper() or None}


def save_state(part: Path, ident: dict, done: Ranges) -> None:
    data = {"civkit_segments": FORMAT, **ident, "done": done.as_list()}
    write_atomic(state_path(part), json.dumps(data, separators=(",", ":")).encode(), fsync=True)


def _read_raw(path: Path) -> Optional[dict]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read %s (%s); starting that download over", path.name, exc)
        return {}
    try:
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_STATE_BYTES + 1)
        if len(raw) > MAX_STATE_BYTES:
            return {}
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _valid_ranges(data: dict, size: int) -> Optional[Ranges]:
    spans = data.get("done")
    if not isinstance(spans, list) or len(spans) > MAX_RANGES:
        return None
    done = Ranges()
    for span in spans:
        if (not isinstance(span, list) or len(span) != 2 or not all(type(x) is int for x in span)
                or not 0 <= span[0] < span[1] <= size):
            return None
        done.add(span[0], span[1])
    return done


def load_state(part: Path, ident: dict) -> Optional[Ranges]:
    """The ranges done, when a state file exists, is well formed and belongs to this very file.

    Returns None when there is no usable state (a stale or foreign one is deleted)."""
    path = state_path(part)
    data = _read_raw(path)
    if data is None:
        return None
    size = data.get("size")
    ok = (data.get("civkit_segments") == FORMAT and type(size) is int and size > 0
          and all(data.get(k) == ident.get(k) for k in ("version_id", "file_id", "sha256"))
          and (ident.get("size") is None or size == ident["size"]))
    done = _valid_ranges(data, size) if ok else None
    if done is None:
        log.warning("ignoring the download state %s (another file, another size, or damaged); starting over",
                    path.name)
        drop_state(part)
        return None
    ident["size"] = size
    return done


def drop_state(part: Path) -> None:
    try:
        os.unlink(state_path(part))
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot delete %s: %s", state_path(part).name, exc)


def settle_for_single(part: Path, fh) -> None:
    """Before a one-connection download: a segmented ``.part`` keeps only its contiguous prefix.

    The one-connection path trusts every byte of the ``.part`` as a prefix, which holds for its
    own files but not for a preallocated one with holes."""
    data = _read_raw(state_path(part))
    if data is None:
        return
    size = data.get("size")
    done = _valid_ranges(data, size) if type(size) is int and size > 0 else None
    keep = done.prefix() if done is not None else 0
    fh.truncate(keep)
    fh.flush()
    os.fsync(fh.fileno())  # the truncation reaches the disk before the state that explained the holes goes
    drop_state(part)
