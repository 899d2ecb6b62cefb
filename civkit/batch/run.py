"""Running a plan: the ``download`` rows go through the one download queue, politely.

* Every row becomes a queue task (``submit(row) -> task id``); the queue's workers run them in order.
* A task that failed for a passing reason — 429 (not the download quota), 5xx, a dropped or refused
  connection, an HTML page from Cloudflare's edge — does not fail the batch: after the pass it is
  queued again (``retry``: same task, its ``.part`` resumes) after a back-off that honours the
  server's ``Retry-After``, up to ``max_rounds`` times. The API requests themselves are paced by the
  client's rate limiter (``CivitaiClient(rate_per_second=...)``).
* ``after_verified(row, snapshot)`` runs once a file is verified (``--replace`` retires old copies).
* The report lists every row with its final ``status``: done | have | failed | blocked | conflict.

Interrupting (``cancel()`` or Ctrl-C) cancels the queued and running tasks; their ``.part`` files stay,
so the same batch planned again finds the finished files as ``have`` and resumes the rest.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Optional

log = logging.getLogger(__name__)

FINAL = ("done", "skipped", "failed", "cancelled")


def retry_hint(exc: Optional[BaseException]) -> tuple:
    """(worth retrying later, Retry-After seconds or None) for the exception that failed a task."""
    from ..api.errors import CivitaiError, CloudflareBlocked, is_retryable
    from ..download.storage import TransferDropped

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, TransferDropped):
            return True, None
        if isinstance(exc, CloudflareBlocked):
            return exc.status in (429, 503) or exc.status is None, None
        if isinstance(exc, CivitaiError):
            return is_retryable(exc), getattr(exc, "retry_after", None)
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return True, None
        exc = getattr(exc, "cause", None) or exc.__cause__
    return False, None


class BatchRunner:
    """Runs one plan's download rows through the queue; ``status()`` is the overall progress."""

    def __init__(self, plan, *, submit: Callable, wait: Callable, retry: Callable, failure: Callable,
                 cancel: Callable, after_verified: Optional[Callable] = None, max_rounds: int = 5,
                 backoff: float = 2.0, backoff_cap: float = 120.0, sleep: Optional[Callable] = None,
                 on_change: Optional[Callable] = None, rng: Optional[random.Random] = None):
        self.plan = plan
        self.id: Optional[str] = None
        self._submit, self._wait, self._retry = submit, wait, retry
        self._failure, self._cancel = failure, cancel
        self.after_verified = after_verified
        self.max_rounds = max(0, int(max_rounds))
        self.backoff, self.backoff_cap = backoff, backoff_cap
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self.on_change = on_change
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.outcomes: dict[int, dict] = {}     # row index -> outcome
        self.task_of: dict[int, str] = {}       # row index -> queue task id
        self.live: dict[str, dict] = {}         # task id -> latest snapshot
        self.rounds = 0
        self.state = "planned"
        self.started: Optional[float] = None
        self.finished: Optional[float] = None
        for i, row in enumerate(plan.rows):
            if row.action != "download":
                status = "have" if row.action == "have" else row.action
                self.outcomes[i] = {"status": status, "message": row.message, "path": row.existing or row.path}

    # ------------------------------------------------------------------ progress
    def observe(self, snapshot: dict) -> None:
        """A queue event (``civkit.download`` snapshot) for one of this batch's tasks."""
        with self._lock:
            if snapshot.get("id") in self.live:
                self.live[snapshot["id"]] = snapshot
            else:
                return
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self)
            except Exception:  # noqa: BLE001 - a listener never stops a batch
                log.warning("batch progress listener failed", exc_info=True)

    def status(self) -> dict:
        """Overall progress: files done/failed/total, bytes done/total, ETA (s), and every download row."""
        rows = self.plan.rows
        with self._lock:
            files, items, done_bytes = [], [], 0
            for i, row in enumerate(rows):
                if row.action != "download":
                    continue
                files.append(i)
                snap = self.live.get(self.task_of.get(i, ""), {})
                outcome = self.outcomes.get(i)
                if outcome and outcome["status"] == "done":
                    got = row.size
                else:
                    got = int(snap.get("bytes") or 0)
                done_bytes += min(got, row.size) if row.size else got
                items.append({"index": i, "task_id": self.task_of.get(i), "name": row.name, "path": row.path,
                              "size": row.size, "bytes": got, "state": (outcome or {}).get("status")
                              or snap.get("state") or "queued", "message": (outcome or {}).get("message")
                              or snap.get("message") or "", "attempt": snap.get("attempt", 0),
                              # done, but Civitai listed no hash to check it against (issue 13 item 17)
                              "unverified": bool(((outcome or {}).get("snapshot") or {}).get("unverified"))})
            total = sum(rows[i].size for i in files)
            finished = [i for i in files if i in self.outcomes]
            ok = sum(1 for i in finished if self.outcomes[i]["status"] == "done")
        elapsed = (time.time() - self.started) if self.started else 0.0
        eta = None
        if elapsed > 0 and done_bytes and total > done_bytes and self.state == "running":
            eta = (total - done_bytes) / (done_bytes / elapsed)
        return {"state": self.state, "files_total": len(files), "files_done": ok,
                "files_unverified": sum(1 for item in items if item["unverified"]),
                "files_failed": len(finished) - ok, "bytes_total": total, "bytes_done": done_bytes,
                "eta": eta, "rounds": self.rounds, "items": items}

    # ------------------------------------------------------------------ the run
    def cancel(self) -> None:
        """Stop: cancel this batch's queued and running tasks (their .part files stay for a resume)."""
        self._stop.set()
        for task_id in list(self.task_of.values()):
            try:
                self._cancel(task_id)
            except Exception:  # noqa: BLE001
                log.debug("cancel of %s failed", task_id, exc_info=True)

    def run(self) -> list:
        """Run to the end (or until cancelled); returns ``report()``."""
        self.state, self.started = "running", time.time()
        self._changed()
        waiting = []
        try:
            for i, row in enumerate(self.plan.rows):
                if row.action != "download" or self._stop.is_set():
                    continue
                try:
                    task_id = self._submit(row)
                except Exception as exc:  # noqa: BLE001 - bad rows fail alone
                    self._finish(i, "failed", getattr(exc, "message", None) or str(exc))
                    continue
                with self._lock:
                    self.task_of[i] = task_id
                    self.live[task_id] = {"id": task_id, "state": "queued"}
                waiting.append(i)
            while waiting and not self._stop.is_set():
                later, pause = self._pass(waiting)
                if not later:
                    break
                self.rounds += 1
                delay = min(self.backoff_cap, max(pause, self._rng.uniform(0.5, 1.0) * self.backoff
                                                  * 2 ** (self.rounds - 1)))
                log.info("batch: %d file(s) failed for a passing reason; retrying in %.1fs", len(later), delay)
                self._sleep(delay)
                if self._stop.is_set():
                    break
                for i in later:
                    self._retry(self.task_of[i])
                waiting = later
        except BaseException:
            self.cancel()
            self.state = "cancelled"
            self._mark_unfinished("cancelled: run the same batch again to resume")
            raise
        if self._stop.is_set():
            self.state = "cancelled"
            self._mark_unfinished("cancelled: run the same batch again to resume")
        else:
            self.state = "done"
        self.finished = time.time()
        self._changed()
        return self.report()

    def _pass(self, waiting) -> tuple:
        later, pause = [], 0.0
        for i in waiting:
            snap = self._wait_final(self.task_of[i])
            if snap is None:
                return [], 0.0
            state = snap["state"]
            if state in ("done", "skipped"):
                self._verified(i, snap)
                continue
            exc = self._failure(self.task_of[i]) if state == "failed" else None
            again, retry_after = retry_hint(exc)
            if state == "failed" and again and self.rounds < self.max_rounds:
                later.append(i)
                pause = max(pause, float(retry_after or 0))
                continue
            self._finish(i, "failed", snap.get("error") or snap.get("message") or state, snap)
        return later, pause

    def _wait_final(self, task_id: str) -> Optional[dict]:
        while not self._stop.is_set():
            snap = self._wait(task_id, 0.5)
            with self._lock:
                self.live[task_id] = snap
            if snap["state"] in FINAL:
                return snap
        return None

    def _verified(self, i: int, snap: dict) -> None:
        row = self.plan.rows[i]
        message = (snap.get("message") or "") if snap.get("state") == "skipped" else ""
        notes = []
        if self.after_verified is not None:
            try:
                notes = list(self.after_verified(row, snap) or ())
            except Exception as exc:  # noqa: BLE001 - the new file is verified; say what else failed
                notes = [f"after the download: {getattr(exc, 'message', None) or exc}"]
        self._finish(i, "done", "; ".join(x for x in [message, *notes] if x), snap)

    def _finish(self, i: int, status: str, message: str, snap: Optional[dict] = None) -> None:
        row = self.plan.rows[i]
        with self._lock:
            self.outcomes[i] = {"status": status, "message": message,
                                "path": (snap or {}).get("path") or row.path, "snapshot": snap}
        self._changed()

    def _mark_unfinished(self, message: str) -> None:
        for i, row in enumerate(self.plan.rows):
            if row.action == "download" and i not in self.outcomes:
                self._finish(i, "failed", message, self.live.get(self.task_of.get(i, "")))

    def report(self) -> list:
        """One dict per row: the plan's fields, ``status``, ``message``, ``path`` and the task snapshot."""
        out = []
        for i, row in enumerate(self.plan.rows):
            outcome = self.outcomes.get(i, {"status": "failed", "message": "not run"})
            data = row.to_json()
            data.update({"status": outcome["status"], "message": outcome["message"] or row.message,
                         "path": outcome.get("path") or row.path, "snapshot": outcome.get("snapshot")})
            out.append(data)
        return out

    def succeeded(self) -> bool:
        """Every row ended verified or was already there (the exit code 0 rule)."""
        return all(r["status"] in ("done", "have") for r in self.report())
