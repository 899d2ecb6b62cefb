"""Turn a node's inputs (a local file name, or a Civitai reference) into a file ComfyUI can load.

A reference that is already in the library (same version, inside the right folder key) is used
as it is; otherwise the service downloads it into the key's first root, verified, and the node
waits, showing progress on its own progress bar. ComfyUI's Cancel button cancels the download.

Module level: standard library only (see ``runtime``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import runtime

log = logging.getLogger(__name__)

WAIT_STEP = 0.5  # seconds between progress-bar updates while a node waits for its download
FINISHED = ("done", "skipped")
STOPPED = ("failed", "cancelled")


class NodeInputError(ValueError):
    """A node input ComfyUI should report as it is: the message is for the person at the graph."""


@dataclass
class ResolvedFile:
    path: str
    name: str                      # as ComfyUI lists it in the folder key's combo
    folder_key: str
    trigger_words: list = field(default_factory=list)
    model_entry: Optional[dict] = None   # the workflow ``models`` entry, for Civitai references
    air: Optional[str] = None


def fingerprint(path: Optional[str]) -> str:
    """Cheap change marker for IS_CHANGED: path, size, mtime. Never a hash."""
    if not path:
        return ""
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:missing"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def local_file(folder_key: str, name: str) -> ResolvedFile:
    import folder_paths

    if not name:
        raise NodeInputError(f"Pick a file from the {folder_key} folder, or paste a Civitai link into civitai_ref.")
    path = folder_paths.get_full_path(folder_key, name)
    if path is None:
        raise NodeInputError(
            f"{name} is not in the {folder_key} folders. Pick another file, press R to refresh the lists, "
            "or paste a Civitai link into civitai_ref."
        )
    return ResolvedFile(path=path, name=name, folder_key=folder_key)


def _strip_token(url: Optional[str]) -> Optional[str]:
    if not url:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "token"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _library_match(svc, folder_key: str, version_id: Optional[int]):
    """A library entry of this version that lives inside the key's roots and still exists."""
    if version_id is None:
        return None
    for entry in svc.index.by_version(version_id):  # every workflow run asks: never read the whole index
        if not os.path.isfile(entry.path):
            continue
        located = svc.host.locate(entry.path)
        if located is not None and located[0] == folder_key:
            return entry
    return None


def _wait(svc, task_id: str, node_id=None) -> dict:
    """Wait for a download, mirroring it on the node's progress bar; Cancel in ComfyUI cancels it."""
    try:
        from comfy.model_management import throw_exception_if_processing_interrupted
    except ImportError:  # pragma: no cover - every ComfyUI has it
        def throw_exception_if_processing_interrupted():
            return None
    try:
        from comfy.utils import ProgressBar
        bar = ProgressBar(100, node_id=node_id)
    except (ImportError, TypeError):
        bar = None
    while True:
        snap = svc.wait_download(task_id, timeout=WAIT_STEP)
        if bar is not None and snap.get("total"):
            bar.update_absolute(int(100 * (snap.get("bytes") or 0) / snap["total"]), 100)
        if snap.get("state") in FINISHED + STOPPED:
            return snap
        try:
            throw_exception_if_processing_interrupted()
        except BaseException:
            svc.cancel_download(task_id)
            raise


def from_reference(folder_key: str, ref: str, node_id=None) -> ResolvedFile:
    """The file for a Civitai reference: from the library, or downloaded now into ``folder_key``."""
    from ..civkit.refs import TOKEN_REMOVED, RefError, clean_ref_text, parse_ref

    svc = runtime.get_service()
    ref, had_token = clean_ref_text(ref)  # a linked input skips VALIDATE_INPUTS: never pass a token on
    if had_token:
        log.warning("civkit: %s", TOKEN_REMOVED)
    try:
        parsed = parse_ref(ref)
    except RefError as exc:
        raise NodeInputError(svc.error_message(exc)) from None
    entry = _library_match(svc, folder_key, parsed.version_id)
    if entry is not None:
        path, words = entry.path, list(entry.trained_words or ())
        sha256, version_id, file_id = entry.sha256, entry.version_id, parsed.file_id
        air = entry.air
    else:
        try:
            task_id = svc.start_download(ref, file_id=parsed.file_id, folder_key=folder_key)
        except Exception as exc:  # the service's words, not a traceback
            raise NodeInputError(svc.error_message(exc)) from None
        snap = _wait(svc, task_id, node_id)
        if snap.get("state") in STOPPED or not snap.get("path"):
            raise NodeInputError(snap.get("message") or f"The download of {ref} did not finish.")
        path, words = snap["path"], list(snap.get("trained_words") or ())
        sha256, version_id, file_id = snap.get("sha256"), snap.get("version_id"), snap.get("file_id")
        air = snap.get("air")
        if sha256 is None or version_id is None:
            indexed = svc.index.get(path)
            if indexed is not None:
                sha256 = sha256 or indexed.sha256
                version_id = version_id or indexed.version_id
                air = air or indexed.air
    located = svc.host.locate(path)
    if located is None or located[0] != folder_key:
        raise NodeInputError(f"{os.path.basename(path)} is not inside the {folder_key} folders.")
    name = located[1]
    model_entry = {
        "name": name,
        "url": _strip_token(svc.client.download_url_for(version_id, file_id)) if version_id else None,
        "hash": sha256.lower() if sha256 else None,
        "hash_type": "sha256",
        "directory": folder_key,
    }
    return ResolvedFile(path=path, name=name, folder_key=folder_key, trigger_words=words,
                        model_entry=model_entry, air=air)


def resolve(folder_key: str, name: str, ref: Optional[str], node_id=None) -> ResolvedFile:
    ref = (ref or "").strip()
    if ref:
        return from_reference(folder_key, ref, node_id)
    return local_file(folder_key, name)


def ui_payload(resolved: ResolvedFile) -> dict:
    """What the browser writes into the workflow's ``models`` list (no key, no token, ever)."""
    if resolved.model_entry is None:
        return {}
    entry = dict(resolved.model_entry)
    if resolved.air:
        entry["air"] = resolved.air
    return {"civkit_models": [entry]}
