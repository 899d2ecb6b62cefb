"""``Resources``: the service part that reads a source, resolves its needs and fetches what is missing.

Built by the facade with explicit collaborators (no mixins): the host adapter, callables that give
the Civitai client and the library index (the facade builds those lazily), and the downloads part
(anything with ``start_download(ref, file_id=, folder_key=, on_conflict=)`` and
``wait_download(task_id, timeout=)``: the one download queue every UI shares).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Optional

from .local import LocalFiles
from .resolve import Resolution, Resolver, choose_candidate
from .sources import (
    SourceError,
    SourceResult,
    from_civitai_image,
    from_image,
    from_json,
    from_meta,
    from_text,
    image_id_from_link,
    read_source,
)

log = logging.getLogger(__name__)
FINAL = ("done", "skipped", "failed", "cancelled")


def summary(results) -> dict:
    missing = [r for r in results if r.status == "missing"]
    counts: dict = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {"counts": counts, "missing_files": len(missing),
            "missing_bytes": sum(r.size or 0 for r in missing),
            "complete": all(r.status in ("present", "downloaded") for r in results)}


class Resources:
    """What a workflow / image / image link / parameters block needs, and fetching it."""

    def __init__(self, host, get_client: Callable, get_index: Callable, downloads, *,
                 get_config: Optional[Callable] = None, extra_hosts: tuple = ()):
        self.host = host
        self._get_client = get_client
        self._get_index = get_index
        self._get_config = get_config
        self.downloads = downloads
        self._extra_hosts = tuple(extra_hosts)

    @property
    def extra_hosts(self) -> tuple:
        """Image links are accepted from Civitai's sites and from the configured API base (emulator)."""
        hosts = self._extra_hosts
        if self._get_config is not None:
            base = str(getattr(self._get_config(), "api_base", "") or "")
            hosts += (base.split("://", 1)[-1].split("/", 1)[0],)
        return hosts

    # ----------------------------------------------------------------- reading
    def local(self) -> LocalFiles:
        try:
            index = self._get_index()
        except Exception as exc:  # no index yet (or unreadable): names still work
            log.warning("library index unavailable: %s", exc)
            index = None
        return LocalFiles(self.host, index)

    def known_embeddings(self, local: Optional[LocalFiles] = None) -> list:
        local = local or self.local()
        return local.names("embeddings") if "embeddings" in local.keys() else []

    def read(self, source: Optional[str] = None, *, data: Optional[bytes] = None, text: Optional[str] = None,
             workflow=None, prompt=None, url: Optional[str] = None, label: Optional[str] = None,
             stdin=None, local: Optional[LocalFiles] = None) -> SourceResult:
        """One source, given as a CLI-style ``source`` or as exactly one of the keyword forms."""
        embeddings = self.known_embeddings(local)
        if source is not None:
            return read_source(source, client=self._get_client(), stdin=stdin, known_embeddings=embeddings,
                               extra_hosts=self.extra_hosts)
        if data is not None:
            return from_image(bytes(data), label or "the image", embeddings)
        if workflow is not None or prompt is not None:
            return from_json({"workflow": workflow, "prompt": prompt}, label or "the workflow")
        if url is not None:
            image_id = image_id_from_link(url, self.extra_hosts)
            if image_id is None:
                raise SourceError(f"{url[:200]} is not a Civitai image link (expected https://civitai.com/images/N).")
            return from_civitai_image(self._get_client(), image_id, url[:200], embeddings)
        if text is not None:
            return from_text(text, label or "the pasted text", embeddings)
        raise SourceError("nothing to read: give a workflow, an image, a Civitai image link or parameters.")

    def read_meta(self, meta, label: str) -> SourceResult:
        return from_meta(meta, label, self.known_embeddings())

    # ----------------------------------------------------------------- resolving
    def resolve(self, result: SourceResult, *, accept_guesses: bool = False,
                local: Optional[LocalFiles] = None) -> list:
        resolver = Resolver(self._get_client(), local or self.local(), accept_guesses=accept_guesses)
        resolutions = resolver.resolve(result.needs)
        log.info("resolved %d needs of %s with %d requests", len(resolutions), result.source, resolver.requests)
        return resolutions

    def analyse(self, accept_guesses: bool = False, **source) -> dict:
        """Read + resolve, as one JSON-safe dict (for routes and the gradio panel)."""
        local = self.local()
        result = self.read(local=local, **source)
        resolutions = self.resolve(result, accept_guesses=accept_guesses, local=local)
        return {"source": result.source, "kind": result.kind, "needs": [r.to_json() for r in resolutions],
                "summary": summary(resolutions), "infotext": result.infotext, "notes": result.notes}

    def start_items(self, items) -> list:
        """Queue downloads for needs a UI sends back (``version_id``, ``file_id``, ``folder_key`` of
        each ``missing`` row, or of the candidate the user chose). Returns ``[{"version_id", "task_id"}
        | {"version_id", "error"}]``; a bad row fails alone."""
        out = []
        keys = self.host.folder_keys()
        for item in list(items or ())[:200]:
            if not isinstance(item, dict):
                continue
            try:
                version_id = int(item.get("version_id"))
                file_id = int(item["file_id"]) if item.get("file_id") not in (None, "") else None
            except (TypeError, ValueError):
                out.append({"version_id": item.get("version_id"), "error": "version_id and file_id must be numbers"})
                continue
            model_id = item.get("model_id")
            ref = f"{int(model_id)}@{version_id}" if isinstance(model_id, int) and model_id > 0 else str(version_id)
            folder_key = item.get("folder_key") if item.get("folder_key") in keys else None
            try:
                task = self.downloads.start_download(ref, file_id=file_id, folder_key=folder_key, on_conflict="ask")
            except Exception as exc:  # ServiceError / RefError: this row fails, the others go on
                out.append({"version_id": version_id, "error": getattr(exc, "message", None) or str(exc)})
                continue
            out.append({"version_id": version_id, "file_id": file_id, "task_id": task})
        return out

    def choose(self, resolution: Resolution, version_id: int, file_id: Optional[int] = None) -> None:
        choose_candidate(resolution, self._get_client(), version_id, file_id)

    # ----------------------------------------------------------------- fetching
    def start(self, resolution: Resolution) -> Optional[str]:
        """Queue one missing need (into its kind's folder); returns the task id."""
        if resolution.status != "missing" or resolution.version is None or resolution.file is None:
            return None
        version = resolution.version
        ref = f"{version.model_id}@{version.id}" if version.model_id else str(version.id)
        folder_key = resolution.folder_key
        if folder_key not in self.host.folder_keys():
            folder_key = None
        allow_unsafe = bool(getattr(resolution.file, "format", None) == "PickleTensor"
                            and resolution.file.pickle_scan not in ("Danger", "Error"))
        resolution.task_id = self.downloads.start_download(ref, file_id=resolution.file.id, folder_key=folder_key,
                                                           on_conflict="ask", allow_unsafe=allow_unsafe)
        return resolution.task_id

    def finish(self, resolution: Resolution, snapshot: dict) -> None:
        """Take a finished task's snapshot into the resolution's status."""
        state = snapshot.get("state")
        if state in ("done", "skipped") and snapshot.get("path"):
            resolution.status = "downloaded" if state == "done" else "present"
            resolution.verified = True
            resolution.path = snapshot["path"]
            resolution.message = "" if state == "done" else (snapshot.get("message") or "already there")
            from pathlib import Path

            Resolver(None, self.local())._set_comfy_name(resolution, Path(snapshot["path"]))
        elif state in FINAL:
            resolution.status = "failed"
            resolution.message = snapshot.get("error") or snapshot.get("message") or state

    def fetch(self, resolutions, timeout: Optional[float] = None, on_start=None) -> list:
        """Download every missing need through the queue and wait; updates the resolutions in place."""
        started = []
        for r in resolutions:
            if r.status != "missing" or (r.guess and r.version is None):
                continue
            try:
                task = self.start(r)
            except Exception as exc:  # a bad folder key or ref: this need fails, the others go on
                r.status, r.message = "failed", getattr(exc, "message", None) or str(exc)
                continue
            if task:
                started.append(r)
                if on_start:
                    on_start(r)
        for r in started:
            self.finish(r, self.downloads.wait_download(r.task_id, timeout=timeout))
        return resolutions
