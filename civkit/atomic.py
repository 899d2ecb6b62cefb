"""Write a whole file or nothing: a temp file beside the target, then ``os.replace``.

A reader (or a crash) never sees half a file under the final name. The temp file gets its
permission bits before the first byte is written, so a private file (the API key) is never
readable by others, not even for a moment.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from .name_bytes import NAME_MAX, cut_to_bytes


def write_atomic(path, data: bytes, *, mode: int = 0o644, fsync: bool = False,
                 before_replace: Optional[Callable[[], bool]] = None) -> bool:
    """Write ``data`` to ``path`` atomically. Returns False when ``before_replace`` says no
    (e.g. another process wrote a preview meanwhile); the temp file is then removed."""
    path = Path(path)
    # ".<name>.XXXXXXXX.tmp": the name is cut so the temp name fits where the final name fits
    short = cut_to_bytes(path.name, NAME_MAX - len("..XXXXXXXX.tmp"))
    fd, tmp = tempfile.mkstemp(prefix=f".{short}.", suffix=".tmp", dir=str(path.parent))
    try:
        os.fchmod(fd, mode) if hasattr(os, "fchmod") else os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if before_replace is not None and not before_replace():
            os.unlink(tmp)
            return False
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return True


def existing_mode(path, default: int = 0o644) -> int:
    """Keep the permission bits a user gave a file we rewrite."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        return default
