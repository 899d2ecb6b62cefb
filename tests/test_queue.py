"""The download queue: worker threads, progress snapshots, cancel, retry, final states."""

from __future__ import annotations

import json
import threading
import time

import pytest

from civkit.download import DownloadResult
from civkit.download.errors import Cancelled, DownloadError
from civkit.queue import DownloadQueue


def _result(path="/models/loras/x.safetensors", skipped=False):
    return DownloadResult(path=path, sha256="AB" * 32, bytes=300, model_id=1, version_id=2,
                          trained_words=["word"], skipped=skipped, model_name="M", version_name="v1")


class Gate:
    """A job that reports progress, then waits until the test opens its gate (or it is cancelled)."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, job, progress, cancel):
        self.calls += 1
        progress.update(model_name="Model " + job, version_name="v1", trained_words=["tw"])
        progress("downloading", 100, 300)
        self.started.set()
        while not self.release.wait(0.01):
            if cancel.is_set():
                raise Cancelled("Download cancelled; the partial file is kept.")
        progress("verifying", 300, 300)
        return _result()


def test_done_task_snapshot_is_json_safe():
    gate = Gate()
    q = DownloadQueue(gate, max_workers=2)
    events = []
    q.subscribe(lambda name, snap: events.append((name, snap)))
    tid = q.submit("a", ref="123@456")
    assert gate.started.wait(5)
    running = q.get(tid)
    assert running["state"] == "downloading" and running["bytes"] == 100 and running["total"] == 300
    assert running["model_name"] == "Model a"
    gate.release.set()
    snap = q.wait(tid, timeout=10)
    assert snap["state"] == "done"
    assert snap["path"] == "/models/loras/x.safetensors" and snap["trained_words"] == ["word"]
    for key in ("id", "ref", "state", "bytes", "total", "speed", "eta", "message", "path", "model_name",
                "version_name", "trained_words", "error"):
        assert key in snap
    json.dumps(q.list())
    # wait() returns when the task is done; subscribers are told right after, on the worker thread
    deadline = time.monotonic() + 10
    while not any(s["state"] == "done" for _, s in events) and time.monotonic() < deadline:
        time.sleep(0.01)
    states = [s["state"] for name, s in events if name == "civkit.download"]
    assert states[0] == "queued" and states[-1] == "done" and "downloading" in states
    assert q.result(tid).sha256 == "AB" * 32
    q.shutdown()


def test_skipped_and_failed_states():
    def skip(job, progress, cancel):
        return _result(skipped=True)

    def fail(job, progress, cancel):
        raise DownloadError("Civitai rejected your API key: create a new key")

    q = DownloadQueue(skip)
    assert q.wait(q.submit("x"), 10)["state"] == "skipped"
    failed = q.wait(q.submit("y", fail), 10)
    assert failed["state"] == "failed"
    assert failed["error"] == failed["message"] == "Civitai rejected your API key: create a new key"
    q.shutdown()


def test_concurrency_limit_and_cancel_queued():
    gate = Gate()
    q = DownloadQueue(gate, max_workers=1)
    first = q.submit("a")
    second = q.submit("b")
    assert gate.started.wait(5)
    assert q.get(second)["state"] == "queued"  # one worker: the second waits its turn
    assert q.cancel(second)
    assert q.get(second)["state"] == "cancelled"
    gate.release.set()
    assert q.wait(first, 10)["state"] == "done"
    assert gate.calls == 1
    assert not q.cancel(first)  # already finished
    q.shutdown()


def test_cancel_running_then_retry():
    gate = Gate()
    q = DownloadQueue(gate)
    tid = q.submit("a")
    assert gate.started.wait(5)
    assert q.cancel(tid)
    snap = q.wait(tid, 10)
    assert snap["state"] == "cancelled" and "kept" in snap["message"]
    gate.started.clear()
    gate.release.set()
    assert q.retry(tid)
    snap = q.wait(tid, 10)
    assert snap["state"] == "done" and snap["attempt"] == 2
    assert not q.retry(tid)  # only failed or cancelled tasks can be retried
    q.shutdown()


def test_progress_events_are_throttled():
    def chatty(job, progress, cancel):
        for i in range(2000):
            progress("downloading", i, 2000)
        return _result()

    q = DownloadQueue(chatty, events_per_second=2)
    events = []
    q.subscribe(lambda name, snap: events.append(snap["state"]))
    q.wait(q.submit("a"), 10)
    assert events.count("downloading") < 50  # 2000 progress calls, a handful of events
    assert events[-1] == "done"
    q.shutdown()


def test_listener_and_broken_subscriber_do_not_stop_downloads():
    seen = []
    q = DownloadQueue(lambda job, progress, cancel: _result(), listener=lambda task: seen.append(task.snapshot()))

    def broken(name, snap):
        raise RuntimeError("UI went away")

    q.subscribe(broken)
    assert q.wait(q.submit("a"), 10)["state"] == "done"
    assert seen[-1]["state"] == "done"
    q.shutdown()


def test_shutdown_cancels_pending_and_refuses_new_work():
    gate = Gate()
    q = DownloadQueue(gate, max_workers=1)
    running = q.submit("a")
    pending = q.submit("b")
    assert gate.started.wait(5)
    q.shutdown(timeout=10)
    assert q.get(running)["state"] == "cancelled"
    assert q.get(pending)["state"] == "cancelled"
    with pytest.raises(RuntimeError, match="shut down"):
        q.submit("c")


def test_subscribers_see_queued_before_the_workers_states_even_when_slow():
    """A subscriber still busy with "queued" (on the submitting thread) must not be overtaken by the
    worker's "resolving"/"downloading": a UI would show the task going back to "queued"."""
    gate = Gate()
    q = DownloadQueue(gate, max_workers=1)
    seen = []

    def slow_subscriber(name, snap):
        if snap["state"] == "queued":
            time.sleep(0.3)  # long enough for the worker to start the task meanwhile
        seen.append(snap["state"])

    q.subscribe(slow_subscriber)
    tid = q.submit("a", ref="1@2")
    gate.release.set()
    assert q.wait(tid, timeout=10)["state"] == "done"
    deadline = time.monotonic() + 10
    while "done" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen[0] == "queued" and seen[-1] == "done" and seen.count("queued") == 1
    q.shutdown()
