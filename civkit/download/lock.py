"""An exclusive lock beside a download's ``.part`` file, across threads and processes.

``<name>.part.lock`` is locked with ``fcntl.flock`` (POSIX) or ``msvcrt.locking`` (Windows). The
holder deletes the lock file while still holding it; a waiter that then gets the lock on the old,
unlinked file notices (its inode is no longer the one at the path) and tries again.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

log = logging.getLogger(__name__)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def open_own_file(path: Path, mode: int = 0o644) -> int:
    """Open ``path`` read-write, creating it with ``O_EXCL`` when absent, never through a symlink
    (``O_NOFOLLOW``) and only if it is a regular file: a symlink, FIFO or device planted at a
    ``.part`` or lock name is refused, never followed (issue 13 item 5). Returns the descriptor."""
    from .errors import DownloadError

    path = Path(path)
    flags = os.O_RDWR | _NOFOLLOW | _BINARY
    try:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            if path.is_symlink():
                raise OSError(errno.ELOOP, "symbolic link") from None
            fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise DownloadError(f"{path} is a symbolic link: civkit never writes through one. Remove it (it "
                                "was not created by civkit) and download again.") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DownloadError(f"{path} is not a regular file (a FIFO, device or folder is in its place): "
                            "remove it and download again.")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


class LockBusy(Exception):
    """Another download holds the lock and we were told not to wait (longer)."""


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    except OSError:
        pass


class PartLock:
    """``with PartLock(path, timeout=None, on_wait=..., should_stop=...):`` holds the lock.

    ``timeout`` None waits as long as needed; 0 fails at once. ``should_stop`` is polled while
    waiting (a cancelled download stops waiting); ``on_wait`` is called once when we start waiting.
    """

    def __init__(
        self,
        path: Path,
        *,
        timeout: Optional[float] = None,
        poll: float = 0.1,
        on_wait: Optional[Callable[[], None]] = None,
        should_stop: Optional[Callable[[], bool]] = None,
    ):
        self.path = Path(path)
        self.timeout = timeout
        self.poll = poll
        self.on_wait = on_wait
        self.should_stop = should_stop
        self._fd: Optional[int] = None
        self.waited = False

    def acquire(self) -> None:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            fd = open_own_file(self.path)
            if _try_lock(fd):
                if self._still_current(fd):
                    self._fd = fd
                    return
                _unlock(fd)
                os.close(fd)
                continue
            os.close(fd)
            if not self.waited:
                self.waited = True
                log.info("waiting for another download of %s", self.path.name[: -len(".lock")])
                if self.on_wait is not None:
                    self.on_wait()
            if self.should_stop is not None and self.should_stop():
                raise LockBusy(str(self.path))
            if deadline is not None and time.monotonic() >= deadline:
                raise LockBusy(str(self.path))
            time.sleep(self.poll)

    def _still_current(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        own = os.fstat(fd)
        return (st.st_ino, st.st_dev) == (own.st_ino, own.st_dev) or os.name == "nt"

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still holding it; see the module docstring
        except OSError:
            pass
        _unlock(self._fd)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> PartLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
