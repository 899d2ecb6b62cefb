"""The download queue every UI shares: worker threads, progress, cancel, retry.

``DownloadQueue(run_job=None, max_workers=2, *, listener=None)``; ``submit(job, run_job=None)``
returns a task id. A worker thread calls ``run_job(job, progress, cancel)``:

* ``progress`` is a ``TaskControl``: call it as ``progress(state, done, total)`` (exactly the
  ``download_file`` progress callback) and ``progress.update(model_name=..., ...)`` to fill in
  what the snapshot shows while the download runs;
* ``cancel`` is the task's ``threading.Event`` (``download_file``'s ``cancel``);
* it returns a ``DownloadResult`` (or a dict with the same keys). ``skipped`` ends the task
  "skipped", otherwise "done"; ``Cancelled`` ends it "cancelled"; any other exception "failed"
  with the exception's ``message`` (or ``str``).

Listeners: ``listener(task)`` (constructor; ``task.snapshot()`` gives the dict) and
``subscribe(callback)`` -> ``callback("civkit.download", snapshot)``, both from worker threads,
on every state change and for progress at most ``events_per_second`` times per task.
Snapshots are JSON-safe dicts (see ``Task.snapshot``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Optional

from .download.errors import Cancelled

log = logging.getLogger(__name__)

STATES = ("queued", "resolving", "downloading", "verifying", "done", "skipped", "failed", "cancelled")
ACTIVE = ("queued", "resolving", "downloading", "verifying")
FINAL = ("done", "skipped", "failed", "cancelled")
EVENT = "civkit.download"
_SPEED_WINDOW = 3.0  # seconds of history behind the speed shown


class Task:
    """One download in the queue. Mutated by its worker under the queue's lock."""

    def __init__(self, task_id: str, job: Any, ref: str, run_job: Callable):
        self.id = task_id
        self.job = job
        self.run_job = run_job
        self.ref = ref
        self.state = "queued"
        self.bytes = 0
        self.total: Optional[int] = None
        self.message = ""
        self.error: Optional[str] = None
        self.path: Optional[str] = None
        self.sha256: Optional[str] = None
        self.verified_with: Optional[str] = None  # "SHA256" / "BLAKE3", once done
        self.unverified = False  # done, but Civitai listed no hash to check it against
        self.model_id: Optional[int] = None
        self.version_id: Optional[int] = None
        self.model_name: Optional[str] = None
        self.version_name: Optional[str] = None
        self.trained_words: list = []
        self.warnings: list = []
        self.created = time.time()
        self.started: Optional[float] = None
        self.finished: Optional[float] = None
        self.attempt = 0
        self.cancel_event = threading.Event()
        self.samples: deque = deque()  # (monotonic time, bytes) for the speed
        self.last_event = 0.0
        self.result: Any = None
        self.exception: Optional[BaseException] = None  # why the last attempt failed (for batch retries)

    def speed(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def snapshot(self) -> dict:
        speed = self.speed() if self.state == "downloading" else 0.0
        eta = None
        if speed > 0 and self.total:
            eta = max(0.0, (self.total - self.bytes) / speed)
        return {
            "id": self.id, "ref": self.ref, "state": self.state, "bytes": self.bytes, "total": self.total,
            "speed": round(speed, 1), "eta": None if eta is None else round(eta, 1), "message": self.message,
            "path": self.path, "sha256": self.sha256, "verified_with": self.verified_with,
            "unverified": self.unverified, "model_id": self.model_id, "version_id": self.version_id,
            "model_name": self.model_name, "version_name": self.version_name,
            "trained_words": list(self.trained_words), "warnings": list(self.warnings), "error": self.error,
            "created": self.created, "started": self.started, "finished": self.finished, "attempt": self.attempt,
        }


class TaskControl:
    """What ``run_job`` gets: report progress, fill in names, watch for cancel."""

    _FIELDS = ("model_id", "version_id", "model_name", "version_name", "trained_words", "total", "message", "path")

    def __init__(self, queue: DownloadQueue, task: Task):
        self._queue = queue
        self._task = task
        self.id = task.id
        self.cancel_event = task.cancel_event

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def progress(self, state: str, done: int, total: Optional[int]) -> None:
        """The ``download_file`` progress callback: (state, bytes done, bytes total)."""
        self._queue._progress(self._task, state, done, total)

    __call__ = progress

    def set_state(self, state: str, message: Optional[str] = None) -> None:
        self._queue._progress(self._task, state, self._task.bytes, self._task.total, message=message)

    def update(self, **fields) -> None:
        unknown = set(fields) - set(self._FIELDS)
        if unknown:
            raise TypeError(f"unknown task fields: {sorted(unknown)}")
        with self._queue._lock:
            for name, value in fields.items():
                setattr(self._task, name, list(value) if name == "trained_words" else value)
        self._queue._notify(self._task, force=True)


class DownloadQueue:
    def __init__(self, run_job: Optional[Callable[[Any, TaskControl, threading.Event], Any]] = None,
                 max_workers: int = 2, *, workers: Optional[int] = None,
                 listener: Optional[Callable[[Task], None]] = None, events_per_second: float = 4.0):
        max_workers = int(workers if workers is not None else max_workers)
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._run_job = run_job
        self._listener = listener
        self.max_workers = max_workers
        self._min_interval = 1.0 / events_per_second if events_per_second > 0 else 0.0
        self._lock = threading.RLock()
        # Held while one event is snapshotted and delivered, so subscribers see a task's states in
        # the order they happened ("queued" before the worker's "downloading"), whatever the threads.
        self._delivering = threading.RLock()
        self._wakeup = threading.Condition(self._lock)
        self._tasks: dict = {}
        self._pending: deque = deque()
        self._workers: list = []
        self._idle = 0
        self._subscribers: list = []
        self._ids = itertools.count(1)
        self._closed = False

    # ------------------------------------------------------------------ public API
    def submit(self, job: Any, run_job: Optional[Callable] = None, *, ref: Optional[str] = None) -> str:
        """Queue ``job`` (passed to ``run_job`` as is; default: the queue's); returns the task id.

        ``ref`` is what the snapshot shows; by default ``job.ref`` or ``str(job)``."""
        runner = run_job or self._run_job
        if runner is None:
            raise TypeError("DownloadQueue.submit needs a run_job (here or in the constructor)")
        with self._delivering:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the download queue is shut down")
                shown = ref if ref is not None else getattr(job, "ref", None) or str(job)
                task = Task(f"dl-{next(self._ids)}", job, str(shown), runner)
                self._tasks[task.id] = task
                self._enqueue(task)
                queued = task.snapshot()  # before a worker can change it
            self._notify(task, force=True, snapshot=queued)
        return task.id

    def list(self) -> list:
        """Snapshots of every task, oldest first."""
        with self._lock:
            return [t.snapshot() for t in self._tasks.values()]

    def get(self, task_id: str) -> Optional[dict]:
        with self._lock:
            task = self._tasks.get(task_id)
            return task.snapshot() if task else None

    def result(self, task_id: str) -> Any:
        """The value ``run_job`` returned for a finished task (None otherwise)."""
        with self._lock:
            task = self._tasks.get(task_id)
            return task.result if task else None

    def exception(self, task_id: str) -> Optional[BaseException]:
        """The exception that failed the task's last attempt (None unless it ended "failed")."""
        with self._lock:
            task = self._tasks.get(task_id)
            return task.exception if task is not None and task.state == "failed" else None

    def cancel(self, task_id: str) -> bool:
        """Cancel a queued or running task; False when it is unknown or already finished."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.state in FINAL:
                return False
            task.cancel_event.set()
            if task.state == "queued" and task in self._pending:
                self._pending.remove(task)
                self._finish(task, "cancelled", "Cancelled before it started.")
                return True
        return True

    def retry(self, task_id: str) -> bool:
        """Queue a failed or cancelled task again (same id; a cancelled one resumes from its .part)."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.state not in ("failed", "cancelled"):
                return False
            task.cancel_event = threading.Event()
            task.state, task.error, task.message, task.finished = "queued", None, "", None
            task.samples.clear()
            self._enqueue(task)
        self._notify(task, force=True)
        return True

    def wait(self, task_id: str, timeout: Optional[float] = None) -> Optional[dict]:
        """Block until the task is final (or ``timeout``); returns its snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                task = self._tasks.get(task_id)
                if task is None or task.state in FINAL:
                    return task.snapshot() if task else None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return task.snapshot()
                self._wakeup.wait(left if left is not None else 0.5)

    def remove(self, task_id: str) -> bool:
        """Forget a finished task (UIs' "clear")."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.state not in FINAL:
                return False
            del self._tasks[task_id]
            return True

    def subscribe(self, callback: Callable[[str, dict], None]) -> Callable[[], None]:
        """``callback(event_name, snapshot)`` from worker threads; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def active(self) -> int:
        with self._lock:
            return sum(1 for t in self._tasks.values() if t.state in ACTIVE)

    def shutdown(self, cancel: bool = True, timeout: Optional[float] = None) -> None:
        """Stop accepting work; with ``cancel`` cancel everything, then join the workers."""
        with self._lock:
            self._closed = True
            if cancel:
                for task in list(self._tasks.values()):
                    if task.state in ACTIVE:
                        task.cancel_event.set()
                while self._pending:
                    self._finish(self._pending.popleft(), "cancelled", "Cancelled: civkit is shutting down.")
            self._wakeup.notify_all()
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)

    # ------------------------------------------------------------------ internals
    def _enqueue(self, task: Task) -> None:
        self._pending.append(task)
        if self._idle == 0 and len(self._workers) < self.max_workers:
            worker = threading.Thread(target=self._worker, name=f"civkit-download-{len(self._workers) + 1}",
                                      daemon=True)
            self._workers.append(worker)
            worker.start()
        self._wakeup.notify_all()

    def _worker(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
                while not self._pending and not self._closed:
                    self._wakeup.wait()
                self._idle -= 1
                if not self._pending:  # closed and nothing left
                    self._workers.remove(threading.current_thread())
                    return
                task = self._pending.popleft()
                task.state, task.started, task.attempt = "resolving", time.time(), task.attempt + 1
                task.bytes = 0
            self._notify(task, force=True)
            self._run(task)

    def _run(self, task: Task) -> None:
        control = TaskControl(self, task)
        try:
            result = task.run_job(task.job, control, task.cancel_event)
        except Cancelled as exc:
            self._finish(task, "cancelled", exc.message)
        except Exception as exc:  # any failure ends this task only, with a message for people
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            if not getattr(exc, "message", None):
                log.warning("download task %s failed unexpectedly", task.id, exc_info=True)
            task.exception = exc
            self._finish(task, "failed", message, error=message)
        else:
            self._complete(task, result)

    def _complete(self, task: Task, result: Any) -> None:
        data = result.to_dict() if hasattr(result, "to_dict") else dict(result or {})
        with self._lock:
            task.result = result
            for name in ("sha256", "model_id", "version_id", "model_name", "version_name"):
                if data.get(name) is not None:
                    setattr(task, name, data[name])
            task.verified_with, task.unverified = data.get("verified_with"), bool(data.get("unverified"))
            task.path = str(data["path"]) if data.get("path") else task.path
            task.trained_words = list(data.get("trained_words") or task.trained_words)
            task.warnings = list(data.get("warnings") or ())
            if data.get("bytes") is not None:
                task.bytes = int(data["bytes"])
                task.total = task.total or task.bytes
        skipped = bool(data.get("skipped"))
        self._finish(task, "skipped" if skipped else "done", data.get("message") or ("skipped" if skipped else ""))

    def _finish(self, task: Task, state: str, message: str, error: Optional[str] = None) -> None:
        with self._lock:
            task.state, task.message, task.error, task.finished = state, message or "", error, time.time()
            self._wakeup.notify_all()
        self._notify(task, force=True)

    def _progress(self, task: Task, state: str, done: int, total: Optional[int], message: Optional[str] = None) -> None:
        with self._lock:
            if task.state in FINAL:
                return
            changed = state != task.state
            task.state = state if state in STATES else task.state
            task.bytes = int(done or 0)
            task.total = total if total is not None else task.total
            if message is not None:
                task.message = message
            now = time.monotonic()
            if state == "downloading":
                if changed:
                    task.samples.clear()
                task.samples.append((now, task.bytes))
                while len(task.samples) > 2 and now - task.samples[0][0] > _SPEED_WINDOW:
                    task.samples.popleft()
        self._notify(task, force=changed or message is not None)

    def _notify(self, task: Task, force: bool = False, snapshot: Optional[dict] = None) -> None:
        with self._delivering:
            with self._lock:
                now = time.monotonic()
                if not force and now - task.last_event < self._min_interval:
                    return
                task.last_event = now
                snapshot = snapshot or task.snapshot()
                subscribers = list(self._subscribers)
            self._deliver(task, snapshot, subscribers)

    def _deliver(self, task: Task, snapshot: dict, subscribers: list) -> None:
        if self._listener is not None:
            try:
                self._listener(task)
            except Exception:  # a broken UI listener must not stop downloads
                log.warning("download listener failed", exc_info=True)
        for callback in subscribers:
            try:
                callback(EVENT, snapshot)
            except Exception:  # a broken UI listener must not stop downloads
                log.warning("download event subscriber failed", exc_info=True)
