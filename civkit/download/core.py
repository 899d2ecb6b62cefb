"""One download from start to end: resumable, verified, atomic (CIVITAI_API.md §5).

For one ``ModelFile`` of a ``ModelVersion``:

1. pick the target name (``files[].name``, sanitised) inside ``dest_dir``; an identical file there
   means "skipped", a different one is a conflict (ask / skip / suffix / replace);
2. lock ``<name>.part.lock`` so two downloads of one file never write one ``.part``;
3. check free space; re-hash an existing ``.part`` prefix once (the only second read);
4. resolve the 307 with the key (fresh signed URL on every attempt), fetch storage without the
   Civitai ``Authorization`` header with ``Range: bytes=<have>-``, append to ``.part`` and hash
   while streaming; a dropped connection resumes, a 200 instead of 206 starts over, a 416 restarts.
   A file of ``segments.MIN_SEGMENTED_SIZE`` or more comes over ``connections`` Range connections
   instead (``segments``; falls back to the one-connection path when storage cannot serve pieces);
5. verify SHA256 (BLAKE3 when Civitai lists no SHA256); a mismatch deletes the ``.part``;
6. ``os.replace`` into place, then the post-download hooks (index, sidecars, preview), guarded so
   a failing hook never fails a verified download.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from ..hashing import has_blake3, hash_file
from ..sizes import human_size
from . import segments, segstate
from .choice import check_safety
from .errors import (
    DownloadError,
    FileConflict,
    HashMismatch,
    NotEnoughSpace,
    raise_if_cancelled,
)
from .lock import LockBusy, PartLock, open_own_file
from .names import UnsafeFilename, safe_filename, suffixed_name, target_inside
from .transfer import Transfer

__all__ = ["CONFLICT_MODES", "DownloadResult", "download_file"]

log = logging.getLogger(__name__)

CONFLICT_MODES = ("ask", "skip", "suffix", "replace")
SPACE_MARGIN = 16 * 1024 * 1024  # never fill a disk to the last byte
ProgressFn = Callable[[str, int, Optional[int]], None]  # (state, bytes_done, bytes_total)
Hook = Callable[..., Optional[str]]  # hook(path, version, file, result) -> warning text or None


@dataclass
class DownloadResult:
    path: Path
    sha256: Optional[str]
    bytes: int
    model_id: Optional[int]
    version_id: int
    trained_words: list
    skipped: bool = False
    file_id: Optional[int] = None
    model_name: Optional[str] = None
    version_name: Optional[str] = None
    resumed_from: int = 0
    message: str = ""
    warnings: list = field(default_factory=list)
    companions: list = field(default_factory=list)  # the service's VAE/config downloads, as dicts
    verified_with: Optional[str] = None  # "SHA256" or "BLAKE3": the hash Civitai lists that the bytes matched
    unverified: bool = False  # Civitai lists no hash civkit can check: only the size was (issue 13 item 17)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def _noop_progress(state: str, done: int, total: Optional[int]) -> None:
    pass



def _no_hash_reason(file) -> str:
    """Why a file cannot be verified (issue 13 item 17: new files often have no hashes yet)."""
    listed = {str(k).upper() for k, v in (file.hashes or {}).items() if v}
    if "BLAKE3" in listed:
        return "Civitai lists only a BLAKE3 hash and the blake3 package is not installed"
    return "Civitai lists no hash for this file yet"


def _unverified_words(file) -> str:
    """What was checked instead of a hash (never "verified")."""
    what = "only its size was checked" if file.size_bytes else "not even its size could be checked"
    return f"unverified: {_no_hash_reason(file)}; {what}"


def _expected_hash(file) -> tuple[Optional[str], Optional[str]]:
    """(name, upper-case hex) of the hash we verify against: SHA256, else BLAKE3, else (None, None)."""
    hashes = {str(k).upper(): str(v).upper() for k, v in (file.hashes or {}).items() if v}
    if hashes.get("SHA256"):
        return "SHA256", hashes["SHA256"]
    if hashes.get("BLAKE3") and has_blake3():
        return "BLAKE3", hashes["BLAKE3"]
    return None, None


class _Download:
    """One run of ``download_file``: name, conflicts, lock, space, verification and the final move;
    the bytes themselves are moved by the ``Transfer`` it owns."""

    def __init__(self, client, version, file, dest_dir, progress, cancel, on_conflict, disk_usage,
                 index, hooks, max_retries, retry_delay, lock_timeout, sleep, name=None,
                 connections=segments.DEFAULT_CONNECTIONS):
        if on_conflict not in CONFLICT_MODES:
            raise ValueError(f"on_conflict must be one of {CONFLICT_MODES}, not {on_conflict!r}")
        self.client, self.version, self.file = client, version, file
        self.name = name  # the saved name when not Civitai's (a WebUI config is "<checkpoint base>.yaml")
        self.dest_dir = Path(dest_dir)
        self.progress = progress or _noop_progress
        self.cancel = cancel or threading.Event()
        self.on_conflict = on_conflict
        self.disk_usage = disk_usage
        self.index = index
        self.hooks = list(hooks or ())
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.lock_timeout = lock_timeout
        self.sleep = sleep
        self.connections = connections
        self.hash_name, self.expected = _expected_hash(file)
        self.expected_size = file.size_bytes or None
        want = {"SHA256"} | ({"BLAKE3"} if self.hash_name == "BLAKE3" else set())
        self.want = tuple(sorted(want))

    # ------------------------------------------------------------------ result helpers
    def _result(self, path: Path, sha256: Optional[str], size: int, *, skipped: bool, message: str = "",
                resumed_from: int = 0) -> DownloadResult:
        v = self.version
        return DownloadResult(
            path=path, sha256=sha256, bytes=size, model_id=v.model_id, version_id=v.id,
            trained_words=list(v.trained_words or ()), skipped=skipped, file_id=self.file.id,
            model_name=v.model_name, version_name=v.name, resumed_from=resumed_from, message=message,
        )

    def _check_cancel(self) -> None:
        raise_if_cancelled(self.cancel)

    # ------------------------------------------------------------------ existing files
    def _sha256_of(self, path: Path) -> Optional[str]:
        st = path.stat()
        if self.index is not None:
            try:
                index = self.index() if callable(self.index) else self.index
                entry = index.lookup_valid(str(path), st)
                if entry is not None and entry.sha256:
                    return entry.sha256.upper()
            except Exception as exc:  # the index is a cache: never let it break a download
                log.warning("library index lookup failed for %s: %s", path, exc)
        self.progress("verifying", 0, st.st_size)
        return hash_file(path, ("SHA256",)).sha256

    def _is_identical(self, path: Path) -> bool:
        try:
            size = path.stat().st_size
        except OSError:
            return False
        if self.expected_size is not None and abs(size - self.expected_size) > 1024:
            return False
        if self.hash_name == "SHA256":
            return self._sha256_of(path) == self.expected
        if self.hash_name == "BLAKE3":
            return hash_file(path, ("BLAKE3",)).blake3 == self.expected
        return self.expected_size is not None  # no hash listed: same name and size is all we can check

    def _pick_target(self, name: str) -> tuple[Path, Optional[DownloadResult]]:
        """The final path, or a finished result when nothing needs downloading."""
        target = target_inside(self.dest_dir, name)
        if not os.path.lexists(target):
            return target, None
        if self._is_identical(target):
            return target, self._skipped(target, "already downloaded (same SHA256)")
        if self.on_conflict == "replace":
            return target, None
        if self.on_conflict == "skip":
            return target, self._result(target, None, target.stat().st_size, skipped=True,
                                        message="a different file with this name exists; skipped (on_conflict=skip)")
        if self.on_conflict == "suffix":
            for n in range(1, 1000):
                candidate = target_inside(self.dest_dir, suffixed_name(name, n))
                if not os.path.lexists(candidate):
                    return candidate, None
                if self._is_identical(candidate):
                    return candidate, self._skipped(candidate, "already downloaded (same SHA256)")
            raise DownloadError(f"Too many files named like {name} in {self.dest_dir}.")
        raise FileConflict(
            f"A different file named {name} already exists in {self.dest_dir}. civkit does not overwrite it: "
            "choose --on-conflict skip, suffix (saves as 'name (1).ext') or replace.",
            path=target,
        )

    def _skipped(self, path: Path, message: str) -> DownloadResult:
        if self.hash_name != "SHA256":  # "same SHA256" only when it was compared
            message = (f"already downloaded (same {self.hash_name})" if self.hash_name
                       else f"already there with the same name and size (unverified: {_no_hash_reason(self.file)})")
        return self._mark(self._result(path, self.expected if self.hash_name == "SHA256" else None,
                                       path.stat().st_size, skipped=True, message=message))

    def _mark(self, result: DownloadResult) -> DownloadResult:
        """Which hash verified the bytes, or ``unverified`` when none could."""
        result.verified_with, result.unverified = self.hash_name, self.hash_name is None
        return result

    # ------------------------------------------------------------------ space
    def _check_space(self, needed: int) -> None:
        if needed <= 0:
            return
        try:
            free = self.disk_usage(self.dest_dir).free
        except OSError as exc:
            log.debug("cannot read free space of %s: %s", self.dest_dir, exc)
            return
        if free < needed + SPACE_MARGIN:
            raise NotEnoughSpace(
                f"Not enough disk space in {self.dest_dir}: the download needs {human_size(needed)} more, "
                f"{human_size(free)} is free. Free some space (or choose another folder) and try again."
            )

    # ------------------------------------------------------------------ the run
    def run(self) -> DownloadResult:
        self._check_cancel()
        check_safety(self.file, allow_unsafe=True)  # a Danger scan is refused even when called directly
        try:
            name = safe_filename(self.name or self.file.name)
        except UnsafeFilename:
            log.warning("the file name %r is unusable; saving under a generated name", self.name or self.file.name)
            name = f"{self.version.id}_{self.file.id}.bin" if self.file.id else f"{self.version.id}.bin"
        self.dest_dir.mkdir(parents=True, exist_ok=True)
        target, done = self._pick_target(name)
        if done is not None:
            return done
        self._check_space((self.expected_size or 0) - self._part_size(target))
        lock = PartLock(target.with_name(target.name + ".part.lock"), timeout=self.lock_timeout,
                        should_stop=self.cancel.is_set,
                        on_wait=lambda: self.progress("queued", 0, self.expected_size))
        try:
            lock.acquire()
        except LockBusy:
            self._check_cancel()
            raise DownloadError(f"Another download of {target.name} is running; try again when it has finished.") from None
        try:
            if lock.waited and os.path.lexists(target):
                # The other download finished while we waited: decide again.
                target, done = self._pick_target(target.name)
                if done is not None:
                    return done
            return self._transfer(target)
        finally:
            lock.release()

    @staticmethod
    def _part_size(target: Path) -> int:
        try:
            return target.with_name(target.name + ".part").stat().st_size
        except OSError:
            return 0

    def _open_part(self, part: Path):
        # O_NOFOLLOW/O_EXCL: a symlink planted at <name>.part is refused, never followed (issue 13 item 5)
        return open(open_own_file(part), "r+b", buffering=0)

    def _transfer(self, target: Path) -> DownloadResult:
        part = target.with_name(target.name + ".part")
        fh = self._open_part(part)
        try:
            outcome = None
            if segments.worth_it(self.connections, self.expected_size):
                outcome = self._run_segmented(fh, part, target.name)
            if outcome is None:
                segstate.settle_for_single(part, fh)  # a segmented .part keeps only its contiguous prefix
                outcome = self._run_single(fh, target.name)
            total, got, problem, resumed_from = outcome
        except BaseException:
            fh.close()
            self._drop_empty_part(part)
            raise
        fh.close()
        if problem:
            self._fail(problem, part, target.name)
        os.replace(part, target)
        words = f"downloaded and verified ({self.hash_name})" if self.hash_name else \
            f"downloaded, {_unverified_words(self.file)}"
        result = self._mark(self._result(target, got.sha256, total, skipped=False, resumed_from=resumed_from,
                                         message=words))
        self._run_hooks(target, result)
        return result

    def _run_single(self, fh, name: str):
        """One connection (``Transfer``): (total, hashes, problem-or-None, resumed_from)."""
        transfer = Transfer(
            self.client, self.version, self.file, want=self.want, expected_size=self.expected_size,
            dest_dir=self.dest_dir, progress=self.progress, cancel=self.cancel, check_space=self._check_space,
            max_retries=self.max_retries, retry_delay=self.retry_delay, sleep=self.sleep,
        )
        try:
            size = have = os.fstat(fh.fileno()).st_size
            if self.expected_size and have > self.expected_size + 1024:
                have = 0  # larger than the file can be: not ours, start over
            if have:
                self.progress("verifying", 0, have)
                transfer.rehash_prefix(fh, have)
                log.info("resuming %s from %s", name, human_size(have))
            fh.seek(have)
            if size > have:
                fh.truncate(have)
            resumed_from = have
            total, got, problem = self._fetch_and_check(transfer, fh, have, name)
            if problem and resumed_from:
                # The kept .part was not a prefix of this file (another upload under the same name, or
                # damaged on disk): start over once instead of failing.
                log.warning("resumed download of %s did not verify (%s); downloading it again from the start",
                            name, problem)
                transfer.restart(fh)
                resumed_from = 0
                total, got, problem = self._fetch_and_check(transfer, fh, 0, name)
        finally:
            transfer.close()
        return total, got, problem, resumed_from

    def _run_segmented(self, fh, part: Path, name: str):
        """Several connections (``segments``): like ``_run_single``, or None to go on with one."""
        def attempt():
            return segments.SegmentedTransfer(
                self.client, self.version, self.file, part=part, want=self.want, expected_size=self.expected_size,
                expected_sha256=self.expected if self.hash_name == "SHA256" else None,
                connections=self.connections, progress=self.progress, cancel=self.cancel,
                check_space=self._check_space, max_retries=self.max_retries, retry_delay=self.retry_delay,
                sleep=self.sleep, dest_dir=self.dest_dir,
            ).run(fh)

        for first_try in (True, False):
            outcome = attempt()
            if outcome is None:
                return None
            total, got, resumed_from = outcome
            self.progress("verifying", total, total)
            problem = self._problem(got, total)
            if not (problem and resumed_from and first_try):
                break
            # as in _run_single: a kept .part that does not verify is started over once
            log.warning("resumed download of %s did not verify (%s); downloading it again from the start",
                        name, problem)
            fh.truncate(0)
        return total, got, problem, resumed_from

    @staticmethod
    def _drop_empty_part(part: Path) -> None:
        """A failure before the first byte leaves no empty .part behind (a non-empty one is kept to resume)."""
        try:
            if part.is_file() and part.stat().st_size == 0:
                part.unlink()
        except OSError:
            pass

    def _fetch_and_check(self, transfer: Transfer, fh, have: int, name: str):
        """(total, hashes, problem-or-None) once every byte is in the .part and on disk."""
        total = transfer.fetch(fh, have, name)
        got = transfer.hashes()
        fh.flush()
        os.fsync(fh.fileno())  # the bytes are on disk before the name points at them
        self.progress("verifying", total, total)
        return total, got, self._problem(got, total)

    def _problem(self, got, total: int) -> Optional[str]:
        if self.hash_name == "SHA256" and got.sha256 != self.expected:
            return f"its SHA256 is {got.sha256}, Civitai lists {self.expected}"
        if self.hash_name == "BLAKE3" and got.blake3 != self.expected:
            return f"its BLAKE3 is {got.blake3}, Civitai lists {self.expected}"
        if self.hash_name is None and self.expected_size and abs(total - self.expected_size) > 1024:
            return f"it has {total} bytes, Civitai lists about {self.expected_size}"
        return None

    @staticmethod
    def _fail(problem: str, part: Path, name: str) -> None:
        try:
            part.unlink()
        except OSError:
            pass
        raise HashMismatch(
            f"The download of {name} is corrupt: {problem}. The damaged partial file was deleted and "
            "nothing was saved under the final name; try the download again."
        )

    def _run_hooks(self, path: Path, result: DownloadResult) -> None:
        for hook in self.hooks:
            try:
                warning = hook(path, self.version, self.file, result)
            except Exception as exc:  # a sidecar or preview must never fail a verified download
                name = getattr(hook, "__name__", type(hook).__name__)
                told = getattr(exc, "user_message", None)  # an expected failure says itself what to do
                log.log(logging.INFO if told else logging.WARNING, "after-download step %s failed for %s: %s",
                        name, path.name, exc, exc_info=not told)
                result.warnings.append(told if told else f"{name} failed: {exc}")
                continue
            if warning:
                result.warnings.append(str(warning))


def download_file(
    client,
    version,
    file,
    dest_dir,
    *,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[threading.Event] = None,
    on_conflict: str = "ask",
    disk_usage: Callable = shutil.disk_usage,
    index=None,
    hooks: Sequence[Hook] = (),
    max_retries: int = 5,
    retry_delay: float = 0.5,
    lock_timeout: Optional[float] = None,
    sleep: Callable[[float], None] = time.sleep,
    name: Optional[str] = None,
    connections: int = segments.DEFAULT_CONNECTIONS,
) -> DownloadResult:
    """Download ``file`` of ``version`` into ``dest_dir``, verified, resumable and atomic.

    ``progress(state, done, total)`` is called with state "resolving", "downloading", "verifying"
    (and "queued" while waiting for another download of the same file). ``cancel`` is a
    ``threading.Event``; once set the download stops with ``Cancelled`` and keeps its ``.part``.
    ``disk_usage`` is injectable (tests simulate a full disk). ``index`` (a LibraryIndex, or a
    function that opens it: only called when a file is already at the destination, and an index that
    cannot be opened only costs a hash) saves re-hashing an existing file; ``hooks`` run after the move, each guarded. ``name`` saves the
    file under that name (sanitised like Civitai's) instead of ``file.name``. ``connections``: a file
    of at least ``segments.MIN_SEGMENTED_SIZE`` is fetched over that many connections (1: one).
    Raises ``DownloadError`` (or a subclass) with a message for people.
    """
    job = _Download(client, version, file, dest_dir, progress, cancel, on_conflict, disk_usage, index, hooks,
                    max_retries, retry_delay, lock_timeout, sleep, name=name, connections=connections)
    return job.run()
