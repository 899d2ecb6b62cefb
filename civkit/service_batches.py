"""The batch part of ``CivkitService``: many files at once, always with a plan first.

``plan_batch(kind, ...)`` builds a plan (``civkit/batch/plan.py``) and keeps it under an id;
nothing is fetched but the API records. ``start_batch(plan_id, only=...)`` runs its ``download``
rows through the one download queue in a background thread (``civkit/batch/run.py``), and
``batch(id)`` / the ``civkit.batch`` event give the progress (files done/total, bytes, ETA, per
file). The CLI calls ``batch_runner(plan_id)`` and runs it in its own thread instead.

Kinds: ``refs`` (what the user named; ``all_files``, ``all_versions``), ``favorites`` (the key's
bookmarked models), ``creator`` (``username``, ``limit``), ``updates`` (linked models under the
host's roots with a newer version; the new file goes beside the old one).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

from .batch.plan import Planner
from .batch.replace import retire
from .batch.run import BatchRunner
from .batch.sources import Selection, for_models, for_refs, for_updates
from .events import EVENT_BATCH
from .service_errors import ServiceError

log = logging.getLogger(__name__)

KINDS = ("refs", "favorites", "creator", "updates")
FAVORITES_NEED_KEY = ("Your Civitai favorites are private: civkit needs your API key to read them. "
                      "Set CIVITAI_API_KEY or pass --api-key (in a UI: Settings → civkit).")
_EVENTS_PER_SECOND = 2.0
_KEEP_PLANS = 20


def _strings(value) -> tuple:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value if v)


def _file_id(value):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ServiceError(f"file_id must be a number, not {value!r}.") from None


class Batches:
    """Plans and runs batches for one host. ``downloads`` is the service's ``Downloads`` part (the
    queue), ``library`` its ``Library`` (roots), ``versions`` its ``VersionResolver``."""

    def __init__(self, client: Callable, index: Callable, config: Callable, events, downloads, library,
                 versions):
        self._client = client
        self._index = index
        self._config = config
        self._events = events
        self._downloads = downloads
        self._library = library
        self._versions = versions
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._plans: dict = {}      # plan id -> (Plan, options)
        self._runners: dict = {}    # batch id -> BatchRunner
        self._last_event: dict = {}
        events.subscribe(self._on_event)

    def close(self) -> None:
        """Stop every running batch (their tasks are cancelled; .part files stay for a resume)."""
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            if runner.state == "running":
                runner.cancel()

    # ------------------------------------------------------------------ planning
    def plan_batch(self, kind: str, *, refs=(), all_files=False, all_versions=False, include_training_data=False,
                   types=(), base_models=(), username=None, limit=None, allow_unsafe=False, format=None,
                   size=None, fp=None, file_id=None, folder_key=None) -> dict:
        """Build and keep a plan; returns its JSON (rows, totals, notes) with an ``id``."""
        if kind not in KINDS:
            raise ServiceError(f"Unknown batch kind {kind!r}: use one of {', '.join(KINDS)}.")
        if folder_key:
            self._downloads.placement.folder_for_key(folder_key)
        selection = Selection(all_files=bool(all_files), include_training_data=bool(include_training_data),
                              format=format or None, size=size or None, fp=fp or None,
                              allow_unsafe=bool(allow_unsafe), file_id=_file_id(file_id))
        triples, notes = self._triples(kind, selection, refs=refs, all_versions=bool(all_versions),
                                       types=_strings(types), base_models=_strings(base_models),
                                       username=username, limit=limit)
        request = SimpleNamespace(folder_key=folder_key or None, folder=None)
        planner = Planner(self._index(), lambda v, f: self._downloads.placement.target_folder(request, v, f),
                          allow_unsafe=bool(allow_unsafe))
        plan = planner.plan(triples, kind=kind, notes=notes)
        options = {"folder_key": folder_key or None, "allow_unsafe": bool(allow_unsafe)}
        with self._lock:
            plan_id = f"plan-{next(self._ids)}"
            self._plans[plan_id] = (plan, options)
            for old in list(self._plans)[:-_KEEP_PLANS]:
                del self._plans[old]
        return {"id": plan_id, **plan.to_json()}

    def _triples(self, kind, selection, *, refs, all_versions, types, base_models, username, limit) -> tuple:
        client = self._client()
        notes: list = []
        if kind == "refs":
            refs = [r for r in _strings(refs) if r] if isinstance(refs, str) else [str(r) for r in refs or () if r]
            if not refs:
                raise ServiceError("Name at least one model: a Civitai link, an AIR, 123@456 or a model id.")
            return for_refs(refs, self._versions, client, selection, all_versions=all_versions), notes
        if kind == "updates":
            roots = self._library.root_forms()
            entries = [e for e in (self._index().entries(roots) if roots else [])
                       if e.status == "linked" and e.model_id and e.version_id]
            triples, updates = for_updates(entries, client)
            notes.append(f"{len(updates)} of {len({e.model_id for e in entries})} linked models have a newer version")
            return triples, notes
        filters = {"types": types, "base_models": base_models, "nsfw": True, "page_size": 100}
        if kind == "favorites":
            if not self._config().api_key:
                raise ServiceError(FAVORITES_NEED_KEY, http_status=401)
            models = list(client.iter_models(favorites=True, **filters))
        else:
            name = str(username or "").strip().lstrip("@")
            if not name:
                raise ServiceError("Name the creator: their Civitai username.")
            try:
                limit = int(limit) if limit not in (None, "") else None
            except (TypeError, ValueError):
                raise ServiceError("limit must be a whole number of models.") from None
            if limit is not None and limit < 1:
                raise ServiceError("limit must be at least 1.")
            models = list(client.iter_models(username=name, max_items=limit, **filters))
        if not models:
            notes.append("no models matched")
        return for_models(models, selection, all_versions=all_versions), notes

    # ------------------------------------------------------------------ running
    def batch_runner(self, plan_id: str, *, only=None, replace: bool = False, max_rounds: int = 5,
                     backoff: float = 2.0, sleep=None, trash_roots=None) -> BatchRunner:
        """A runner for a kept plan (not started). ``only``: row indexes to download (the UI's ticks);
        ``replace``: after an update is verified, move the old copies to civkit's trash
        (``batch/replace.py``) under ``trash_roots`` (default: the host's model roots, as the
        library-care part uses them; the CLI passes the folders the user named)."""
        with self._lock:
            found = self._plans.get(str(plan_id))
        if found is None:
            raise ServiceError(f"No batch plan with id {plan_id}; plan it again.", http_status=404)
        plan, options = found
        if only is not None:  # the rows the user left ticked (indexes into the plan's rows)
            try:
                keep = {int(i) for i in only}
            except (TypeError, ValueError):
                raise ServiceError("only must list row numbers of the plan.") from None
            plan = type(plan)(rows=[r for i, r in enumerate(plan.rows) if i in keep or r.action != "download"],
                              kind=plan.kind, notes=plan.notes)
        downloads = self._downloads

        def submit(row) -> str:
            return downloads.start_download(row.ref, file_id=row.file_id, folder_key=options["folder_key"],
                                            beside=row.beside, allow_unsafe=options["allow_unsafe"])

        def after(row, snap):
            if not (replace and row.replaces):
                return []
            roots = list(trash_roots) if trash_roots else [str(r) for r in self._library.host.model_roots()]
            return retire(row.replaces, snap.get("path"), roots=roots, home=self._config().home,
                          index=self._index())

        runner = BatchRunner(plan, submit=submit, wait=downloads.wait_download, retry=downloads.retry_download,
                             failure=downloads.failure, cancel=downloads.cancel_download, after_verified=after,
                             max_rounds=max_rounds, backoff=backoff, sleep=sleep, on_change=self._emit)
        with self._lock:
            batch_id = f"batch-{next(self._ids)}"
            runner.id = batch_id
            self._runners[batch_id] = runner
        return runner

    def start_batch(self, plan_id: str, *, only=None, replace: bool = False) -> dict:
        """Run a plan's download rows in a background thread; returns the batch status (with ``id``)."""
        runner = self.batch_runner(plan_id, only=only, replace=replace)
        thread = threading.Thread(target=self._run_quietly, args=(runner,), name=f"civkit-{runner.id}",
                                  daemon=True)
        thread.start()
        return self._status(runner)

    @staticmethod
    def _run_quietly(runner) -> None:
        try:
            runner.run()
        except Exception:  # noqa: BLE001 - the status says what failed
            log.warning("batch %s stopped", runner.id, exc_info=True)

    def batch(self, batch_id: str) -> dict:
        with self._lock:
            runner = self._runners.get(str(batch_id))
        if runner is None:
            raise ServiceError(f"No batch with id {batch_id}.", http_status=404)
        return self._status(runner)

    def batches(self) -> list:
        with self._lock:
            runners = list(self._runners.values())
        return [self._status(r) for r in runners]

    def cancel_batch(self, batch_id: str) -> bool:
        with self._lock:
            runner = self._runners.get(str(batch_id))
        if runner is None or runner.state not in ("planned", "running"):
            return False
        runner.cancel()
        return True

    def _status(self, runner) -> dict:
        status = runner.status()
        status["id"] = runner.id
        if runner.state in ("done", "cancelled"):
            status["report"] = [{k: v for k, v in r.items() if k != "snapshot"} for r in runner.report()]
        return status

    # ------------------------------------------------------------------ events
    def _on_event(self, event: str, data: dict) -> None:
        if event != "civkit.download":
            return
        with self._lock:
            runners = [r for r in self._runners.values() if r.state == "running"]
        for runner in runners:
            runner.observe(data)

    def _emit(self, runner) -> None:
        now = time.monotonic()
        last = self._last_event.get(runner.id, 0.0)
        if runner.state == "running" and now - last < 1.0 / _EVENTS_PER_SECOND:
            return
        self._last_event[runner.id] = now
        self._events.emit(EVENT_BATCH, self._status(runner))

