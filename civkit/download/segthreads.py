"""The two helper threads of a segmented download (``segments.SegmentedTransfer``, called ``t`` here).

``hash_loop`` reads the contiguous prefix back from the page cache as it grows and hashes it in
file order (the verification costs no second pass over the disk); ``flush_loop`` flushes written
pages in the background, lets the kernel drop the hashed ones, then records the ranges done in the
state file, so what the state file says is on disk.
"""

from __future__ import annotations

import logging
import os
import time

from .errors import DownloadError
from .segstate import save_state

log = logging.getLogger(__name__)

HASH_READ = 4 * 1024 * 1024
SYNC_STEP = 32 * 1024 * 1024
STATE_EVERY = 1.0


def hash_loop(t) -> None:
    view = memoryview(bytearray(HASH_READ))
    try:
        while True:
            with t.cond:
                while not t.stop and t.done.prefix() <= t.hashed:
                    t.cond.wait(0.5)
                if t.stop and t.done.prefix() <= t.hashed:
                    return
                upto = t.done.prefix()
            while t.hashed < upto:
                n = os.preadv(t.fd, [view[: min(HASH_READ, upto - t.hashed)]], t.hashed)
                if n <= 0:
                    raise DownloadError("The partial download shrank while it was read; run the download again.")
                t.hasher.update(view[:n])
                with t.cond:
                    t.hashed += n
                    t.cond.notify_all()
                if t.stop:
                    return
    except BaseException as exc:
        t.finish_with(error=exc)


def flush_loop(t) -> None:
    """Flush written pages in the background, drop the hashed ones from the cache, record the state."""
    synced, saved_at = 0, time.monotonic()
    while True:
        with t.cond:
            t.cond.wait(0.25)
            if t.stop:
                return
            written, hashed = t.written, t.hashed
        now = time.monotonic()
        if written - synced < SYNC_STEP and not (written > synced and now - saved_at >= STATE_EVERY):
            continue
        try:
            save(t, sync=True, drop_below=hashed, with_state=now - saved_at >= STATE_EVERY)
        except OSError as exc:  # an optimisation and a resume aid: the final fsync still runs
            log.debug("background flush failed: %s", exc)
        synced = written
        if now - saved_at >= STATE_EVERY:
            saved_at = now


def save(t, *, sync: bool, drop_below: int = 0, with_state: bool = True) -> None:
    with t.cond:
        done, size = t.done.copy(), t.size
    if size is None:
        return
    if sync:
        getattr(os, "fdatasync", os.fsync)(t.fd)  # the ranges recorded are on disk
    advise = getattr(os, "posix_fadvise", None)
    if drop_below and advise is not None:
        advise(t.fd, 0, drop_below, os.POSIX_FADV_DONTNEED)
    if with_state:
        save_state(t.part, t.ident, done)
